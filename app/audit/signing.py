"""Signatures of the chain head and of archive segments, shared by the writer and the verifier.

An HMAC keyed from SECRET_KEY: whoever can only write the database can't forge them. Apart
from service.py (writes) and verify.py (checks) so neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def head_signature(last_id: int, last_hash: str) -> str:
    """HMAC of the head with a key derived from SECRET_KEY: a database-only attacker can't forge it."""
    key = hashlib.sha256(b"omnicrm-audit-head:" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return hmac.new(key, f"{last_id}:{last_hash}".encode(), hashlib.sha256).hexdigest()


def segment_signature(through_id: int, rows: int, start_prev: str, archive_sha256: str) -> str:
    """Signed like the head: an archive segment can't be forged from the database alone."""
    return head_signature(through_id, f"segment:{rows}:{start_prev}:{archive_sha256}")
