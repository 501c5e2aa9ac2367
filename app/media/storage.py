"""The media store: encrypted blobs on local disk under `MEDIA_DIR` (default `instance/media/`).

Files are encrypted with the same key ring as message text (MultiFernet over ENCRYPTION_KEYS),
named by a random key (never by anything a stranger chose), and written atomically. The store
is an interface of a few functions so an object store can replace the local default.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from flask import current_app

from app.core.crypto import decrypt_bytes, encrypt_bytes, is_current_bytes, rotate_bytes

#: suffixes of a blob being written (`put`) or re-encrypted (`rotate`); keys have no dot
_TEMPORARY = frozenset({".tmp", ".rotating"})


class MediaMissing(LookupError):
    """The store has no blob under that key (deleted, or never written)."""


def media_dir() -> Path:
    """Where blobs live; created on first use."""
    path = Path(current_app.config.get("MEDIA_DIR") or Path(current_app.instance_path) / "media")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(key: str) -> Path:
    if not key or not all(c.isalnum() or c in "-_" for c in key):
        raise MediaMissing(key)
    return media_dir() / key[:2] / key


def put(data: bytes) -> str:
    """Encrypt and store `data`; returns its new key."""
    key = secrets.token_urlsafe(24)
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encrypt_bytes(data))
    os.replace(tmp, path)
    return key


def get(key: str) -> bytes:
    """The decrypted bytes stored under `key`."""
    try:
        return decrypt_bytes(_path(key).read_bytes())
    except FileNotFoundError as exc:
        raise MediaMissing(key) from exc


def delete(key: str | None) -> bool:
    """Remove the blob; True when there was one. Deleting twice is harmless."""
    if not key:
        return False
    try:
        _path(key).unlink()
    except (FileNotFoundError, MediaMissing):
        return False
    return True


def rotate(key: str, dry_run: bool = False) -> bool:
    """Re-encrypt one blob with the first key (`keys rotate`); True when it needed it."""
    try:
        path = _path(key)
        token = path.read_bytes()
    except (FileNotFoundError, MediaMissing):
        return False
    if is_current_bytes(token):
        return False
    if not dry_run:
        tmp = path.with_suffix(".rotating")
        tmp.write_bytes(rotate_bytes(token))
        os.replace(tmp, path)
    return True


def exists(key: str) -> bool:
    try:
        return _path(key).is_file()
    except MediaMissing:
        return False


def stale_keys(older_than_seconds: float) -> Iterator[str]:
    """Keys of blobs last written longer ago than this, for the orphan sweep (which checks them
    against `media_file`). Temporary files a crash left behind are removed on the way."""
    cutoff = time.time() - older_than_seconds
    for folder in sorted(media_dir().iterdir()):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.suffix in _TEMPORARY:
                path.unlink(missing_ok=True)
            else:
                yield path.name
