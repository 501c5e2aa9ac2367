"""Reactions stored before they were shown on their messages get there now: each `reaction` row
(kept for deduplication and history) is applied, oldest first, to the message it names, as
`message.meta.reaction` (removed again by an unreact); the thread hides reaction rows, so
without this an older reaction would not be seen at all.

The rule is `app.webhooks.edits.apply_reaction`'s, restated here so that this migration keeps
working whatever that code becomes: one reaction per message, a newer one (by the event's time)
wins, an unsent message keeps none. Batched by reaction id; running it again changes nothing.
Downgrade leaves the reactions on their messages (the earlier code ignores nothing it needs).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BATCH = 1000
message = sa.table(
    "message",
    sa.column("id", sa.Integer()),
    sa.column("conversation_id", sa.Integer()),
    sa.column("mid", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("meta", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.column("created_at", sa.DateTime()),
)


def _wanted(rows: list[Any]) -> dict[tuple[int, str], list[tuple[str, dict[str, Any]]]]:
    """(conversation, target mid) -> [(event time, reaction)] of a batch of reaction rows."""
    out: dict[tuple[int, str], list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        meta = row.meta if isinstance(row.meta, dict) else {}
        mid = meta.get("mid")
        if isinstance(mid, str) and mid:
            out.setdefault((row.conversation_id, mid), []).append((row.created_at.isoformat(), meta))
    return out


def _applied(meta: dict[str, Any], reactions: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """The target's meta with its reactions applied in time order; None when nothing changes."""
    new = dict(meta)
    for stamp, reaction in sorted(reactions, key=lambda r: r[0]):
        if str(new.get("reaction_at") or "") > stamp:
            continue
        if reaction.get("action") == "unreact":
            new.pop("reaction", None)
        else:
            new["reaction"] = {"emoji": reaction.get("emoji"), "reaction": reaction.get("reaction")}
        new["reaction_at"] = stamp
    return new if new != meta else None


def upgrade() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(message.c.id, message.c.conversation_id, message.c.meta, message.c.created_at)
            .where(message.c.kind == "reaction", message.c.id > after)
            .order_by(message.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        wanted = _wanted(rows)
        if not wanted:
            continue
        targets = bind.execute(
            sa.select(message.c.id, message.c.conversation_id, message.c.mid, message.c.meta).where(
                message.c.mid.in_({mid for _, mid in wanted}), message.c.kind.notin_(("reaction", "unsent"))
            )
        ).all()
        for target in targets:
            reactions = wanted.get((target.conversation_id, target.mid))
            meta = target.meta if isinstance(target.meta, dict) else {}
            new = _applied(meta, reactions) if reactions else None
            if new is not None:
                bind.execute(sa.update(message).where(message.c.id == target.id).values(meta=new))


def downgrade() -> None:
    """Nothing to undo: the earlier code shows reactions from the same `meta.reaction`."""
