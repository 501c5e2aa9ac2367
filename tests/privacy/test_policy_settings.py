"""/privacy: company settings filled in, unset lines dropped, no placeholder, production refuses."""

from __future__ import annotations

import pytest

from app.privacy import policy_settings


@pytest.fixture
def settings(app, monkeypatch):
    def _set(**values):
        for key, value in values.items():
            monkeypatch.setitem(app.config, key, value)

    return _set


def test_demo_settings_fill_the_policy(client, settings):
    settings(
        COMPANY_NAME="Demo Shop Ltd",
        COMPANY_ADDRESS="1 Example Street, Berlin",
        PRIVACY_CONTACT_EMAIL="privacy@demo-shop.example",
        POLICY_LAST_UPDATED="2026-11-20",
    )
    resp = client.get("/privacy")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<strong>Company:</strong> Demo Shop Ltd" in html
    assert "<strong>Address:</strong> 1 Example Street, Berlin" in html
    assert "privacy@demo-shop.example" in html
    assert "Demo Shop Ltd (&#34;we,&#34;" in html
    assert "Last updated: 20 November 2026" in html
    assert "November 29, 2024" not in html
    assert "[Your" not in html


def test_unset_settings_drop_their_line_and_never_show_a_placeholder(client, settings):
    settings(COMPANY_NAME="", COMPANY_ADDRESS="[Your Company Address]", POLICY_LAST_UPDATED="")
    html = client.get("/privacy").get_data(as_text=True)
    assert "[Your Company Address]" not in html
    assert "<strong>Address:</strong>" not in html
    assert "<strong>Company:</strong>" not in html
    assert "Last updated: " in html  # the policy file's date


def test_production_refuses_the_policy_until_configured(client, settings):
    settings(OMNICRM_ENV="production", COMPANY_NAME="", COMPANY_ADDRESS="[Your Company Address]")
    resp = client.get("/privacy")
    assert resp.status_code == 503
    assert "not available right now" in resp.get_data(as_text=True)
    settings(COMPANY_NAME="Shop", COMPANY_ADDRESS="1 Road", PRIVACY_CONTACT_EMAIL="dpo@shop.example")
    assert client.get("/privacy").status_code == 200


def test_problems_name_the_settings(app):
    found = policy_settings.problems({"COMPANY_ADDRESS": "[Your Company Address]", "PRIVACY_CONTACT_EMAIL": "a@b"})
    assert found == ["COMPANY_NAME is not set", "COMPANY_ADDRESS is still a placeholder ([Your Company Address])"]


def test_data_deletion_page_names_the_app(client, settings):
    settings(FB_APP_NAME="Demo Shop Messenger", COMPANY_NAME="Demo Shop Ltd")
    html = client.get("/privacy/data-deletion").get_data(as_text=True)
    assert '<strong id="app-name">Demo Shop Messenger</strong> (run by Demo Shop Ltd)' in html
    settings(FB_APP_NAME="", COMPANY_NAME="")
    assert '<strong id="app-name">Omni CRM</strong>' in client.get("/privacy/data-deletion").get_data(as_text=True)
