"""The fake Graph API's channel endpoints: `debug_token`, `subscribed_apps` (GET/POST) and the
Conversations API (`/{page-id}/conversations`, `/{conversation-id}/messages`) with paging.

Controllable from Python or `POST /_control`:
- `token_info` `{"token": T or null, "is_valid": false, "scopes": [...], "expires_at": ..., "profile_id": ...}`:
  what debug_token says about token T (null: about every token without its own entry);
- `subscription` `{"page_id": P, "fields": [...] or null}`: null = the app is not subscribed;
- `history` `{"page_id": P, "platform": "messenger", "conversations": [...]}` or
  `{"page_id": P, "generate": {"conversations": N, "messages": M, "start": epoch, "step": seconds}}`.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from app.devtools.fakegraph.common import error_body, json_response

ALL_SCOPES = ["pages_messaging", "pages_manage_metadata", "pages_show_list", "instagram_manage_messages"]
ALL_FIELDS = [
    "messages",
    "messaging_postbacks",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "messaging_referrals",
    "messaging_optins",
    "message_reactions",
]
_NESTED_LIMIT = re.compile(r"messages\.limit\((\d+)\)")
Response = tuple[int, str, bytes]


def graph_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def generate_history(
    page_id: str, conversations: int, messages: int, start: float, step: float = 60.0
) -> list[dict[str, Any]]:
    """`conversations` threads of `messages` each (alternating in/out), newest thread first."""
    out: list[dict[str, Any]] = []
    clock = float(start)
    for c in range(conversations):
        psid = f"9{c:09d}"
        rows = []
        for m in range(messages):
            inbound = m % 2 == 0
            party, other = ({"id": psid, "name": f"Person {c}"}, {"id": page_id, "name": "Fake Page"})
            sender, to = (party, other) if inbound else (other, party)
            rows.append(
                {
                    "id": f"m_hist_{page_id}_{c}_{m}",
                    "created_time": graph_time(clock),
                    "from": sender,
                    "to": {"data": [to]},
                    "message": f"history message {m} of conversation {c}",
                }
            )
            clock += step
        rows.reverse()  # Graph lists messages newest first
        out.append(
            {
                "id": f"t_{page_id}_{c}",
                "updated_time": rows[0]["created_time"],
                "participants": {"data": [{"id": psid, "name": f"Person {c}"}, {"id": page_id, "name": "Fake Page"}]},
                "messages": rows,
            }
        )
    out.sort(key=lambda conv: str(conv["updated_time"]), reverse=True)
    return out


def _page(rows: list[Any], after: str | None, limit: int, base: str) -> dict[str, Any]:
    start = int(after) if after and after.isdigit() else 0
    chunk = rows[start : start + limit]
    body: dict[str, Any] = {"data": chunk}
    end = start + len(chunk)
    body["paging"] = {"cursors": {"before": str(start), "after": str(end)}}
    if end < len(rows):
        body["paging"]["next"] = f"{base}?after={end}"
    return body


class ChannelHandlers:
    """Mixin of `GraphHandlers`; its state is created on first use."""

    app_id: str
    _lock: threading.RLock
    _channels: dict[str, Any] | None

    def _channel_state(self) -> dict[str, Any]:
        with self._lock:
            state: dict[str, Any] | None = getattr(self, "_channels", None)
            if state is None:
                state = {"tokens": {}, "default_token": {}, "subscriptions": {}, "history": {}}
                self._channels = state
            return state

    def reset_channels(self) -> None:
        with self._lock:
            self._channels = None

    # ------------------------------------------------------------------ control

    def set_token_info(self, token: str | None = None, **info: Any) -> None:
        state = self._channel_state()
        with self._lock:
            if token is None:
                state["default_token"] = dict(info)
            else:
                state["tokens"][token] = dict(info)

    def set_subscription(self, page_id: str, fields: list[str] | None) -> None:
        with self._lock:
            self._channel_state()["subscriptions"][str(page_id)] = None if fields is None else list(fields)

    def set_history(
        self, page_id: str, conversations: list[dict[str, Any]] | None = None, platform: str = "messenger", **kw: Any
    ) -> int:
        if conversations is None:
            gen = kw.get("generate") or {}
            conversations = generate_history(
                str(page_id),
                int(gen.get("conversations", 1)),
                int(gen.get("messages", 1)),
                float(gen.get("start", 0)),
                float(gen.get("step", 60)),
            )
        with self._lock:
            self._channel_state()["history"][(str(page_id), platform)] = list(conversations)
        return sum(len(c.get("messages") or []) for c in conversations)

    def channel_control(self, action: str | None, args: dict[str, Any]) -> dict[str, Any] | None:
        """Handle a channel control action; None when the action is not one of ours."""
        if action == "token_info":
            self.set_token_info(**args)
        elif action == "subscription":
            self.set_subscription(str(args["page_id"]), args.get("fields"))
        elif action == "history":
            return {"ok": True, "action": action, "messages": self.set_history(**args)}
        elif action == "reset_channels":
            self.reset_channels()
        else:
            return None
        return {"ok": True, "action": action}

    # ------------------------------------------------------------------ routing

    def channel_route(self, method: str, parts: list[str], query: dict[str, str]) -> Response | None:
        """Answer a channel endpoint (parts after the version), or None when it is not one."""
        if len(parts) == 2 and parts[1] == "debug_token" and method == "GET":
            return self._debug_token(query)
        if len(parts) == 3 and parts[2] == "subscribed_apps":
            if method == "GET":
                return self._subscribed_apps(parts[1])
            if method == "POST":
                return self._subscribe(parts[1], query)
        if len(parts) == 3 and parts[2] == "conversations" and method == "GET":
            return self._conversations(parts[1], query)
        if len(parts) == 3 and parts[2] == "messages" and method == "GET":
            return self._thread_messages(parts[1], query)
        return None

    def _debug_token(self, query: dict[str, str]) -> Response:
        token = query.get("input_token", "")
        if "|" not in query.get("access_token", ""):
            return json_response(400, error_body(190, "debug_token needs an app access token"))
        state = self._channel_state()
        with self._lock:
            info = {
                "app_id": self.app_id or "000000000000000",
                "type": "PAGE",
                "application": "Omni CRM",
                "is_valid": True,
                "expires_at": 0,
                "data_access_expires_at": 0,
                "scopes": list(ALL_SCOPES),
            }
            info.update(state["default_token"])
            info.update(state["tokens"].get(token, {}))
        if not info.get("is_valid"):
            info.setdefault(
                "error", {"code": 190, "message": "Error validating access token: The session has been invalidated."}
            )
        return json_response(200, {"data": info})

    def _subscribed_apps(self, page_id: str) -> Response:
        state = self._channel_state()
        with self._lock:
            fields = state["subscriptions"].get(page_id, list(ALL_FIELDS))
            app_id = self.app_id or "000000000000000"
        data = [] if fields is None else [{"id": app_id, "name": "Omni CRM", "subscribed_fields": fields}]
        return json_response(200, {"data": data})

    def _subscribe(self, page_id: str, query: dict[str, str]) -> Response:
        fields = [f for f in query.get("subscribed_fields", "").split(",") if f]
        if not fields:
            return json_response(400, error_body(100, "(#100) The parameter subscribed_fields is required"))
        self.set_subscription(page_id, fields)
        return json_response(200, {"success": True})

    def _conversations(self, page_id: str, query: dict[str, str]) -> Response:
        platform = query.get("platform", "messenger")
        if platform not in ("messenger", "instagram"):
            return json_response(400, error_body(100, "(#100) platform must be messenger or instagram"))
        with self._lock:
            convs = list(self._channel_state()["history"].get((page_id, platform), []))
        match = _NESTED_LIMIT.search(query.get("fields", ""))
        nested = int(match.group(1)) if match else 25
        body = _page(convs, query.get("after"), int(query.get("limit") or 25), f"/{page_id}/conversations")
        out = []
        for conv in body["data"]:
            shaped = {k: v for k, v in conv.items() if k != "messages"}
            shaped["messages"] = _page(conv.get("messages") or [], None, nested, f"/{conv['id']}/messages")
            out.append(shaped)
        body["data"] = out
        return json_response(200, body)

    def _thread_messages(self, conversation_id: str, query: dict[str, str]) -> Response | None:
        with self._lock:
            histories = list(self._channel_state()["history"].values())
        for convs in histories:
            for conv in convs:
                if conv.get("id") == conversation_id:
                    rows = conv.get("messages") or []
                    limit = int(query.get("limit") or 25)
                    return json_response(200, _page(rows, query.get("after"), limit, f"/{conversation_id}/messages"))
        return None  # not a conversation: the page's Send API route answers
