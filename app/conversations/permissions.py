"""Permission maps shared by the conversation views and REST APIs.

Kept apart from views.py and api.py so neither has to import the other for them.
"""

from __future__ import annotations

from app.core.roles import READ_WRITE_METHODS

#: Read-only resources (messages): only the methods that map to the `read` verb.
READ_ONLY = {k: v for k, v in READ_WRITE_METHODS.items() if v == "read"}
