"""The annotator API: next, judgement, skip (token authentication, as machine clients use it)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import services
from annotation.models import Assignment, Item, Judgement
from annotation.serializers import JudgementResultSerializer
from projects.models import ApiToken, Role, Stream, StreamMembership
from qc import review as qc_review
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, MembershipFactory, UserFactory


class _Never(random.Random):
    def random(self) -> float:
        return 0.999999


def api_client(user: Any) -> APIClient:
    _token, key = ApiToken.generate(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def next_url(stream: Stream) -> str:
    return reverse("api-next", args=[stream.pk])


def judgement_url(assignment_id: int) -> str:
    return reverse("api-judgement", args=[assignment_id])


def skip_url(assignment_id: int) -> str:
    return reverse("api-skip", args=[assignment_id])


@pytest.fixture
def alice(annotator: Any) -> APIClient:
    return api_client(annotator)


def test_it_serves_the_next_item_in_display_order(alice: APIClient, stream: Stream, annotator: Any) -> None:
    item: Any = ItemFactory(
        stream=stream,
        context=[{"role": "user", "content": "Explain **bold**."}],
        responses=[{"text": "first *one*", "model": "m-a"}, {"text": "second", "model": "m-b"}],
    )
    response = alice.get(next_url(stream))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assignment = Assignment.objects.get(annotator=annotator)
    assert body["assignment"] == assignment.pk
    assert body["stream"] == stream.pk
    assert body["task_kind"] == "pairwise"
    assert body["context"] == [
        {"role": "user", "content": "Explain **bold**.", "html": "<p>Explain <strong>bold</strong>.</p>\n"}
    ]
    texts = [item.responses[i]["text"] for i in assignment.display_order]
    assert [r["text"] for r in body["responses"]] == texts
    assert [r["label"] for r in body["responses"]] == ["A", "B"]
    first = next(r for r in body["responses"] if r["text"] == "first *one*")
    assert first["html"] == "<p>first <em>one</em></p>\n"


def test_a_repeated_next_returns_the_same_lease(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    first = alice.get(next_url(stream)).json()
    again = alice.get(next_url(stream)).json()
    assert again["assignment"] == first["assignment"]
    assert Assignment.objects.count() == 1


def test_it_answers_204_when_nothing_is_left(alice: APIClient, stream: Stream) -> None:
    response = alice.get(next_url(stream))
    assert response.status_code == 204
    assert response.content == b""


def test_it_never_sends_golden_answers_prior_labels_or_model_names(alice: APIClient, stream: Stream) -> None:
    golden: Any = ItemFactory(
        stream=stream,
        external_id="gold-0001",
        is_golden=True,
        golden_answers=["B"],
        golden_explanation="The secret explanation.",
        golden_harmful=True,
        prior_label={"choice": "B", "source": "trl:chosen"},
        metadata={"origin": "golden-set"},
        responses=[{"text": "one", "model": "secret-model-a"}, {"text": "two", "model": "secret-model-b"}],
    )
    Stream.objects.filter(pk=stream.pk).update(golden_rate=1.0)  # every new lease is golden
    response = alice.get(next_url(stream))
    assert response.status_code == 200
    body = response.json()
    assert Assignment.objects.get(pk=body["assignment"]).item_id == golden.pk
    raw = response.content.decode()
    for secret in ("gold", "secret", "explanation", "trl:chosen", "prior", "harmful", "origin", "model", "external"):
        assert secret not in raw.lower(), secret
    assert set(body) == {
        "assignment",
        "stream",
        "task_kind",
        "served_at",
        "lease_expires_at",
        "context",
        "responses",
        "rubric",
        "rationale_required",
        "attributes",
        "justification_min_words",
        "harm_categories",
    }
    assert all(set(r) == {"label", "position", "text", "html"} for r in body["responses"])


def test_outsiders_get_404(stream: Stream, items: list[Item]) -> None:
    outsider = api_client(UserFactory())
    assert outsider.get(next_url(stream)).status_code == 404
    member_not_invited: Any = UserFactory()
    MembershipFactory(project=stream.project, user=member_not_invited, role=Role.ANNOTATOR)
    assert api_client(member_not_invited).get(next_url(stream)).status_code == 404
    assert not Assignment.objects.exists()


def test_anonymous_requests_get_401(stream: Stream, items: list[Item]) -> None:
    assert APIClient().get(next_url(stream)).status_code == 401


@pytest.mark.parametrize(("status", "code"), [("paused", 403), ("failed", 404), ("testing", 404)])
def test_members_who_may_not_label_get_no_item(stream: Stream, items: list[Item], status: str, code: int) -> None:
    # Not qualified (failed, testing): 404, as if the items did not exist; paused: 403.
    client = api_client(make_annotator(stream, status=status))
    assert client.get(next_url(stream)).status_code == code
    assert not Assignment.objects.exists()


def test_a_paused_stream_gives_403(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    stream.status = Stream.Status.PAUSED
    stream.save()
    response = alice.get(next_url(stream))
    assert response.status_code == 403
    assert "paused" in response.json()["detail"]


def test_a_paused_annotator_cannot_submit(alice: APIClient, stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    StreamMembership.objects.filter(user=annotator).update(status=StreamMembership.Status.PAUSED)
    response = alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json")
    assert response.status_code == 403
    assert not Judgement.objects.exists()


def test_another_annotators_assignment_is_404(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    bob = api_client(make_annotator(stream, "bob"))
    assert bob.post(judgement_url(assignment_id), {"choice": "tie"}, format="json").status_code == 404
    assert bob.post(skip_url(assignment_id), {"reason": "unclear"}, format="json").status_code == 404
    assert not Judgement.objects.exists()
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.ACTIVE


def test_it_stores_a_judgement(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    data = {"choice": "tie", "rationale": "Both fine.", "flags": ["pii"], "active_seconds": 0}
    response = alice.post(judgement_url(assignment_id), data, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 201
    judgement = Judgement.objects.get()
    assert response.json() == {
        "id": judgement.pk,
        "assignment": assignment_id,
        "submitted_at": response.json()["submitted_at"],
        "counted": True,
    }
    assert judgement.choice == "tie"
    assert judgement.strength is None
    assert judgement.rationale == "Both fine."
    assert (judgement.flag_pii, judgement.flag_harmful, judgement.flag_cannot_judge) == (True, False, False)
    assert judgement.source == Judgement.Source.API
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.SUBMITTED
    # ...and the next call brings another item.
    assert alice.get(next_url(stream)).json()["assignment"] != assignment_id


@pytest.mark.parametrize(("shown", "canonical"), [("A", "B"), ("B", "A"), ("tie", "tie"), ("both_bad", "both_bad")])
def test_a_is_the_response_displayed_first(
    alice: APIClient, stream: Stream, items: list[Item], shown: str, canonical: str
) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    Assignment.objects.filter(pk=assignment_id).update(display_order=[1, 0])
    body = alice.get(next_url(stream)).json()
    item = Assignment.objects.get(pk=assignment_id).item
    assert [r["text"] for r in body["responses"]] == [item.responses[1]["text"], item.responses[0]["text"]]
    response = alice.post(judgement_url(assignment_id), {"choice": shown, "strength": 3}, format="json")
    assert response.status_code == 201
    judgement = Judgement.objects.get()
    assert judgement.choice == canonical
    assert judgement.display_order == [1, 0]
    assert judgement.strength == (3 if shown in ("A", "B") else None)


def test_the_same_idempotency_key_returns_the_stored_judgement(
    alice: APIClient, stream: Stream, items: list[Item]
) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    data = {"choice": "A", "strength": 2}
    first = alice.post(judgement_url(assignment_id), data, format="json", HTTP_IDEMPOTENCY_KEY="same")
    again = alice.post(judgement_url(assignment_id), data, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Judgement.objects.count() == 1
    item = Item.objects.get(assignments__pk=assignment_id)
    assert (item.judgement_count, item.claim_count) == (1, 1)


def test_a_different_key_for_an_answered_assignment_is_409(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    data = {"choice": "A", "strength": 2}
    first = alice.post(judgement_url(assignment_id), data, format="json", HTTP_IDEMPOTENCY_KEY="one")
    other = alice.post(judgement_url(assignment_id), data, format="json", HTTP_IDEMPOTENCY_KEY="two")
    assert other.status_code == 409
    assert other.json()["judgement"] == first.json()["id"]
    assert Judgement.objects.count() == 1


def test_without_a_key_a_retry_of_the_lease_is_the_same_submission(
    alice: APIClient, stream: Stream, items: list[Item]
) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    first = alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json")
    again = alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert Judgement.objects.count() == 1


def test_keys_of_different_assignments_never_collide(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    for _ in range(2):
        assignment_id = alice.get(next_url(stream)).json()["assignment"]
        response = alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json", HTTP_IDEMPOTENCY_KEY="1")
        assert response.status_code == 201
    assert Judgement.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "choice"),
        ({"choice": "C"}, "choice"),
        ({"choice": "A"}, "strength"),
        ({"choice": "B", "strength": 4}, "strength"),
        ({"choice": "tie", "flags": ["rude"]}, "flags"),
        ({"choice": "tie", "active_seconds": -1}, "active_seconds"),
        ({"choice": "tie", "rationale": "x" * 5001}, "rationale"),
        ({"choice": "tie", "ranking": [1, 2]}, "ranking"),
        ({"choice": "tie", "rubric": {"helpfulness": [1, 2]}}, "rubric"),
    ],
)
def test_invalid_answers_are_400_with_the_field_named(
    alice: APIClient, stream: Stream, items: list[Item], data: dict[str, Any], field: str
) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    response = alice.post(judgement_url(assignment_id), data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Judgement.objects.exists()


def test_a_bad_idempotency_key_is_400(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    response = alice.post(
        judgement_url(assignment_id), {"choice": "tie"}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


def test_ranking_streams_take_ranks_in_display_order(stream: Stream, annotator: Any) -> None:
    stream.task_kind = Stream.TaskKind.RANKING
    stream.rubric = ["helpfulness"]
    stream.save()
    ItemFactory(stream=stream, responses=[{"text": t} for t in ("zero", "one", "two")])
    client = api_client(annotator)
    body = client.get(next_url(stream)).json()
    assert body["rubric"] == ["helpfulness"]
    Assignment.objects.filter(pk=body["assignment"]).update(display_order=[2, 0, 1])
    missing = client.post(judgement_url(body["assignment"]), {"choice": "A", "strength": 1}, format="json")
    assert missing.status_code == 400
    assert set(missing.json()) == {"choice", "ranking", "rubric"}
    data = {"ranking": [1, 2, 2], "rubric": {"helpfulness": [4, 0, 1]}}
    assert client.post(judgement_url(body["assignment"]), data, format="json").status_code == 201
    judgement = Judgement.objects.get()
    # Shown: [two, zero, one]; "two" ranked first, "zero" and "one" tied.
    assert judgement.ranking == [[2], [0, 1]]
    assert judgement.choice is None
    assert judgement.rubric == {"helpfulness": [0, 1, 4]}


def test_it_skips_with_a_reason(alice: APIClient, stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    assert alice.post(skip_url(assignment_id), {"reason": "nonsense"}, format="json").status_code == 400
    response = alice.post(skip_url(assignment_id), {"reason": "broken", "note": "empty response"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"assignment": assignment_id, "status": "skipped"}
    assignment = Assignment.objects.get(pk=assignment_id)
    assert (assignment.status, assignment.skip_reason, assignment.skip_note) == ("skipped", "broken", "empty response")
    assert alice.post(skip_url(assignment_id), {"reason": "broken"}, format="json").status_code == 200
    assert alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json").status_code == 409
    assert alice.get(next_url(stream)).json()["assignment"] != assignment_id


def test_skipping_an_answered_assignment_is_409(alice: APIClient, stream: Stream, items: list[Item]) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    alice.post(judgement_url(assignment_id), {"choice": "tie"}, format="json")
    assert alice.post(skip_url(assignment_id), {"reason": "unclear"}, format="json").status_code == 409
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.SUBMITTED


@pytest.mark.parametrize("name", ["api-judgement", "api-skip"])
def test_get_is_405_on_the_write_endpoints(alice: APIClient, stream: Stream, items: list[Item], name: str) -> None:
    assignment_id = alice.get(next_url(stream)).json()["assignment"]
    assert alice.get(reverse(name, args=[assignment_id])).status_code == 405


def test_post_is_405_on_next(alice: APIClient, stream: Stream) -> None:
    assert alice.post(next_url(stream)).status_code == 405


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_next_and_submit_query_counts_are_pinned(
    django_assert_max_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a test transaction (PostgreSQL, as in production), on the ordinary path (no golden
    draw, no review sample: both random, pinned in tests/qc/test_queries_qc.py). next: token, stream
    access, resume, claim (4). judgement: token, assignment access, and the submit's transaction:
    BEGIN, lock, insert, assignment, item counters, COMMIT (8)."""
    monkeypatch.setattr(services, "golden_random", _Never())
    monkeypatch.setattr(qc_review, "review_random", _Never())
    stream: Any = ItemFactory(stream__status=Stream.Status.ACTIVE, stream__overlap=3).stream
    for _ in range(3):
        ItemFactory(stream=stream)
    client = api_client(make_annotator(stream))
    warm_up = client.get(next_url(stream)).json()["assignment"]  # the token's first use records last_used_at
    client.post(judgement_url(warm_up), {"choice": "tie"}, format="json")
    with django_assert_max_num_queries(4):
        response = client.get(next_url(stream))
    assert response.status_code == 200
    with django_assert_max_num_queries(8):
        submitted = client.post(
            judgement_url(response.json()["assignment"]), {"choice": "A", "strength": 1}, format="json"
        )
    assert submitted.status_code == 201
    client.get(next_url(stream))
    with django_assert_max_num_queries(3):  # token, stream access, resume: a reload
        assert client.get(next_url(stream)).status_code == 200


def test_it_answers_the_stored_judgement_as_its_serializer_documents_it(
    alice: APIClient, stream: Stream, items: list[Item]
) -> None:
    assignment = alice.get(next_url(stream)).json()["assignment"]
    body = alice.post(judgement_url(assignment), {"choice": "A", "strength": 2}, format="json").json()
    assert body == dict(JudgementResultSerializer(Judgement.objects.get(assignment=assignment)).data)
