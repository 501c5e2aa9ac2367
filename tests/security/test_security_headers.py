"""Security headers on every response; HSTS only in production."""

from __future__ import annotations

import pytest
from flask import Flask

from app.web import security_headers


def _bare_app(env: str) -> Flask:
    app = Flask(__name__)
    app.config["OMNICRM_ENV"] = env
    security_headers.install(app)
    app.add_url_rule("/", "index", lambda: "ok")
    return app


@pytest.mark.parametrize("env", ["production", "development"])
def test_headers_and_hsts(env):
    resp = _bare_app(env).test_client().get("/")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Request-ID"]
    assert ("Strict-Transport-Security" in resp.headers) is (env == "production")


def test_app_pages_carry_the_headers(client):
    for url in ("/login/", "/healthz", "/api/v1/page/"):
        resp = client.get(url)
        assert resp.headers["X-Content-Type-Options"] == "nosniff", url
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"], url
        assert "Strict-Transport-Security" not in resp.headers  # testing, not production
