"""`search backfill` / `search rebuild`: batched, resumable, under the current key; the job
runs through the worker."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.models import utcnow
from app.core.queues import enqueue
from app.search import rebuild, services
from app.search.models import MessageSearchToken, SearchIndexState

TEXTS = ["blue widget broken", "red widget fine", "blue gadget", "nothing to see", None]


@pytest.fixture
def unindexed(app, conversation) -> list[int]:
    """Messages stored before the index existed (indexing off while they are written)."""
    app.config["SEARCH_INDEXING"] = False
    try:
        ids = []
        for text in TEXTS:
            m = Message(conversation_id=conversation.id, direction="in", text=text, status="received")
            m.created_at = utcnow()
            db.session.add(m)
            db.session.commit()
            ids.append(m.id)
    finally:
        app.config["SEARCH_INDEXING"] = True
    return ids


def _count(text: str) -> int:
    return services.do_search(services.check_query({"text": text})).count


def _tokens() -> set[tuple[int, int]]:
    return set(db.session.execute(select(MessageSearchToken.token, MessageSearchToken.message_id)).tuples())


def _expected() -> set[tuple[int, int]]:
    rows = db.session.execute(select(Message.id, Message.text)).all()
    return {(t, mid) for mid, text in rows for t in services.text_tokens(text)}


def test_backfill_is_batched_and_resumes_where_it_stopped(unindexed):
    assert _tokens() == set()
    first = rebuild.do_run("backfill", batch_size=2, max_batches=1)  # "interrupted" after one batch
    assert (first.scanned, first.indexed, first.done) == (2, 2, False)
    assert db.session.get(SearchIndexState, "backfill").last_message_id == unindexed[1]
    second = rebuild.do_run("backfill", batch_size=2)
    assert second.resumed_from == unindexed[1]
    assert (second.scanned, second.indexed, second.done) == (3, 2, True)  # the empty one has no words
    assert _tokens() == _expected()
    assert _count("widget") == 1  # one conversation
    again = rebuild.do_run("backfill", batch_size=2)  # a finished backfill scans again, indexes nothing twice
    assert (again.resumed_from, again.indexed) == (0, 0)
    assert _tokens() == _expected()


def test_rebuild_after_a_key_rotation_is_resumable(app, unindexed):
    rebuild.do_run("backfill")
    old = _tokens()
    app.config["SEARCH_KEY"] = "a-new-search-key-after-rotation"
    try:
        assert _count("blue") == 0  # queries hash with the new key: nothing matches until the rebuild
        part = rebuild.do_run("rebuild", batch_size=2, max_batches=2)
        assert part.scanned == 4
        assert _count("blue") == 1
        rest = rebuild.do_run("rebuild", batch_size=2)
        assert rest.resumed_from == unindexed[3]
        assert rest.done
        assert _tokens() == _expected()
        assert not (_tokens() & old)  # no token of the old key is left
        assert _count("blue widget") == 1
        state = db.session.get(SearchIndexState, "rebuild")
        assert state.done == 1
        assert state.key_fingerprint == services.key_fingerprint()
    finally:
        app.config["SEARCH_KEY"] = "dev-search-key-change-me-0123456789abcdef"


def test_rebuild_under_another_key_starts_again(app, unindexed):
    rebuild.do_run("rebuild", batch_size=2, max_batches=1)
    app.config["SEARCH_KEY"] = "yet-another-search-key"
    try:
        report = rebuild.do_run("rebuild", batch_size=2)
        assert report.resumed_from == 0
        assert _tokens() == _expected()
    finally:
        app.config["SEARCH_KEY"] = "dev-search-key-change-me-0123456789abcdef"


def test_commands_show_progress(app, unindexed):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["omnicrm", "search", "backfill", "--batch-size", "2"])
    assert out.exit_code == 0, out.output
    assert "backfill: 2/5 messages" in out.output
    assert "backfill done: 5 messages scanned, 4 indexed" in out.output
    out = runner.invoke(args=["omnicrm", "search", "rebuild", "--batch-size", "100"])
    assert out.exit_code == 0, out.output
    assert "rebuild done: 5 messages scanned, 4 indexed" in out.output
    status = runner.invoke(args=["omnicrm", "search", "status"])
    assert f"{len(_expected())} tokens for 5 messages" in status.output
    assert "rebuild: complete (current key)" in status.output
    bad = runner.invoke(args=["omnicrm", "search", "rebuild", "--batch-size", "0"])
    assert bad.exit_code == 2


def test_the_index_job_runs_in_the_worker(unindexed, jobs):
    enqueue("app.search.tasks.run_index", "backfill", queue="default")
    assert jobs(("default",)) == 1
    assert _tokens() == _expected()
    assert db.session.scalar(select(func.count()).select_from(MessageSearchToken)) == len(_expected())
