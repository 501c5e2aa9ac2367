"""The requester's own download of an access export: a single-use link plus the confirmation code.

When an access request completes, the job issues a link `PUBLIC_BASE_URL/privacy/export/<token>`
and the "completed" notice carries it with the request's confirmation code. Possession is
proven by both together: the link (a 256-bit random token; only its SHA-256 is stored) and the
code typed into the page (compared in constant time). Both travel the channel that proved who
asks (the verified e-mail address, or the signed Messenger conversation), so what a forwarded
or leaked URL alone gives is nothing. The right code streams the zip once: the link is marked
used by one conditional UPDATE, so two parallel downloads cannot both succeed. Five wrong
codes burn the link; attempts are rate-limited per link and per client address. Expired,
used, revoked, burned and unknown links all get the same neutral page. A Privacy Officer can
issue a new link (revoking the old one), which keeps the export file for another 7 days.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import NoReturn

from flask import current_app
from sqlalchemy import ColumnElement, select, update

from app import db
from app.audit import service as audit
from app.core.counters import keyed_digest, over_hourly_limit
from app.core.models import utcnow
from app.privacy.exceptions import PrivacyError
from app.privacy.export import EXPORT_TTL
from app.privacy.export_file import decrypt_file
from app.privacy.export_link_model import MAX_WRONG_CODES, PrivacyExportLink
from app.privacy.lifecycle import get_request, iso
from app.privacy.models import PrivacyRequest, RequestStatus, RequestType
from app.privacy.notices import Notice, notify_requester

PER_LINK_PER_HOUR = 10
PER_CLIENT_PER_HOUR = 20
_PREFIX = "omnicrm:exportlink:"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,64}")


class LinkError(PrivacyError):
    """A refusal on the public download page; `status` is the HTTP answer."""

    status = 400


class LinkGone(LinkError):
    """Unknown, expired, used, revoked or burned: one answer for all (no oracle)."""

    status = 404


class WrongCode(LinkError):
    status = 400


class RateLimited(LinkError):
    status = 429


def hash_token(token: str) -> str:
    """What the table stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/privacy/export/{token}"


def _live_filter(now: datetime) -> list[ColumnElement[bool]]:
    """A link that can still be used (the expiry of its export is checked apart)."""
    return [
        PrivacyExportLink.used_at.is_(None),
        PrivacyExportLink.revoked_at.is_(None),
        PrivacyExportLink.failed_attempts < MAX_WRONG_CODES,
        PrivacyExportLink.expires_at > now,
    ]


def issue(req_or_id: PrivacyRequest | int, issued_by_id: int | None = None) -> str:
    """A new link for a completed access request whose export still exists; older live links
    are revoked and the export is kept until the new link expires. Returns the token (the only
    time it exists in clear); the caller commits."""
    req = get_request(req_or_id)
    now = utcnow()
    if req.request_type != RequestType.ACCESS or req.status != RequestStatus.COMPLETE:
        raise PrivacyError("only a completed access request has a download link")
    if not req.export_path or not os.path.exists(req.export_path):
        raise PrivacyError("the export file is gone (expired or erased): there is nothing to link to")
    revoked = db.session.execute(
        update(PrivacyExportLink)
        .where(PrivacyExportLink.privacy_request_id == req.id, *_live_filter(now))
        .values(revoked_at=now)
    ).rowcount
    token = secrets.token_urlsafe(32)
    expires = now + EXPORT_TTL
    link = PrivacyExportLink(
        privacy_request_id=req.id, token_hash=hash_token(token), created_at=now, expires_at=expires
    )
    link.issued_by_id = issued_by_id
    db.session.add(link)
    if req.export_expires_at is None or req.export_expires_at < expires:
        req.export_expires_at = expires  # the file lives as long as the link
    db.session.flush()
    audit.record(
        "privacy_export_link_issued",
        "privacy_request",
        req.id,
        {"link_id": link.id, "expires_at": iso(expires), "revoked": revoked, "by": "staff" if issued_by_id else "job"},
    )
    return token


def reissue(req: PrivacyRequest, issued_by_id: int | None) -> list[str]:
    """A Privacy Officer's new link (the old one stops working), sent like the completed notice;
    returns the channels that carried it (none: nobody received it). Staff never see the token."""
    if issued_by_id is None:
        raise PrivacyError("a new link needs a signed-in privacy officer")
    token = issue(req, issued_by_id)
    db.session.commit()
    return notify_requester(req, Notice.COMPLETED, link_url(token))


def links_of(req: PrivacyRequest) -> list[PrivacyExportLink]:
    """Newest first, for the request page."""
    return list(
        db.session.scalars(
            select(PrivacyExportLink)
            .where(PrivacyExportLink.privacy_request_id == req.id)
            .order_by(PrivacyExportLink.id.desc())
        )
    )


def _limit(key: str, limit: int) -> None:
    if over_hourly_limit(_PREFIX + key, limit):
        raise RateLimited("Too many attempts. Please try again in an hour.")


def find_live(token: str) -> tuple[PrivacyExportLink, PrivacyRequest]:
    """The link behind a token while it can still be used, with its request; LinkGone otherwise."""
    if not _TOKEN.fullmatch(token or ""):
        raise LinkGone("not found")
    now = utcnow()
    link = db.session.scalar(
        select(PrivacyExportLink).where(PrivacyExportLink.token_hash == hash_token(token), *_live_filter(now))
    )
    req = db.session.get(PrivacyRequest, link.privacy_request_id) if link is not None else None
    if link is None or req is None or not req.export_path or not os.path.exists(req.export_path):
        raise LinkGone("not found")
    if req.export_expires_at is None or req.export_expires_at <= now:
        raise LinkGone("not found")
    return link, req


def _code_matches(given: str, expected: str) -> bool:
    """Constant time, on digests (so lengths do not leak either)."""
    a = hashlib.sha256(" ".join(given.split()).lower().encode()).digest()
    b = hashlib.sha256(expected.lower().encode()).digest()
    return hmac.compare_digest(a, b)


def _wrong_code(link: PrivacyExportLink) -> NoReturn:
    """Count the miss atomically; the fifth burns the link (audited)."""
    db.session.execute(
        update(PrivacyExportLink)
        .where(PrivacyExportLink.id == link.id)
        .values(failed_attempts=PrivacyExportLink.failed_attempts + 1)
    )
    failed = int(db.session.scalar(select(PrivacyExportLink.failed_attempts).where(PrivacyExportLink.id == link.id)))
    if failed >= MAX_WRONG_CODES:
        audit.record("privacy_export_link_burned", "privacy_request", link.privacy_request_id, {"link_id": link.id})
    db.session.commit()
    if failed >= MAX_WRONG_CODES:
        raise LinkGone("That code was wrong five times: this link no longer works.")
    raise WrongCode(f"That code is not right. {MAX_WRONG_CODES - failed} tries left.")


def redeem(token: str, code: str, client_ip: str) -> tuple[PrivacyRequest, Iterator[bytes]]:
    """The right code on a live link: mark it used (once, atomically), audit, and return the
    plain zip's chunks. The file is opened before the link is spent, so a failure to read it
    leaves the link usable."""
    _limit("ip:" + keyed_digest(client_ip or "-"), PER_CLIENT_PER_HOUR)
    _limit("link:" + keyed_digest(token or "-"), PER_LINK_PER_HOUR)
    link, req = find_live(token)
    if not _code_matches(code or "", req.confirmation_code):
        _wrong_code(link)
    chunks = decrypt_file(req.export_path or "")
    first = next(chunks, b"")
    now = utcnow()
    spent = db.session.execute(
        update(PrivacyExportLink).where(PrivacyExportLink.id == link.id, *_live_filter(now)).values(used_at=now)
    ).rowcount
    if spent != 1:  # a parallel download won, or the link died meanwhile
        db.session.rollback()
        chunks.close()
        raise LinkGone("not found")
    audit.record("privacy_export_downloaded", "privacy_request", req.id, {"link_id": link.id, "by": "requester"})
    db.session.commit()
    return req, itertools.chain((first,), chunks)
