"""`python -m app.devtools.fakegraph`: run the fake standalone (scripts/run_dev.sh, e2e tests, bench)."""

from __future__ import annotations

import argparse
import logging
import time

from app.devtools.fakegraph.server import FakeGraph


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Fake Meta Graph API for local development")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--app-secret", default="")
    parser.add_argument("--app-id", default="")
    parser.add_argument("--page-id", default="")
    parser.add_argument("--webhook-gap", type=float, default=0.3)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fake = FakeGraph(
        args.host,
        args.port,
        app_secret=args.app_secret,
        app_id=args.app_id,
        page_id=args.page_id,
        webhook_url=args.webhook_url,
        webhook_gap=args.webhook_gap,
    )
    fake.delay = args.delay
    url = fake.start()
    print(f"FakeGraph serving at {url} (GRAPH_API_BASE={url}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
