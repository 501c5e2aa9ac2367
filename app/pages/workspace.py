"""A page's workspace settings: auto-assignment mode and the CSAT survey (rules only)."""

from __future__ import annotations

from typing import Any

from app.pages.exceptions import PageError
from app.pages.models import AutoAssign

MODE_LABELS = {
    AutoAssign.OFF: "Off (assign by hand)",
    AutoAssign.ROUND_ROBIN: "Round robin (take turns)",
    AutoAssign.BALANCED: "Balanced (least loaded first)",
}


def check_auto_assign(value: Any) -> str:
    """`off`, `round_robin` or `balanced`, or the reason it is not (400)."""
    if value not in tuple(AutoAssign):
        raise PageError("auto_assign must be off, round_robin or balanced", status=400)
    return str(value)
