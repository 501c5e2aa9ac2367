"""The one formatter every grid and record page uses."""

from __future__ import annotations

from datetime import date, datetime

from app.web.formatting import EMPTY, readable, tag_badges
from app.web.grid_export import filter_summary


def test_readable_values():
    assert readable(None) == EMPTY == "—"
    assert readable("  ") == EMPTY
    assert readable(True) == "Yes"
    assert readable(False) == "No"
    assert readable(0) == 0
    assert readable(date(2026, 3, 4)) == "4 Mar 2026"
    html = str(readable(datetime(2026, 11, 29, 22, 37, 36, 678373)))
    assert html == '<time class="omni-time" datetime="2026-11-29T22:37:36Z">29 Nov 2026, 22:37 UTC</time>'


def test_tags_are_escaped_badges():
    html = str(tag_badges("vip, <script>x</script>,"))
    assert html.count("omni-tag") == 2
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert tag_badges("") == EMPTY


def test_filter_summary_keeps_no_values():
    assert filter_summary({"_flt_0_tags": "vip", "_flt_2_first_name": "Ada", "psize": "25"}) == [
        "first_name:2",
        "tags:0",
    ]
