"""The privacy policy's operator details: filled from settings, a line per unset setting dropped.

Settings (config.py): `COMPANY_NAME`, `COMPANY_ADDRESS`, `PRIVACY_CONTACT_EMAIL`,
`PUBLIC_BASE_URL` and `POLICY_LAST_UPDATED` (ISO date). The shipped policy's own "Last Updated"
line and its contact block are replaced; without `POLICY_LAST_UPDATED` the date is the policy
file's modification date. A bracketed placeholder ("[Your Company Address]") is never shown: in
development its line is dropped, in production the page is refused (503) until it is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

PLACEHOLDER = re.compile(r"\[(?:your|insert|company|address|name)[^\]]*\]", re.IGNORECASE)
REQUIRED_IN_PRODUCTION = ("COMPANY_NAME", "COMPANY_ADDRESS", "PRIVACY_CONTACT_EMAIL")
_LAST_UPDATED = re.compile(r"(?m)^\*\*Last Updated:\*\*.*\n?")
_CONTACT_LINE = re.compile(r"(?m)^\*\*(Email|Website|Address|Company):\*\*.*$\n?")


def _setting(cfg: Mapping[str, Any], name: str) -> str:
    """A setting's text, "" when unset or still a placeholder."""
    value = str(cfg.get(name) or "").strip()
    return "" if PLACEHOLDER.search(value) else value


def problems(cfg: Mapping[str, Any]) -> list[str]:
    """Why the policy cannot be published as configured (production refuses to serve it)."""
    out = []
    for name in REQUIRED_IN_PRODUCTION:
        raw = str(cfg.get(name) or "").strip()
        if not raw:
            out.append(f"{name} is not set")
        elif PLACEHOLDER.search(raw):
            out.append(f"{name} is still a placeholder ({raw})")
    return out


def last_updated(cfg: Mapping[str, Any], policy_path: str) -> str:
    """ "26 November 2026": POLICY_LAST_UPDATED (YYYY-MM-DD) or the policy file's date."""
    raw = str(cfg.get("POLICY_LAST_UPDATED") or "").strip()
    when: date
    try:
        when = date.fromisoformat(raw) if raw else datetime.fromtimestamp(os.path.getmtime(policy_path), UTC).date()
    except ValueError:
        when = datetime.fromtimestamp(os.path.getmtime(policy_path), UTC).date()
    return f"{when.day} {when.strftime('%B %Y')}"


def contact_block(cfg: Mapping[str, Any]) -> str:
    """The "Contact Us" lines, each only when its setting is set."""
    lines = []
    for label, name in (
        ("Company", "COMPANY_NAME"),
        ("Email", "PRIVACY_CONTACT_EMAIL"),
        ("Website", "PUBLIC_BASE_URL"),
        ("Address", "COMPANY_ADDRESS"),
    ):
        value = _setting(cfg, name)
        if value:
            lines.append(f"**{label}:** {value}  ")
    return "\n".join(lines) + ("\n" if lines else "")


def fill(text: str, cfg: Mapping[str, Any]) -> str:
    """The shipped policy with the operator's details; no placeholder survives."""
    text = _LAST_UPDATED.sub("", text, count=1)
    email = _setting(cfg, "PRIVACY_CONTACT_EMAIL")
    block = contact_block(cfg)
    first = _CONTACT_LINE.search(text)
    if first is not None:
        text = text[: first.start()] + "\x00" + text[first.start() :]
        text = _CONTACT_LINE.sub("", text).replace("\x00", block, 1)
    if email:
        text = text.replace("privacy@omnicrm.com", email)
    company = _setting(cfg, "COMPANY_NAME")
    if company:
        text = text.replace('Omni CRM ("we," "our," or "us")', f'{company} ("we," "our," or "us")', 1)
    # any other bracketed placeholder loses its line rather than being shown
    return "\n".join(line for line in text.splitlines() if not PLACEHOLDER.search(line)) + "\n"
