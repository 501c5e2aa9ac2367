"""The encrypted export-file format, in one place: written by the export job, read by the
download and re-encrypted by key rotation.

Layout: `EXPORT_MAGIC`, then for each plaintext chunk of at most `EXPORT_CHUNK` bytes a
big-endian 4-byte length followed by that many bytes of Fernet token. Chunking keeps memory
at one chunk however large the export.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Generator, Iterable, Iterator
from typing import BinaryIO

from app.core import crypto

EXPORT_MAGIC = b"OMNIX1\n"
EXPORT_CHUNK = 1024 * 1024
_LENGTH = struct.Struct(">I")


def is_export_file(fin: BinaryIO) -> bool:
    """Consume and check the magic header (foreign files are refused, not decrypted)."""
    return fin.read(len(EXPORT_MAGIC)) == EXPORT_MAGIC


def read_tokens(fin: BinaryIO) -> Iterator[bytes]:
    """The Fernet tokens after the header, in order (still encrypted)."""
    while header := fin.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        yield fin.read(length)


def write_tokens(dst: str, tokens: Iterable[bytes], tmp_suffix: str = ".part") -> None:
    """Write header and tokens to a private temporary file, then move it into place atomically."""
    tmp = dst + tmp_suffix
    with open(tmp, "wb") as fout:
        os.chmod(tmp, 0o600)
        fout.write(EXPORT_MAGIC)
        for token in tokens:
            fout.write(_LENGTH.pack(len(token)))
            fout.write(token)
    os.replace(tmp, dst)


def encrypt_file(src: str, dst: str) -> None:
    """Chunked Fernet: length-prefixed tokens, so memory stays at one chunk."""
    with open(src, "rb") as fin:
        write_tokens(dst, (crypto.encrypt_bytes(chunk) for chunk in iter(lambda: fin.read(EXPORT_CHUNK), b"")))


def decrypt_file(path: str) -> Generator[bytes]:
    """Yield the plain zip bytes of an encrypted export, chunk by chunk."""
    with open(path, "rb") as fin:
        if not is_export_file(fin):
            raise crypto.DecryptionError("not an Omni CRM export file")
        for token in read_tokens(fin):
            yield crypto.decrypt_bytes(token)
