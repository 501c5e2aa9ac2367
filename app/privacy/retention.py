"""Periodic privacy work: retention (policy §8: nothing stays forever) and overdue flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from app import db
from app.audit import service as audit
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.conversations.workspace_models import ConversationNote
from app.core import crypto
from app.core.models import utcnow
from app.pages.models import Page
from app.privacy.accounts import purge_deleted_accounts
from app.privacy.erasure import batched_delete, delete_conversation_extras
from app.privacy.models import OPEN_STATUSES, PrivacyRequest
from app.webhooks.models import WebhookEvent

DEFAULT_RAW_EVENT_RETENTION_DAYS = 30  # config.py's default for RAW_EVENT_RETENTION_DAYS


@dataclass
class RetentionReport:
    per_page: dict[str, dict[str, int]] = field(default_factory=dict)
    other_webhook_events: int = 0
    erased_leftovers: int = 0
    accounts_removed: int = 0

    def lines(self) -> list[str]:
        """What the command prints and the job logs, one line per kind of removal."""
        out = [
            f"page {name}: {c['messages']} messages, {c['webhook_events']} webhook events removed "
            f"(older than {c['retention_days']} days)"
            for name, c in self.per_page.items()
        ]
        out.append(f"webhook events of several pages, unknown pages or none: {self.other_webhook_events} removed")
        out.append(f"erased contacts: {self.erased_leftovers} leftover rows removed")
        out.append(f"deleted staff accounts: {self.accounts_removed} removed")
        return out


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
        batched_delete(
            WebhookEvent,
            _not_held(select(WebhookEvent.id).where(same, WebhookEvent.received_at < cutoff), held_hashes),
            counts,
        )
    return sum(counts)


def _held_hashes() -> set[str]:
    """PSID hashes of contacts under legal hold: their raw events stay."""
    return {
        c.psid_hash or crypto.keyed_hash(c.psid)
        for c in db.session.scalars(select(Contact).where(Contact.legal_hold.is_(True)))
        if c.psid_hash or c.psid
    }


def _purge_page(page: Page, cutoff: datetime, held_hashes: set[str]) -> dict[str, int]:
    """One page's messages and raw events older than its retention (held contacts kept)."""
    held = select(Contact.id).where(Contact.legal_hold.is_(True))
    counts: list[int] = []
    convs = select(Conversation.id).where(Conversation.page_id == page.id, Conversation.contact_id.not_in(held))
    batched_delete(
        Message,
        select(Message.id).where(Message.conversation_id.in_(convs), Message.created_at < cutoff),
        counts,
    )
    notes = select(ConversationNote.id).where(
        ConversationNote.conversation_id.in_(convs), ConversationNote.created_at < cutoff
    )
    batched_delete(ConversationNote, notes, [])
    # an Instagram event names the page's linked Instagram account (entry id) instead
    own_ids = [i for i in (page.fb_page_id, page.ig_account_id) if i]
    events = select(WebhookEvent.id).where(WebhookEvent.page_fb_id.in_(own_ids), WebhookEvent.received_at < cutoff)
    batched_delete(WebhookEvent, _not_held(events, held_hashes), counts)
    return {"messages": counts[0], "webhook_events": counts[1], "retention_days": page.retention_days}


def run_retention(now: datetime | None = None) -> RetentionReport:
    """Per-page retention (strictly older than retention_days), legal hold respected; then every
    other raw webhook event by the retention that applies to it (policy §8: nothing stays forever)."""
    now = now or utcnow()
    report = RetentionReport()
    held_hashes = _held_hashes()
    pages = db.session.scalars(select(Page).order_by(Page.id)).all()
    page_days = {page.fb_page_id: page.retention_days or 365 for page in pages}
    page_days.update({p.ig_account_id: p.retention_days or 365 for p in pages if p.ig_account_id})
    for page in pages:
        cutoff = now - timedelta(days=page_days[page.fb_page_id])
        report.per_page[page.name] = _purge_page(page, cutoff, held_hashes)
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
    batched_delete(Message, select(Message.id).where(Message.conversation_id.in_(convs)), counts)
    delete_conversation_extras(convs)
    batched_delete(Conversation, convs, counts)
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
        batched_delete(WebhookEvent, events, counts)
    for c in db.session.scalars(
        select(Contact).where(Contact.erased_at.is_not(None), Contact.legal_hold.is_(False), Contact.psid.is_not(None))
    ):
        c.psid = None
        counts.append(1)
    db.session.commit()
    return sum(counts)


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
