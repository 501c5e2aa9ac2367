"""REST resources `conversation` (with the reply action) and `message` (read-only)."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from typing import Any

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect
from werkzeug.wrappers import Response

from app import db
from app.conversations import csat, services
from app.conversations.assignment import check_assignee
from app.conversations.exceptions import ReplyRefused
from app.conversations.models import Conversation, ConversationStatus, Message
from app.conversations.permissions import READ_ONLY
from app.core.roles import READ_WRITE_METHODS
from app.web.api import OmniModelRestApi

MESSAGE_COLUMNS = [
    "id",
    "conversation_id",
    "mid",
    "direction",
    "author_id",
    "text",
    "attachments",
    "kind",
    "status",
    "error_code",
    "error_message",
    "messaging_type",
    "tag",
    "created_at",
    "sent_at",
    "delivered_at",
    "read_at",
]


class ConversationApi(OmniModelRestApi):
    resource_name = "conversation"
    datamodel = SQLAInterface(Conversation)
    class_permission_name = "Conversation"
    method_permission_name = {**READ_WRITE_METHODS, "reply": "reply"}
    include_route_methods = {"get", "get_list", "info", "put", "reply"}
    list_columns = [
        "id",
        "page_id",
        "contact_id",
        "status",
        "assignee_id",
        "last_message_at",
        "unread_count",
    ]
    show_columns = list_columns
    edit_columns = ["status", "assignee_id"]
    search_columns = ["status", "assignee_id", "page_id", "last_message_at"]
    order_columns = ["id", "last_message_at", "status"]
    openapi_spec_tag = "Conversations"

    def pre_update(self, item: Conversation) -> None:
        """A status outside open/pending/closed is refused (422) before it is saved."""
        services.validate_conversation_update(item)
        state: Any = inspect(item).attrs
        if state.assignee_id.history.has_changes():
            check_assignee(item.assignee_id)  # only Admins, Support Managers, Agents (400)
        g.closing_conversation = state.status.history.has_changes() and item.status == ConversationStatus.CLOSED

    def post_update(self, item: Conversation) -> None:
        """Closed through the API: the CSAT survey follows the same rule as in the inbox."""
        if g.pop("closing_conversation", False):
            csat.request_survey(item)

    @expose("/<int:pk>/reply", methods=["POST"])
    @protect()
    @safe
    def reply(self, pk: int) -> Response:
        """Queue an agent's reply.
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
                    text: {type: string}
                    human_agent: {type: boolean}
          responses:
            202: {description: queued}
            400: {description: bad request}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        conversation = db.session.get(Conversation, pk)
        if conversation is None:
            return self.response_404()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message='send a JSON object: {"text": ..., "human_agent": false}')
        text = body.get("text")
        human_agent = body.get("human_agent", False)
        if not isinstance(text, str) or not isinstance(human_agent, bool):
            return self.response_400(message="text must be a string and human_agent a boolean")
        try:
            message = services.queue_reply(conversation, text, human_agent=human_agent)
        except ReplyRefused as exc:
            return self.response(exc.status, message=str(exc))
        return self.response(202, id=message.id, status=message.status, messaging_type=message.messaging_type)


class MessageApi(OmniModelRestApi):
    resource_name = "message"
    datamodel = SQLAInterface(Message)
    class_permission_name = "Message"
    method_permission_name = READ_ONLY
    include_route_methods = {"get", "get_list", "info"}
    list_columns = MESSAGE_COLUMNS
    show_columns = MESSAGE_COLUMNS
    search_columns = [
        "conversation_id",
        "direction",
        "status",
        "kind",
        "created_at",
        "mid",
    ]
    order_columns = ["id", "created_at"]
    openapi_spec_tag = "Messages"
