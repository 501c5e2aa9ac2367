"""The inbox's counts are kept a moment in Redis (app.conversations.queue_counts): a commit that
changes a queue drops them at once, anything else ages out within the TTL, Redis down counts
in the database."""

from __future__ import annotations

from sqlalchemy import delete, text

from app import db
from app.conversations import queue_counts, queues
from app.conversations.models import Conversation
from app.core.models import utcnow
from app.core.queues import get_redis
from tests.helpers import redis_unreachable, uid, waiting_conversation


def _counts(user_id: int | None = None) -> dict[str, int]:
    return {q: n for q, (n, _capped) in queues.tab_counts(queues.parse_filters({}), user_id).items()}


def test_counts_are_cached_with_a_short_ttl(page):
    waiting_conversation(page, "one")
    assert _counts()["needs_reply"] == 1
    keys = [k.decode() for k in get_redis().scan_iter(f"{queue_counts.KEY_PREFIX}:*")]
    assert len(keys) == 5
    assert all(0 < get_redis().pttl(k) <= queue_counts.COUNT_TTL_MS for k in keys)
    assert queue_counts.COUNT_TTL_MS <= 2000  # + the 3 s poll: right within 5 s
    # raw SQL announces nothing: the cached count stays until the TTL or the next bump
    db.session.execute(text("UPDATE conversation SET awaiting_reply = :f"), {"f": False})
    db.session.commit()
    assert _counts()["needs_reply"] == 1
    queue_counts.bump()
    assert _counts()["needs_reply"] == 0


def test_a_commit_that_changes_a_queue_shows_at_once(page):
    conv = waiting_conversation(page, "one")
    agent = uid("agent")
    assert _counts(agent)["mine"] == 0
    conv.assignee_id = agent
    db.session.commit()
    assert _counts(agent)["mine"] == 1
    assert _counts(agent)["unassigned"] == 0
    waiting_conversation(page, "two")  # a new conversation
    assert _counts(agent)["needs_reply"] == 2


def test_marking_read_keeps_the_cached_counts(page):
    conv = waiting_conversation(page, "one")
    _counts()
    gen = get_redis().get(queue_counts.GEN_KEY)
    conv.assignee_read_at = utcnow()
    conv.unread_count = 0
    db.session.commit()
    assert get_redis().get(queue_counts.GEN_KEY) == gen


def test_a_bulk_delete_drops_the_cached_counts(page):
    waiting_conversation(page, "one")
    assert _counts()["all"] == 1
    db.session.execute(delete(Conversation))
    db.session.commit()
    assert _counts()["all"] == 0


def test_a_rolled_back_change_does_not_bump(page):
    conv = waiting_conversation(page, "one")
    gen = get_redis().get(queue_counts.GEN_KEY)
    conv.status = "closed"
    db.session.flush()
    db.session.rollback()
    assert get_redis().get(queue_counts.GEN_KEY) == gen


def test_redis_down_counts_in_the_database(app, page):
    waiting_conversation(page, "one")
    with redis_unreachable(app):
        assert _counts()["needs_reply"] == 1
        waiting_conversation(page, "two")  # the bump fails quietly: the commit stands
        assert _counts()["needs_reply"] == 2


def test_an_empty_queue_pages_without_rows_and_the_listing_total_follows_the_tab(login_as, page):
    waiting_conversation(page, "one")
    html = login_as("agent").get("/conversations/?queue=window_closed").get_data(as_text=True)
    assert "0 conversations" in html
    listing = queues.listing(queues.parse_filters({"queue": "needs_reply"}), None)
    assert (listing.total, listing.capped, [c.id for c in listing.rows]) == (1, False, [listing.rows[0].id])
