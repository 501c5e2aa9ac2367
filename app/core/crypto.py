"""Encryption at rest: MultiFernet over ENCRYPTION_KEYS (first key encrypts, all decrypt)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

_fernet: MultiFernet | None = None
_keys: list[Fernet] = []


class CryptoConfigError(RuntimeError):
    """ENCRYPTION_KEYS is missing or malformed: start-up must stop with a clear reason."""


class DecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key."""


def parse_keys(raw: str) -> list[Fernet]:
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    if not keys:
        raise CryptoConfigError("ENCRYPTION_KEYS is empty: set at least one Fernet key")
    fernets = []
    for i, key in enumerate(keys, 1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError) as exc:
            raise CryptoConfigError(
                f"ENCRYPTION_KEYS key #{i} is not a valid Fernet key (32 url-safe base64 bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc
    return fernets


def configure(raw_keys: str) -> None:
    """Install the key ring for this process."""
    global _fernet, _keys
    _keys = parse_keys(raw_keys)
    _fernet = MultiFernet(_keys)


def fernet() -> MultiFernet:
    if _fernet is None:
        raise CryptoConfigError("encryption keys are not configured")
    return _fernet


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored value cannot be decrypted with any key in ENCRYPTION_KEYS "
            "(was a key removed before `flask omnicrm keys rotate` finished?)"
        ) from exc


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(data: bytes) -> bytes:
    try:
        return fernet().decrypt(data)
    except InvalidToken as exc:
        raise DecryptionError("a stored file cannot be decrypted with any configured key") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt one ciphertext with the first key (MultiFernet.rotate)."""
    return fernet().rotate(token.encode("ascii")).decode("ascii")


def is_current(token: str) -> bool:
    """True when the first (current) key decrypts the value."""
    try:
        _keys[0].decrypt(token.encode("ascii"))
        return True
    except InvalidToken:
        return False


def rotate_bytes(token: bytes) -> bytes:
    """Re-encrypt one binary token (export file chunk) with the first key."""
    try:
        return fernet().rotate(token)
    except InvalidToken as exc:
        raise DecryptionError("a stored file cannot be decrypted with any key in ENCRYPTION_KEYS") from exc


def is_current_bytes(token: bytes) -> bool:
    """Binary twin of is_current, for export file chunks."""
    try:
        fernet()  # raises CryptoConfigError when not configured
        _keys[0].decrypt(token)
        return True
    except InvalidToken:
        return False


def generate_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64) for ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")


def key_count() -> int:
    """How many keys are configured (rotation is pointless with one)."""
    return len(_keys)


class EncryptedText(TypeDecorator[Any]):
    """Text column stored as a Fernet token; Python sees plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """JSON value stored encrypted (attachment URLs are personal data)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt(value))


def keyed_hash(value: str) -> str:
    """Keyed SHA-256 of an identifier (PSID): lets us recognise it later without storing it.

    Keyed by PSID_HASH_KEY (default: derived from SECRET_KEY) so a leaked table cannot be
    reversed by hashing every possible PSID.
    """
    key = current_app.config.get("PSID_HASH_KEY") or ("psid:" + current_app.config["SECRET_KEY"])
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
