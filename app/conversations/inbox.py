"""The agents' inbox (`/conversations/`) and conversation view (`/conversations/<id>`).

Thin: every rule is in services.py; this module turns requests into service calls, refusals
into flash messages (or JSON reasons), and picks templates.
"""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_appbuilder import BaseView, expose, has_access
from sqlalchemy import select

from app import db
from app.conversations import assignment, attachments, inbox_flow, queues, rendering, sender_actions, services
from app.conversations.attachment_types import ACCEPT
from app.conversations.exceptions import ConversationError, ReplyRefused
from app.conversations.labels import PRIORITIES, label_suggestions, set_labels_and_priority
from app.conversations.models import CONVERSATION_STATUSES, Conversation, ConversationStatus, Message
from app.core.models import utcnow
from app.pages.models import Page
from app.search import services as search
from app.search.exceptions import SearchError

logger = logging.getLogger(__name__)


def human_delta(delta: timedelta | None) -> str:
    """'3 h 12 min' style durations for the contact card and the inbox."""
    if delta is None:
        return "—"
    seconds = max(0, int(delta.total_seconds()))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


class InboxView(BaseView):
    route_base = "/conversations"
    class_permission_name = "Conversation"
    method_permission_name = {
        "index": "read",
        "detail": "read",
        "poll": "read",
        "live": "read",
        "set_labels": "label",
        "reply": "reply",
        "typing": "reply",
        "retry": "reply",
        "take": "take",
        "assign": "assign",
        "set_status": "close",
    }
    default_view = "index"

    def _conversation(self, pk: int) -> Conversation:
        conversation: Conversation | None = db.session.get(Conversation, pk)
        if conversation is None:
            abort(404)
        return conversation

    def _can(self, verb: str) -> bool:
        return bool(self.appbuilder.sm.has_access(f"can_{verb}", self.class_permission_name))

    def _back(self, pk: int) -> ResponseReturnValue:
        """Every action returns to the conversation it acted on."""
        return redirect(url_for("InboxView.detail", pk=pk))

    @staticmethod
    def _page_url(filters: queues.Filters, number: int) -> str:
        """This inbox URL with its filters kept and the page number (`p`) changed."""
        return url_for("InboxView.index", **filters.args(p=number))

    @staticmethod
    def _search_page_url(number: int) -> str:
        """This search URL with its query kept and the page number (`p`) changed."""
        args: dict[str, Any] = {**request.args.to_dict(), "p": number}
        return url_for("InboxView.index", **args)

    def _inbox_rows(self, filters: queues.Filters) -> dict[str, Any]:
        """The queue's page and what its rows and tabs show (shared by the page and /live)."""
        listing = queues.listing(filters, g.user.id)
        now = utcnow()
        waiting_by_id = services.waiting_since_many(listing.rows)
        rows = []
        for conv in listing.rows:
            waiting = waiting_by_id[conv.id]
            rows.append(
                {
                    "conv": conv,
                    "waiting": human_delta(now - waiting) if waiting else None,
                    "window": queues.window_info(conv, now, human_delta),
                }
            )
        counts = queues.tab_counts(filters, g.user.id)
        return {"rows": rows, "listing": listing, "counts": counts, "filters": filters}

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        """The inbox: one queue (needs reply by default), filtered by label, priority, page, channel."""
        if request.args.get("q", "").strip():  # message search: app/search, docs/search.md
            return self._search_results()
        filters = queues.parse_filters(request.args)
        session["inbox_filters"] = filters.args()  # closing a conversation goes on in this queue
        data = self._inbox_rows(filters)
        listing = data["listing"]
        pages = list(db.session.scalars(select(Page).order_by(Page.name)))
        html: str = self.render_template(
            "conversations/inbox.html",
            **data,
            previous_url=self._page_url(filters, listing.page - 1) if listing.has_previous else None,
            next_url=self._page_url(filters, listing.page + 1) if listing.has_next else None,
            queue_names=queues.QUEUES,
            channels=queues.CHANNELS,
            priorities=PRIORITIES,
            label_options=label_suggestions(),
            page_id=filters.page_id,
            pages=pages,
            statuses=CONVERSATION_STATUSES,
        )
        return html

    def _search_results(self) -> ResponseReturnValue:
        """`?q=words`: conversations whose messages hold every word, newest match first."""
        args = {
            "text": request.args.get("q", ""),
            "p": str(max(1, request.args.get("p", 1, type=int) or 1)),
            "page_id": str(request.args.get("page", type=int) or ""),
            **{k: request.args.get(k, "") for k in ("channel", "since", "until")},
        }
        result = None
        try:
            result = search.do_search(search.check_query(args, page_arg="p", page_base=1))
        except SearchError as exc:
            flash(str(exc), "warning")
        html: str = self.render_template(
            "conversations/search_results.html",
            q=args["text"],
            result=result,
            conversations=search.search_conversations(result) if result else {},
            previous_url=self._search_page_url(result.query.page) if result and result.query.page else None,
            next_url=self._search_page_url(result.query.page + 2) if result and result.has_next else None,
        )
        return html

    @expose("/live")
    @has_access
    def live(self) -> ResponseReturnValue:
        """The inbox's poll: tab counts, and the rows (rendered) when they changed since `v`."""
        filters = queues.parse_filters(request.args)
        data = self._inbox_rows(filters)
        rows_html = render_template("conversations/_inbox_rows.html", **data)
        version = hashlib.sha256(rows_html.encode()).hexdigest()[:16]
        body: dict[str, Any] = {
            "counts": {q: {"count": n, "capped": capped} for q, (n, capped) in data["counts"].items()},
            "version": version,
            "total": data["listing"].total,
        }
        if request.args.get("v") != version:
            body["rows_html"] = rows_html
        return jsonify(body)

    @expose("/<int:pk>")
    @has_access
    def detail(self, pk: int) -> ResponseReturnValue:
        conversation = self._conversation(pk)
        before = None
        before_at, before_id = request.args.get("before_at"), request.args.get("before_id", type=int)
        if before_at and before_id:
            try:
                before = (datetime.fromisoformat(before_at), before_id)
            except ValueError:
                abort(400, "bad 'before_at' cursor")
        return self._render_detail(conversation, before)

    def _render_detail(
        self, conversation: Conversation, before: tuple[datetime, int] | None = None, draft: str = "", status: int = 200
    ) -> ResponseReturnValue:
        """The conversation page; after a refused reply, with the agent's draft kept (status 422)."""
        messages, has_older = services.thread_page(conversation, before)
        if before is None and services.mark_read(conversation, g.user.id):
            sender_actions.request_action(conversation, sender_actions.SenderAction.MARK_SEEN)
        window = services.reply_window(conversation)
        users = []
        if self._can("assign"):
            users = assignment.assignee_choices()  # display names with open-conversation counts
        contact = conversation.contact  # None when the contact row is gone: shown as "(contact removed)"
        html: str = self.render_template(
            "conversations/detail.html",
            conv=conversation,
            contact=contact,
            picture=services.safe_url(contact.profile_pic) if contact and not contact.erased_at else None,
            messages=messages,
            items=rendering.display_items(messages),
            referrals=rendering.conversation_referrals(conversation),
            status_class=rendering.STATUS_CLASS,
            has_older=has_older,
            is_older_page=before is not None,
            window=window,
            reply_block=services.reply_block(conversation, window),
            draft=draft,
            human_delta=human_delta,
            users=users,
            statuses=CONVERSATION_STATUSES,
            can_reply=self._can("reply"),
            can_take=self._can("take"),
            can_assign=self._can("assign"),
            can_close=self._can("close"),
            can_label=self._can("label"),
            label_options=label_suggestions(),
            priorities=PRIORITIES,
            assign_on_reply=bool(current_app.config.get("ASSIGN_ON_REPLY")),
            window_info=queues.window_info(conversation, utcnow(), human_delta),
            can_edit_notes=bool(self.appbuilder.sm.has_access("can_edit_notes", "Contact")),
            max_len=services.reply_text_limit(conversation),
            attachment_max=attachments.max_bytes(),
            attachment_accept=ACCEPT,
        )
        return html, status

    @expose("/<int:pk>/poll")
    @has_access
    def poll(self, pk: int) -> ResponseReturnValue:
        """New messages and status changes since the oldest message on screen."""
        conversation = self._conversation(pk)
        since = request.args.get("since", type=int) or 0
        messages = services.messages_since(conversation, since)
        can_reply = self._can("reply")
        rows = []
        for item in rendering.display_items(messages):  # rendered like the page: one partial
            html = render_template(
                "conversations/_message.html",
                item=item,
                conv=conversation,
                can_reply=can_reply,
                status_class=rendering.STATUS_CLASS,
            )
            rows.append({**services.message_dict(item.message), "sig": item.sig, "html": html, "files": item.files})
        return jsonify(
            {
                "conversation": {
                    "id": conversation.id,
                    "status": conversation.status,
                    "assignee": conversation.assignee.username if conversation.assignee else None,
                    "needs_reauth": bool(conversation.page.needs_reauth),
                    "priority": conversation.priority,
                    "labels": conversation.labels or [],
                    "unread_count": conversation.unread_count,
                    "window": queues.window_info(conversation, utcnow(), human_delta).text,
                },
                "messages": rows,
            }
        )

    @expose("/<int:pk>/reply", methods=["POST"])
    @has_access
    def reply(self, pk: int) -> ResponseReturnValue:
        """Queue the agent's reply; a refusal (window closed, page needs a token...) is flashed."""
        conversation = self._conversation(pk)
        text = request.form.get("text", "")
        file = request.files.get("file")
        upload = (
            (file.filename, file.mimetype, attachments.read_upload(file.stream)) if file and file.filename else None
        )
        try:
            _, assigned = inbox_flow.reply(
                conversation,
                text,
                human_agent=request.form.get("human_agent") == "y",
                author_id=g.user.id,
                assign_to_me=request.form.get("assign_to_me") == "y",
                may_take=self._can("take"),
                upload=upload,
            )
        except (ReplyRefused, ConversationError) as exc:
            db.session.rollback()
            flash(f"Reply not sent: {exc}", "danger")
            # the page again, with the typed draft kept (works without JavaScript); a refused
            # file answers its own status (400, 413, 415)
            status = exc.status if upload is not None and exc.status in (400, 413, 415) else 422
            return self._render_detail(self._conversation(pk), draft=text, status=status)
        flash("Reply queued and the conversation assigned to you." if assigned else "Reply queued.", "success")
        return self._back(pk)

    @expose("/<int:pk>/typing", methods=["POST"])
    @has_access
    def typing(self, pk: int) -> ResponseReturnValue:
        """The reply box's "agent is typing" ping: `typing_on` for the contact, best effort
        (throttled, queued, never an error): 202 queued, 200 with the reason it was not."""
        reason = sender_actions.request_action(self._conversation(pk), sender_actions.SenderAction.TYPING_ON)
        return jsonify({"queued": reason is None, "reason": reason}), 200 if reason else 202

    @expose("/<int:pk>/labels", methods=["POST"])
    @has_access
    def set_labels(self, pk: int) -> ResponseReturnValue:
        """Labels (comma-separated) and priority from the conversation panel; refusals flashed."""
        conversation = self._conversation(pk)
        try:
            set_labels_and_priority(conversation, request.form.get("labels", ""), request.form.get("priority"))
        except ConversationError as exc:
            db.session.rollback()
            flash(f"Labels not saved: {exc}", "danger")
        else:
            flash("Labels and priority saved.", "success")
        return self._back(pk)

    @expose("/<int:pk>/messages/<int:message_id>/retry", methods=["POST"])
    @has_access
    def retry(self, pk: int, message_id: int) -> ResponseReturnValue:
        """Send a failed reply again under the same rules as a new one."""
        message = db.session.get(Message, message_id)
        if message is None or message.conversation_id != pk:
            abort(404)
        try:
            services.retry_message(message)
        except ReplyRefused as exc:
            db.session.rollback()
            flash(f"Retry refused: {exc}", "danger")
        else:
            flash("Message queued again.", "success")
        return self._back(pk)

    @expose("/<int:pk>/take", methods=["POST"])
    @has_access
    def take(self, pk: int) -> ResponseReturnValue:
        return self._assign(self._conversation(pk), g.user.id, "Assigned to you.")

    @expose("/<int:pk>/assign", methods=["POST"])
    @has_access
    def assign(self, pk: int) -> ResponseReturnValue:
        conversation = self._conversation(pk)
        raw = request.form.get("assignee_id", "")
        try:
            user_id = int(raw) if raw else None
        except ValueError:
            flash("Not assigned: bad user id", "danger")
            return self._back(pk)
        return self._assign(conversation, user_id, "Assignment saved.")

    def _assign(self, conversation: Conversation, user_id: int | None, done: str) -> ResponseReturnValue:
        """Take and assign: the service decides who may be assigned; its refusal is shown."""
        try:
            services.assign(conversation, user_id)
        except ConversationError as exc:
            db.session.rollback()
            flash(f"Not assigned: {exc}", "danger")
        else:
            flash(done, "success")
        return self._back(conversation.id)

    @expose("/<int:pk>/status", methods=["POST"])
    @has_access
    def set_status(self, pk: int) -> ResponseReturnValue:
        """Open, pending or closed; anything else is refused and flashed."""
        conversation = self._conversation(pk)
        try:
            services.set_status(conversation, request.form.get("status", ""))
        except ConversationError as exc:
            db.session.rollback()
            flash(f"Status not changed: {exc}", "danger")
        else:
            if conversation.status == ConversationStatus.CLOSED:
                return self._after_close(conversation)
            flash(f"Conversation is now {conversation.status}.", "success")
        return self._back(pk)

    def _after_close(self, conversation: Conversation) -> ResponseReturnValue:
        """Closing goes on to the next conversation of the queue the agent came from."""
        filters = queues.parse_filters(session.get("inbox_filters") or {})
        following = queues.next_in_queue(filters, g.user.id, conversation.id)
        title = queues.QUEUES[filters.queue]
        if following is None:
            flash(f"Conversation closed. Nothing else in “{title}”.", "success")
            return redirect(url_for("InboxView.index", **filters.args()))
        flash(f"Conversation closed. Next in “{title}”.", "success")
        return self._back(following.id)
