"""Privacy request rules: creation, four-eyes decisions, processing, retention, Meta's callback.

Views, the REST API, jobs and commands all call these functions, so a rule holds everywhere.
Audit rows only ever carry ids, statuses, counts and field names (never personal values).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import shutil
import struct
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import delete, or_, select, update

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core import crypto
from app.core.context import current_actor
from app.core.models import utcnow
from app.pages.models import Page
from app.privacy.models import OPEN_STATUSES, REQUEST_SOURCES, REQUEST_TYPES, PrivacyRequest
from app.webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

RECTIFIABLE_FIELDS = ("first_name", "last_name", "locale")
EXPORT_TTL = timedelta(days=7)
BATCH = 25000
EXPORT_MAGIC = b"OMNIX1\n"
EXPORT_CHUNK = 1024 * 1024
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


class PrivacyError(ValueError):
    """A refused action; the message is shown to the user (no personal data in it)."""


# --------------------------------------------------------------------------- dates


def due_date(received_at: datetime) -> datetime:
    """One calendar month after receipt (GDPR Art. 12(3)); 31 Jan -> 28/29 Feb."""
    return received_at + relativedelta(months=1)


def days_left(req: PrivacyRequest, now: datetime | None = None) -> int:
    """Whole days until due (negative when overdue)."""
    now = now or utcnow()
    return (req.due_at.date() - now.date()).days


def urgency(req: PrivacyRequest, now: datetime | None = None) -> str:
    """green / amber (<= 9 days) / red (<= 4) / overdue; closed requests are 'closed'."""
    if req.status not in OPEN_STATUSES:
        return "closed"
    now = now or utcnow()
    if req.due_at < now:
        return "overdue"
    left = days_left(req, now)
    if left <= 4:
        return "red"
    if left <= 9:
        return "amber"
    return "green"


# --------------------------------------------------------------------------- creation


def new_code() -> str:
    """Hex only: '-' separates the numbered requests of one Meta callback."""
    return secrets.token_hex(12)


def _transition(req: PrivacyRequest, new: str, action: str, extra: dict[str, Any] | None = None) -> None:
    old = req.status
    req.status = new
    db.session.flush()
    audit.record(action, "privacy_request", req.id, {"status": [old, new], **(extra or {})})
    logger.info("privacy request %s: %s -> %s", req.id, old, new)


def create_request(
    request_type: str,
    contact: Contact | None = None,
    *,
    source: str = "staff",
    requested_by_id: int | None = None,
    details: dict[str, Any] | None = None,
    subject_user_id: int | None = None,
    received_at: datetime | None = None,
    code: str | None = None,
    commit: bool = True,
) -> PrivacyRequest:
    """Open a pending request (validated); the due date is one calendar month later."""
    if request_type not in REQUEST_TYPES:
        raise PrivacyError(f"unknown request type {request_type!r}")
    if source not in REQUEST_SOURCES:
        raise PrivacyError(f"unknown source {source!r}")
    if source == "account":
        if request_type != "erasure" or subject_user_id is None:
            raise PrivacyError("an account deletion is an erasure request for a staff account")
    elif contact is None and source == "staff":
        raise PrivacyError("choose the contact this request is about")
    if contact is not None and contact.erased_at and request_type != "erasure":
        raise PrivacyError("this contact was erased; nothing is left to process")
    details = validate_details(request_type, details)
    received = received_at or utcnow()
    req = PrivacyRequest(
        request_type=request_type,
        contact_id=contact.id if contact is not None else None,
        source=source,
        requested_by_id=requested_by_id,
        subject_user_id=subject_user_id,
        details=details,
        received_at=received,
        due_at=due_date(received),
        confirmation_code=code or new_code(),
        status="pending",
        progress=0,
    )
    db.session.add(req)
    db.session.flush()
    audit.record(
        "privacy_request_created",
        "privacy_request",
        req.id,
        {"status": [None, "pending"], "request_type": request_type, "source": source},
    )
    if commit:
        db.session.commit()
    return req


def validate_details(request_type: str, details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Rectification carries allowed field changes only; other types carry none."""
    if request_type != "rectification":
        return None
    if not isinstance(details, dict):
        raise PrivacyError("a rectification needs the corrected fields")
    unknown = sorted(set(details) - set(RECTIFIABLE_FIELDS))
    if unknown:
        raise PrivacyError(f"fields that cannot be rectified: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise PrivacyError(f"{key} must be text")
        value = value.strip()
        limit = 16 if key == "locale" else 255
        if len(value) > limit:
            raise PrivacyError(f"{key} is longer than {limit} characters")
        if value:
            clean[key] = value
    if not clean:
        raise PrivacyError("a rectification needs at least one corrected field")
    return clean


def request_account_deletion(user_id: int, requested_by_id: int | None = None) -> PrivacyRequest:
    """A staff account asks to be deleted (policy §7 'Account Deletion'); one open request each."""
    from flask_appbuilder.security.sqla.models import User

    user = db.session.get(User, user_id)
    if user is None or user.username == anonymised_username(user.id):
        raise PrivacyError("no such staff account (or it was already deleted)")
    open_id = db.session.scalar(
        select(PrivacyRequest.id).where(
            PrivacyRequest.subject_user_id == user_id,
            PrivacyRequest.source == "account",
            PrivacyRequest.status.in_(OPEN_STATUSES),
        )
    )
    if open_id is not None:
        raise PrivacyError(f"an account-deletion request is already open (#{open_id})")
    return create_request("erasure", None, source="account", subject_user_id=user_id, requested_by_id=requested_by_id)


def open_minor_erasure(contact: Contact, caused_by_id: int | None = None) -> PrivacyRequest | None:
    """A contact marked under 13 gets an erasure request (policy §9); one open request at most.

    `caused_by_id` (whoever marked the contact) is recorded as the requester, so four eyes
    keeps them from approving the erasure they caused.
    """
    if contact.id is None or contact.erased_at:
        return None
    existing = db.session.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.contact_id == contact.id,
            PrivacyRequest.request_type == "erasure",
            PrivacyRequest.status.in_(OPEN_STATUSES),
        )
    )
    if existing is not None:
        return existing
    req = create_request("erasure", contact, source="staff", requested_by_id=caused_by_id, commit=False)
    req.result = "opened automatically: contact marked under 13"
    db.session.commit()
    return req


# --------------------------------------------------------------------------- decisions


def _get(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    if isinstance(req_or_id, PrivacyRequest):
        return req_or_id
    req = db.session.get(PrivacyRequest, int(req_or_id))
    if req is None:
        raise PrivacyError("no such privacy request")
    return req


def _four_eyes(req: PrivacyRequest, user_id: int | None) -> None:
    if user_id is None:
        raise PrivacyError("a decision needs a signed-in privacy officer")
    if req.requested_by_id is not None and req.requested_by_id == user_id:
        raise PrivacyError("four eyes: you cannot decide on a request you created or caused yourself")
    if req.subject_user_id is not None and req.subject_user_id == user_id:
        raise PrivacyError("four eyes: you cannot decide on the deletion of your own account")


def approve(req_or_id: PrivacyRequest | int, user_id: int | None) -> PrivacyRequest:
    """pending -> approved (another person than the requester), then the job is queued."""
    req = _get(req_or_id)
    if req.status != "pending":
        raise PrivacyError(f"only pending requests can be approved (this one is {req.status})")
    _four_eyes(req, user_id)
    if req.request_type == "erasure" and req.contact is not None and req.contact.legal_hold:
        raise PrivacyError("the contact is under legal hold: erasure is blocked until the hold is lifted")
    req.approved_by_id = user_id
    req.decided_at = utcnow()
    _transition(req, "approved", "privacy_request_approved")
    db.session.commit()
    enqueue_processing(req)
    return req


def deny(req_or_id: PrivacyRequest | int, user_id: int | None, reason: str | None) -> PrivacyRequest:
    """pending -> denied; a reason is required (it is shown to the requester)."""
    req = _get(req_or_id)
    if req.status != "pending":
        raise PrivacyError(f"only pending requests can be denied (this one is {req.status})")
    _four_eyes(req, user_id)
    reason = (reason or "").strip()
    if not reason:
        raise PrivacyError("a denial needs a reason")
    if len(reason) > 2000:
        raise PrivacyError("the reason is longer than 2000 characters")
    req.reason = reason
    req.approved_by_id = user_id
    req.decided_at = utcnow()
    req.completed_at = req.decided_at
    _transition(req, "denied", "privacy_request_denied")
    db.session.commit()
    return req


def cancel(req_or_id: PrivacyRequest | int, reason: str | None = None) -> PrivacyRequest:
    """pending / approved / error -> canceled (Admin)."""
    req = _get(req_or_id)
    if req.status not in ("pending", "approved", "error"):
        raise PrivacyError(f"a request that is {req.status} cannot be canceled")
    req.reason = (reason or "").strip()[:2000] or req.reason
    req.completed_at = utcnow()
    _transition(req, "canceled", "privacy_request_canceled")
    db.session.commit()
    return req


def retry(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    """error -> approved and queued again."""
    req = _get(req_or_id)
    if req.status != "error":
        raise PrivacyError("only failed requests can be retried")
    req.error = None
    req.progress = 0
    _transition(req, "approved", "privacy_request_retried")
    db.session.commit()
    enqueue_processing(req)
    return req


def lift_restriction(req_or_id: PrivacyRequest | int) -> PrivacyRequest:
    """Unfreeze the contact of a completed restriction request."""
    req = _get(req_or_id)
    if req.request_type != "restriction" or req.status != "complete":
        raise PrivacyError("only a completed restriction can be lifted")
    contact = req.contact
    if contact is None or not contact.restricted:
        raise PrivacyError("the contact is not restricted")
    contact.restricted = False
    req.result = "restriction lifted"
    audit.record("restriction_lifted", "contact", contact.id, {"restricted": [True, False]})
    db.session.commit()
    return req


def enqueue_processing(req: PrivacyRequest) -> None:
    """Queue the job on `privacy`, retried with backoff on unexpected failures."""
    from rq import Retry

    from app.core.queues import enqueue
    from app.privacy.tasks import process_request

    enqueue(
        process_request,
        req.id,
        queue="privacy",
        retry=Retry(max=3, interval=[30, 120, 600]),
        job_timeout=3600,
        description=f"privacy request {req.id}",
    )


# --------------------------------------------------------------------------- processing


def process(request_id: int) -> PrivacyRequest | None:
    """Run an approved request: in_processing -> complete, or error (with a reason)."""
    req = db.session.get(PrivacyRequest, request_id)
    if req is None or req.status not in ("approved", "in_processing", "error"):
        logger.info("privacy request %s is not runnable; skipped", request_id)
        return req
    if req.status != "in_processing":
        req.error = None
        _transition(req, "in_processing", "privacy_request_processing")
    req.progress = 0
    db.session.commit()
    handler = HANDLERS[req.request_type]
    try:
        result = handler(req)
    except PrivacyError as exc:
        db.session.rollback()
        _fail(request_id, str(exc))
        return db.session.get(PrivacyRequest, request_id)
    except Exception as exc:
        db.session.rollback()
        _fail(request_id, f"unexpected {type(exc).__name__}; retried automatically, or use Retry")
        raise
    req = db.session.get(PrivacyRequest, request_id)
    req.result = result
    req.progress = 100
    req.completed_at = utcnow()
    _transition(req, "complete", "privacy_request_completed")
    db.session.commit()
    return req


def _fail(request_id: int, message: str) -> None:
    req = db.session.get(PrivacyRequest, request_id)
    if req is None:
        return
    req.error = message[:2000]
    if req.status != "error":
        _transition(req, "error", "privacy_request_failed")
    db.session.commit()


def _set_progress(req: PrivacyRequest, value: int) -> None:
    """Progress on its own connection, so a streaming read in the session stays open."""
    if db.engine.dialect.name == "sqlite":
        return  # one writer at a time: the final 100 is enough there
    with db.engine.begin() as conn:
        conn.execute(update(PrivacyRequest).where(PrivacyRequest.id == req.id).values(progress=value))


def _contact_of(req: PrivacyRequest) -> Contact:
    contact = req.contact
    if contact is None:
        raise PrivacyError("the request has no contact")
    return contact


# ---- access export


def csv_safe(value: Any) -> str:
    """Guard spreadsheet formula injection: a cell starting = + - @ gets a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(CSV_DANGEROUS):
        return "'" + text
    return text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


README = """Omni CRM - export of your personal data
=========================================

Request: {request_id}    Created: {created}    Link expires: {expires}

Files
-----
contact.json   Your contact record: Messenger page-scoped id (PSID), name, locale, profile
               picture URL, tags and notes our staff recorded, flags (marketing opt-out,
               restriction), first and last contact times.
messages.json  Every message of your conversations with our pages, oldest first: direction
               ("in" = from you, "out" = from us), text, attachments, status and times.
messages.csv   The same messages as a spreadsheet (UTF-8, comma-separated). Cells that start
               with = + - @ are prefixed with ' so spreadsheet programs do not run them.

Purposes
--------
We process this data to answer your messages on Facebook Messenger, to provide customer
support, to keep records of our conversations with you and, unless you opted out, to send
you relevant updates (see our privacy policy, sections 2 and 3).

Retention
---------
Messages are kept for the retention period set for each page ({retention}); deleted
accounts and data are permanently removed within 30 days (privacy policy, section 8).
This export file is deleted automatically 7 days after it was created.
"""


MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.mid,
    Message.direction,
    Message.kind,
    Message.text,
    Message.attachments,
    Message.status,
    Message.created_at,
    Message.sent_at,
    Message.delivered_at,
    Message.read_at,
)


def _message_query(contact: Contact):
    """Plain rows (no ORM identity map), streamed 1000 at a time."""
    return (
        select(*MESSAGE_COLUMNS)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact.id)
        .order_by(Message.created_at, Message.id)
        .execution_options(yield_per=1000)
    )


def _message_row(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "mid": m.mid,
        "direction": m.direction,
        "kind": m.kind,
        "text": m.text,
        "attachments": m.attachments,
        "status": m.status,
        "created_at": _iso(m.created_at),
        "sent_at": _iso(m.sent_at),
        "delivered_at": _iso(m.delivered_at),
        "read_at": _iso(m.read_at),
    }


CSV_FIELDS = ["id", "conversation_id", "mid", "direction", "kind", "text", "attachments", "status", "created_at"]


def export_dir() -> str:
    path = current_app.config["EXPORT_DIR"]
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def build_export(req: PrivacyRequest, progress: Callable[[int], None] | None = None) -> str:
    """Zip the contact's data streaming (yield_per) and store it encrypted; returns its path."""
    contact = _contact_of(req)
    if contact.erased_at:
        raise PrivacyError("the contact was erased; there is nothing to export")
    page = contact.page
    total = (
        db.session.scalar(
            select(db.func.count(Message.id))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id == contact.id)
        )
        or 0
    )
    now = utcnow()
    expires = now + EXPORT_TTL
    contact_doc = {
        "id": contact.id,
        "page": {"id": page.fb_page_id, "name": page.name} if page else None,
        "psid": contact.psid,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "locale": contact.locale,
        "profile_pic": contact.profile_pic,
        "tags": contact.tags,
        "notes": contact.notes,
        "marketing_opt_out": contact.marketing_opt_out,
        "restricted": contact.restricted,
        "first_seen_at": _iso(contact.first_seen_at),
        "last_inbound_at": _iso(contact.last_inbound_at),
    }
    workdir = tempfile.mkdtemp(prefix="omnicrm-export-")
    try:
        zip_path = os.path.join(workdir, "export.zip")
        csv_path = os.path.join(workdir, "messages.csv")
        with (
            zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
            open(csv_path, "w", newline="", encoding="utf-8") as csv_file,
        ):
            zf.writestr(
                "README.txt",
                README.format(
                    request_id=req.id,
                    created=_iso(now),
                    expires=_iso(expires),
                    retention=f"{page.retention_days} days" if page else "365 days",
                ),
            )
            zf.writestr("contact.json", json.dumps(contact_doc, ensure_ascii=False, indent=2))
            writer = csv.writer(csv_file)
            writer.writerow(CSV_FIELDS)
            with zf.open("messages.json", "w") as raw:
                out = io.TextIOWrapper(raw, encoding="utf-8")
                out.write("[")
                done = 0
                for m in db.session.execute(_message_query(contact)):
                    row = _message_row(m)
                    out.write(("\n" if done == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
                    writer.writerow(
                        [
                            csv_safe(row[k] if k != "attachments" else json.dumps(row[k]) if row[k] else "")
                            for k in CSV_FIELDS
                        ]
                    )
                    done += 1
                    if done % 5000 == 0 and progress and total:
                        progress(min(90, int(done * 90 / total)))
                out.write("\n]\n")
                out.flush()
                out.detach()
            csv_file.close()
            zf.write(csv_path, "messages.csv")
        final = os.path.join(export_dir(), f"privacy-{req.id}-{secrets.token_hex(8)}.zip.enc")
        encrypt_file(zip_path, final)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return final


def encrypt_file(src: str, dst: str) -> None:
    """Chunked Fernet: length-prefixed tokens, so memory stays at one chunk."""
    tmp = dst + ".part"
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        os.chmod(tmp, 0o600)
        fout.write(EXPORT_MAGIC)
        while chunk := fin.read(EXPORT_CHUNK):
            token = crypto.encrypt_bytes(chunk)
            fout.write(struct.pack(">I", len(token)))
            fout.write(token)
    os.replace(tmp, dst)


def decrypt_file(path: str) -> Iterator[bytes]:
    """Yield the plain zip bytes of an encrypted export, chunk by chunk."""
    with open(path, "rb") as fin:
        if fin.read(len(EXPORT_MAGIC)) != EXPORT_MAGIC:
            raise crypto.DecryptionError("not an Omni CRM export file")
        while header := fin.read(4):
            (length,) = struct.unpack(">I", header)
            yield crypto.decrypt_bytes(fin.read(length))


def _handle_access(req: PrivacyRequest) -> str:
    path = build_export(req, progress=lambda p: _set_progress(req, p))
    req = db.session.get(PrivacyRequest, req.id)
    _remove_file(req.export_path)
    req.export_path = path
    req.export_expires_at = utcnow() + EXPORT_TTL
    audit.record("export_created", "privacy_request", req.id, {"expires_at": _iso(req.export_expires_at)})
    return "export ready"


def export_for_download(req_or_id: PrivacyRequest | int) -> tuple[PrivacyRequest, Iterator[bytes]]:
    """Check the link is still valid, audit the download, and stream the plain zip."""
    req = _get(req_or_id)
    if req.request_type != "access" or not req.export_path:
        raise PrivacyError("this request has no export to download")
    if req.export_expires_at is None or req.export_expires_at <= utcnow():
        raise PrivacyError("the download link has expired")
    if not os.path.exists(req.export_path):
        raise PrivacyError("the export file is no longer available")
    audit.record("export_downloaded", "privacy_request", req.id, {})
    db.session.commit()
    return req, decrypt_file(req.export_path)


def _remove_file(path: str | None) -> bool:
    if not path:
        return False
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


# ---- erasure


def _batched_delete(model: type, id_query, counter: list[int]) -> int:
    """Delete the rows the id query selects, in id ranges of BATCH (committing between).

    Ranges (not "LIMIT n" re-selects) keep it linear: each batch touches only its own rows.
    """
    total = 0
    bounds = db.session.execute(
        select(db.func.min(model.id), db.func.max(model.id)).where(model.id.in_(id_query))
    ).one()
    if bounds[0] is not None:
        low, high = bounds
        while low <= high:
            result = db.session.execute(
                delete(model)
                .where(model.id.in_(id_query), model.id >= low, model.id < low + BATCH)
                .execution_options(synchronize_session=False)
            )
            total += result.rowcount or 0
            db.session.commit()
            low += BATCH
    counter.append(total)
    return total


def erase_contact(contact: Contact, req: PrivacyRequest | None = None) -> dict[str, int]:
    """Delete messages, conversations, events, exports and profile; keep a masked tombstone."""
    if contact.legal_hold:
        raise PrivacyError("the contact is under legal hold: erasure is blocked until the hold is lifted")
    contact_id = contact.id
    if contact.psid and not contact.psid_hash:
        contact.psid_hash = crypto.keyed_hash(contact.psid)
    psid_hash = contact.psid_hash
    db.session.commit()
    conv_ids = select(Conversation.id).where(Conversation.contact_id == contact_id)
    counts: list[int] = []
    _batched_delete(Message, select(Message.id).where(Message.conversation_id.in_(conv_ids)), counts)
    if req is not None:
        _set_progress(req, 70)
    _batched_delete(Conversation, select(Conversation.id).where(Conversation.contact_id == contact_id), counts)
    if psid_hash:
        _batched_delete(
            WebhookEvent,
            select(WebhookEvent.id).where(WebhookEvent.psid_hashes.like(f"%|{psid_hash}|%")),
            counts,
        )
    else:
        counts.append(0)
    files = 0
    for other in db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.contact_id == contact_id)):
        if _remove_file(other.export_path):
            files += 1
        other.export_path = None
        other.export_expires_at = None
        other.details = None  # rectification values are personal data
    contact = db.session.get(Contact, contact_id)
    contact.psid = None
    contact.first_name = None
    contact.last_name = None
    contact.profile_pic = None
    contact.locale = None
    contact.notes = None
    contact.tags = None
    contact.restricted = True
    contact.erased_at = utcnow()
    summary = {"messages": counts[0], "conversations": counts[1], "webhook_events": counts[2], "exports": files}
    audit.record("erasure_completed", "privacy_request" if req else "contact", req.id if req else contact_id, summary)
    db.session.commit()
    return summary


def anonymised_username(user_id: int) -> str:
    """What an anonymised staff account is renamed to (and how retention recognises it)."""
    return f"deleted-{user_id}"


def anonymise_user(user_id: int) -> None:
    """Deactivate a staff account and strip its personal fields (policy §7, §8)."""
    from flask_appbuilder.security.sqla.models import User
    from werkzeug.security import generate_password_hash

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


def _handle_erasure(req: PrivacyRequest) -> str:
    if req.source == "account":
        if req.subject_user_id is None:
            raise PrivacyError("the account no longer exists")
        anonymise_user(req.subject_user_id)
        return "account deactivated and anonymised"
    if req.contact_id is None:
        return "no matching data"
    summary = erase_contact(_contact_of(req), req)
    return (
        f"erased {summary['messages']} messages, {summary['conversations']} conversations, "
        f"{summary['webhook_events']} webhook events, {summary['exports']} export files"
    )


def _handle_rectification(req: PrivacyRequest) -> str:
    contact = _contact_of(req)
    details = validate_details("rectification", req.details)
    assert details is not None
    for key, value in details.items():
        setattr(contact, key, value)
    audit.record("contact_rectified", "contact", contact.id, {"fields": sorted(details)})
    return f"updated {', '.join(sorted(details))}"


def _handle_restriction(req: PrivacyRequest) -> str:
    contact = _contact_of(req)
    contact.restricted = True
    audit.record("contact_restricted", "contact", contact.id, {"restricted": [False, True]})
    return "processing restricted"


def _handle_opt_out(req: PrivacyRequest) -> str:
    contact = _contact_of(req)
    contact.marketing_opt_out = True
    audit.record("marketing_opt_out", "contact", contact.id, {"marketing_opt_out": [False, True]})
    return "opted out of marketing"


HANDLERS: dict[str, Callable[[PrivacyRequest], str]] = {
    "access": _handle_access,
    "erasure": _handle_erasure,
    "rectification": _handle_rectification,
    "restriction": _handle_restriction,
    "marketing_opt_out": _handle_opt_out,
}


# --------------------------------------------------------------------------- periodic


@dataclass
class RetentionReport:
    per_page: dict[str, dict[str, int]] = field(default_factory=dict)
    other_webhook_events: int = 0
    erased_leftovers: int = 0
    accounts_removed: int = 0

    def lines(self) -> list[str]:
        out = [
            f"page {name}: {c['messages']} messages, {c['webhook_events']} webhook events removed "
            f"(older than {c['retention_days']} days)"
            for name, c in self.per_page.items()
        ]
        out.append(f"webhook events of several pages, unknown pages or none: {self.other_webhook_events} removed")
        out.append(f"erased contacts: {self.erased_leftovers} leftover rows removed")
        out.append(f"deleted staff accounts: {self.accounts_removed} removed")
        return out


DEFAULT_RAW_EVENT_RETENTION_DAYS = 30  # config.py's default for RAW_EVENT_RETENTION_DAYS


def _not_held(stmt: Any, held_hashes: set[str]) -> Any:
    """Keep raw events that mention a contact under legal hold."""
    for h in held_hashes:
        stmt = stmt.where(or_(WebhookEvent.psid_hashes.is_(None), ~WebhookEvent.psid_hashes.like(f"%|{h}|%")))
    return stmt


def raw_event_retention_days(page_fb_id: str | None, page_days: dict[str, int]) -> int:
    """The retention of one raw event: the longest of its connected pages' (`page_fb_id` lists
    every page of the body, comma-separated), else RAW_EVENT_RETENTION_DAYS (unknown page, none)."""
    known = [page_days[p] for p in (page_fb_id or "").split(",") if p in page_days]
    if known:
        return max(known)
    return int(current_app.config.get("RAW_EVENT_RETENTION_DAYS") or DEFAULT_RAW_EVENT_RETENTION_DAYS)


def _purge_other_raw_events(now: datetime, page_days: dict[str, int], held_hashes: set[str]) -> int:
    """Raw events that no single connected page's pass removes: several pages, unknown pages,
    no page. Grouped by their (few) distinct `page_fb_id` values, each with its own cutoff."""
    shortest = min([raw_event_retention_days(None, page_days), *page_days.values()])
    old = WebhookEvent.received_at < now - timedelta(days=shortest)
    values = db.session.scalars(
        select(WebhookEvent.page_fb_id)
        .where(old, or_(WebhookEvent.page_fb_id.is_(None), WebhookEvent.page_fb_id.not_in(list(page_days))))
        .distinct()
    ).all()
    counts: list[int] = []
    for value in values:
        cutoff = now - timedelta(days=raw_event_retention_days(value, page_days))
        same = WebhookEvent.page_fb_id.is_(None) if value is None else WebhookEvent.page_fb_id == value
        _batched_delete(
            WebhookEvent,
            _not_held(select(WebhookEvent.id).where(same, WebhookEvent.received_at < cutoff), held_hashes),
            counts,
        )
    return sum(counts)


def run_retention(now: datetime | None = None) -> RetentionReport:
    """Per-page retention (strictly older than retention_days), legal hold respected; then every
    other raw webhook event by the retention that applies to it (policy §8: nothing stays forever)."""
    now = now or utcnow()
    report = RetentionReport()
    held = select(Contact.id).where(Contact.legal_hold.is_(True))
    held_hashes = {
        c.psid_hash or crypto.keyed_hash(c.psid)
        for c in db.session.scalars(select(Contact).where(Contact.legal_hold.is_(True)))
        if c.psid_hash or c.psid
    }
    pages = db.session.scalars(select(Page).order_by(Page.id)).all()
    page_days = {page.fb_page_id: page.retention_days or 365 for page in pages}
    for page in pages:
        cutoff = now - timedelta(days=page_days[page.fb_page_id])
        counts: list[int] = []
        convs = select(Conversation.id).where(Conversation.page_id == page.id, Conversation.contact_id.not_in(held))
        _batched_delete(
            Message,
            select(Message.id).where(Message.conversation_id.in_(convs), Message.created_at < cutoff),
            counts,
        )
        events = select(WebhookEvent.id).where(
            WebhookEvent.page_fb_id == page.fb_page_id, WebhookEvent.received_at < cutoff
        )
        _batched_delete(WebhookEvent, _not_held(events, held_hashes), counts)
        report.per_page[page.name] = {
            "messages": counts[0],
            "webhook_events": counts[1],
            "retention_days": page.retention_days,
        }
    report.other_webhook_events = _purge_other_raw_events(now, page_days, held_hashes)
    report.erased_leftovers = _purge_erased_leftovers()
    report.accounts_removed = purge_deleted_accounts(now)
    audit.record(
        "retention_run",
        None,
        None,
        {
            "messages": sum(c["messages"] for c in report.per_page.values()),
            "webhook_events": sum(c["webhook_events"] for c in report.per_page.values()) + report.other_webhook_events,
            "erased_leftovers": report.erased_leftovers,
            "accounts_removed": report.accounts_removed,
        },
    )
    db.session.commit()
    return report


def _purge_erased_leftovers() -> int:
    """Anything that reached an erased (tombstoned) contact since its erasure goes too.

    Raw events mentioning the PSID hash go, late retries received after the erasure included;
    once the person wrote again as a fresh contact (a live contact with that hash), only those
    received up to the (latest) erasure: the rest are theirs, and processing discards a late
    retry among them, raw row included.
    """
    erased = select(Contact.id).where(Contact.erased_at.is_not(None), Contact.legal_hold.is_(False))
    counts: list[int] = []
    convs = select(Conversation.id).where(Conversation.contact_id.in_(erased))
    _batched_delete(Message, select(Message.id).where(Message.conversation_id.in_(convs)), counts)
    _batched_delete(Conversation, convs, counts)
    erasures = db.session.execute(
        select(Contact.psid_hash, db.func.max(Contact.erased_at))
        .where(Contact.erased_at.is_not(None), Contact.legal_hold.is_(False), Contact.psid_hash.is_not(None))
        .group_by(Contact.psid_hash)
    ).all()
    live = set(
        db.session.scalars(
            select(Contact.psid_hash).where(
                Contact.erased_at.is_(None), Contact.psid_hash.in_([h for h, _ in erasures])
            )
        )
    )
    for h, erased_at in erasures:
        events = select(WebhookEvent.id).where(WebhookEvent.psid_hashes.like(f"%|{h}|%"))
        if h in live:  # they wrote again as a fresh contact: keep what came after the erasure
            events = events.where(WebhookEvent.received_at <= erased_at)
        _batched_delete(WebhookEvent, events, counts)
    for c in db.session.scalars(
        select(Contact).where(Contact.erased_at.is_not(None), Contact.legal_hold.is_(False), Contact.psid.is_not(None))
    ):
        c.psid = None
        counts.append(1)
    db.session.commit()
    return sum(counts)


def purge_deleted_accounts(now: datetime | None = None) -> int:
    """Anonymised staff accounts are removed for good (their references become NULL)."""
    from flask_appbuilder.security.sqla.models import User, assoc_user_role

    users = db.session.scalars(select(User).where(User.username.like("deleted-%"), User.active.is_(False))).all()
    removed = 0
    for user in users:
        if user.username != anonymised_username(user.id):
            continue
        uid = user.id
        db.session.execute(assoc_user_role.delete().where(assoc_user_role.c.user_id == uid))
        db.session.execute(update(User).where(User.created_by_fk == uid).values(created_by_fk=None))
        db.session.execute(update(User).where(User.changed_by_fk == uid).values(changed_by_fk=None))
        for model, col in (
            (Message, Message.author_id),
            (Conversation, Conversation.assignee_id),
        ):
            db.session.execute(update(model).where(col == uid).values({col.key: None}))
        for col in (PrivacyRequest.requested_by_id, PrivacyRequest.approved_by_id, PrivacyRequest.subject_user_id):
            db.session.execute(update(PrivacyRequest).where(col == uid).values({col.key: None}))
        db.session.execute(delete(User).where(User.id == uid))
        audit.record("account_deleted", "user", uid, {})
        removed += 1
    db.session.commit()
    return removed


def purge_expired_exports(now: datetime | None = None) -> int:
    """Delete export files whose link expired."""
    now = now or utcnow()
    removed = 0
    for req in db.session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.export_path.is_not(None), PrivacyRequest.export_expires_at <= now)
    ).all():
        _remove_file(req.export_path)
        req.export_path = None
        audit.record("export_expired", "privacy_request", req.id, {})
        removed += 1
    db.session.commit()
    return removed


def flag_overdue(now: datetime | None = None) -> int:
    """Audit each open request once when it passes its due date."""
    now = now or utcnow()
    flagged = 0
    for req in db.session.scalars(
        select(PrivacyRequest).where(
            PrivacyRequest.status.in_(OPEN_STATUSES),
            PrivacyRequest.due_at < now,
            PrivacyRequest.overdue_flagged_at.is_(None),
        )
    ).all():
        req.overdue_flagged_at = now
        audit.record("privacy_request_overdue", "privacy_request", req.id, {"status": req.status})
        flagged += 1
    db.session.commit()
    return flagged


# --------------------------------------------------------------------------- Meta callback


class SignedRequestError(ValueError):
    """A signed_request that must be answered with 400 (reason is safe to return)."""


def _b64url_decode(part: str) -> bytes:
    if not part or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for c in part):
        raise SignedRequestError("signed_request is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError) as exc:
        raise SignedRequestError("signed_request is not base64url") from exc


def _signed_payload(part: str) -> dict[str, Any]:
    """The (already authenticated) payload part as a JSON object."""
    try:
        payload = json.loads(_b64url_decode(part).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignedRequestError("signed_request payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignedRequestError("signed_request payload is not a JSON object")
    return payload


def parse_signed_request(
    signed_request: str | None, app_secret: str, max_age: int = 86400, now: float | None = None
) -> dict[str, Any]:
    """Verify Meta's `base64url(sig).base64url(json)` (HMAC-SHA256 with the app secret).

    The signature is checked before the payload is decoded: nothing an anonymous caller sends
    is parsed as JSON unless it was signed with our secret. Every failure is a SignedRequestError.
    """
    if not signed_request or not isinstance(signed_request, str):
        raise SignedRequestError("signed_request is missing")
    if len(signed_request) > 8192:
        raise SignedRequestError("signed_request is too long")
    parts = signed_request.strip().split(".")
    if len(parts) != 2:
        raise SignedRequestError("signed_request must be two base64url parts joined by a dot")
    sig = _b64url_decode(parts[0])
    _b64url_decode(parts[1])  # the alphabet check, before the MAC is computed over it
    expected = hmac.new(app_secret.encode("utf-8"), parts[1].encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise SignedRequestError("signed_request signature does not match")
    payload = _signed_payload(parts[1])
    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != "HMAC-SHA256":
        raise SignedRequestError("signed_request algorithm must be HMAC-SHA256")
    issued_at = payload.get("issued_at")
    if issued_at is not None:
        if isinstance(issued_at, bool) or not isinstance(issued_at, int):
            raise SignedRequestError("signed_request issued_at is not a timestamp")
        current = time.time() if now is None else now
        if issued_at < current - max_age:
            raise SignedRequestError("signed_request is stale")
        if issued_at > current + 300:
            raise SignedRequestError("signed_request is issued in the future")
    user_id = payload.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 64 or not user_id.isalnum():
        raise SignedRequestError("signed_request has no valid user_id")
    payload["user_id"] = user_id.strip()
    return payload


def resolve_psids(app_scoped_user_id: str) -> set[tuple[str, str]]:
    """(fb_page_id, psid) pairs via Graph ids_for_pages, asked with each page's token."""
    from app.messenger.client import GraphError, client_from_config

    found: set[tuple[str, str]] = set()
    pages = db.session.scalars(select(Page).where(Page.access_token.is_not(None))).all()
    if not pages:
        return found
    with client_from_config(current_app.config) as client:
        for page in pages:
            try:
                items = client.ids_for_pages(app_scoped_user_id, page.access_token or "")
            except GraphError as exc:
                logger.warning("ids_for_pages failed for page %s: %s", page.fb_page_id, type(exc).__name__)
                continue
            for item in items:
                psid = item.get("id")
                page_id = (item.get("page") or {}).get("id")
                if isinstance(psid, str | int) and isinstance(page_id, str | int):
                    found.add((str(page_id), str(psid)))
    return found


def handle_deletion_callback(app_scoped_user_id: str) -> str:
    """Meta's data-deletion callback: erasure requests for the user's contacts; returns the code."""
    subject_ref = crypto.keyed_hash("asid:" + app_scoped_user_id)
    existing = db.session.scalar(
        select(PrivacyRequest)
        .where(PrivacyRequest.subject_ref == subject_ref, PrivacyRequest.status.in_(OPEN_STATUSES))
        .order_by(PrivacyRequest.id)
    )
    if existing is not None:
        return existing.confirmation_code.split("-")[0]
    pairs = resolve_psids(app_scoped_user_id)
    contacts: list[Contact] = []
    for page_fb_id, psid in sorted(pairs):
        contact = db.session.scalar(
            select(Contact)
            .join(Page, Page.id == Contact.page_id)
            .where(Page.fb_page_id == page_fb_id, Contact.psid == psid)
        )
        if contact is not None:
            contacts.append(contact)
    code = secrets.token_hex(12)
    if not contacts:
        req = create_request("erasure", None, source="facebook_callback", code=code, commit=False)
        req.subject_ref = subject_ref
        req.result = "no matching data"
        req.progress = 100
        req.completed_at = utcnow()
        _transition(req, "complete", "privacy_request_completed")
    for n, contact in enumerate(contacts):
        req = create_request(
            "erasure", contact, source="facebook_callback", code=code if n == 0 else f"{code}-{n}", commit=False
        )
        req.subject_ref = subject_ref
    db.session.commit()
    return code


# what new_code() hands out: lowercase hex, "-N" for the numbered requests of one Meta callback
PUBLIC_CODE = re.compile(r"[0-9a-f]{16,64}(?:-[0-9]{1,6})?")


def requests_for_code(code: str) -> list[PrivacyRequest]:
    """The request(s) behind a public confirmation code: exact matches only.

    Anything outside the code's own alphabet is refused before the query (no LIKE wildcards:
    `_` and `%` once showed another subject's status); the base code also finds its `-N` siblings.
    """
    if not isinstance(code, str) or len(code) > 64 or not PUBLIC_CODE.fullmatch(code):
        return []
    base = code.split("-")[0]
    return list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(
                or_(
                    PrivacyRequest.confirmation_code == base,
                    PrivacyRequest.confirmation_code.startswith(f"{base}-", autoescape=True),
                )
            )
            .order_by(PrivacyRequest.id)
        )
    )


def public_status(code: str) -> dict[str, Any] | None:
    """Status and dates only, no personal data."""
    reqs = requests_for_code(code)
    if not reqs:
        return None
    statuses = [r.status for r in reqs]
    order = ["error", "pending", "approved", "in_processing", "denied", "canceled", "complete"]
    overall = next((s for s in order if s in statuses), statuses[0])
    if overall == "error":
        overall = "in_processing"  # a retryable error is still being worked on
    first = reqs[0]
    completed = [r.completed_at for r in reqs if r.completed_at]
    return {
        "confirmation_code": first.confirmation_code,
        "status": overall,
        "received_at": _iso(first.received_at),
        "due_at": _iso(first.due_at),
        "completed_at": _iso(max(completed)) if completed and overall == "complete" else None,
    }


def acting_user_id() -> int | None:
    return current_actor().id
