"""Privacy policy versions (§11 of the policy): publish, show, tell staff, record who read it.

A version freezes the policy text with its SHA-256, so /privacy shows exactly what was
published and "Last Updated" is the publication date. A material change mails every active
staff account and shows them a banner until they acknowledge it; acknowledgements are audited.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from app import db
from app.audit import service as audit
from app.core.models import utcnow
from app.mail.exceptions import MailError
from app.mail.services import queue_mail
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PolicyAcknowledgement, PolicyVersion

logger = logging.getLogger(__name__)

MAX_POLICY = 200_000
SHIPPED_POLICY = os.path.join(os.path.dirname(__file__), "policy.md")


def current() -> PolicyVersion | None:
    """The latest published version, or None before the first `policy publish`."""
    return db.session.scalar(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))


def check_text(text: str) -> str:
    if not text.strip():
        raise PrivacyError("the policy text is empty")
    if len(text) > MAX_POLICY:
        raise PrivacyError(f"the policy text is longer than {MAX_POLICY:,} characters")
    return text


def do_publish(text: str, *, material: bool, user_id: int | None = None) -> PolicyVersion:
    """Record a new version (refused when the text did not change); a material one mails staff."""
    text = check_text(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    latest = current()
    if latest is not None and latest.sha256 == digest:
        raise PrivacyError(f"this text is already version {latest.version} (sha256 {digest[:12]}…)")
    version = PolicyVersion(
        version=(latest.version + 1) if latest is not None else 1,
        published_at=utcnow(),
        material=material,
        sha256=digest,
        text=text,
        published_by_id=user_id,
    )
    db.session.add(version)
    db.session.flush()
    audit.record("policy_published", "policy_version", version.id, {"version": version.version, "material": material})
    if material:
        _mail_staff(version)
    db.session.commit()
    return version


def _mail_staff(version: PolicyVersion) -> int:
    """One mail per active staff account with an address (queued in this transaction)."""
    base = str(current_app.config.get("PUBLIC_BASE_URL", ""))
    sent = 0
    for user in db.session.scalars(select(User).where(User.active.is_(True))):
        try:
            queue_mail(
                user.email,
                f"Privacy policy changed (version {version.version})",
                f"Hello {user.first_name or user.username},\n\nthe privacy policy changed materially "
                f"(version {version.version}, published {version.published_at:%d %B %Y}).\n"
                f"Please read it at {base}/privacy and confirm in Omni CRM that you have read it.\n",
                kind="policy_changed",
            )
            sent += 1
        except MailError:
            logger.warning("policy version %s: user %s has no usable e-mail address", version.version, user.id)
    return sent


def pending_for(user_id: int) -> PolicyVersion | None:
    """The latest material version this user has not acknowledged (their banner), if any."""
    latest_material = db.session.scalar(
        select(PolicyVersion).where(PolicyVersion.material.is_(True)).order_by(PolicyVersion.version.desc()).limit(1)
    )
    if latest_material is None:
        return None
    seen = db.session.scalar(
        select(func.count())
        .select_from(PolicyAcknowledgement)
        .where(
            PolicyAcknowledgement.user_id == user_id,
            PolicyAcknowledgement.policy_version_id == latest_material.id,
        )
    )
    return None if seen else latest_material


def do_acknowledge(user_id: int, version_id: Any) -> PolicyAcknowledgement:
    """Record (once) that this user read this version; audited."""
    version = db.session.get(PolicyVersion, int(version_id)) if str(version_id).isdigit() else None
    if version is None:
        raise PrivacyError("no such policy version")
    existing = db.session.scalar(
        select(PolicyAcknowledgement).where(
            PolicyAcknowledgement.user_id == user_id, PolicyAcknowledgement.policy_version_id == version.id
        )
    )
    if existing is not None:
        return existing
    ack = PolicyAcknowledgement(user_id=user_id, policy_version_id=version.id)
    db.session.add(ack)
    db.session.flush()
    audit.record("policy_acknowledged", "policy_version", version.id, {"version": version.version})
    db.session.commit()
    return ack
