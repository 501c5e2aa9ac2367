"""A fake Meta Graph API served over real HTTP, for tests, demos and load runs.

Running a real server (rather than mocking ``requests``) exercises the actual client code:
connection pooling, timeouts, query encoding and error parsing. Failures are injected with
switches settable from Python or via ``POST /_control``; optionally every successful send is
followed by signed echo / delivery / read webhooks, so the whole message lifecycle can be
driven locally without Meta.

Run standalone::

    python -m app.devtools.fakegraph --port 8765 \
        --webhook-url http://127.0.0.1:5000/webhooks/messenger --app-secret s3cret
"""

from app.devtools.fakegraph.cli import main
from app.devtools.fakegraph.common import default_profile, sign_body
from app.devtools.fakegraph.server import FakeGraph

__all__ = ["FakeGraph", "default_profile", "main", "sign_body"]
