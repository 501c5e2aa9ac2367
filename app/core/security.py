"""Security manager: audited logins, lockout after repeated failures, password policy.

Also: the users grid gets an admin "Unlock" action, the login rate limit keeps its counters in
Redis (so it holds across gunicorn workers and hosts), and the JWT login API is rate limited
like the login form.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, flash, has_request_context, redirect, request
from flask_appbuilder.actions import action
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_limiter import Limiter

from app.core.api import OmniSecurityApi

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12


def password_policy(password: str) -> None:
    """At least 12 characters and not the username (FAB calls this on every password form)."""
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordComplexityValidationError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    username = ""
    if has_request_context():
        username = (request.form.get("username") or "").strip()
        if not username:
            from flask_login import current_user

            username = getattr(current_user, "username", "") or ""
    if username and password.strip().lower() == username.lower():
        raise PasswordComplexityValidationError("Password must not be the username.")


def ratelimit_storage_uri(config: dict) -> str:
    """Where Flask-Limiter keeps its counters: the app's Redis (server or embedded socket)."""
    explicit = config.get("RATELIMIT_STORAGE_URI") or ""
    if explicit:
        return explicit
    url = config.get("REDIS_URL") or ""
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://") :]
    if url:
        return url
    from app.core.queues import get_redis

    conn = get_redis(config)
    socket_file = getattr(conn, "socket_file", None) or conn.connection_pool.connection_kwargs.get("path")
    if not socket_file:
        logger.warning("embedded Redis has no socket: login rate limit counters stay per process")
        return "memory://"
    return f"redis+unix://{socket_file}"


def is_locked(user: Any) -> bool:
    """Locked once fail_login_count reaches LOGIN_LOCKOUT_THRESHOLD (0 turns lockout off)."""
    threshold = int(current_app.config.get("LOGIN_LOCKOUT_THRESHOLD", 5))
    return bool(threshold) and (getattr(user, "fail_login_count", 0) or 0) >= threshold


class OmniUserDBModelView(UserDBModelView):
    """FAB's users grid plus the failed-login counter, an "Unlock" action and a "Request
    account deletion" action (privacy policy section 7, same request as the CLI)."""

    class_permission_name = "UserDBModelView"  # same permission names as FAB's own view
    list_columns = ["first_name", "last_name", "username", "email", "active", "roles", "fail_login_count"]
    label_columns = {**UserDBModelView.label_columns, "fail_login_count": "Failed logins (locked at threshold)"}

    @action(
        "unlock",
        "Unlock",
        "Reset the failed-login counter of the selected account(s)?",
        "fa-unlock",
    )
    def unlock(self, items: Any):
        count = unlock_users(_selected(items))
        flash(f"{count} account(s) unlocked.", "success")
        self.update_redirect()
        return redirect(self.get_redirect())

    @action(
        "request_deletion",
        "Request account deletion",
        "Open an account-deletion privacy request for the selected account(s)? A Privacy Officer "
        "approves it; the account is then deactivated and its personal data removed.",
        "fa-user-times",
    )
    def request_deletion(self, items: Any):
        from flask_login import current_user

        from app.privacy import services as privacy

        opened, refused = [], []
        for user in _selected(items):
            try:
                opened.append(privacy.request_account_deletion(user.id, requested_by_id=current_user.id).id)
            except privacy.PrivacyError as exc:
                refused.append(f"{user.username}: {exc}")
        if opened:
            flash(f"Account-deletion request(s) opened: #{', #'.join(map(str, opened))}.", "success")
        for reason in refused:
            flash(f"Not opened for {reason}", "danger")
        self.update_redirect()
        return redirect(self.get_redirect())


def _selected(items: Any) -> list[Any]:
    """A FAB action's items: one row (single action) or a list, without rows that vanished."""
    return [item for item in (items if isinstance(items, list) else [items]) if item is not None]


def unlock_users(users: list[Any]) -> int:
    """Reset fail_login_count (the lockout) and audit it; shared by the grid and scripts."""
    from app import db
    from app.audit.service import record

    count = 0
    for user in users:
        if (user.fail_login_count or 0) == 0:
            continue
        user.fail_login_count = 0
        record("account_unlocked", "ab_user", user.id, {"fail_login_count": 0})
        count += 1
    db.session.commit()
    return count


class OmniSecurityManager(SecurityManager):
    """Adds lockout and audit hooks to Flask-AppBuilder's database authentication."""

    userdbmodelview = OmniUserDBModelView
    security_api = OmniSecurityApi  # malformed logins are a 400, not a 500

    def create_limiter(self, app: Flask) -> Limiter:
        """Counters in Redis, not per-process memory; never let a Redis outage break login."""
        if app.config.get("RATELIMIT_ENABLED"):
            app.config["RATELIMIT_STORAGE_URI"] = ratelimit_storage_uri(app.config)
            app.config.setdefault("RATELIMIT_KEY_PREFIX", "omnicrm")
            app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
            app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        return super().create_limiter(app)

    def register_views(self) -> None:
        super().register_views()
        # FAB limits only the login form; the JWT login must not be an unlimited side door.
        if self.is_auth_limited:
            for view in self.appbuilder.baseviews:
                if isinstance(view, SecurityApi) and view.blueprint is not None:
                    self.limiter.limit(self.auth_rate_limit, methods=["POST"])(view.blueprint)

    def auth_user_db(self, username: str, password: str) -> Any:
        user = None
        if username:
            user = self.find_user(username=username) or self.find_user(email=username)
        if user is not None and user.is_active and is_locked(user):
            # Same answer and about the same work as a wrong password (one hash check and one
            # write): no hint that the account exists or is locked.
            from werkzeug.security import check_password_hash

            check_password_hash(user.password or current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"], password or "")
            self.noop_user_update(user)
            self._audit("login_failed", username, user_id=user.id, reason="locked")
            return None
        result = super().auth_user_db(username, password)
        if result is None and user is None:
            self._audit("login_failed", username, user_id=None, reason="unknown_user")
        return result

    def on_user_login(self, user: Any) -> None:
        self._audit("login", user.username, user_id=user.id)

    def on_user_login_failed(self, user: Any) -> None:
        self._audit("login_failed", user.username, user_id=user.id, reason="bad_password")
        threshold = int(current_app.config.get("LOGIN_LOCKOUT_THRESHOLD", 5))
        if threshold and (user.fail_login_count or 0) == threshold:
            self._audit("account_locked", user.username, user_id=user.id)

    def on_user_logout(self, user: Any) -> None:
        self._audit("logout", getattr(user, "username", "?"), user_id=getattr(user, "id", None))

    def _audit(self, action: str, username: str, user_id: int | None, **extra: Any) -> None:
        from app.audit.service import record_auth_event

        record_auth_event(action, username=username, user_id=user_id, **extra)
