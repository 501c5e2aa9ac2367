"""Staff account deletion (policy §7, §8): the request, the anonymisation, the final purge."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_appbuilder.security.sqla.models import User, assoc_user_role
from sqlalchemy import delete, select, update
from werkzeug.security import generate_password_hash

from app import db
from app.audit import service as audit
from app.conversations.models import Conversation, Message
from app.conversations.workspace_models import ConversationNote
from app.notifications.models import Notification
from app.privacy.exceptions import PrivacyError
from app.privacy.models import OPEN_STATUSES, PrivacyRequest, RequestSource, RequestType
from app.privacy.requests import create_request

__all__ = [
    "PrivacyError",
    "anonymise_user",
    "anonymised_username",
    "purge_deleted_accounts",
    "request_account_deletion",
]


def anonymised_username(user_id: int) -> str:
    """What an anonymised staff account is renamed to (and how retention recognises it)."""
    return f"deleted-{user_id}"


def request_account_deletion(user_id: int, requested_by_id: int | None = None) -> PrivacyRequest:
    """A staff account asks to be deleted (policy §7 'Account Deletion'); one open request each."""
    user = db.session.get(User, user_id)
    if user is None or user.username == anonymised_username(user.id):
        raise PrivacyError("no such staff account (or it was already deleted)")
    open_id = db.session.scalar(
        select(PrivacyRequest.id).where(
            PrivacyRequest.subject_user_id == user_id,
            PrivacyRequest.source == RequestSource.ACCOUNT,
            PrivacyRequest.status.in_(OPEN_STATUSES),
        )
    )
    if open_id is not None:
        raise PrivacyError(f"an account-deletion request is already open (#{open_id})")
    return create_request(
        RequestType.ERASURE,
        None,
        source=RequestSource.ACCOUNT,
        subject_user_id=user_id,
        requested_by_id=requested_by_id,
    )


def anonymise_user(user_id: int) -> None:
    """Deactivate a staff account and strip its personal fields (policy §7, §8)."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    user.active = False
    user.username = anonymised_username(user.id)
    user.email = f"{user.username}@deleted.invalid"
    user.first_name = "Deleted"
    user.last_name = "User"
    user.password = generate_password_hash(secrets.token_urlsafe(32))
    audit.record("account_anonymised", "user", user.id, {"fields": ["username", "email", "first_name", "last_name"]})


def _forget_user(uid: int) -> None:
    """Null every reference to the account, then delete it (its audit rows keep the id)."""
    db.session.execute(assoc_user_role.delete().where(assoc_user_role.c.user_id == uid))
    db.session.execute(update(User).where(User.created_by_fk == uid).values(created_by_fk=None))
    db.session.execute(update(User).where(User.changed_by_fk == uid).values(changed_by_fk=None))
    for model, col in (
        (Message, Message.author_id),
        (Conversation, Conversation.assignee_id),
        (ConversationNote, ConversationNote.author_id),
        (Notification, Notification.actor_id),
    ):
        db.session.execute(update(model).where(col == uid).values({col.key: None}))
    db.session.execute(delete(Notification).where(Notification.user_id == uid))
    for col in (PrivacyRequest.requested_by_id, PrivacyRequest.approved_by_id, PrivacyRequest.subject_user_id):
        db.session.execute(update(PrivacyRequest).where(col == uid).values({col.key: None}))
    db.session.execute(delete(User).where(User.id == uid))


def purge_deleted_accounts(now: datetime | None = None) -> int:
    """Anonymised staff accounts are removed for good (their references become NULL)."""
    users = db.session.scalars(select(User).where(User.username.like("deleted-%"), User.active.is_(False))).all()
    removed = 0
    for user in users:
        if user.username != anonymised_username(user.id):
            continue
        uid = user.id
        _forget_user(uid)
        audit.record("account_deleted", "user", uid, {})
        removed += 1
    db.session.commit()
    return removed
