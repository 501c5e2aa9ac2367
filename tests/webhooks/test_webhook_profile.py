"""New contacts get their profile from the (fake, real-HTTP) Graph API; failures are soft."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.contacts import tasks as contact_tasks
from app.contacts.models import Contact
from tests.webhooks.webhook_helpers import item


def _contact(psid: str) -> Contact:
    db.session.expire_all()
    return db.session.scalar(select(Contact).where(Contact.psid == psid))


def test_new_contact_profile_is_fetched(deliver, page, jobs, fakegraph):
    fakegraph.profiles["4242"] = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "profile_pic": "https://p/x.jpg",
        "locale": "en_US",
    }
    deliver(item("4242", message={"mid": "m_p", "text": "hi"}))
    jobs(("default",))
    contact = _contact("4242")
    assert (contact.first_name, contact.last_name, contact.profile_pic, contact.locale) == (
        "Grace",
        "Hopper",
        "https://p/x.jpg",
        "en_US",
    )
    assert contact.profile_fetched_at is not None
    [call] = [r for r in fakegraph.requests_log if r["path"].endswith("/4242")]
    assert call["query"]["access_token"] == "EAAtestpagetoken1234WXYZ"
    assert "appsecret_proof" in call["query"]


def test_profile_unavailable_2018218_keeps_placeholder_name(deliver, page, jobs, fakegraph):
    fakegraph.profile_error(2018218)
    deliver(item("55559876", message={"mid": "m_p2", "text": "hi"}))
    jobs(("default",))
    contact = _contact("55559876")
    assert contact.first_name is None
    assert contact.profile_fetched_at is None
    assert contact.display_name == "Messenger user 9876"


def test_profile_fetch_skips_restricted_and_erased(contact, fakegraph):
    contact.restricted = True
    db.session.commit()
    assert contact_tasks.fetch_profile(contact.id) == "restricted"
    assert contact_tasks.fetch_profile(999999) == "gone"
    assert fakegraph.requests_log == []
