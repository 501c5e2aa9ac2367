"""The fetch job through the shipped worker process (`python worker.py`), not in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.devtools.fakegraph.cdn import png_bytes
from tests.media.media_helpers import attachment, media_item, media_rows

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_process_fetches_and_stores(app, cdn, deliver, contact, login_as, tmp_path):
    deliver(media_item("m_worker", attachment("image", cdn.cdn_url("worker.png"))))
    [row] = media_rows()
    assert row.status == "pending"
    env = dict(os.environ, MEDIA_FETCH_HOSTS=app.config["MEDIA_FETCH_HOSTS"], PYTHONUNBUFFERED="1")
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.run(
            [sys.executable, "worker.py", "--queues", "default", "--burst"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    [row] = media_rows()
    assert row.status == "stored", text[-3000:]
    assert cdn.cdn_hits() == ["/cdn/worker.png"]
    resp = login_as("agent").get(f"/media/{row.id}")
    assert (resp.status_code, resp.data) == (200, png_bytes("worker.png"))
