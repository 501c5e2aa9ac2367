"""Public privacy routes (placeholder; the privacy issue fills it in)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("privacy_public", __name__)
