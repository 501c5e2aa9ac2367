"""A record's show page links to its audit history, for roles that may read the audit log."""

from __future__ import annotations

from tests.helpers import login


def test_history_link_on_show_pages(app, conversation):
    client = app.test_client()
    login(client, "admin")
    history = "/auditlogmodelview/history"
    cid, pid, conv_id = conversation.contact_id, conversation.page_id, conversation.id
    pages = {
        f"/contactmodelview/show/{cid}": f"{history}/contact/{cid}",
        f"/pagemodelview/show/{pid}": f"{history}/page/{pid}",
        f"/conversationmodelview/show/{conv_id}": f"{history}/conversation/{conv_id}",
    }
    for show, history in pages.items():
        html = client.get(show).get_data(as_text=True)
        assert history in html, show
        resp = client.get(history)
        assert resp.status_code == 200, history
    # the contact was created in this test: its history lists that insert ("Created")
    assert (
        "<td>created</td>"
        in client.get(pages[f"/contactmodelview/show/{conversation.contact_id}"]).get_data(as_text=True).lower()
    )


def test_no_history_link_without_audit_access(app, conversation):
    client = app.test_client()
    login(client, "agent")
    html = client.get(f"/contactmodelview/show/{conversation.contact_id}").get_data(as_text=True)
    assert "/auditlogmodelview/history/" not in html
    assert client.get(f"/auditlogmodelview/history/contact/{conversation.contact_id}").status_code == 403
