"""The demo's attachments (and Instagram stories) are real stored files: the conversation view
can show them."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.devtools import demo
from app.devtools.fakegraph.cdn import png_bytes
from app.media.models import MediaFile


def test_demo_stores_pictures_and_a_document(login_as):
    demo.seed(contacts=12, progress=lambda _msg: None)
    rows = db.session.scalars(select(MediaFile).order_by(MediaFile.id)).all()
    stories = [("story_mention", "stored"), ("story", "stored")]  # the Instagram demo's, kept
    assert [(r.media_type, r.status) for r in rows] == stories + [("image", "stored")] * 4 + [("file", "stored")]
    client = login_as("agent")
    resp = client.get(f"/media/{rows[2].id}")
    assert (resp.status_code, resp.data) == (200, png_bytes("demo-broken-light.png"))
    assert client.get(f"/media/{rows[-1].id}").headers["Content-Disposition"].startswith("attachment")
