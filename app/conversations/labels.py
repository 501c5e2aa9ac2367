"""Labels and priority of a conversation: the one place that validates and writes them.

Labels are free text, normalised to lower case, 1-32 characters of letters, digits, spaces and
`- _ . : / + #`, at most 10 per conversation. They are stored twice, written together in one
transaction: `conversation.labels` (JSON list, what rows display) and `conversation_label`
(one row per label, indexed by (label, conversation_id): what the inbox's `?label=` filter
reads, so it stays an index lookup at 1 M conversations). Changes are audited by the session
listeners (app.audit.listeners) like every other write.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, text

from app import db
from app.conversations.exceptions import ConversationError
from app.conversations.models import Conversation, ConversationLabel, Priority

MAX_LABELS = 10
MAX_LABEL_LENGTH = 32
LABEL_RE = re.compile(r"^[\w][\w .:/+#-]*$")
PRIORITIES = tuple(p.value for p in Priority)


def clean_label(raw: Any) -> str:
    """One label as stored, or the reason it is refused."""
    if not isinstance(raw, str):
        raise ConversationError("each label must be a string")
    label = " ".join(raw.split()).lower()
    if not label:
        raise ConversationError("a label cannot be empty")
    if len(label) > MAX_LABEL_LENGTH:
        raise ConversationError(f"label {label[:40]!r} is longer than {MAX_LABEL_LENGTH} characters")
    if not LABEL_RE.match(label):
        raise ConversationError(
            f"label {label!r} has characters that are not allowed (letters, digits, spaces and - _ . : / + # only)"
        )
    return label


def clean_labels(raw: Any) -> list[str]:
    """A list of labels, de-duplicated in order; a comma-separated string is accepted too."""
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConversationError("labels must be a list of strings")
    labels: list[str] = []
    for item in raw:
        label = clean_label(item)
        if label not in labels:
            labels.append(label)
    if len(labels) > MAX_LABELS:
        raise ConversationError(f"at most {MAX_LABELS} labels per conversation")
    return labels


def clean_priority(raw: Any) -> str:
    if raw not in PRIORITIES:
        raise ConversationError("priority must be one of: " + ", ".join(PRIORITIES))
    return str(raw)


def _sync_rows(conversation: Conversation, labels: list[str]) -> None:
    """Make `conversation_label` hold exactly `labels` for this conversation."""
    existing = {
        row.label: row
        for row in db.session.scalars(
            select(ConversationLabel).where(ConversationLabel.conversation_id == conversation.id)
        )
    }
    for label, row in existing.items():
        if label not in labels:
            db.session.delete(row)
    for label in labels:
        if label not in existing:
            db.session.add(ConversationLabel(conversation_id=conversation.id, label=label))


def apply_labels_and_priority(conversation: Conversation) -> None:
    """Validate what an edit put on the row (REST PUT) and write the label table with it."""
    if conversation.labels is not None and not isinstance(conversation.labels, list):
        raise ConversationError("labels must be a list of strings")
    labels = clean_labels(conversation.labels)
    conversation.priority = clean_priority(conversation.priority or Priority.NORMAL.value)
    conversation.labels = labels or None
    _sync_rows(conversation, labels)


def set_labels_and_priority(conversation: Conversation, labels: Any, priority: Any) -> None:
    """The conversation view's form: everything is checked before anything is written."""
    cleaned = clean_labels(labels)
    cleaned_priority = clean_priority(priority)
    conversation.labels = cleaned or None
    conversation.priority = cleaned_priority
    _sync_rows(conversation, cleaned)
    db.session.commit()


_DISTINCT_LABELS = text(
    """
    WITH RECURSIVE t(label) AS (
        SELECT MIN(label) FROM conversation_label
        UNION ALL
        SELECT (SELECT MIN(c.label) FROM conversation_label c WHERE c.label > t.label) FROM t
        WHERE t.label IS NOT NULL
    )
    SELECT label FROM t WHERE label IS NOT NULL LIMIT :limit
    """
)


def label_suggestions(limit: int = 100) -> list[str]:
    """Labels in use, alphabetically (the datalist under the labels field and the inbox filter).

    A skip scan over the (label, conversation_id) index: one index probe per distinct label,
    however many conversations carry them.
    """
    return [str(row[0]) for row in db.session.execute(_DISTINCT_LABELS, {"limit": limit})]
