"""REST: resource `canned_reply`, and `POST /api/v1/conversation/<id>/note` (private notes)."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from werkzeug.wrappers import Response

from app import db
from app.conversations import canned, notes
from app.conversations.exceptions import NoteRefused
from app.conversations.models import Conversation
from app.conversations.workspace_models import CannedReply
from app.core.roles import READ_WRITE_METHODS
from app.web.api import OmniModelRestApi, RequestGuard

CANNED_COLUMNS = ["id", "shortcut", "title", "text", "page_id"]


class CannedReplyApi(OmniModelRestApi):
    resource_name = "canned_reply"
    datamodel = SQLAInterface(CannedReply)
    class_permission_name = "CannedReply"
    method_permission_name = READ_WRITE_METHODS
    include_route_methods = {"get", "get_list", "info", "post", "put", "delete"}
    list_columns = CANNED_COLUMNS
    show_columns = CANNED_COLUMNS
    add_columns = ["shortcut", "title", "text", "page_id"]
    edit_columns = add_columns
    search_columns = ["shortcut", "title", "page_id"]
    order_columns = ["id", "shortcut", "title"]
    openapi_spec_tag = "Canned replies"

    def pre_add(self, item: CannedReply) -> None:
        """Unknown variables, a bad or taken shortcut: refused (4xx with the reason), nothing saved."""
        canned.check_canned_reply(item)

    def pre_update(self, item: CannedReply) -> None:
        canned.check_canned_reply(item)


class ConversationNoteApi(RequestGuard, BaseApi):
    """The `note` action of the `conversation` resource (its own permission: ConversationNote)."""

    resource_name = "conversation"
    datamodel = SQLAInterface(Conversation)  # the guard reads the path id's column from it
    class_permission_name = "ConversationNote"
    method_permission_name = {"note": "write"}
    allow_browser_login = False
    csrf_exempt = True
    openapi_spec_tag = "Conversations"

    @expose("/<int:pk>/note", methods=["POST"])
    @protect()
    @safe
    def note(self, pk: int) -> Response:
        """Add a private note (never sent to Meta); `@username` notifies that user.
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    text: {type: string, maxLength: 5000}
                  required: [text]
          responses:
            201: {description: the note was added}
            400: {description: bad request}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        conversation = db.session.get(Conversation, pk)
        if conversation is None:
            return self.response_404()
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"text"}:
            return self.response_400(message='send a JSON object: {"text": ...}')
        try:
            note = notes.add_note(conversation, body["text"])
        except NoteRefused as exc:
            db.session.rollback()
            return self.response(exc.status, message=str(exc))
        return self.response(201, id=note.id, conversation_id=conversation.id, created_at=note.created_at.isoformat())
