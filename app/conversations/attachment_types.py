"""Which files an agent may send, decided before anything is stored or queued.

A file is accepted when its extension is on the list, the browser's content type agrees with
it (or says nothing useful, `application/octet-stream`), its first bytes look like that format
where the format has a cheap signature, and its size is within Meta's limit (25 MB; Instagram
takes images up to 8 MB and only PDF documents). HTML, SVG, scripts and executables are never
on the list: a file is never something a browser would run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.conversations.exceptions import ReplyRefused
from app.core.channels import Channel, as_channel

Sniff = Callable[[bytes], bool]

GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
INSTAGRAM_IMAGE_MAX = 8 * 1000 * 1000
INSTAGRAM_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "mp4", "mov", "webm", "m4a", "aac", "wav", "pdf"})
MAX_NAME_LENGTH = 200


class AttachmentRefused(ReplyRefused):
    """The file can't be sent as it is: 400 (no file), 413 (too big) or 415 (type)."""


def _ftyp(head: bytes) -> bool:  # ISO base media: mp4, mov, m4a
    return head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"wide", b"free")


def _mp3(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _riff(kind: bytes) -> Sniff:
    return lambda head: head.startswith(b"RIFF") and head[8:12] == kind


def _prefix(*magics: bytes) -> Sniff:
    return lambda head: head.startswith(magics)


def _text(head: bytes) -> bool:
    """Plain text has no NUL bytes (a binary renamed .txt does)."""
    return b"\x00" not in head


_ZIP = _prefix(b"PK\x03\x04")
_OLE = _prefix(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_OFFICE = "application/vnd.openxmlformats-officedocument."


@dataclass(frozen=True)
class FileKind:
    media_type: str  # Meta's attachment type: image, video, audio or file
    content_type: str  # what we store and send
    accepted: frozenset[str]  # content types a browser may declare for it
    sniff: Sniff


def _kind(media_type: str, content_type: str, sniff: Sniff, *also: str) -> FileKind:
    return FileKind(media_type, content_type, frozenset({content_type, *also}), sniff)


KINDS: dict[str, FileKind] = {
    "jpg": _kind("image", "image/jpeg", _prefix(b"\xff\xd8\xff"), "image/pjpeg"),
    "jpeg": _kind("image", "image/jpeg", _prefix(b"\xff\xd8\xff"), "image/pjpeg"),
    "png": _kind("image", "image/png", _prefix(b"\x89PNG\r\n\x1a\n")),
    "gif": _kind("image", "image/gif", _prefix(b"GIF87a", b"GIF89a")),
    "webp": _kind("image", "image/webp", _riff(b"WEBP")),
    "mp4": _kind("video", "video/mp4", _ftyp),
    "mov": _kind("video", "video/quicktime", _ftyp),
    "webm": _kind("video", "video/webm", _prefix(b"\x1a\x45\xdf\xa3")),
    "mp3": _kind("audio", "audio/mpeg", _mp3, "audio/mp3"),
    "m4a": _kind("audio", "audio/mp4", _ftyp, "audio/x-m4a", "audio/m4a"),
    "aac": _kind("audio", "audio/aac", _prefix(b"\xff\xf1", b"\xff\xf9", b"ADIF"), "audio/x-aac"),
    "wav": _kind("audio", "audio/wav", _riff(b"WAVE"), "audio/x-wav", "audio/wave", "audio/vnd.wave"),
    "ogg": _kind("audio", "audio/ogg", _prefix(b"OggS")),
    "pdf": _kind("file", "application/pdf", _prefix(b"%PDF-")),
    "txt": _kind("file", "text/plain", _text),
    "csv": _kind("file", "text/csv", _text, "text/plain", "application/vnd.ms-excel"),
    "docx": _kind("file", _OFFICE + "wordprocessingml.document", _ZIP),
    "xlsx": _kind("file", _OFFICE + "spreadsheetml.sheet", _ZIP),
    "pptx": _kind("file", _OFFICE + "presentationml.presentation", _ZIP),
    "doc": _kind("file", "application/msword", _OLE),
    "xls": _kind("file", "application/vnd.ms-excel", _OLE),
    "ppt": _kind("file", "application/vnd.ms-powerpoint", _OLE),
    "zip": _kind("file", "application/zip", _ZIP, "application/x-zip-compressed"),
}

#: the file picker's `accept` list
ACCEPT = ",".join("." + extension for extension in KINDS)


@dataclass(frozen=True)
class CheckedFile:
    """A file that may be sent: its clean name, Meta type, content type and bytes."""

    name: str
    media_type: str
    content_type: str
    data: bytes


def clean_name(filename: str | None) -> str:
    """The file's base name without path parts or control characters (shown, never trusted)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[-MAX_NAME_LENGTH:]


def check_file(
    filename: str | None, declared_type: str | None, data: bytes, channel: str | None, max_bytes: int
) -> CheckedFile:
    """The file as it will be sent, or an AttachmentRefused with the reason and its status."""
    name = clean_name(filename)
    if not name:
        raise AttachmentRefused("the file has no name", status=400)
    if not data:
        raise AttachmentRefused("the file is empty", status=400)
    if len(data) > max_bytes:
        raise AttachmentRefused(f"the file is {len(data)} bytes; at most {max_bytes} bytes can be sent", status=413)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    kind = KINDS.get(extension)
    if kind is None:
        allowed = ", ".join(sorted(KINDS))
        raise AttachmentRefused(f"files of this type cannot be sent (allowed: {allowed})", status=415)
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared not in GENERIC_TYPES and declared not in kind.accepted:
        raise AttachmentRefused(f"the file's content type ({declared[:80]}) does not match .{extension}", status=415)
    if not kind.sniff(data[:8192]):
        raise AttachmentRefused(f"the file's content is not a .{extension} file", status=415)
    if as_channel(channel) == Channel.INSTAGRAM:
        _check_instagram(extension, kind, len(data))
    return CheckedFile(name, kind.media_type, kind.content_type, data)


def _check_instagram(extension: str, kind: FileKind, size: int) -> None:
    """Instagram's narrower list (Meta's Instagram attachment upload documentation)."""
    if extension not in INSTAGRAM_EXTENSIONS:
        allowed = ", ".join(sorted(INSTAGRAM_EXTENSIONS))
        raise AttachmentRefused(f"Instagram does not take .{extension} files (allowed: {allowed})", status=415)
    if kind.media_type == "image" and size > INSTAGRAM_IMAGE_MAX:
        raise AttachmentRefused(
            f"the image is {size} bytes; Instagram takes images up to {INSTAGRAM_IMAGE_MAX} bytes", status=413
        )
