"""`/webhooks/messenger` (placeholder; the webhook issue fills it in)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("webhooks", __name__)
