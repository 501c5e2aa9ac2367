"""The blind index's rules: normalising words, keyed tokens, indexing, and the AND search.

A message's words are normalised (`normalise`) and each is stored only as the first
`TOKEN_BYTES` bytes of HMAC-SHA256(SEARCH_KEY, word), a signed 64-bit integer. A query is
normalised and hashed the same way; every word must match (AND). See docs/search.md for what
the index reveals and how the key is rotated.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import BigInteger, Connection, DateTime, Integer, cast, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from app import db
from app.conversations.models import Conversation, Message
from app.search.exceptions import SearchError
from app.search.models import MessageSearchToken

#: bytes of the HMAC kept: 64 bits make a collision between two words of a vocabulary of a
#: million words about 1 in 37 million (n^2 / 2^65), a false match of a query word 1 in 2^64
TOKEN_BYTES = 8
MIN_WORD = 2  # single letters and digits carry no meaning alone and would be huge posting lists
MAX_WORD = 40  # longer "words" are hashes, URLs, base64: nobody types them into a search box
MAX_WORDS_PER_MESSAGE = 512  # a pasted essay is indexed by its first 512 distinct words
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
CHANNELS = ("messenger", "instagram")
#: Very common English words are not indexed (they match most messages, so they neither narrow
#: a search nor deserve a posting list the size of the table); a query made only of them is refused.
STOP_WORDS = frozenset(
    "a an and are as at be but by do for from had has have he her his i if in is it its me my no "
    "not of on or our she so that the their them they this to us was we were what when which who "
    "will with you your".split()
)
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str | None) -> list[str]:
    """The distinct searchable words of a text, in order: lower-cased (casefold), accents folded
    (NFKD, combining marks dropped), split on anything that is not a letter or digit, between
    MIN_WORD and MAX_WORD characters, stop words left out."""
    if not text:
        return []
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    seen: dict[str, None] = {}
    for word in _WORD.findall(plain):
        if MIN_WORD <= len(word) <= MAX_WORD and word not in STOP_WORDS:
            seen.setdefault(word, None)
            if len(seen) >= MAX_WORDS_PER_MESSAGE:
                break
    return list(seen)


def current_key() -> bytes:
    """SEARCH_KEY as bytes (config.py refuses a missing or development one in production)."""
    key = current_app.config.get("SEARCH_KEY") or ""
    if not key:
        raise RuntimeError("SEARCH_KEY is not configured")
    return str(key).encode()


@lru_cache(maxsize=65536)
def _token(key: bytes, word: str) -> int:
    return int.from_bytes(hmac.digest(key, word.encode(), "sha256")[:TOKEN_BYTES], "big", signed=True)


def word_tokens(words: Iterable[str], key: bytes | None = None) -> list[int]:
    """The keyed tokens of already-normalised words (duplicates removed, order kept)."""
    key = key if key is not None else current_key()
    return list(dict.fromkeys(_token(key, w) for w in words))


def text_tokens(text: str | None, key: bytes | None = None) -> list[int]:
    """The tokens a message's text is indexed under."""
    return word_tokens(normalise(text), key)


def key_fingerprint(key: bytes | None = None) -> str:
    """A keyed hash of a fixed label: tells runs under different keys apart, reveals no key."""
    key = key if key is not None else current_key()
    return hmac.digest(key, b"omnicrm search index fingerprint", "sha256")[:16].hex()


# --------------------------------------------------------------------------- writing the index

_TABLE = MessageSearchToken.__table__
_COLUMNS = ("token", "message_id", "conversation_id", "created_at")


class Indexable(NamedTuple):
    """What a message is indexed with: its text's tokens, each carrying the message's id,
    conversation and time (so a search neither reads `message` to group nor to filter dates)."""

    message_id: int
    conversation_id: int
    created_at: datetime
    text: str | None


def do_index(conn: Connection, messages: Sequence[Indexable], key: bytes | None = None) -> int:
    """Insert the tokens of messages (Core statements: the index is not audited row by row, it
    holds no value anyone reads). Returns the tokens written."""
    key = key if key is not None else current_key()
    # in key order: a batch's B-tree inserts then walk the index once, left to right
    rows = sorted(
        (t, m.message_id, m.conversation_id, m.created_at) for m in messages for t in text_tokens(m.text, key)
    )
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        # one statement for the whole batch (an executemany is one round trip per row)
        tokens, ids, convs, times = zip(*rows, strict=True)
        arrays = select(
            func.unnest(cast(list(tokens), ARRAY(BigInteger))),
            func.unnest(cast(list(ids), ARRAY(Integer))),
            func.unnest(cast(list(convs), ARRAY(Integer))),
            func.unnest(cast(list(times), ARRAY(DateTime))),
        )
        conn.execute(insert(_TABLE).from_select(list(_COLUMNS), arrays))
    else:
        conn.execute(insert(_TABLE), [dict(zip(_COLUMNS, row, strict=True)) for row in rows])
    return len(rows)


def do_unindex(conn: Connection, message_ids: Sequence[int] | Any) -> int:
    """Delete the tokens of messages (a list of ids or a SELECT of ids)."""
    if isinstance(message_ids, Sequence) and not message_ids:
        return 0
    result = conn.execute(delete(_TABLE).where(_TABLE.c.message_id.in_(message_ids)))
    return int(result.rowcount or 0)


def do_unindex_range(conn: Connection, low: int, high: int) -> int:
    """Delete the tokens of every message with low < id <= high (the rebuild's batches)."""
    result = conn.execute(delete(_TABLE).where(_TABLE.c.message_id > low, _TABLE.c.message_id <= high))
    return int(result.rowcount or 0)


def indexing_enabled() -> bool:
    return bool(current_app.config.get("SEARCH_INDEXING", True))


# --------------------------------------------------------------------------- querying


@dataclass(frozen=True)
class SearchQuery:
    """A checked search: the query's words, paging (0-based page) and filters."""

    words: tuple[str, ...]
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE
    page_id: int | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    created_at: datetime


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    count: int
    hits: list[SearchHit]

    @property
    def has_next(self) -> bool:
        return (self.query.page + 1) * self.query.page_size < self.count


def _int_arg(args: Mapping[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 10 or not low <= int(text) <= high:
        raise SearchError(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _date_arg(args: Mapping[str, Any], name: str, end: bool) -> datetime | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time())
        value = datetime.fromisoformat(text)
        # stored times are naive UTC
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise SearchError(f"{name} must be a date (YYYY-MM-DD) or an ISO date and time") from None


def check_query(args: Mapping[str, Any], *, page_arg: str = "page", page_base: int = 0) -> SearchQuery:
    """Validate search input (`text`, paging, `page_id`, `channel`, `since`, `until`);
    SearchError (400) with the reason when it cannot be searched."""
    text = args.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SearchError("text is required: the words to search for")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(f"text is too long: at most {MAX_QUERY_CHARS} characters")
    words = normalise(text)
    if not words:
        raise SearchError(
            f"text has no searchable word: words of {MIN_WORD} to {MAX_WORD} letters or digits, "
            "other than very common ones (the, and, ...)"
        )
    if len(words) > MAX_QUERY_WORDS:
        raise SearchError(f"text has too many words: at most {MAX_QUERY_WORDS}")
    page = _int_arg(args, page_arg, page_base, page_base, 100000)
    page_size = _int_arg(args, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page_id = _int_arg(args, "page_id", None, 1, 2**31 - 1)
    channel = args.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise SearchError("channel must be messenger or instagram")
    since, until = _date_arg(args, "since", end=False), _date_arg(args, "until", end=True)
    if since and until and since >= until:
        raise SearchError("since must be before until")
    return SearchQuery(
        words=tuple(words),
        page=int(page or 0) - page_base,
        page_size=int(page_size or DEFAULT_PAGE_SIZE),
        page_id=page_id,
        channel=str(channel) if channel else None,
        since=since,
        until=until,
    )


def _matches(query: SearchQuery, key: bytes) -> Any:
    """One row per conversation: its newest message (highest id) holding every query word.

    The posting lists carry the conversation and the time, so the intersection, the date range
    and the grouping are all index-only scans of the primary key: `message` is never read."""
    tokens = word_tokens(query.words, key)
    first = aliased(MessageSearchToken, name="t0")
    stmt = select(first.conversation_id.label("conversation_id"), func.max(first.message_id).label("message_id"))
    stmt = stmt.select_from(first).where(first.token == tokens[0])
    aliases = [first]
    for i, token in enumerate(tokens[1:], start=1):
        other = aliased(MessageSearchToken, name=f"t{i}")
        stmt = stmt.join(other, (other.message_id == first.message_id) & (other.token == token))
        aliases.append(other)
    channel_column = getattr(Conversation, "channel", None)
    if query.page_id is not None or (query.channel and channel_column is not None):
        stmt = stmt.join(Conversation, Conversation.id == first.conversation_id)
        if query.page_id is not None:
            stmt = stmt.where(Conversation.page_id == query.page_id)
        if query.channel and channel_column is not None:
            stmt = stmt.where(channel_column == query.channel)
    for alias in aliases:
        # every posting list carries the time: each scan drops the other dates itself
        if query.since is not None:
            stmt = stmt.where(alias.created_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(alias.created_at < query.until)
    return stmt.group_by(first.conversation_id).subquery("matches")


def do_search(query: SearchQuery) -> SearchResult:
    """Conversations with a message holding all the query's words, newest match first.

    One statement: the page of rows carries the total (a window count over the matches); only a
    page past the end needs a second, count-only statement."""
    matches = _matches(query, current_key())
    if db.session.get_bind().dialect.name == "postgresql":
        # a serial merge join of the sorted posting lists beats parallel workers on a busy
        # server (measured in docs/search.md); LOCAL: this transaction only
        db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    counted = select(matches.c.conversation_id, matches.c.message_id, func.count().over().label("total")).subquery(
        "counted"
    )
    rows = db.session.execute(
        select(counted.c.conversation_id, counted.c.message_id, counted.c.total)
        .order_by(counted.c.message_id.desc())
        .offset(query.page * query.page_size)
        .limit(query.page_size)
    ).all()
    if rows:
        count = int(rows[0].total)
    elif query.page == 0:
        count = 0
    else:
        count = int(db.session.scalar(select(func.count()).select_from(matches)) or 0)
    # the page's times by primary key (joined in the statement above, the planner may walk
    # the whole message index backwards instead of looking up 20 rows)
    ids = [r.message_id for r in rows]
    times = dict(db.session.execute(select(Message.id, Message.created_at).where(Message.id.in_(ids))).tuples().all())
    hits = [SearchHit(r.conversation_id, r.message_id, times[r.message_id]) for r in rows]
    return SearchResult(query, count, hits)


def search_conversations(result: SearchResult) -> dict[int, Conversation]:
    """The conversations of a result page (for the inbox), by id."""
    ids = [h.conversation_id for h in result.hits]
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Conversation).where(Conversation.id.in_(ids)))}
