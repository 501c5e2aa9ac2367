"""Redirect targets taken from user input (`next`): same-origin relative paths only."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_safe_path(target: str | None) -> bool:
    """A path on this site: starts with one `/`, no scheme, no host, no backslash tricks.

    Browsers read `//evil`, `/\\evil` and `\\\\evil` as other hosts, so all are refused.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, fallback: str) -> str:
    """`target` when it is a safe local path, else `fallback`."""
    return target if target is not None and is_safe_path(target) else fallback
