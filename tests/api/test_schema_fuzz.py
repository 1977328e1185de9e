"""Schemathesis against the OpenAPI schema: generated requests to every operation, as a PM and as
an annotator (each with a token, on fixture data: judged items, metrics, an export, an open
assignment), must never produce a 5xx nor a response that contradicts the schema. Bounded: a few
examples per operation, no shrinking, so it stays a test and not a soak. The cases sent and the
failures are counted in the "security suites" summary (tests/security/tally.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings

from exports.models import Export
from projects.models import ApiToken, Role
from qc.models import MetricSnapshot
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, StreamMembershipFactory
from tests.qc.helpers import judged_item
from tests.security.tally import Tally, record

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 8


def _operations() -> list[Any]:
    from quorum.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    return [result.ok() for result in schema.get_all_operations()]


def _check(operation: Any, headers: dict[str, str], checks: list[Any], tally: Tally) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        tally.tried += 1
        case.call_and_validate(headers=headers, checks=checks)

    run()


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """Calls through the WSGI app fire request_finished, which would close the test's database
    connection (and its transaction); Django's own test client disconnects it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", [Role.PM, Role.ANNOTATOR])
def test_it_answers_generated_requests_without_errors_or_schema_violations(
    keep_connection: None, role: str, request: pytest.FixtureRequest
) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    stream = StreamFactory.create()
    pm = MembershipFactory.create(project=stream.project, role=Role.PM).user
    for _ in range(3):
        judged_item(stream, ["A", "B", "A"])
    MetricSnapshot.objects.create(stream=stream, metric="agreement", value=0.5, sample_size=10)
    Export.objects.create(project=stream.project, format="trl")
    user = pm
    if role == Role.ANNOTATOR:
        # Invited to the stream, with an item to label: /next/, judgement and skip do real work.
        user = MembershipFactory.create(project=stream.project, role=Role.ANNOTATOR).user
        StreamMembershipFactory.create(stream=stream, user=user)
        ItemFactory.create_batch(3, stream=stream)
    _token, key = ApiToken.generate(user=user)
    headers = {"Authorization": f"Token {key}"}
    operations = _operations()
    assert len(operations) >= 15
    failures: list[str] = []
    tally = Tally(f"schemathesis as {role} (cases)")

    for operation in operations:
        if operation.method.upper() == "DELETE":
            continue  # revoking the test's own token would only test the 401 path

        try:
            _check(
                operation, headers, [not_a_server_error, response_schema_conformance, content_type_conformance], tally
            )
        except Exception as exc:  # collect all operations' failures, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    tally.through = failures
    record(request, tally)
    assert not failures, "\n\n".join(failures)
    assert tally.tried >= 100


def test_it_fails_when_a_response_contradicts_the_schema(keep_connection: None) -> None:
    """The test above can fail: with the schema claiming that a stream is a string, the same run
    over GET /api/streams/{stream_id}/ reports the real responses as violations."""
    import copy

    from schemathesis.specs.openapi.checks import response_schema_conformance

    from quorum.wsgi import application

    stream = StreamFactory.create()
    pm = MembershipFactory.create(project=stream.project, role=Role.PM).user
    _token, key = ApiToken.generate(user=pm)
    raw = copy.deepcopy(schemathesis.openapi.from_wsgi("/api/schema/", application).raw_schema)
    get = raw["paths"]["/api/streams/{stream_id}/"]["get"]
    get["parameters"] = [{**p, "schema": {"type": "integer", "enum": [stream.pk]}} for p in get.get("parameters", [])]
    get["responses"]["200"]["content"]["application/json"]["schema"] = {"type": "string"}
    lying = schemathesis.openapi.from_dict(raw)
    lying.app, lying.location = application, "/api/schema/"
    [operation] = [
        r.ok()
        for r in lying.get_all_operations()
        if r.ok().path == "/api/streams/{stream_id}/" and r.ok().method == "get"
    ]
    with pytest.raises(BaseException, match=r"found 1 distinct failure") as caught:
        _check(operation, {"Authorization": f"Token {key}"}, [response_schema_conformance], Tally("planted"))
    assert "Response violates schema" in str(caught.value.exceptions[0])
