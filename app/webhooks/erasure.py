"""Erased people's late items: discarded, unless the person is writing again.

An erasure must not be undone by Meta retrying an old event, yet someone erased who writes
again is a new contact; this module draws that line item by item.
"""

from __future__ import annotations

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.core.crypto import keyed_hash
from app.webhooks.payload import ms
from app.webhooks.work import Work

# what a person does themselves: after their erasure, one of these starts a fresh contact
PERSON_KINDS = frozenset({"message", "postback", "reaction", "referral", "optin"})


def drop_erased(candidates: list[Work]) -> tuple[list[Work], set[int]]:
    """Split off an erased person's items, item by item; returns (work, ids of events that had some).

    An item timestamped at or before the person's (latest) erasure, or without a timestamp, is a
    late retry: discarded. A newer item the person sent themselves (PERSON_KINDS) is them writing
    again: applied, to a fresh contact (the tombstone's PSID is gone, so `prepare` creates one).
    Newer deliveries, reads and echoes apply only to such a fresh contact, never create one.
    """
    hashes = {keyed_hash(w.psid): w.psid for w in candidates}
    if not hashes:
        return candidates, set()
    rows = db.session.execute(
        select(Contact.psid_hash, func.max(Contact.erased_at))
        .where(Contact.psid_hash.in_(hashes), Contact.erased_at.is_not(None))
        .group_by(Contact.psid_hash)
    ).all()
    erased_at = {hashes[h]: at for h, at in rows}
    if not erased_at:
        return candidates, set()
    live = set(
        db.session.execute(
            select(Contact.page_id, Contact.psid).where(Contact.psid.in_(erased_at), Contact.erased_at.is_(None))
        ).tuples()
    )

    def new_since_erasure(w: Work) -> bool:
        ts = ms(w.item.get("timestamp"))
        return ts is not None and ts > erased_at[w.psid]

    live.update(
        (w.page.id, w.psid)
        for w in candidates
        if w.psid in erased_at and w.kind in PERSON_KINDS and new_since_erasure(w)
    )
    work: list[Work] = []
    dropped: set[int] = set()
    for w in candidates:
        if w.psid not in erased_at or (new_since_erasure(w) and (w.page.id, w.psid) in live):
            work.append(w)
        else:
            dropped.add(w.event.id)
    return work, dropped
