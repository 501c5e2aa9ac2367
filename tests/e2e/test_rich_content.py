"""Browser end-to-end: rich inbound content in the conversation view (real app, worker and fake
Graph API): a reaction appears on its message by the live update, an unsent message turns into
"message unsent", and a location is a map link."""

from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect
from test_e2e_flows import _conversation_for

from app.devtools.demo_instagram import DEMO_IG_ACCOUNT_ID

LIVE_TIMEOUT_MS = 30_000


def _post(live_app, psid: str, **event) -> None:
    now = int(time.time() * 1000)
    item = {"sender": {"id": psid}, "recipient": {"id": live_app.page_id}, "timestamp": now, **event}
    body = {"object": "page", "entry": [{"id": live_app.page_id, "time": now, "messaging": [item]}]}
    assert live_app.post_webhook(body) == 200


def test_reaction_and_location_show_as_a_person_expects(live_app, login, shot):
    psid = str(7_300_000_000 + uuid.uuid4().int % 10**8)
    liked = f"m_e2e_like_{uuid.uuid4().hex}"
    _post(live_app, psid, message={"mid": liked, "text": "Is the cargo bike in stock?"})
    conv_id = _conversation_for(live_app, psid)
    location = {
        "title": "Pinned Location",
        "type": "location",
        "payload": {"coordinates": {"lat": 52.52, "long": 13.405}},
    }
    _post(live_app, psid, message={"mid": f"m_e2e_loc_{uuid.uuid4().hex}", "attachments": [location]})

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    message = page.locator(".msg", has=page.locator(".msg-text", has_text="cargo bike in stock"))
    expect(message).to_be_visible()
    expect(page.locator("a.msg-map")).to_have_attribute(
        "href", "https://www.openstreetmap.org/?mlat=52.52&mlon=13.405#map=16/52.52/13.405", timeout=LIVE_TIMEOUT_MS
    )

    # the person reacts while the agent looks: the poller redraws the message with "👍 1"
    _post(live_app, psid, reaction={"reaction": "like", "emoji": "\U0001f44d", "action": "react", "mid": liked})
    expect(message.locator(".msg-reaction")).to_have_text("\U0001f44d 1", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".msg")).to_have_count(2)  # the reaction is not a row of its own
    shot(page, "conversation-rich-content")
    _post(live_app, psid, reaction={"reaction": "like", "action": "unreact", "mid": liked})
    expect(message.locator(".msg-reaction")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)


def _ig_post(live_app, igsid: str, **message) -> None:
    now = int(time.time() * 1000)
    item = {"sender": {"id": igsid}, "recipient": {"id": DEMO_IG_ACCOUNT_ID}, "timestamp": now, "message": message}
    body = {"object": "instagram", "entry": [{"id": DEMO_IG_ACCOUNT_ID, "time": now, "messaging": [item]}]}
    assert live_app.post_webhook(body) == 200


def test_an_unsent_instagram_message_turns_into_a_placeholder_live(live_app, login):
    igsid = str(1_791_000_000_000_000 + uuid.uuid4().int % 10**12)
    profile = {"name": "Lea Stein", "username": "lea.e2e", "profile_pic": "https://example.invalid/lea.jpg"}
    user = {"action": "instagram_user", "igsid": igsid, "ig_id": DEMO_IG_ACCOUNT_ID, "profile": profile}
    live_app.graph_control(user)
    oops = f"aWdf{uuid.uuid4().hex}"
    _ig_post(live_app, igsid, mid=oops, text="sent to the wrong shop")
    conv_id = _conversation_for(live_app, igsid)

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    expect(page.locator(".msg-text", has_text="sent to the wrong shop")).to_be_visible()
    _ig_post(live_app, igsid, mid=oops, is_deleted=True)
    expect(page.locator(".msg-unsent")).to_have_text("message unsent", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".msg-text", has_text="sent to the wrong shop")).to_have_count(0)


def test_an_inbound_photo_is_fetched_once_and_shown_inline(live_app, login, shot):
    """The worker fetches the photo from the (fake) CDN, stores it encrypted, and the open
    conversation shows our stored copy inline by itself, served from /media/<id>."""
    psid = str(7_400_000_000 + uuid.uuid4().int % 10**8)
    photo = {"type": "image", "payload": {"url": f"{live_app.graph_url}/cdn/broken-part.png"}}
    _post(live_app, psid, message={"mid": f"m_e2e_img_{uuid.uuid4().hex}", "text": "the part is broken"})
    conv_id = _conversation_for(live_app, psid)

    page = login("agent")
    page.goto(f"/conversations/{conv_id}")
    expect(page.locator(".msg-text", has_text="the part is broken")).to_be_visible()
    _post(live_app, psid, message={"mid": f"m_e2e_img_{uuid.uuid4().hex}", "attachments": [photo]})
    image = page.locator(".msg img[src^='/media/']")
    expect(image).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("(img) => img.naturalWidth > 0", image.element_handle())  # real bytes decoded
    shot(page, "conversation-inline-image")
