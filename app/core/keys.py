"""`flask omnicrm` subcommands of this domain (placeholder)."""

from __future__ import annotations

from flask.cli import AppGroup


def register(group: AppGroup) -> None:
    """Add this domain's commands to `flask omnicrm`."""
