"""Production refuses to start with missing or development secrets, naming the setting."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

import config
from app import db
from app.contacts.models import Contact
from app.pages.models import Page

PROD = {
    "OMNICRM_ENV": "production",
    "SECRET_KEY": "a-real-secret-key-for-production-use",
    "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "FB_APP_SECRET": "real-app-secret",
    "FB_VERIFY_TOKEN": "real-verify-token",
    "DATABASE_URL": "postgresql://u@db/omnicrm",
    "REDIS_URL": "redis://redis:6379/0",
    "PSID_HASH_KEY": "a-stable-psid-hash-key-kept-across-rotations",
    "SEARCH_KEY": "a-real-search-index-key-for-production",
}


@pytest.fixture
def prod_env(monkeypatch):
    for k, v in PROD.items():
        monkeypatch.setenv(k, v)
    return monkeypatch


def test_production_config_with_real_secrets_builds(prod_env):
    cfg = config.build_config()
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize("name", ["SECRET_KEY", "ENCRYPTION_KEYS", "FB_APP_SECRET", "FB_VERIFY_TOKEN"])
def test_missing_secret_is_refused_by_name(prod_env, name):
    prod_env.delenv(name)
    with pytest.raises(config.ConfigError, match=name):
        config.build_config()


@pytest.mark.parametrize(
    ("name", "dev"),
    [
        ("SECRET_KEY", config.DEV_SECRET_KEY),
        ("ENCRYPTION_KEYS", config.DEV_ENCRYPTION_KEY),
        ("FB_APP_SECRET", config.DEV_FB_APP_SECRET),
        ("FB_VERIFY_TOKEN", config.DEV_FB_VERIFY_TOKEN),
    ],
)
def test_development_default_is_refused_by_name(prod_env, name, dev):
    prod_env.setenv(name, dev)
    with pytest.raises(config.ConfigError, match=f"{name} is still the development default"):
        config.build_config()


def test_psid_hash_key_is_required_in_production(prod_env):
    """Derived from SECRET_KEY, a SECRET_KEY rotation would let erased contacts come back."""
    prod_env.delenv("PSID_HASH_KEY")
    with pytest.raises(config.ConfigError, match="PSID_HASH_KEY is not set"):
        config.build_config()
    prod_env.setenv("PSID_HASH_KEY", PROD["SECRET_KEY"])
    with pytest.raises(config.ConfigError, match="PSID_HASH_KEY must not be the SECRET_KEY"):
        config.build_config()


def test_demo_is_refused_in_production(app, monkeypatch):

    monkeypatch.setitem(app.config, "OMNICRM_ENV", "production")
    result = app.test_cli_runner().invoke(args=["omnicrm", "demo", "--contacts", "1"])
    assert result.exit_code == 1
    assert "refusing to seed demo data in production" in result.output

    assert db.session.query(Page).count() == 0
    assert db.session.query(Contact).count() == 0


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("OMNICRM_ENV", "staging")
    with pytest.raises(config.ConfigError, match="OMNICRM_ENV"):
        config.build_config()


def test_csrf_is_on(app):
    assert app.config["WTF_CSRF_ENABLED"] is True
    assert "csrf" in app.extensions
