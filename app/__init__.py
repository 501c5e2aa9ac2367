"""Omni CRM application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, redirect, url_for
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core import crypto, logging_setup

logger = logging.getLogger(__name__)

db = SQLA()
migrate = Migrate()
csrf = CSRFProtect()
appbuilder = AppBuilder(update_perms=False)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: config, crypto, database, security, views, APIs, blueprints, CLI."""
    from config import build_config  # noqa: PLC0415 - reads the environment when imported: at build time

    app = Flask(__name__, instance_path=os.environ.get("OMNICRM_INSTANCE_DIR") or None)
    app.config.update(build_config())
    if overrides:
        app.config.update(overrides)
    logging_setup.configure(app)
    crypto.configure(app.config["ENCRYPTION_KEYS"])

    if app.config.get("PROXY_FIX_HOPS"):
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    csrf.init_app(app)

    with app.app_context():
        import_models()
        appbuilder.init_app(app, db.session)
        register_views(appbuilder)
        register_blueprints(app)
        from app.ops.keys import check_stored_sample  # noqa: PLC0415 - imports db/appbuilder from this package

        check_stored_sample(app)  # a wrong ENCRYPTION_KEYS stops here, naming the setting

    from app.audit import listeners  # noqa: PLC0415 - imports db/appbuilder from this package

    listeners.install(app)
    from app.search import listeners as search_listeners  # noqa: PLC0415 - imports db from this package

    search_listeners.install()
    from app.media import listeners as media_listeners  # noqa: PLC0415 - imports db from this package

    media_listeners.install()

    from app.ops.cli import register_cli  # noqa: PLC0415 - imports db/appbuilder from this package

    register_cli(app)
    from app.web import security_headers  # noqa: PLC0415 - imports db/appbuilder from this package

    security_headers.install(app)
    from app.web import limits  # noqa: PLC0415 - imports db/appbuilder from this package

    limits.install(app)
    from app.web import server_timing  # noqa: PLC0415 - imports db/appbuilder from this package

    server_timing.install(app)
    from app.web import errors  # noqa: PLC0415 - imports db/appbuilder from this package

    errors.install(app)
    from app.web import flash_messages  # noqa: PLC0415 - imports db/appbuilder from this package

    flash_messages.install()
    return app


def import_models() -> None:
    """Import every model module so metadata (and Alembic) sees all tables."""
    from app.audit import models as _audit  # noqa: F401, PLC0415 - imports db from this package
    from app.contacts import models as _contacts  # noqa: F401, PLC0415 - imports db from this package
    from app.conversations import availability as _availability  # noqa: F401, PLC0415 - imports db from this package
    from app.conversations import models as _conversations  # noqa: F401, PLC0415 - imports db from this package
    from app.conversations import workspace_models as _workspace  # noqa: F401, PLC0415 - imports db from this package
    from app.mail import models as _mail  # noqa: F401, PLC0415 - imports db from this package
    from app.media import models as _media  # noqa: F401, PLC0415 - imports db from this package
    from app.notifications import models as _notifications  # noqa: F401, PLC0415 - imports db from this package
    from app.pages import models as _pages  # noqa: F401, PLC0415 - imports db from this package
    from app.privacy import models as _privacy  # noqa: F401, PLC0415 - imports db from this package
    from app.search import models as _search  # noqa: F401, PLC0415 - imports db from this package
    from app.webhooks import models as _webhooks  # noqa: F401, PLC0415 - imports db from this package


def register_views(ab: AppBuilder) -> None:
    """Each domain adds its own views and APIs; the order here is the menu order."""
    from app import audit, conversations  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.contacts import views as contact_views  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.dashboard import views as dashboard_views  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.mail import views as mail_views  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.pages import views as page_views  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.privacy import views as privacy_views  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.webhooks import views as webhook_views  # noqa: PLC0415 - imports db/appbuilder from this package

    conversations.register(ab)
    contact_views.register(ab)
    page_views.register(ab)
    privacy_views.register(ab)
    audit.register(ab)
    webhook_views.register(ab)
    dashboard_views.register(ab)
    mail_views.register(ab)
    from app import notifications  # noqa: PLC0415 - imports db/appbuilder from this package

    notifications.register(ab)
    from app.dashboard import roles_view  # noqa: PLC0415 - imports db/appbuilder from this package

    roles_view.register(ab)
    from app.media import views as media_views  # noqa: PLC0415 - imports db/appbuilder from this package

    media_views.register(ab)


def register_blueprints(app: Flask) -> None:
    """Public, non-FAB routes: webhook, privacy callback/pages, health."""
    from app.privacy.export_link_routes import bp as privacy_export_bp  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.privacy.intake_routes import bp as privacy_intake_bp  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.privacy.public import bp as privacy_public_bp  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.web.health import bp as health_bp  # noqa: PLC0415 - imports db/appbuilder from this package
    from app.webhooks.routes import bp as webhook_bp  # noqa: PLC0415 - imports db/appbuilder from this package

    for bp in (webhook_bp, privacy_public_bp, privacy_intake_bp, privacy_export_bp, health_bp):
        app.register_blueprint(bp)
    csrf.exempt(webhook_bp)
    # Meta's retries must never be throttled, and the hot path skips the limiter's work
    appbuilder.sm.limiter.exempt(webhook_bp)
    csrf.exempt(privacy_public_bp)
    csrf.exempt(health_bp)
    from app.web.metrics import bp as metrics_bp  # noqa: PLC0415 - imports db/appbuilder from this package

    app.register_blueprint(metrics_bp)
    csrf.exempt(metrics_bp)
    # browsers ask for /favicon.ico on every page: point them at the bundled icon (not a 404)
    app.add_url_rule(
        "/favicon.ico",
        "favicon",
        lambda: redirect(url_for("static", filename="omnicrm/favicon.svg"), code=301),
    )
