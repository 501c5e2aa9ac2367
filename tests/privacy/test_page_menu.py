"""`flask omnicrm page menu`: the Privacy postbacks merged into the page's Messenger Profile."""

from __future__ import annotations

from app import db
from app.pages.models import Page
from tests.helpers import audit_actions, csrf_token_from

TOKEN = "EAAtestpagetoken1234WXYZ"  # the `page` fixture's token: "me" of the fake's profile
OURS = ["PRIVACY_ACCESS", "PRIVACY_ERASURE", "PRIVACY_RECTIFICATION", "PRIVACY_OPT_OUT"]
SHOP = {"type": "web_url", "title": "Shop now", "url": "https://shop.example.com/"}
HELP = {"type": "postback", "title": "Talk to us", "payload": "CARE_HELP"}


def _menu(app, *args: str):
    return app.test_cli_runner().invoke(args=["omnicrm", "page", "menu", *args])


def _payloads(buttons: list[dict]) -> list[str]:
    return [b.get("payload") or b.get("url") for b in buttons]


def _posts(fakegraph) -> list[dict]:
    return [r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/me/messenger_profile")]


def test_merge_keeps_the_pages_entries_in_every_locale(app, page, fakegraph):
    fakegraph.set_messenger_profile(
        TOKEN,
        {
            "persistent_menu": [
                {"locale": "default", "composer_input_disabled": False, "call_to_actions": [HELP, SHOP]},
                {"locale": "fr_FR", "call_to_actions": [HELP]},
            ],
            "get_started": {"payload": "GET_STARTED"},
        },
    )
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 0, result.output
    assert "persistent menu updated (locales: default, fr_FR)" in result.output
    stored = fakegraph.messenger_profile_of(TOKEN)
    default, french = stored["persistent_menu"]
    assert _payloads(default["call_to_actions"]) == ["CARE_HELP", SHOP["url"], *OURS]
    assert _payloads(french["call_to_actions"]) == ["CARE_HELP", *OURS]
    assert all(len(b["title"]) <= 20 for b in default["call_to_actions"])
    assert stored["get_started"] == {"payload": "GET_STARTED"}  # other properties untouched
    # appsecret_proof went with the page token, the token itself was never echoed
    post = _posts(fakegraph)[0]
    assert post["query"]["appsecret_proof"]
    assert TOKEN not in result.output
    assert audit_actions("page").count("page_privacy_menu_set") == 1


def test_second_run_changes_nothing(app, page, fakegraph):
    assert _menu(app, "--page-id", page.fb_page_id).exit_code == 0
    first = fakegraph.messenger_profile_of(TOKEN)
    assert _payloads(first["persistent_menu"][0]["call_to_actions"]) == OURS
    again = _menu(app, "--page-id", page.fb_page_id)
    assert again.exit_code == 0, again.output
    assert "already had the Privacy entries" in again.output
    assert fakegraph.messenger_profile_of(TOKEN) == first
    assert len(_posts(fakegraph)) == 1  # no second POST
    assert audit_actions("page").count("page_privacy_menu_set") == 1  # audited once


def test_a_full_menu_is_refused_with_the_reason(app, page, fakegraph):
    full = [{"type": "postback", "title": f"Item {i}", "payload": f"P{i}"} for i in range(17)]
    fakegraph.set_messenger_profile(TOKEN, {"persistent_menu": [{"locale": "default", "call_to_actions": full}]})
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 1
    assert "already has 17 entries; Meta allows 20" in result.output
    assert _posts(fakegraph) == []


def test_instagram_ice_breakers_fill_free_places_only(app, page, fakegraph):
    page.ig_account_id = "17841400000000001"
    db.session.commit()
    own = {"question": "Where is my order?", "payload": "ORDER"}
    fakegraph.set_messenger_profile(
        TOKEN,
        {"ice_breakers": [{"locale": "default", "call_to_actions": [own]}]},
        platform="instagram",
    )
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 0, result.output
    breakers = fakegraph.messenger_profile_of(TOKEN, "instagram")["ice_breakers"]
    assert [a["payload"] for a in breakers[0]["call_to_actions"]] == ["ORDER", *OURS[:3]]
    assert "No room (Meta allows 4 ice breakers) for: PRIVACY_OPT_OUT." in result.output
    ig_post = [p for p in _posts(fakegraph) if p["query"].get("platform") == "instagram"]
    assert len(ig_post) == 1
    assert ig_post[0]["json"]["platform"] == "instagram"
    # again: unchanged, nothing posted
    again = _menu(app, "--page-id", page.fb_page_id)
    assert "Instagram ice breakers unchanged" in again.output
    assert len(_posts(fakegraph)) == 2


def test_older_flat_ice_breakers_are_kept(app, page, fakegraph):
    page.ig_account_id = "17841400000000001"
    db.session.commit()
    hours = {"question": "When are you open?", "payload": "HOURS"}
    fakegraph.set_messenger_profile(TOKEN, {"ice_breakers": [hours]}, platform="instagram")
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 0, result.output
    breakers = fakegraph.messenger_profile_of(TOKEN, "instagram")["ice_breakers"]
    assert breakers[0]["locale"] == "default"  # written back in the localized format
    assert [a["payload"] for a in breakers[0]["call_to_actions"]] == ["HOURS", *OURS[:3]]


def test_without_instagram_no_ice_breakers_are_set(app, page, fakegraph):
    assert _menu(app, "--page-id", page.fb_page_id).exit_code == 0
    assert fakegraph.messenger_profile_of(TOKEN, "instagram") == {}


def test_unknown_page_exits_1_with_the_reason(app, page, fakegraph):
    result = _menu(app, "--page-id", "999")
    assert result.exit_code == 1
    assert "no connected page with id '999'" in result.output
    assert fakegraph.requests_log == []


def test_invalid_token_exits_1_and_flags_the_page(app, page, fakegraph):
    fakegraph.fail_next(190, message="Error validating access token: Session has expired")
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 1
    assert "Meta refused page Test Page's access token" in result.output
    assert TOKEN not in result.output
    assert db.session.get(Page, page.id).needs_reauth is True
    # while flagged, the command says so before calling Meta
    fakegraph.reset()
    again = _menu(app, "--page-id", page.fb_page_id)
    assert again.exit_code == 1
    assert "is no longer valid" in again.output
    assert fakegraph.requests_log == []


def test_other_graph_errors_exit_1(app, page, fakegraph):
    fakegraph.fail_next(100, message="(#100) Something Meta did not like")
    result = _menu(app, "--page-id", page.fb_page_id)
    assert result.exit_code == 1
    assert "Meta refused the Messenger Profile call" in result.output
    assert "page_privacy_menu_set" not in audit_actions("page")


def test_channels_page_button(app, page, fakegraph, login_as):
    client = login_as("admin")
    html = client.get("/admin/channels/").get_data(as_text=True)
    assert f"/admin/channels/{page.id}/privacy-menu" in html
    resp = client.post(f"/admin/channels/{page.id}/privacy-menu", data={"csrf_token": csrf_token_from(html)})
    assert resp.status_code == 303
    stored = fakegraph.messenger_profile_of(TOKEN)
    assert _payloads(stored["persistent_menu"][0]["call_to_actions"]) == OURS
    assert "persistent menu updated" in client.get("/admin/channels/").get_data(as_text=True)
