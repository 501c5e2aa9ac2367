"""The access export's README: readable dates, in the contact's language where translated."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.privacy import export_readme, requests
from tests.helpers import uid
from tests.privacy.test_privacy_data import open_export, run

CREATED = datetime(2026, 11, 29, 22, 37, 36, 678373)
EXPIRES = datetime(2026, 12, 6, 22, 37, 36, 678373)


@pytest.mark.parametrize(
    ("locale", "created", "heading", "retention"),
    [
        ("en_US", "Created: 29 November 2026, 22:37 UTC", "Files", "(365 days)"),
        (None, "Created: 29 November 2026, 22:37 UTC", "Files", "(365 days)"),
        ("pt_BR", "Created: 29 November 2026, 22:37 UTC", "Files", "(365 days)"),  # no translation: English
        ("fr_FR", "Créé le : 29 novembre 2026, 22:37 UTC", "Fichiers", "(365 jours)"),
        ("de_DE", "Erstellt: 29 November 2026, 22:37 UTC", "Dateien", "(365 Tage)"),
    ],
)
def test_readme_language_and_dates(locale, created, heading, retention):
    text = export_readme.render(12, CREATED, EXPIRES, 365, locale)
    assert created in text
    assert heading in text
    assert retention in text
    assert "2026-11-29T" not in text
    assert ".678373" not in text


def test_export_readme_follows_the_contact_locale(contact, conversation, jobs):
    contact.locale = "fr_FR"
    req = run(requests.create_request("access", contact, requested_by_id=uid("agent")), jobs)
    readme = open_export(req).read("README.txt").decode()
    assert "export de vos données personnelles" in readme
    assert " UTC" in readme
    assert "T" not in readme.split("Créé le : ")[1].split("UTC")[0]
