"""Instagram contacts: what their profile (`GET /{igsid}?fields=name,username,profile_pic`) fills."""

from __future__ import annotations

from typing import Any

from app.contacts.models import Contact

_LIMITS = {"first_name": 255, "last_name": 255, "username": 255, "profile_pic": 2048}


def profile_values(profile: dict[str, Any]) -> dict[str, str]:
    """Contact columns from an Instagram profile: the name split once (first / rest), the
    @username without its "@", the picture; missing or non-text fields are left out."""
    values: dict[str, str] = {}
    name = profile.get("name")
    if isinstance(name, str) and name.strip():
        first, _, rest = name.strip().partition(" ")
        values["first_name"] = first
        if rest.strip():
            values["last_name"] = rest.strip()
    username = profile.get("username")
    if isinstance(username, str) and username.strip().lstrip("@"):
        values["username"] = username.strip().lstrip("@")
    pic = profile.get("profile_pic")
    if isinstance(pic, str) and pic:
        values["profile_pic"] = pic
    return {k: v[: _LIMITS[k]] for k, v in values.items()}


def apply_profile(contact: Contact, profile: dict[str, Any]) -> None:
    """Fill the contact from its Instagram profile (only the fields Meta answered)."""
    for name, value in profile_values(profile).items():
        setattr(contact, name, value)
