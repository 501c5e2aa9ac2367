"""Security manager: audited logins, lockout after repeated failures, password policy."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_request_context, request
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.manager import SecurityManager

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


class OmniSecurityManager(SecurityManager):
    """Adds lockout and audit hooks to Flask-AppBuilder's database authentication."""

    def auth_user_db(self, username: str, password: str) -> Any:
        user = self.find_user(username=username) if username else None
        threshold = int(current_app.config.get("LOGIN_LOCKOUT_THRESHOLD", 5))
        if user is not None and threshold and (user.fail_login_count or 0) >= threshold:
            # Same answer as a wrong password: no hint that the account exists or is locked.
            from werkzeug.security import check_password_hash

            check_password_hash(user.password or "", password or "")
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
