"""REST resources `conversation` (with the reply action) and `message` (read-only)."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState
from werkzeug.wrappers import Response

from app import db
from app.conversations import attachments, canned, csat, services
from app.conversations.assignment import check_assignee
from app.conversations.exceptions import ConversationError, ReplyRefused
from app.conversations.labels import apply_labels_and_priority
from app.conversations.models import Conversation, ConversationStatus, Message
from app.conversations.permissions import READ_ONLY
from app.core.roles import READ_WRITE_METHODS
from app.search import services as search
from app.search.exceptions import SearchError
from app.web.api import OmniModelRestApi
from app.web.limits import allow_larger_body

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


def allow_reply_uploads() -> None:
    """A reply (reply box or API) may carry a file of up to ATTACHMENT_MAX_BYTES: its two
    routes take multipart bodies up to REPLY_UPLOAD_MAX_BODY; MAX_CONTENT_LENGTH stays for the rest."""
    allow_larger_body(r"/conversations/\d+/reply", "REPLY_UPLOAD_MAX_BODY")
    allow_larger_body(r"/api/v1/conversation/\d+/reply", "REPLY_UPLOAD_MAX_BODY")


class ConversationApi(OmniModelRestApi):
    resource_name = "conversation"
    datamodel = SQLAInterface(Conversation)
    class_permission_name = "Conversation"
    # PUT is the "label" verb (Admins, Support Managers, Agents: DESIGN.md roles); what else a
    # PUT changes is checked field by field against the caller's other verbs (pre_update)
    method_permission_name = {**READ_WRITE_METHODS, "reply": "reply", "put": "label", "search": "read"}
    include_route_methods = {"get", "get_list", "info", "put", "reply", "search"}
    list_columns = [
        "id",
        "page_id",
        "contact_id",
        "status",
        "assignee_id",
        "last_message_at",
        "unread_count",
        "channel",
        "labels",
        "priority",
        "window_expires_at",
        "awaiting_reply",
        "first_response_due_at",
    ]
    show_columns = list_columns
    edit_columns = ["status", "assignee_id", "labels", "priority"]
    search_columns = ["status", "assignee_id", "page_id", "last_message_at", "priority", "channel", "window_expires_at"]
    order_columns = ["id", "last_message_at", "status"]
    openapi_spec_tag = "Conversations"

    def pre_update(self, item: Conversation) -> None:
        """A status outside open/pending/closed, a bad label or priority is refused (422) before
        anything is saved; labels are written to `conversation_label` in the same transaction."""
        services.validate_conversation_update(item)
        self._check_field_rights(item)
        # read the changes before labels are written (that flushes, and forgets the history)
        if inspect(item).attrs.assignee_id.history.has_changes():
            check_assignee(item.assignee_id)  # only Admins, Support Managers, Agents (400)
        g.closing_conversation = (
            inspect(item).attrs.status.history.has_changes() and item.status == ConversationStatus.CLOSED
        )
        apply_labels_and_priority(item)

    def post_update(self, item: Conversation) -> None:
        """Closed through the API: the CSAT survey follows the same rule as in the inbox."""
        if g.pop("closing_conversation", False):
            csat.request_survey(item)

    def _check_field_rights(self, item: Conversation) -> None:
        """Status needs `close`; the assignee needs `assign` (or `take`, for oneself)."""
        state: InstanceState[Conversation] = inspect(item)
        sm = self.appbuilder.sm
        if state.attrs.status.history.has_changes() and not sm.has_access("can_close", "Conversation"):
            raise ConversationError("you may not change the status of conversations", status=403)
        if state.attrs.assignee_id.history.has_changes():
            own = item.assignee_id == g.user.id and sm.has_access("can_take", "Conversation")
            if not (own or sm.has_access("can_assign", "Conversation")):
                raise ConversationError("you may not assign conversations", status=403)

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
                    canned_reply_id: {type: integer}
              multipart/form-data:
                schema:
                  type: object
                  required: [file]
                  properties:
                    file: {type: string, format: binary}
                    text: {type: string}
                    human_agent: {type: string, enum: ["true", "false"]}
          responses:
            202: {description: queued}
            400: {description: bad request}
            404: {description: not found}
            413: {description: the file (or the body) is too large, with the reason}
            415: {description: the file's type cannot be sent, with the reason}
            422: {description: refused, with the reason}
        """
        conversation = db.session.get(Conversation, pk)
        if conversation is None:
            return self.response_404()
        if request.mimetype == "multipart/form-data":
            return self._reply_with_file(conversation)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message='send a JSON object: {"text": ..., "human_agent": false}')
        text = body.get("text")
        human_agent = body.get("human_agent", False)
        canned_id = body.get("canned_reply_id")
        if canned_id is not None and (type(canned_id) is not int or "text" in body):
            return self.response_400(message="canned_reply_id must be an integer, sent without text")
        if (canned_id is None and not isinstance(text, str)) or not isinstance(human_agent, bool):
            return self.response_400(message="text must be a string and human_agent a boolean")
        try:
            if canned_id is not None:  # the canned reply's text, its variables filled in for this conversation
                text = canned.reply_text(conversation, canned_id)
            message = services.queue_reply(conversation, text, human_agent=human_agent)
        except ReplyRefused as exc:
            return self.response(exc.status, message=str(exc))
        return self.response(202, id=message.id, status=message.status, messaging_type=message.messaging_type)

    def _reply_with_file(self, conversation: Conversation) -> Response:
        """multipart/form-data: `file` (required), `text` and `human_agent` ("true"/"false")."""
        file = request.files.get("file")
        if file is None or not file.filename:
            return self.response_400(message="send the file in the 'file' part (a text-only reply is JSON)")
        human_agent = request.form.get("human_agent", "false").lower()
        if human_agent not in ("true", "false"):
            return self.response_400(message="human_agent must be true or false")
        try:
            messages = attachments.queue_file_reply(
                conversation,
                filename=file.filename,
                content_type=file.mimetype,
                data=attachments.read_upload(file.stream),
                text=request.form.get("text"),
                human_agent=human_agent == "true",
            )
        except ReplyRefused as exc:
            return self.response(exc.status, message=str(exc))
        last = messages[-1]
        return self.response(
            202,
            id=last.id,
            ids=[m.id for m in messages],
            status=last.status,
            messaging_type=last.messaging_type,
        )

    @expose("/search", methods=["GET"])
    @protect()
    @safe
    def search(self) -> Response:
        """Conversations whose messages hold every given word (blind index, docs/search.md).
        ---
        get:
          parameters:
          - {in: query, name: text, required: true, schema: {type: string, maxLength: 200}}
          - {in: query, name: page, description: 0-based, schema: {type: integer, minimum: 0}}
          - {in: query, name: page_size, schema: {type: integer, minimum: 1, maximum: 100}}
          - {in: query, name: page_id, schema: {type: integer}}
          - {in: query, name: channel, schema: {type: string, enum: [messenger, instagram]}}
          - {in: query, name: since, description: YYYY-MM-DD or ISO date-time, schema: {type: string}}
          - {in: query, name: until, description: YYYY-MM-DD (inclusive) or ISO date-time, schema: {type: string}}
          responses:
            200: {description: '{"count": N, "result": [{"conversation_id", "message_id", "created_at"}]}'}
            400: {description: bad request, with the reason}
        """
        try:
            result = search.do_search(search.check_query(request.args))
        except SearchError as exc:
            return self.response_400(message=str(exc))
        hits = [
            {"conversation_id": h.conversation_id, "message_id": h.message_id, "created_at": h.created_at.isoformat()}
            for h in result.hits
        ]
        return self.response(200, count=result.count, result=hits)


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
