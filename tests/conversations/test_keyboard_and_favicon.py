"""Keyboard users: a visible focus style and a "Skip to reply" link; a favicon instead of a 404."""

from __future__ import annotations

import re


def test_skip_to_reply_is_the_first_focusable_element(login_as, conversation):
    resp = login_as("agent").get(f"/conversations/{conversation.id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    body = html[html.index("<body") :]
    skip = body.index('<a href="#reply-text" class="skip-link">Skip to reply</a>')
    before = body[:skip]
    # only FAB's hidden modal dialogs (display:none, so never focused) come before it
    focusable = re.findall(r"<(?:a|button|input|select|textarea)\b[^>]*>", before)
    assert all("modal" in tag for tag in focusable), focusable
    assert skip < body.index('<header class="top"')
    assert 'id="reply-text"' in html
    assert '<label for="reply-text"' in html


def test_focus_style_and_skip_link_css_are_bundled(client):
    resp = client.get("/static/omnicrm/omnicrm.css")
    assert resp.status_code == 200
    css = resp.get_data(as_text=True)
    assert ":focus-visible" in css
    assert "outline: 3px solid" in css
    assert ".skip-link:focus" in css


def test_favicon_is_linked_and_served(client, login_as, conversation):
    html = login_as("agent").get("/conversations/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/omnicrm/favicon.svg">' in html
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith("/static/omnicrm/favicon.svg")
    icon = client.get("/static/omnicrm/favicon.svg")
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
