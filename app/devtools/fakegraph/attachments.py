"""The fake Graph API's Attachment Upload API and sender actions.

- `POST /{page-id}/message_attachments` (multipart: `message` JSON with
  `attachment.type` and `payload.is_reusable`, optional `platform`, the file in `filedata`)
  answers `{"attachment_id": ...}`; each upload is recorded in `attachment_uploads`
  (type, file name, content type, size, sha256, platform, the id given).
- `POST /{page-id}/messages` with `sender_action` (`mark_seen`, `typing_on`, `typing_off`)
  answers `{"recipient_id": ...}` and is recorded in `sender_actions`.
- A send whose `attachment.payload.attachment_id` was never uploaded here is refused (#100),
  as Meta refuses an unknown id.
Tests read the lists directly, or `GET /_requests` (`uploads`, `sender_actions`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from app.devtools.fakegraph.common import error_body, json_response

MEDIA_TYPES = frozenset({"image", "video", "audio", "file"})
SENDER_ACTIONS = frozenset({"mark_seen", "typing_on", "typing_off"})
Response = tuple[int, str, bytes]


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """Form parts by name: (file name or None, content type, bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts: dict[str, tuple[str | None, str, bytes]] = {}
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            parts[name] = (part.get_filename(), part.get_content_type(), payload if isinstance(payload, bytes) else b"")
    return parts


def _bad(message: str) -> Response:
    return json_response(400, error_body(100, message, error_type="GraphMethodException"))


class AttachmentHandlers:
    """Mixin of `FakeGraph`: uploads and sender actions; state lives in `FakeGraph`."""

    _lock: threading.RLock
    attachment_uploads: list[dict[str, Any]]
    sender_actions: list[dict[str, Any]]

    def upload_attachment(self, page_id: str, content_type: str, body: bytes) -> Response:
        if not content_type.lower().startswith("multipart/form-data"):
            return _bad("(#100) Upload the file as multipart/form-data in 'filedata'")
        parts = parse_multipart(content_type, body)
        try:
            message = json.loads(parts["message"][2])
            attachment = message["attachment"]
            media_type = attachment["type"]
            reusable = attachment["payload"]["is_reusable"]
        except (KeyError, TypeError, ValueError):
            return _bad("(#100) param message must be a JSON object with attachment.type and payload")
        if media_type not in MEDIA_TYPES:
            return _bad(f"(#100) Unsupported attachment type: {media_type}")
        filename, file_type, data = parts.get("filedata") or (None, "", b"")
        if not data:
            return _bad("(#100) Upload attachment failure: no filedata")
        platform = parts["platform"][2].decode() if "platform" in parts else None
        with self._lock:
            attachment_id = str(1_000_000_000_000 + len(self.attachment_uploads) + 1)
            self.attachment_uploads.append(
                {
                    "page_id": page_id,
                    "attachment_id": attachment_id,
                    "type": media_type,
                    "is_reusable": reusable,
                    "platform": platform,
                    "filename": filename,
                    "content_type": file_type,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        return json_response(200, {"attachment_id": attachment_id})

    def unknown_attachment(self, message: dict[str, Any]) -> Response | None:
        """A send by `attachment_id` that was never uploaded here: refused like Meta does."""
        attachment = message.get("attachment")
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        attachment_id = payload.get("attachment_id") if isinstance(payload, dict) else None
        if attachment_id is None:
            return None
        with self._lock:
            known = any(u["attachment_id"] == str(attachment_id) for u in self.attachment_uploads)
        return None if known else _bad("(#100) Invalid attachment_id")

    def sender_action(self, page_id: str, payload: dict[str, Any]) -> Response:
        action = payload.get("sender_action")
        psid = (payload.get("recipient") or {}).get("id")
        if action not in SENDER_ACTIONS:
            return _bad(f"(#100) Invalid sender_action: {action}")
        if not psid:
            return _bad("(#100) The parameter recipient is required")
        with self._lock:
            self.sender_actions.append({"page_id": page_id, "psid": str(psid), "action": action})
        return json_response(200, {"recipient_id": str(psid)})
