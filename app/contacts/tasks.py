"""RQ jobs of the contacts domain: fetch a new contact's Messenger or Instagram profile."""

from __future__ import annotations

import logging

from flask import current_app

from app import db
from app.contacts.instagram import apply_profile as apply_instagram_profile
from app.contacts.models import Contact
from app.core.channels import Channel
from app.core.models import utcnow
from app.core.queues import task
from app.messenger.client import GraphError, client_from_config

logger = logging.getLogger(__name__)

PROFILE_FIELDS = {"first_name": 255, "last_name": 255, "profile_pic": 2048, "locale": 16}


@task
def fetch_profile(contact_id: int) -> str:
    """Fill name, picture and locale from the Graph API; fails soft (the contact keeps its
    "Messenger user <psid tail>" name when Meta refuses, e.g. error 2018218)."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None or not contact.psid:
        return "gone"
    if contact.restricted:
        return "restricted"
    token = contact.page.access_token if contact.page is not None else None
    if not token or contact.page.needs_reauth:
        return "no-token"
    client = client_from_config(current_app.config)
    instagram = contact.channel == Channel.INSTAGRAM
    try:
        if instagram:
            profile = client.get_instagram_profile(contact.psid, token)
        else:
            profile = client.get_profile(contact.psid, token)
    except GraphError as exc:
        logger.info("profile of contact %s not available: %s code=%s", contact_id, type(exc).__name__, exc.code)
        return f"unavailable:{exc.code}"
    finally:
        client.close()
    if instagram:
        apply_instagram_profile(contact, profile)
    for name, limit in PROFILE_FIELDS.items() if not instagram else ():
        value = profile.get(name)
        if isinstance(value, str) and value:
            setattr(contact, name, value[:limit])
    contact.profile_fetched_at = utcnow()
    db.session.commit()
    return "ok"
