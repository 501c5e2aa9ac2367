"""axe-core on the pages people use every day: no serious or critical violations, and every
control reachable with the keyboard.

axe-core comes from npm (package.json / package-lock.json at the repo root, installed by
`make install` with `npm ci`); the test injects node_modules/axe-core/axe.min.js into the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def _axe(page: Page) -> list[dict]:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: run `make install` (npm ci)", pytrace=False)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def _report(violations: list[dict]) -> str:
    return json.dumps(
        [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [
                    {"target": n["target"], "html": n["html"][:160], "why": n.get("failureSummary", "")[:300]}
                    for n in v["nodes"][:6]
                ],
            }
            for v in violations
        ],
        indent=1,
    )


def _conversation_id(live_app) -> int:
    return int(
        live_app.python(
            """
from sqlalchemy import select
from app import db
from app.conversations.models import Conversation, Message
print(db.session.scalar(select(Message.conversation_id).where(Message.direction == "out").limit(1))
      or db.session.scalar(select(Conversation.id).limit(1)))
"""
        )
    )


def _unreachable(page: Page) -> list[str]:
    """Visible, enabled controls that the keyboard can't reach (tabindex=-1)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('a[href], button, input, select, textarea, summary'))
          .filter(el => el.offsetParent !== null && !el.disabled && el.type !== 'hidden')
          .filter(el => el.tabIndex < 0)
          .map(el => el.outerHTML.slice(0, 120))"""
    )


def test_login_page_has_no_serious_violations(live_app, page):
    page.goto("/login/")
    violations = _axe(page)
    assert not violations, _report(violations)


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("agent", "/conversations/"),
        ("agent", "/conversations/{conversation}"),
        ("manager", "/contactmodelview/list/"),
        ("privacy", "/privacyrequestmodelview/list/"),
        ("manager", "/"),
        ("agent", "/"),
    ],
)
def test_everyday_pages_have_no_serious_violations(live_app, login, user, path):
    page = login(user)
    page.goto(path.format(conversation=_conversation_id(live_app)))
    violations = _axe(page)
    assert not violations, _report(violations)
    assert _unreachable(page) == []


def test_the_reply_box_and_send_are_reached_by_keyboard(live_app, login):
    page = login("agent")
    page.goto(f"/conversations/{_conversation_id(live_app)}")
    page.keyboard.press("Tab")  # the first stop is the "Skip to reply" link
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to reply"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab") if page.evaluate("document.activeElement.id") != "reply-text" else None
    seen = []
    for _ in range(8):
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        if seen[-1] == "reply-send" or seen[-1] == "Send":
            break
        page.keyboard.press("Tab")
    assert "reply-text" in seen, seen
