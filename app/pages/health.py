"""Channel health: is each connected page still able to receive and send, and why not.

One check per page (the daily job, `flask omnicrm channels check`, the Admin's "Check now" and
`POST /api/v1/page/<id>/health-check` all call `do_check_page`):

- the token, through `GET /debug_token` with the app token: valid, its expiry, its permissions
  (`pages_messaging`, `pages_manage_metadata`, and `instagram_manage_messages` when an
  Instagram account is linked);
- the app's webhook subscription (`GET /{page-id}/subscribed_apps`), repaired on request;
- `GRAPH_API_VERSION` against its end of life (app/pages/graph_versions.py);
- webhook freshness: a page with recent traffic that has heard nothing for
  `CHANNEL_STALE_HOURS` is flagged.

The worst finding sets `health_status`; every change of status is audited; a page that goes
from failing back to ok gets a backfill job for the gap (app/pages/backfill.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import db
from app.audit.service import record
from app.contacts.models import Contact
from app.core.models import utcnow
from app.core.queues import enqueue
from app.messenger.channel_client import SUBSCRIBED_FIELDS, ChannelGraphClient, channel_client_from_config
from app.messenger.client import GraphError, ReauthRequiredError, RetryableGraphError
from app.pages import graph_versions
from app.pages.exceptions import PageError
from app.pages.models import HealthStatus, Page
from app.pages.services import SEND_SCOPE, mark_needs_reauth, validate_token

logger = logging.getLogger(__name__)

BACKFILL_JOB = "app.pages.tasks.backfill_page"
REQUIRED_SCOPES = (SEND_SCOPE, "pages_manage_metadata")
INSTAGRAM_SCOPE = "instagram_manage_messages"
#: a token expiring sooner than this is a warning
EXPIRY_WARNING = timedelta(days=7)
#: freshness is only judged for pages that had traffic within this period
TRAFFIC_PERIOD = timedelta(days=30)
#: the backfill after a failing period starts this much before the page was first seen failing
BACKFILL_MARGIN = timedelta(hours=1)
_RANK = {HealthStatus.OK: 0, HealthStatus.WARNING: 1, HealthStatus.FAILING: 2}


@dataclass(frozen=True)
class Finding:
    """One problem a check found: `level` is warning or failing."""

    check: str
    level: HealthStatus
    reason: str


@dataclass
class CheckResult:
    """A page's check: its new status, the reason shown to people, and what was done."""

    page_id: int
    fb_page_id: str
    name: str
    status: HealthStatus
    reason: str
    previous: str | None
    findings: list[Finding] = field(default_factory=list)
    resubscribed: bool = False
    backfill_since: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "fb_page_id": self.fb_page_id,
            "health_status": self.status.value,
            "health_reason": self.reason,
            "previous_status": self.previous,
            "findings": [{"check": f.check, "level": f.level.value, "reason": f.reason} for f in self.findings],
            "resubscribed": self.resubscribed,
            "backfill_since": self.backfill_since.isoformat() if self.backfill_since else None,
        }


def required_scopes(page: Page) -> tuple[str, ...]:
    """The permissions the page's token must hold (Instagram's when an account is linked)."""
    if getattr(page, "ig_account_id", None):
        return (*REQUIRED_SCOPES, INSTAGRAM_SCOPE)
    return REQUIRED_SCOPES


def _from_epoch(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None) if seconds > 0 else None


def _scope_findings(page: Page, scopes: set[str]) -> list[Finding]:
    missing = [s for s in required_scopes(page) if s not in scopes]
    out = []
    for scope in missing:
        level = HealthStatus.FAILING if scope in (SEND_SCOPE, INSTAGRAM_SCOPE) else HealthStatus.WARNING
        out.append(Finding("scopes", level, f"the token lacks the {scope} permission"))
    return out


def check_token(page: Page, client: ChannelGraphClient, now: datetime) -> list[Finding]:
    """Token valid, expiry, permissions; records expiry and scopes on the page."""
    if not page.access_token:
        return [Finding("token", HealthStatus.FAILING, "the page has no access token")]
    info = client.debug_token(page.access_token)
    if not info.get("is_valid"):
        raw = info.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        why = str(error.get("message") or "Meta reports the token as invalid")[:300]
        mark_needs_reauth(page, f"token invalid: {why}")
        return [Finding("token", HealthStatus.FAILING, f"the access token is invalid ({why}): replace it")]
    if page.needs_reauth:  # Meta says the token works again (e.g. the page was reconnected)
        page.needs_reauth = False
        page.reauth_reason = None
    scopes = {str(s) for s in info.get("scopes") or [] if s}
    page.token_scopes = ",".join(sorted(scopes))[:1000]
    page.token_expires_at = _from_epoch(info.get("expires_at"))
    findings = _scope_findings(page, scopes)
    profile = info.get("profile_id")
    if profile and str(profile) != page.fb_page_id:
        findings.append(Finding("token", HealthStatus.FAILING, f"the token belongs to another page ({profile})"))
    if page.token_expires_at is not None and page.token_expires_at - now < EXPIRY_WARNING:
        when = page.token_expires_at.strftime("%Y-%m-%d %H:%M UTC")
        findings.append(Finding("token", HealthStatus.WARNING, f"the access token expires on {when}: replace it"))
    return findings


def _our_subscription(page: Page, client: ChannelGraphClient) -> dict[str, Any] | None:
    apps = client.subscribed_apps(page.fb_page_id, page.access_token or "")
    for app in apps:
        if not client.app_id or str(app.get("id")) == client.app_id:
            return app
    return None


def check_subscription(page: Page, client: ChannelGraphClient, fix: bool) -> tuple[list[Finding], bool]:
    """(findings, resubscribed): the app must be subscribed with every field the product handles."""
    if not page.access_token:
        return [], False
    app = _our_subscription(page, client)
    fields = set(app.get("subscribed_fields") or []) if app else set()
    missing = [f for f in SUBSCRIBED_FIELDS if f not in fields]
    if not missing:
        page.subscribed = True
        return [], False
    if fix:
        do_resubscribe(page, client, reason="channel check --fix")
        return [], True
    page.subscribed = app is not None and "messages" in fields
    if app is None:
        return [
            Finding("subscription", HealthStatus.FAILING, "the app is not subscribed to the page's webhooks")
        ], False
    level = HealthStatus.FAILING if "messages" in missing else HealthStatus.WARNING
    return [Finding("subscription", level, f"webhook fields not subscribed: {', '.join(missing)}")], False


def do_resubscribe(page: Page, client: ChannelGraphClient | None = None, *, reason: str = "admin") -> None:
    """Subscribe the app to the page's webhooks with every needed field (audited)."""
    if not page.access_token:
        raise PageError("the page has no access token: connect it first")
    own = client is None
    client = client or channel_client_from_config(current_app.config)
    try:
        ok = client.subscribe_app(page.fb_page_id, page.access_token, SUBSCRIBED_FIELDS)
    except GraphError as exc:
        raise PageError(f"Meta refused the subscription: {exc.message}") from None
    finally:
        if own:
            client.close()
    if not ok:
        raise PageError("Meta did not confirm the subscription")
    page.subscribed = True
    record("page_resubscribed", "page", page.id, {"fields": list(SUBSCRIBED_FIELDS), "reason": reason})


def check_version(config: Any, today: datetime) -> list[Finding]:
    v = graph_versions.verdict(str(config.get("GRAPH_API_VERSION") or ""), today.date())
    if v.level == "ok":
        return []
    return [Finding("api_version", HealthStatus(v.level), v.reason)]


def last_inbound(page: Page) -> datetime | None:
    """When the page last heard from a contact (the webhook's last sign of life)."""
    value: datetime | None = db.session.scalar(
        select(func.max(Contact.last_inbound_at)).where(Contact.page_id == page.id)
    )
    return value


def check_freshness(page: Page, now: datetime, stale_hours: int) -> list[Finding]:
    """A page with traffic in the last 30 days and nothing for `stale_hours` is flagged."""
    last = last_inbound(page)
    if stale_hours <= 0 or last is None or now - last > TRAFFIC_PERIOD:
        return []
    if now - last > timedelta(hours=stale_hours):
        hours = int((now - last).total_seconds() // 3600)
        return [
            Finding(
                "freshness",
                HealthStatus.WARNING,
                f"no webhook event for {hours} hours (last {last.strftime('%Y-%m-%d %H:%M UTC')})",
            )
        ]
    return []


def _run_checks(page: Page, client: ChannelGraphClient, fix: bool, now: datetime) -> tuple[list[Finding], bool]:
    config = current_app.config
    findings = check_version(config, now)
    resubscribed = False
    try:
        findings += check_token(page, client, now)
        if not any(f.check == "token" and f.level == HealthStatus.FAILING for f in findings):
            sub, resubscribed = check_subscription(page, client, fix)
            findings += sub
    except ReauthRequiredError as exc:
        mark_needs_reauth(page, exc.message)
        findings.append(Finding("token", HealthStatus.FAILING, "Meta refused the access token (code 190): replace it"))
    except PageError as exc:
        findings.append(Finding("subscription", HealthStatus.FAILING, str(exc)))
    except RetryableGraphError as exc:
        findings.append(
            Finding("graph", HealthStatus.WARNING, f"check incomplete: Graph API unavailable ({exc.message})")
        )
    except GraphError as exc:
        findings.append(Finding("graph", HealthStatus.FAILING, f"Graph API refused the check: {exc.message}"))
    findings += check_freshness(page, now, int(config.get("CHANNEL_STALE_HOURS", 24)))
    return findings, resubscribed


def do_check_page(page: Page, *, fix: bool = False, client: ChannelGraphClient | None = None) -> CheckResult:
    """Run every check on one page, store the verdict (audited on change) and commit."""
    own = client is None
    client = client or channel_client_from_config(current_app.config)
    now = utcnow()
    try:
        findings, resubscribed = _run_checks(page, client, fix, now)
    finally:
        if own:
            client.close()
    status = max((f.level for f in findings), key=lambda s: _RANK[s], default=HealthStatus.OK)
    reason = "; ".join(f.reason for f in findings if f.level == status) or "all checks passed"
    previous = page.health_status
    result = CheckResult(page.id, page.fb_page_id, page.name, status, reason, previous, findings, resubscribed)
    result.backfill_since = _store(page, status, reason, now)
    db.session.commit()
    if result.backfill_since is not None:
        enqueue_backfill(page.id, result.backfill_since)
    log = logger.warning if status != HealthStatus.OK else logger.info
    log("channel %s (page %s): %s: %s", page.name, page.fb_page_id, status.value, reason)
    return result


def _store(page: Page, status: HealthStatus, reason: str, now: datetime) -> datetime | None:
    """Record the verdict; returns the start of the gap to backfill (failing → ok), or None."""
    previous = page.health_status
    gap_start = None
    if status == HealthStatus.FAILING and page.health_failing_since is None:
        page.health_failing_since = now
    elif status != HealthStatus.FAILING and page.health_failing_since is not None:
        if status == HealthStatus.OK:
            gap_start = page.health_failing_since - BACKFILL_MARGIN
        page.health_failing_since = None
    page.health_status = status.value
    page.health_reason = reason[:1000]
    page.health_checked_at = now
    if previous != status.value:
        record(
            "channel_health_changed",
            "page",
            page.id,
            {"health_status": [previous, status.value], "health_reason": reason[:500]},
        )
    return gap_start


def enqueue_backfill(page_id: int, since: datetime) -> None:
    """Queue the recovery of the messages Meta has since `since` (best effort: logged on error)."""
    try:
        enqueue(BACKFILL_JOB, page_id, since.isoformat(), queue="default")
    except Exception:
        logger.exception("could not queue the backfill of page %s", page_id)


def do_check_all(*, fix: bool = False) -> list[CheckResult]:
    """Check every connected page (one client for all)."""
    results = []
    with channel_client_from_config(current_app.config) as client:
        for page_id in db.session.scalars(select(Page.id).order_by(Page.id)).all():
            page = db.session.get(Page, page_id)
            if page is not None:
                results.append(do_check_page(page, fix=fix, client=client))
    return results


def failing_pages() -> list[Page]:
    """Pages whose last check failed (the dashboard banner)."""
    return list(
        db.session.scalars(select(Page).where(Page.health_status == HealthStatus.FAILING.value).order_by(Page.name))
    )


def health_gauges() -> list[tuple[str, str, int]]:
    """(fb_page_id, name, value) per page for /metrics: 0 ok, 1 warning, 2 failing, -1 never checked."""
    rows = db.session.execute(select(Page.fb_page_id, Page.name, Page.health_status).order_by(Page.id)).all()
    return [(r.fb_page_id, r.name, _RANK[HealthStatus(r.health_status)] if r.health_status else -1) for r in rows]


def version_warning(config: Any, today: datetime | None = None) -> str | None:
    """The API version's warning (or failure) text, or None: shown on the Channels page and logged
    at start-up."""
    found = check_version(config, today or utcnow())
    return found[0].reason if found else None


def check_new_token(token: str | None, fb_page_id: str | None, *, instagram: bool = False) -> tuple[str, str | None]:
    """A token about to be saved (the page form, the REST API, `page add`): its shape, then Meta.

    Returns the stripped token and a warning when Meta could not be asked (the daily check
    will); raises `PageError` when it is malformed or Meta says no (invalid, another page's, a
    required permission missing).
    """
    token = validate_token(token)
    return token, _ask_meta(token, (fb_page_id or "").strip() or None, instagram)


def _ask_meta(token: str, fb_page_id: str | None, instagram: bool) -> str | None:
    try:
        with channel_client_from_config(current_app.config) as client:
            info = client.debug_token(token)
    except GraphError as exc:
        logger.warning("page token not verified on save: %s", type(exc).__name__)
        return "the token could not be verified with Meta right now; the channel check will verify it"
    if not info.get("is_valid"):
        raw = info.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        why = str(error.get("message") or "it is expired or was revoked")[:300]
        raise PageError(f"Meta says this page access token is not valid: {why}")
    profile = info.get("profile_id")
    if fb_page_id and profile and str(profile) != str(fb_page_id):
        raise PageError(f"this token belongs to page {profile}, not to page {fb_page_id}")
    scopes = {str(s) for s in info.get("scopes") or []}
    needed = (*REQUIRED_SCOPES, INSTAGRAM_SCOPE) if instagram else REQUIRED_SCOPES
    missing = [s for s in needed if s not in scopes]
    if missing:
        raise PageError(f"the token lacks the permission(s) {', '.join(missing)}: generate it again with them")
    return None
