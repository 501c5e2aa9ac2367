"""Schema-driven fuzz of the REST API: whatever the request, never a 5xx.

Schemathesis reads the app's own `/api/v1/_openapi` in-process (WSGI, no network) and sends
schema-valid and schema-violating requests to every operation, as an Admin (who may do
everything) and as an Agent (who is refused much). Only "no server error" is checked: status
codes and bodies are pinned by tests/core/test_api_errors.py. Generation is derandomized and
bounded so a run is repeatable and stays well under a minute per backend.

`schemathesis.pytest.from_fixture` does not run under pytest 9 (it reads `Function._nodeid`),
so each operation's strategy is driven by Hypothesis here instead of `@schema.parametrize()`.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.helpers import api_token

# per operation and user: 30 operations x 2 users stay under a minute; raise it for a deeper
# local run (API_FUZZ_EXAMPLES=200), the seed stays fixed
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # a fixed seed: the same requests every run
    deadline=None,
    database=None,  # nothing replayed from earlier runs: repeatable
    suppress_health_check=list(HealthCheck),
)


def _bearer(client, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def _schema(client) -> schemathesis.schemas.BaseSchema:
    """The whole API as an Admin sees it (an Agent may not read the document itself)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/_openapi", client.application, headers=_bearer(client, "admin"))
    schema.config.generation.update(with_security_parameters=False, deterministic=True)
    return schema


def _fuzz_operation(operation: Any, headers: dict[str, str]) -> None:
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @FUZZ_SETTINGS
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    fuzz()


@pytest.mark.parametrize("username", ["admin", "agent"])
def test_no_operation_answers_a_server_error(client, conversation, username: str) -> None:
    schema, headers = _schema(client), _bearer(client, username)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the OpenAPI document lost operations"
    for operation in operations:
        try:
            _fuzz_operation(operation, headers)
        except* AssertionError as group:
            failures.append(f"{operation.label}: {group.exceptions[0]}")
    assert not failures, "\n\n".join(failures)
