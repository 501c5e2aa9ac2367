"""Server-Timing: database time and query count per response, only when switched on."""

from __future__ import annotations

import re


def test_server_timing_reports_database_time_when_on(app, client, login_as, contact):
    login_as("manager")
    assert "Server-Timing" not in client.get("/contactmodelview/list/").headers
    app.config["SERVER_TIMING"] = True
    try:
        header = client.get("/contactmodelview/list/").headers["Server-Timing"]
    finally:
        app.config["SERVER_TIMING"] = False
    match = re.fullmatch(r'db;dur=([\d.]+);desc="(\d+) queries", app;dur=([\d.]+)', header)
    assert match, header
    db_ms, queries, total_ms = float(match[1]), int(match[2]), float(match[3])
    assert queries >= 1
    assert 0 < db_ms <= total_ms
