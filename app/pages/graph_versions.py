"""Graph API versions and their end of life: a page of a retired version stops working.

Source: Meta's "Graph API changelog" / "Versions" page (developers.facebook.com/docs/graph-api/
changelog), which lists each version's release and "available until" date. Add a row when
Meta releases a version (a version missing from the table is reported as a warning, so it
gets added); the check warns `WARN_DAYS` before the date and fails after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

SOURCE = "https://developers.facebook.com/docs/graph-api/changelog"
WARN_DAYS = 90

#: version -> the last day it is available (Meta's "available until")
END_OF_LIFE: dict[str, date] = {
    "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
}

_VERSION_RE = re.compile(r"^v?(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class VersionVerdict:
    """`level` is "ok", "warning" or "failing"; `reason` says why (empty when ok)."""

    version: str
    level: str
    reason: str
    end_of_life: date | None


def normalise(version: str) -> str:
    """'21', 'v21', '21.0' and 'v21.0' all name 'v21.0'."""
    match = _VERSION_RE.match((version or "").strip())
    if not match:
        return (version or "").strip()
    return f"v{match.group(1)}.{match.group(2) or 0}"


def verdict(version: str, today: date) -> VersionVerdict:
    """How close `version` is to its end of life on `today`."""
    name = normalise(version)
    eol = END_OF_LIFE.get(name)
    if eol is None:
        return VersionVerdict(name, "warning", f"GRAPH_API_VERSION {name} is not in the known versions table", None)
    days = (eol - today).days
    if days < 0:
        reason = f"GRAPH_API_VERSION {name} was retired on {eol.isoformat()}: raise it"
        return VersionVerdict(name, "failing", reason, eol)
    if days <= WARN_DAYS:
        reason = f"GRAPH_API_VERSION {name} ends on {eol.isoformat()} ({days} days): move to a newer version"
        return VersionVerdict(name, "warning", reason, eol)
    return VersionVerdict(name, "ok", "", eol)
