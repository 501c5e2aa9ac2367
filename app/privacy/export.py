"""Access requests: the data export (a streamed zip, stored encrypted), its download, its expiry."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from flask import current_app
from sqlalchemy import Select, select

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.privacy import export_readme
from app.privacy.exceptions import PrivacyError
from app.privacy.export_file import decrypt_file, encrypt_file
from app.privacy.lifecycle import contact_of, get_request, iso, remove_file, set_progress
from app.privacy.models import PrivacyRequest, RequestType

EXPORT_TTL = timedelta(days=7)
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


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
CSV_FIELDS = ["id", "conversation_id", "mid", "direction", "kind", "text", "attachments", "status", "created_at"]


def csv_safe(value: Any) -> str:
    """Guard spreadsheet formula injection: a cell starting = + - @ gets a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(CSV_DANGEROUS):
        return "'" + text
    return text


def _message_query(contact: Contact) -> Select[Any]:
    """Plain rows (no ORM identity map), streamed 1000 at a time."""
    return (
        select(*MESSAGE_COLUMNS)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact.id)
        .order_by(Message.created_at, Message.id)
        .execution_options(yield_per=1000)
    )


def _message_row(m: Any) -> dict[str, Any]:
    """One message as the export shows it (times in ISO UTC)."""
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "mid": m.mid,
        "direction": m.direction,
        "kind": m.kind,
        "text": m.text,
        "attachments": m.attachments,
        "status": m.status,
        "created_at": iso(m.created_at),
        "sent_at": iso(m.sent_at),
        "delivered_at": iso(m.delivered_at),
        "read_at": iso(m.read_at),
    }


def _csv_row(row: dict[str, Any]) -> list[str]:
    """The spreadsheet line of a message: attachments as JSON, every cell formula-guarded."""
    return [csv_safe(row[k] if k != "attachments" else json.dumps(row[k]) if row[k] else "") for k in CSV_FIELDS]


def _contact_doc(contact: Contact) -> dict[str, Any]:
    """contact.json: the contact record as the person may see it."""
    page = contact.page
    return {
        "id": contact.id,
        "page": {"id": page.fb_page_id, "name": page.name} if page else None,
        "psid": contact.psid,
        "channel": contact.channel,
        "username": contact.username,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "locale": contact.locale,
        "profile_pic": contact.profile_pic,
        "tags": contact.tags,
        "notes": contact.notes,
        "marketing_opt_out": contact.marketing_opt_out,
        "restricted": contact.restricted,
        "first_seen_at": iso(contact.first_seen_at),
        "last_inbound_at": iso(contact.last_inbound_at),
    }


def export_dir() -> str:
    """EXPORT_DIR, created private on first use."""
    path: str = current_app.config["EXPORT_DIR"]
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _count_messages(contact: Contact) -> int:
    """How many messages the export will hold (for the progress bar)."""
    return (
        db.session.scalar(
            select(db.func.count(Message.id))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.contact_id == contact.id)
        )
        or 0
    )


def _write_messages(
    zf: zipfile.ZipFile,
    csv_file: IO[str],
    contact: Contact,
    total: int,
    progress: Callable[[int], None] | None,
) -> None:
    """messages.json into the zip and messages.csv beside it, in one streamed pass."""
    writer = csv.writer(csv_file)
    writer.writerow(CSV_FIELDS)
    with zf.open("messages.json", "w") as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8")
        out.write("[")
        done = 0
        for m in db.session.execute(_message_query(contact)):
            row = _message_row(m)
            out.write(("\n" if done == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
            writer.writerow(_csv_row(row))
            done += 1
            if done % 5000 == 0 and progress and total:
                progress(min(90, int(done * 90 / total)))
        out.write("\n]\n")
        out.flush()
        out.detach()


def _readme(req: PrivacyRequest, contact: Contact, now: datetime) -> str:
    """README.txt: what each file holds, why we keep it, and for how long."""
    page = contact.page
    return export_readme.render(req.id, now, now + EXPORT_TTL, page.retention_days if page else 365, contact.locale)


def build_export(req: PrivacyRequest, progress: Callable[[int], None] | None = None) -> str:
    """Zip the contact's data streaming (yield_per) and store it encrypted; returns its path."""
    contact = contact_of(req)
    if contact.erased_at:
        raise PrivacyError("the contact was erased; there is nothing to export")
    total = _count_messages(contact)
    now = utcnow()
    contact_doc = _contact_doc(contact)
    workdir = tempfile.mkdtemp(prefix="omnicrm-export-")
    try:
        zip_path = os.path.join(workdir, "export.zip")
        csv_path = os.path.join(workdir, "messages.csv")
        with (
            zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
            open(csv_path, "w", newline="", encoding="utf-8") as csv_file,
        ):
            zf.writestr("README.txt", _readme(req, contact, now))
            zf.writestr("contact.json", json.dumps(contact_doc, ensure_ascii=False, indent=2))
            _write_messages(zf, csv_file, contact, total, progress)
            csv_file.close()
            zf.write(csv_path, "messages.csv")
        final = os.path.join(export_dir(), f"privacy-{req.id}-{secrets.token_hex(8)}.zip.enc")
        encrypt_file(zip_path, final)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return final


def handle_access(req: PrivacyRequest) -> str:
    """Processing of an access request: a fresh export replaces any earlier one."""
    path = build_export(req, progress=lambda p: set_progress(req, p))
    req = db.session.get(PrivacyRequest, req.id)
    remove_file(req.export_path)
    req.export_path = path
    req.export_expires_at = utcnow() + EXPORT_TTL
    audit.record("export_created", "privacy_request", req.id, {"expires_at": iso(req.export_expires_at)})
    return "export ready"


def export_for_download(req_or_id: PrivacyRequest | int) -> tuple[PrivacyRequest, Iterator[bytes]]:
    """Check the link is still valid, audit the download, and stream the plain zip."""
    req = get_request(req_or_id)
    if req.request_type != RequestType.ACCESS or not req.export_path:
        raise PrivacyError("this request has no export to download")
    if req.export_expires_at is None or req.export_expires_at <= utcnow():
        raise PrivacyError("the download link has expired")
    if not os.path.exists(req.export_path):
        raise PrivacyError("the export file is no longer available")
    audit.record("export_downloaded", "privacy_request", req.id, {})
    db.session.commit()
    return req, decrypt_file(req.export_path)


def purge_expired_exports(now: datetime | None = None) -> int:
    """Delete export files whose link expired."""
    now = now or utcnow()
    removed = 0
    for req in db.session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.export_path.is_not(None), PrivacyRequest.export_expires_at <= now)
    ).all():
        remove_file(req.export_path)
        req.export_path = None
        audit.record("export_expired", "privacy_request", req.id, {})
        removed += 1
    db.session.commit()
    return removed
