"""The HTTP side of grid CSV exports: a streamed download and a value-free filter summary."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime

from flask import Response, stream_with_context

_FILTER_ARG = re.compile(r"^_flt_(\d+)_(\w{1,64})$")


def filter_summary(args: Mapping[str, str]) -> list[str]:
    """`_flt_<op>_<column>` argument names, without their values (which may be personal)."""
    return sorted(f"{m.group(2)}:{m.group(1)}" for key in args if (m := _FILTER_ARG.match(key)))


def csv_download(grid: str, lines: Iterator[str]) -> Response:
    """Stream the CSV as an attachment (never cached)."""
    name = f"{grid}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
