"""Inbound content as a person expects it: Meta's documented payload shapes go through the signed
webhook and the worker, then the conversation page (and its poller) is read as HTML."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.conversations import rendering
from app.conversations.models import Conversation, Message
from tests.helpers import post_signed_webhook, run_jobs
from tests.webhooks.webhook_helpers import IG_ID, echo_item, ig_item, ig_payload, item, now_ms, payload

PSID = "7001002003"
CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9/"


@pytest.fixture
def deliver(client, page):
    """Post signed Messenger items (or a whole body) and run the webhook queue."""

    def _deliver(*items: dict, body: dict | None = None):
        resp = post_signed_webhook(client, body or payload(*items))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs(("webhooks",))

    return _deliver


@pytest.fixture
def view(login_as):
    """The conversation page of the contact (PSID or IGSID) as an agent sees it."""
    agent = login_as("agent")

    def _view(psid: str = PSID) -> str:
        db.session.expire_all()
        contact = db.session.scalar(select(Contact).where(Contact.psid == psid))
        conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
        resp = agent.get(f"/conversations/{conv.id}")
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    return _view


def _msg_id(mid: str) -> int:
    return db.session.scalar(select(Message.id).where(Message.mid == mid))


def _row(page_html: str, mid: str) -> str:
    """The HTML of one thread row."""
    start = page_html.index(f'id="msg-{_msg_id(mid)}"')
    ends = [page_html.find(marker, start) for marker in ('<div class="msg panel', '<div class="note panel', "<form")]
    return page_html[start : min([e for e in ends if e != -1] or [len(page_html)])]


def _att(kind: str, url: str, **extra) -> dict:
    return {"type": kind, "payload": {"url": url, **extra}}


def test_media_without_a_stored_copy_is_a_placeholder_linking_the_original(deliver, view):
    atts = [_att(t, f"{CDN}{t}.bin?oh=1&oe=2") for t in ("image", "video", "audio", "file")]
    deliver(item(message={"mid": "m_media", "attachments": atts}))
    row = _row(view(), "m_media")
    for t in ("image", "video", "audio", "file"):
        assert f'<span class="msg-placeholder label label-default">{t}</span>' in row
        link = f'href="{CDN}{t}.bin?oh=1&amp;oe=2" class="msg-original" target="_blank" rel="noopener noreferrer"'
        assert link + ' referrerpolicy="no-referrer"' in row
    assert "<img" not in row
    assert "<video" not in row
    assert "<audio" not in row


def test_stored_copies_are_inline_with_players_and_a_download(deliver, view, monkeypatch):
    atts = [_att(t, f"{CDN}{t}.bin") for t in ("image", "video", "audio", "file")]
    deliver(item(message={"mid": "m_stored", "attachments": atts}))
    stored = {i: f"/media/9/{i}" for i in range(4)}  # what app.media returns once it stored the files
    monkeypatch.setattr(rendering, "media_urls", lambda ids: {_msg_id("m_stored"): stored})
    row = _row(view(), "m_stored")
    assert '<a href="/media/9/0" target="_blank" rel="noopener noreferrer"><img src="/media/9/0"' in row
    assert 'style="max-width:240px;max-height:240px"' in row  # size-limited, click opens it
    assert '<video controls preload="metadata" src="/media/9/1"' in row
    assert '<audio controls preload="metadata" src="/media/9/2"' in row
    assert '<a href="/media/9/3" download class="msg-file">' in row


def test_like_sticker_is_a_thumbs_up(deliver, view):
    like = _att("image", f"{CDN}369239263222822.png", sticker_id=369239263222822)
    deliver(item(message={"mid": "m_like", "sticker_id": 369239263222822, "attachments": [like]}))
    row = _row(view(), "m_like")
    assert 'class="msg-like" role="img" aria-label="like (thumbs-up sticker)"' in row
    assert "&#128077;" in row


def test_location_is_a_map_link_with_coordinates(deliver, view):
    location = {
        "title": "Pinned Location",
        "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps",
        "type": "location",
        "payload": {"coordinates": {"lat": 52.520008, "long": 13.404954}},
    }
    deliver(item(message={"mid": "m_loc", "attachments": [location]}))
    row = _row(view(), "m_loc")
    assert "Pinned Location" in row
    assert 'href="https://www.openstreetmap.org/?mlat=52.520008&amp;mlon=13.404954#map=16/52.520008/13.404954"' in row
    assert "52.520008, 13.404954 (map)" in row


def test_fallback_and_shared_link_are_cards(deliver, view):
    fallback = {"title": "Omni CRM — docs", "url": "https://example.org/docs", "type": "fallback", "payload": None}
    deliver(item(message={"mid": "m_fb", "text": "look", "attachments": [fallback]}))
    row = _row(view(), "m_fb")
    assert '<div class="msg-card well well-sm"' in row
    assert "<strong>Omni CRM — docs</strong>" in row
    assert 'href="https://example.org/docs" class="msg-card-url small"' in row


def test_template_echo_shows_title_and_buttons(deliver, view):
    template = {
        "type": "template",
        "payload": {
            "template_type": "button",
            "text": "What do you want to do next?",
            "buttons": [
                {"type": "web_url", "url": "https://example.org/track", "title": "Track order"},
                {"type": "postback", "title": "Talk to us", "payload": "TALK"},
            ],
        },
    }
    deliver(item(message={"mid": "m_hi", "text": "hi"}), echo_item(mid="m_tpl", attachments=[template]))
    row = _row(view(), "m_tpl")
    assert '<strong class="msg-template-title">What do you want to do next?</strong>' in row
    assert 'href="https://example.org/track" class="btn btn-default btn-xs msg-button"' in row
    assert ">Track order</a>" in row
    assert '<span class="btn btn-default btn-xs disabled msg-button">Talk to us</span>' in row


def test_quick_reply_and_postback_show_their_titles(deliver, view):
    ts = now_ms()
    deliver(
        item(ts=ts, message={"mid": "m_qr", "text": "Red", "quick_reply": {"payload": "PICK_RED"}}),
        item(ts=ts + 1, postback={"mid": "m_pb", "title": "Get Started", "payload": "GET_STARTED"}),
    )
    page_html = view()
    qr, pb = _row(page_html, "m_qr"), _row(page_html, "m_pb")
    assert '<span class="msg-badge label label-primary">Quick reply</span>' in qr
    assert ">Red</div>" in qr
    assert '<span class="msg-badge label label-primary">Button</span>' in pb
    assert ">Get Started</div>" in pb
    assert "PICK_RED" not in page_html
    assert "GET_STARTED" not in page_html


def test_reaction_is_shown_on_its_message_then_removed_by_unreact(deliver, view):
    ts = now_ms()
    deliver(item(ts=ts, message={"mid": "m_liked", "text": "Is it in stock?"}))
    deliver(item(ts=ts + 1, reaction={"reaction": "like", "emoji": "\U0001f44d", "action": "react", "mid": "m_liked"}))
    page_html = view()
    row = _row(page_html, "m_liked")
    assert '<span class="msg-reaction" title="reaction"' in row
    assert ">\U0001f44d 1</span>" in row
    assert page_html.count('class="msg panel') == 1  # the reaction is no row of its own
    deliver(item(ts=ts + 2, reaction={"reaction": "like", "action": "unreact", "mid": "m_liked"}))
    assert "msg-reaction" not in view()


def test_a_late_older_reaction_does_not_override_a_newer_unreact(deliver, view):
    ts = now_ms()
    deliver(item(ts=ts, message={"mid": "m_late", "text": "hello"}))
    deliver(item(ts=ts + 5, reaction={"reaction": "love", "action": "unreact", "mid": "m_late"}))
    deliver(item(ts=ts + 1, reaction={"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": "m_late"}))
    assert "msg-reaction" not in view()


def test_edit_shows_the_latest_text_marked_edited(deliver, view):
    ts = now_ms()
    deliver(item(ts=ts, message={"mid": "m_ed", "text": "see you at 5"}))
    deliver(item(ts=ts + 1, message_edit={"mid": "m_ed", "text": "see you at 6", "num_edit": 1}))
    row = _row(view(), "m_ed")
    assert ">see you at 6</div>" in row
    assert "see you at 5" not in row
    assert '<span class="msg-edited">edited</span>' in row


def test_reply_to_quotes_the_message_it_answers(deliver, view):
    ts = now_ms()
    deliver(echo_item(ts=ts, mid="m_q", text="Which size do you need?"))
    deliver(item(ts=ts + 1, message={"mid": "m_a", "text": "Medium", "reply_to": {"mid": "m_q"}}))
    row = _row(view(), "m_a")
    assert f'Reply to <a href="#msg-{_msg_id("m_q")}">Which size do you need?</a>' in row


def test_referral_is_shown_on_the_contact_card(deliver, view):
    ts = now_ms()
    deliver(
        item(ts=ts, message={"mid": "m_r", "text": "hi"}),
        item(ts=ts + 1, referral={"ref": "SUMMER24", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "6045246247433"}),
    )
    page_html = view()
    card = page_html[page_html.index('id="contact-card"') : page_html.index('id="thread"')]
    assert "<dt>Came from</dt>" in card
    assert (
        'an ad <span class="text-muted">(ref: SUMMER24)</span> <span class="text-muted">· ad 6045246247433</span>'
        in card
    )


def test_shortlink_postback_referral_on_the_card(deliver, view):
    referral = {"ref": "spring", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    deliver(item(postback={"title": "Get Started", "payload": "GET_STARTED", "referral": referral}))
    page_html = view()
    card = page_html[page_html.index('id="contact-card"') : page_html.index('id="thread"')]
    assert 'an m.me link <span class="text-muted">(ref: spring)</span>' in card


def test_hostile_titles_and_urls_are_escaped_and_only_http_links(deliver, view):
    evil = '<script>alert("t")</script>'
    atts = [
        {"title": evil, "url": "javascript:alert(1)", "type": "fallback", "payload": None},
        {"title": '"><img src=x onerror=alert(2)>', "url": "https://example.org/?q=<b>", "type": "fallback"},
        _att("file", "data:text/html;base64,PHNjcmlwdD4="),
        {"type": "location", "payload": {"coordinates": {"lat": '1"><script>', "long": 3}}},
    ]
    deliver(item(message={"mid": "m_evil", "attachments": atts}))
    row = _row(view(), "m_evil")
    assert "<script>" not in row
    assert "<img" not in row
    assert str(escape(evil)) in row
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in row
    assert "javascript:" not in row
    assert "data:text" not in row
    assert 'href="https://example.org/?q=&lt;b&gt;"' in row
    assert "openstreetmap" not in row  # a non-number coordinate is no map link


def test_poller_renders_new_rows_with_the_same_partial(deliver, view, client):
    ts = now_ms()
    deliver(item(ts=ts, message={"mid": "m_p1", "text": "first"}))
    page_html = view()
    deliver(item(ts=ts + 1, reaction={"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": "m_p1"}))
    deliver(item(ts=ts + 2, message={"mid": "m_p2", "attachments": [_att("audio", f"{CDN}a.mp4")]}))
    conv_id = db.session.scalar(select(Message.conversation_id).where(Message.mid == "m_p1"))
    resp = client.get(f"/conversations/{conv_id}/poll?since={_msg_id('m_p1')}")
    assert resp.status_code == 200
    rows = resp.get_json()["messages"]
    assert [r["id"] for r in rows] == [_msg_id("m_p1"), _msg_id("m_p2")]  # no reaction row
    first, second = rows
    assert 'data-sig="' + first["sig"] + '"' in first["html"]
    assert first["sig"] not in page_html  # the reaction changed the row: the poller replaces it
    assert "\u2764\ufe0f 1</span>" in first["html"]
    assert '<span class="msg-placeholder label label-default">audio</span>' in second["html"]
    assert second["html"].strip() in view()  # byte for byte what a reload shows


@pytest.fixture
def ig_deliver(client, page):
    page.ig_account_id = IG_ID
    db.session.commit()

    def _deliver(*items: dict):
        resp = post_signed_webhook(client, ig_payload(*items))
        assert resp.status_code == 200
        run_jobs(("webhooks",))

    return _deliver


IGSID = "1122334455667788"
IG_CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="


def test_instagram_story_reply_mention_and_unsend(ig_deliver, view):
    ts = now_ms()
    story = {"url": IG_CDN + "102", "id": "17950000000000001"}
    ig_deliver(
        ig_item(ts=ts, message={"mid": "ig_1", "text": "Love this look!", "reply_to": {"story": story}}),
        ig_item(
            ts=ts + 1,
            message={"mid": "ig_2", "attachments": [{"type": "story_mention", "payload": {"url": IG_CDN + "101"}}]},
        ),
        ig_item(ts=ts + 2, message={"mid": "ig_3", "text": "oops, wrong chat"}),
        ig_item(ts=ts + 3, referral={"ref": "bio", "source": "IGME", "type": "OPEN_THREAD"}),
    )
    ig_deliver(ig_item(ts=ts + 4, message={"mid": "ig_3", "is_deleted": True}))
    page_html = view(IGSID)
    reply, mention, unsent = (_row(page_html, m) for m in ("ig_1", "ig_2", "ig_3"))
    assert "Replied to your story" in reply
    assert f'href="{IG_CDN}102" class="msg-story" target="_blank" rel="noopener noreferrer"' in reply
    assert reply.count("open the story") == 1
    assert "Story mention" in mention
    assert f'href="{IG_CDN}101" class="msg-story"' in mention
    assert '<div class="msg-unsent text-muted"><em>message unsent</em></div>' in unsent
    assert "wrong chat" not in page_html
    assert 'an ig.me link <span class="text-muted">(ref: bio)</span>' in page_html


def test_instagram_reaction_and_unreact(ig_deliver, view):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "ig_r", "text": "Is it in stock?"}))
    ig_deliver(
        ig_item(ts=ts + 1, reaction={"mid": "ig_r", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"})
    )
    assert "\u2764\ufe0f 1</span>" in _row(view(IGSID), "ig_r")
    ig_deliver(ig_item(ts=ts + 2, reaction={"mid": "ig_r", "action": "unreact"}))
    assert "msg-reaction" not in view(IGSID)


def test_part_of_refuses_non_http_stored_and_meta_urls():
    assert rendering.part_of({"type": "image", "url": "javascript:x"}, stored="javascript:y") == rendering.Part(
        "placeholder", "image"
    )
    assert rendering.part_of({"type": "image", "url": "https://a.example/i.png"}, "/media/1/0").src == "/media/1/0"
    assert rendering.part_of("not a dict") is None
