"""Page rules, shared by the admin views, the API and the command line."""

from __future__ import annotations

import logging

from sqlalchemy import select

from app import db
from app.audit.service import record
from app.pages.exceptions import PageError
from app.pages.models import Page

logger = logging.getLogger(__name__)


def validate_token(token: str | None) -> str:
    """The token stripped, or a refusal: an obviously wrong value must not replace a good one."""
    token = (token or "").strip()
    if not token:
        raise PageError("the page access token is empty")
    if len(token) < 8 or any(c.isspace() for c in token):
        raise PageError("that does not look like a page access token")
    return token


def add_page(fb_page_id: str, name: str, token: str, retention_days: int = 365) -> Page:
    """Connect a page (or replace its token when it exists)."""
    fb_page_id = (fb_page_id or "").strip()
    if not fb_page_id.isdigit():
        raise PageError("--page-id must be the numeric Facebook Page id")
    if not (name or "").strip():
        raise PageError("--name must not be empty")
    token = validate_token(token)
    page: Page | None = db.session.scalar(select(Page).where(Page.fb_page_id == fb_page_id))
    if page is None:
        page = Page(fb_page_id=fb_page_id, name=name.strip(), retention_days=retention_days)
        db.session.add(page)
    else:
        page.name = name.strip()
    set_token(page, token)
    db.session.commit()
    return page


def set_token(page: Page, token: str) -> None:
    """Replace the token (encrypted at rest); the audit row names the event, never the value."""
    page.set_token(validate_token(token))
    db.session.flush()
    record("page_token_replaced", "page", page.id, {"token_last4": page.token_last4})


def mark_needs_reauth(page: Page, reason: str) -> None:
    """Graph error 190: block sends and show a banner until someone replaces the token."""
    if not page.needs_reauth:
        page.needs_reauth = True
        page.reauth_reason = reason[:500]
        logger.warning("page %s needs re-authorisation", page.fb_page_id)


#: The permission without which Meta refuses every Send API call of the page.
SEND_SCOPE = "pages_messaging"


def scopes_of(page: Page) -> set[str] | None:
    """The permissions the token held at the last channel check (None: never checked).

    `page` may be a row of selected columns (the outbound job's batch), hence the getattr."""
    stored: str | None = getattr(page, "token_scopes", None)
    if stored is None:
        return None
    return {s for s in stored.split(",") if s}


def send_block_reason(page: Page) -> str | None:
    """Why the channel itself refuses replies now (beyond `needs_reauth`), or None.

    The channel check (app/pages/health.py) records the token's permissions; a token without
    `pages_messaging` could only queue replies that Meta refuses, so none is accepted.
    """
    scopes = scopes_of(page)
    if scopes is not None and SEND_SCOPE not in scopes:
        return (
            f"the page's access token lacks the {SEND_SCOPE} permission, so Messenger refuses every reply: "
            "an admin must reconnect the page with that permission"
        )
    return None


def clean_ig_account_id(value: str | None, page: Page | None = None) -> str | None:
    """A linked Instagram professional account id: digits, not linked to another page; blank unlinks."""
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 64:
        raise PageError("the Instagram account id must be the numeric id of the Instagram professional account")
    with db.session.no_autoflush:  # the page being edited may already hold the new value
        other = db.session.scalar(select(Page).where(Page.ig_account_id == value))
    if other is not None and (page is None or other.id != page.id):
        raise PageError(f"Instagram account {value} is already linked to page {other.name}")
    return value


def link_instagram(fb_page_id: str, ig_id: str | None) -> Page:
    """Link (or, with a blank id, unlink) the Page's Instagram professional account; audited."""
    page: Page | None = db.session.scalar(select(Page).where(Page.fb_page_id == (fb_page_id or "").strip()))
    if page is None:
        raise PageError(f"no connected page with id {fb_page_id!r}: run `flask omnicrm page add` first")
    old = page.ig_account_id
    page.ig_account_id = clean_ig_account_id(ig_id, page)
    if old != page.ig_account_id:
        db.session.flush()
        record("page_instagram_linked", "page", page.id, {"ig_account_id": [old, page.ig_account_id]})
    db.session.commit()
    return page
