"""Requests from the data subjects themselves, through the public form at /privacy/request.

Only a verified submission becomes a request: the form's content waits (encrypted, 15 minutes)
in Redis under a random token while a 6-digit code goes to the given address; the right code
within 5 tries opens the request (`source` web, `identity_verified` false until a Privacy
Officer matches it to a contact). The answer never depends on whether the address is known
to us (we don't even look), so the form cannot be used to learn who our contacts are.
Submissions are rate-limited per address and per client address.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from app import db
from app.core import crypto
from app.core.counters import keyed_digest, over_hourly_limit
from app.core.queues import get_redis
from app.mail.compose import check_address
from app.mail.exceptions import MailError
from app.mail.services import queue_mail
from app.privacy.deadlines import check_jurisdiction
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PrivacyRequest, RequestSource, RequestType
from app.privacy.requests import create_request

CODE_TTL = 15 * 60
MAX_TRIES = 5
PER_ADDRESS_PER_HOUR = 3
PER_CLIENT_PER_HOUR = 10
MAX_NAME = 100
MAX_DETAILS = 2000
_PREFIX = "omnicrm:intake:"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class IntakeError(PrivacyError):
    """Bad input on the public form: shown next to the form (400)."""

    status = 400


class RateLimited(IntakeError):
    status = 429


@dataclass
class Submission:
    name: str
    email: str
    request_type: str
    jurisdiction: str
    details: str


def check_submission(form: dict[str, Any]) -> Submission:
    """Every field checked before anything is stored or sent; the reason names the field."""
    name = " ".join(str(form.get("name") or "").split())
    if not name:
        raise IntakeError("Please give your name.")
    if len(name) > MAX_NAME or _CONTROL.search(name) or "<" in name or ">" in name:
        raise IntakeError(f"Your name must be plain text of at most {MAX_NAME} characters.")
    try:
        email = check_address(str(form.get("email") or ""))
    except MailError as exc:
        raise IntakeError(f"E-mail: {exc}.") from None
    request_type = str(form.get("request_type") or "")
    if request_type not in tuple(RequestType):
        raise IntakeError("Please choose what you are asking for.")
    try:
        jurisdiction = check_jurisdiction(str(form.get("jurisdiction") or "") or None).value
    except ValueError:
        raise IntakeError("Please choose GDPR or CCPA.") from None
    details = str(form.get("details") or "").strip()
    if len(details) > MAX_DETAILS or _CONTROL.search(details):
        raise IntakeError(f"The details must be plain text of at most {MAX_DETAILS:,} characters.")
    return Submission(name, email, request_type, jurisdiction, details)


def _limit(key: str, limit: int) -> None:
    if over_hourly_limit(key, limit):
        raise RateLimited("Too many requests from here. Please try again in an hour.")


def do_submit(form: dict[str, Any], client_ip: str) -> str:
    """Check, rate-limit, keep the submission for 15 minutes, mail a code; returns the token."""
    sub = check_submission(form)
    _limit(_PREFIX + "ip:" + keyed_digest(client_ip or "-"), PER_CLIENT_PER_HOUR)
    _limit(_PREFIX + "addr:" + keyed_digest(sub.email.lower()), PER_ADDRESS_PER_HOUR)
    token = secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(10**6):06d}"
    state = {"sub": sub.__dict__, "code": keyed_digest(token + code), "tries": 0}
    get_redis().set(_PREFIX + "t:" + token, crypto.encrypt(json.dumps(state)), ex=CODE_TTL)
    queue_mail(
        sub.email,
        "Your verification code",
        f"Hello {sub.name},\n\nyour code to confirm your privacy request is {code}.\n"
        f"It expires in 15 minutes. If you did not ask for this, ignore this mail.\n",
        kind="verification_code",
    )
    db.session.commit()
    return token


def _load(token: str) -> dict[str, Any]:
    raw = get_redis().get(_PREFIX + "t:" + token) if re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token or "") else None
    if raw is None:
        raise IntakeError("This code has expired or was already used. Please send the form again.")
    state: dict[str, Any] = json.loads(crypto.decrypt(raw.decode() if isinstance(raw, bytes) else raw))
    return state


def do_verify(token: str, code: str) -> PrivacyRequest:
    """The right code within 5 tries and 15 minutes opens the request (once)."""
    state = _load(token)
    key = _PREFIX + "t:" + token
    conn = get_redis()
    code = (code or "").strip()
    if not re.fullmatch(r"\d{6}", code) or not hmac.compare_digest(state["code"], keyed_digest(token + code)):
        state["tries"] += 1
        if state["tries"] >= MAX_TRIES:
            conn.delete(key)
            raise IntakeError("That code was wrong five times. Please send the form again.")
        ttl = max(1, int(conn.ttl(key) or 1))
        conn.set(key, crypto.encrypt(json.dumps(state)), ex=ttl)
        raise IntakeError(f"That code is not right. {MAX_TRIES - state['tries']} tries left.")
    if not conn.delete(key):  # a second, concurrent submit of the same code
        raise IntakeError("This code has expired or was already used. Please send the form again.")
    sub = Submission(**state["sub"])
    req = create_request(
        sub.request_type,
        None,
        source=RequestSource.WEB,
        details=None,
        jurisdiction=sub.jurisdiction,
        requester_email=sub.email,
        web_intake={"requester_name": sub.name, "message": sub.details},
    )
    return req
