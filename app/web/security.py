"""Security manager: audited logins, brute-force guard, password policy, revocable JWTs.

Failed logins are throttled and locked per account *and* address (app.web.login_guard), so a
stranger cannot lock a real user out. JWTs carry a password stamp and their login source and are
refused once the account is inactive, its password changed, or that source locked.
Also: the users grid gets an admin "Unlock" action, the login rate limit keeps its counters in
Redis (so it holds across gunicorn workers and hosts), and the JWT login API is rate limited
like the login form.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

import werkzeug.security
from flask import Flask, current_app, flash, has_request_context, redirect, request
from flask_appbuilder.actions import action
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import RoleModelView, UserDBModelView
from flask_appbuilder.widgets import ListWidget
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_login import current_user
from werkzeug.wrappers import Response

from app import db
from app.audit import service as audit_service
from app.conversations import availability
from app.core.queues import get_redis
from app.core.role_matrix import describe_role
from app.privacy import accounts as privacy
from app.web import login_guard
from app.web.api import OmniSecurityApi

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
CLAIM_STAMP = "omni_pwd"  # password_stamp() at login
CLAIM_SOURCE = "omni_src"  # login_guard.source_tag() of the address that logged in


def password_policy(password: str) -> None:
    """At least 12 characters and not the username (FAB calls this on every password form)."""
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordComplexityValidationError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    username = ""
    if has_request_context():
        username = (request.form.get("username") or "").strip()
        if not username:
            username = getattr(current_user, "username", "") or ""
    if username and password.strip().lower() == username.lower():
        raise PasswordComplexityValidationError("Password must not be the username.")


def ratelimit_storage_uri(config: Mapping[str, Any]) -> str:
    """Where Flask-Limiter keeps its counters: the app's Redis (server or embedded socket)."""
    explicit: str = config.get("RATELIMIT_STORAGE_URI") or ""
    if explicit:
        return explicit
    url: str = config.get("REDIS_URL") or ""
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://") :]
    if url:
        return url
    conn = get_redis(config)
    socket_file = getattr(conn, "socket_file", None) or conn.connection_pool.connection_kwargs.get("path")
    if not socket_file:
        logger.warning("embedded Redis has no socket: login rate limit counters stay per process")
        return "memory://"
    return f"redis+unix://{socket_file}"


def password_stamp(user: Any) -> str:
    """A keyed fingerprint of the account's password hash: changes when the password does.

    Carried in every JWT; a token whose stamp no longer matches (password changed or reset)
    is refused, refresh tokens included.
    """
    secret = current_app.config["SECRET_KEY"].encode()
    material = f"{user.id}|{user.password or ''}".encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()[:24]


def token_refusal(user: Any, claims: dict[str, Any]) -> str | None:
    """Why a (valid, unexpired) JWT must not be honoured for this account, or None."""
    if user is None or not user.is_active:
        return "inactive"
    if not hmac.compare_digest(str(claims.get(CLAIM_STAMP, "")), password_stamp(user)):
        return "password_changed"
    tag = claims.get(CLAIM_SOURCE)
    if not tag or login_guard.source_is_locked(login_guard.account_key(user, None), str(tag)):
        return "locked"
    return None


class OmniUserDBModelView(UserDBModelView):
    """FAB's users grid plus the failed-login counter, an "Unlock" action and a "Request
    account deletion" action (privacy policy section 7, same request as the CLI)."""

    class_permission_name = "UserDBModelView"  # same permission names as FAB's own view
    list_columns = ["first_name", "last_name", "username", "email", "active", "roles", "fail_login_count"]
    label_columns = {**UserDBModelView.label_columns, "fail_login_count": "Failed logins since last login"}

    @action(
        "unlock",
        "Unlock",
        "Lift the login lockouts (every address) and reset the failed-login counter of the selected account(s)?",
        "fa-unlock",
    )
    def unlock(self, items: Any) -> Response:
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
    def request_deletion(self, items: Any) -> Response:

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
    """Lift every source's lockout and reset fail_login_count, audited; grid and scripts."""
    count = 0
    for user in users:
        cleared = login_guard.clear_account(login_guard.account_key(user, None))
        if not cleared and (user.fail_login_count or 0) == 0:
            continue
        user.fail_login_count = 0
        audit_service.record("account_unlocked", "ab_user", user.id, {"fail_login_count": 0})
        count += 1
    db.session.commit()
    return count


class RoleMatrixListWidget(ListWidget):
    template = "security/roles_list_widget.html"


class OmniRoleModelView(RoleModelView):
    """FAB's roles grid with the permissions in words (app/core/role_matrix.py), not regex tuples."""

    class_permission_name = "RoleModelView"  # same permission names as FAB's own view
    list_widget = RoleMatrixListWidget  # FAB's role widget prints the builtin roles' raw regex tuples

    def _get_list_widget(self, filters: Any, **kwargs: Any) -> Any:
        widgets = super()._get_list_widget(filters, **kwargs)
        widgets["list"].template_args["describe"] = describe_role
        return widgets


class OmniSecurityManager(SecurityManager):
    """Adds lockout and audit hooks to Flask-AppBuilder's database authentication."""

    userdbmodelview = OmniUserDBModelView
    rolemodelview = OmniRoleModelView
    security_api = OmniSecurityApi  # malformed logins are a 400, not a 500

    def create_limiter(self, app: Flask) -> Limiter:
        """Counters in Redis, not per-process memory; never let a Redis outage break login."""
        if app.config.get("RATELIMIT_ENABLED"):
            app.config["RATELIMIT_STORAGE_URI"] = ratelimit_storage_uri(app.config)
            app.config.setdefault("RATELIMIT_KEY_PREFIX", "omnicrm")
            app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
            app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        limiter: Limiter = super().create_limiter(app)
        return limiter

    def register_views(self) -> None:
        super().register_views()
        # FAB limits only the login form; the JWT login must not be an unlimited side door.
        if self.is_auth_limited:
            for view in self.appbuilder.baseviews:
                if isinstance(view, SecurityApi) and view.blueprint is not None:
                    self.limiter.limit(self.auth_rate_limit, methods=["POST"])(view.blueprint)

    def create_jwt_manager(self, app: Flask) -> JWTManager:
        """Tokens carry the password stamp and login source; both are checked on every use."""
        jwt_manager: JWTManager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(self._jwt_claims)
        return jwt_manager

    def _jwt_claims(self, identity: Any) -> dict[str, str]:
        user = self.get_user_by_id(int(identity))
        if user is None:
            return {}
        return {CLAIM_STAMP: password_stamp(user), CLAIM_SOURCE: login_guard.source_tag(login_guard.source_address())}

    def load_user_jwt(self, _jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Any:
        """FAB's lookup (active users only) plus: refused once the password changed or the
        token's login source is locked out. Applies to access and refresh tokens alike."""
        user = super().load_user_jwt(_jwt_header, jwt_data)
        reason = token_refusal(user, jwt_data)
        if reason is not None:
            logger.info("JWT refused for user %s: %s", jwt_data.get("sub"), reason)
            return None
        return user

    def auth_user_db(self, username: str, password: str) -> Any:
        user = None
        if username:
            user = self.find_user(username=username) or self.find_user(email=username)
        account, address = login_guard.account_key(user, username), login_guard.source_address()
        refused = login_guard.refusal(account, address)
        if refused is not None:
            # Same answer and about the same work as a wrong password (one hash check and one
            # write): no hint that the account exists, is locked or is throttled.
            fake = current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"]
            werkzeug.security.check_password_hash((user.password if user is not None else None) or fake, password or "")
            if user is not None:
                self.noop_user_update(user)
            self._audit("login_failed", username, user_id=getattr(user, "id", None), reason=refused)
            return None
        result = super().auth_user_db(username, password)
        if result is None:
            self._failed(account, address, username, user)
        else:
            login_guard.record_success(account, address)
        return result

    def _failed(self, account: str, address: str, username: str, user: Any) -> None:
        """Count the failure against this source; audit the lock when it trips."""
        if user is None:
            self._audit("login_failed", username, user_id=None, reason="unknown_user")
        if login_guard.record_failure(account, address) == "locked":
            self._audit("account_locked", username, user_id=getattr(user, "id", None), scope="source")

    def on_user_login(self, user: Any) -> None:
        self._audit("login", user.username, user_id=user.id)

    def on_user_login_failed(self, user: Any) -> None:
        self._audit("login_failed", user.username, user_id=user.id, reason="bad_password")

    def on_user_logout(self, user: Any) -> None:
        self._audit("logout", getattr(user, "username", "?"), user_id=getattr(user, "id", None))
        if getattr(user, "id", None) is not None:
            availability.set_away_on_logout(user.id)  # nobody is handed work after logging out

    def _audit(self, action: str, username: str, user_id: int | None, **extra: Any) -> None:
        audit_service.record_auth_event(action, username=username, user_id=user_id, **extra)
