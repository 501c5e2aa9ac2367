"""/healthz and /readyz: liveness always, readiness only with the database and Redis."""

from __future__ import annotations

from sqlalchemy import create_engine

from app import db


def test_healthz_and_readyz_ok(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(app, client):
    old = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        resp = client.get("/readyz")
    finally:
        app.config["REDIS_URL"] = old
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "unreachable"}
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(app, client):

    engines = db._app_engines[app]  # Flask-SQLAlchemy's per-app engine map
    real = engines[None]
    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    try:
        db.session.remove()
        engines[None] = broken
        resp = client.get("/readyz")
    finally:
        db.session.remove()
        engines[None] = real
        broken.dispose()
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"] == "unreachable"
