"""A CDN beside the fake Graph API: attachment URLs that serve real bytes, as Meta's
`*.fbcdn.net` links do, so inbound media can be fetched and stored in tests and the demo.

`GET /cdn/<name>.<ext>` answers bytes with the extension's content type (`.png` is a real
picture). Query switches shape the answer: `size=N` (body of N bytes), `type=...` (another
Content-Type), `redirect=URL` (302 there), `status=N` (that status, empty body), `fail=N`
(the first N requests of this exact URL answer 500), `nolength=1` (no Content-Length).
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mp3": "audio/mpeg",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "html": "text/html",
}


@dataclass
class CdnAnswer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def png_bytes(name: str, side: int = 48) -> bytes:
    """A real PNG, one colour per name (so each demo picture looks different)."""
    digest = hashlib.sha256(name.encode()).digest()
    pixel = bytes(digest[:3])
    raw = b"".join(b"\x00" + pixel * side for _ in range(side))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def body_for(name: str, ext: str) -> bytes:
    """Plausible bytes of a file of this kind."""
    if ext == "png":
        return png_bytes(name)
    if ext == "pdf":
        return b"%PDF-1.4\n% fake graph document " + name.encode() + b"\n%%EOF\n"
    return (f"fake {ext} file {name} ".encode()) * 8


class CdnHandlers:
    """Mixin of `FakeGraph`: the `/cdn/` routes and their log."""

    _lock: threading.RLock
    requests_log: list[dict[str, Any]]

    def cdn_hits(self) -> list[str]:
        """The CDN URLs (path and query) requested so far, in order."""
        with self._lock:
            return [r["raw"] for r in self.requests_log if r.get("cdn")]

    def cdn_answer(self, method: str, raw_path: str) -> CdnAnswer | None:
        """The answer of a `/cdn/` request; None for any other path (the Graph handles it)."""
        split = urlsplit(raw_path)
        if not split.path.startswith("/cdn/"):
            return None
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self._lock:
            seen = sum(1 for r in self.requests_log if r.get("cdn") and r["raw"] == raw_path)
            self.requests_log.append(
                {"method": method, "path": split.path, "raw": raw_path, "cdn": True, "time": time.time()}
            )
        if method != "GET":
            return CdnAnswer(405)
        if query.get("redirect"):
            return CdnAnswer(302, headers={"Location": query["redirect"]})
        if query.get("status", "").isdigit():
            return CdnAnswer(int(query["status"]))
        if query.get("fail", "").isdigit() and seen < int(query["fail"]):
            return CdnAnswer(500, b"temporarily unavailable")
        name = split.path.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        body = body_for(name, ext)
        if query.get("size", "").isdigit():
            size = int(query["size"])
            body = (body * (size // max(1, len(body)) + 1))[:size]
        headers = {"Content-Type": query.get("type") or TYPES.get(ext, "application/octet-stream")}
        if not query.get("nolength"):
            headers["Content-Length"] = str(len(body))
        return CdnAnswer(200, body, headers)
