"""Agent workspace views: the canned replies grid, the reply box's `/shortcut` picker (JSON),
and adding a private note from the conversation view. Thin: the rules are in canned.py and
notes.py."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import Flask, abort, flash, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app import db
from app.conversations import canned, notes
from app.conversations.exceptions import CannedReplyError, NoteRefused
from app.conversations.models import Conversation
from app.conversations.workspace_models import CannedReply
from app.core.roles import READ_WRITE_METHODS


def install_template_globals(app: Flask) -> None:
    """What the conversation view's partials call: notes placed in the thread, the note limit."""
    app.jinja_env.globals["omnicrm_thread_notes"] = notes.thread_notes
    app.jinja_env.globals["omnicrm_max_note_length"] = notes.MAX_NOTE_LENGTH


def _conversation(pk: int) -> Conversation:
    conversation: Conversation | None = db.session.get(Conversation, pk)
    if conversation is None:
        abort(404)
    return conversation


class CannedReplyModelView(ModelView):
    datamodel = SQLAInterface(CannedReply)
    class_permission_name = "CannedReply"
    method_permission_name = READ_WRITE_METHODS
    list_title = "Canned replies"
    list_columns = ["shortcut", "title", "page", "text"]
    show_columns = ["shortcut", "title", "text", "page", "created_at"]
    add_columns = ["shortcut", "title", "text", "page"]
    edit_columns = add_columns
    search_columns = ["shortcut", "title", "page"]
    order_columns = ["shortcut", "title"]
    base_order = ("shortcut", "asc")
    label_columns = {"page": "Page (empty: every page)", "created_at": "Created"}
    description_columns = {
        "shortcut": "Typed after '/' in the reply box: letters, digits, '-' and '_'.",
        "text": "Variables: {{contact.first_name}}, {{contact.last_name}}, {{agent.first_name}}, "
        "{{page.name}} (a missing value is left empty).",
    }

    def _check(self, item: CannedReply) -> None:
        """FAB flashes the refusal; the half-filled row never reaches the database."""
        try:
            canned.check_canned_reply(item)
        except CannedReplyError:
            db.session.rollback()
            raise

    def pre_add(self, item: CannedReply) -> None:
        self._check(item)

    def pre_update(self, item: CannedReply) -> None:
        self._check(item)


class CannedPickerView(BaseView):
    """`GET /conversations/<id>/canned-replies?q=prefix`: offers rendered for this conversation."""

    route_base = "/conversations"
    class_permission_name = "CannedReply"
    method_permission_name = {"picker": "read"}
    base_permissions = ["can_read"]

    @expose("/<int:pk>/canned-replies")
    @has_access
    def picker(self, pk: int) -> ResponseReturnValue:
        conversation = _conversation(pk)
        prefix = request.args.get("q", "")
        return jsonify({"result": canned.matches(conversation, prefix, agent_id=g.user.id)})


class NoteView(BaseView):
    """`POST /conversations/<id>/notes`: the conversation view's private note form."""

    route_base = "/conversations"
    class_permission_name = "ConversationNote"
    method_permission_name = {"add_note": "write"}
    base_permissions = ["can_write"]

    @expose("/<int:pk>/notes", methods=["POST"])
    @has_access
    def add_note(self, pk: int) -> ResponseReturnValue:
        conversation = _conversation(pk)
        try:
            notes.add_note(conversation, request.form.get("text", ""), author_id=g.user.id)
        except NoteRefused as exc:
            db.session.rollback()
            flash(f"Note not saved: {exc}", "danger")
        else:
            flash("Private note added.", "success")
        return redirect(url_for("InboxView.detail", pk=pk) + "#note-form")
