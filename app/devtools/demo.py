"""Demo data: one user per role, two pages, contacts with realistic conversations."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from app import appbuilder, db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.core.roles import (
    ROLE_ADMIN,
    ROLE_AGENT,
    ROLE_PRIVACY_OFFICER,
    ROLE_SUPPORT_MANAGER,
)
from app.devtools import demo_instagram, demo_media, demo_timeline
from app.devtools.demo_workspace import seed_workspace
from app.pages.models import Page

logger = logging.getLogger(__name__)

DEMO_USERS = [
    ("admin", "admin-demo-password", ROLE_ADMIN),
    ("manager", "manager-demo-password", ROLE_SUPPORT_MANAGER),
    ("agent", "agent-demo-password", ROLE_AGENT),
    ("agent2", "agent2-demo-password", ROLE_AGENT),
    ("privacy", "privacy-demo-password", ROLE_PRIVACY_OFFICER),
]
DEMO_PAGES = [("100000000000001", "Acme Bikes"), ("100000000000002", "Acme Coffee")]
FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emeka",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
    "Zoe",
]
LAST = [
    "Silva",
    "Okafor",
    "Müller",
    "Tanaka",
    "Haddad",
    "Kowalski",
    "Rossi",
    "Nguyen",
    "García",
    "Smith",
    "Ivanova",
    "Mensah",
    "Dubois",
    "Sato",
    "Larsen",
    "Cohen",
    "Patel",
    "O'Brien",
    "Novak",
    "Costa",
]
INBOUND = [
    "Hi! Is the {item} still in stock?",
    "What are your opening hours on Saturday?",
    "My order #{n} hasn't arrived yet, can you check?",
    "Do you ship to {city}?",
    "Thanks, that worked 🙏",
    "Can I change the delivery address for order #{n}?",
    "How much is the {item}?",
    "Is there a discount for students?",
]
OUTBOUND = [
    "Hi {name}! Yes, the {item} is in stock — want me to reserve one?",
    "We're open 9:00–17:00 on Saturdays.",
    "Sorry about that! Order #{n} left our warehouse yesterday; tracking will update tonight.",
    "Yes, we ship to {city} (2–4 working days).",
    "Glad to help! Anything else?",
    "Done — the new address is saved on order #{n}.",
]
ITEMS = [
    "city bike",
    "espresso grinder",
    "helmet",
    "oat latte beans",
    "cargo bike",
    "pour-over kit",
]
CITIES = ["Lisbon", "Lagos", "Berlin", "Osaka", "Toronto", "Nairobi"]


def seed(
    contacts: int = 300, progress: Callable[[str], None] = print, seed_value: int = 7
) -> list[tuple[str, str, str]]:
    """Idempotent: users and pages are reused; contacts are added only when there are none."""
    rng = random.Random(seed_value)
    sm = appbuilder.sm
    users = []
    for username, password, role_name in DEMO_USERS:
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role(role_name)
            sm.add_user(
                username,
                username.title(),
                "Demo",
                f"{username}@demo.omnicrm.local",
                [role],
                password,
            )
        users.append((username, password, role_name))
    progress(f"users: {len(users)} demo users ready")

    pages = []
    for fb_id, name in DEMO_PAGES:
        page = db.session.scalar(select(Page).where(Page.fb_page_id == fb_id))
        if page is None:
            page = Page(fb_page_id=fb_id, name=name, retention_days=365)
            page.set_token(f"EAAdemo{fb_id}token")
            db.session.add(page)
        pages.append(page)
    db.session.commit()
    progress(f"pages: {len(pages)} demo pages ready")
    demo_timeline.seed_settings(pages, progress)

    if db.session.scalar(select(func.count()).select_from(Contact)):
        progress("contacts: already seeded, skipping")
        return users
    agent = sm.find_user(username="agent")
    now = utcnow()
    batch = 50
    for start in range(0, contacts, batch):
        for i in range(start, min(start + batch, contacts)):
            page = pages[i % len(pages)]
            first, last = rng.choice(FIRST), rng.choice(LAST)
            first_seen = now - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440))
            contact = Contact(
                page=page,
                psid=str(2_000_000_000_000_000 + i),
                first_name=first,
                last_name=last,
                locale=rng.choice(["en_GB", "pt_PT", "de_DE", "fr_FR", "ja_JP"]),
                tags=rng.choice([None, "vip", "wholesale", "returning, vip"]),
                marketing_opt_out=rng.random() < 0.1,
                first_seen_at=first_seen,
            )
            db.session.add(contact)
            bucket = demo_timeline.bucket_for(i, rng)
            status = demo_timeline.status_for(bucket, rng)
            conv = Conversation(
                page=page,
                contact=contact,
                status=status,
                assignee_id=agent.id if agent and rng.random() < 0.4 else None,
            )
            db.session.add(conv)
            turns = rng.randint(2, 12)
            # times run backwards from the last message, whose age the bucket decides (relative
            # to now: open windows, a few closing within the hour, HUMAN_AGENT range, closed)
            t = now - demo_timeline.last_message_age(bucket, rng)
            times = [t]
            for _ in range(turns - 1):
                times.append(times[-1] - timedelta(minutes=rng.randint(1, 600)))
            times.reverse()
            contact.first_seen_at = min(first_seen, times[0])
            last_in = None
            for turn, at in enumerate(times):
                last_turn = turn == turns - 1
                if last_turn and bucket in demo_timeline.NEEDS_REPLY:
                    inbound = True  # the customer wrote last: it waits in "Needs reply"
                else:
                    inbound = turn % 2 == 0 or rng.random() < 0.2
                fill = {
                    "item": rng.choice(ITEMS),
                    "n": rng.randint(1000, 9999),
                    "city": rng.choice(CITIES),
                    "name": first,
                }
                text = rng.choice(INBOUND if inbound else OUTBOUND).format(**fill)
                msg = Message(
                    conversation=conv,
                    direction="in" if inbound else "out",
                    text=text,
                    kind="text",
                    status="received" if inbound else rng.choice(["sent", "delivered", "read"]),
                    created_at=at,
                    mid=f"m_demo_{i}_{turn}",
                    messaging_type=None if inbound else "RESPONSE",
                    author_id=None if inbound or not agent else agent.id,
                    sent_at=None if inbound else at,
                )
                if inbound:
                    last_in = at
                elif conv.first_response_at is None:
                    conv.first_response_at = at
                db.session.add(msg)
            conv.last_message_at = times[-1]
            conv.last_inbound_at = last_in
            contact.last_inbound_at = last_in
            conv.unread_count = rng.randint(1, 3) if bucket in demo_timeline.NEEDS_REPLY else 0
        db.session.commit()
        progress(f"contacts: {min(start + batch, contacts)}/{contacts}")
    demo_timeline.seed_extras(rng, progress)
    seed_workspace(progress)
    demo_instagram.seed(pages[0], progress)
    demo_media.seed(progress)
    return users
