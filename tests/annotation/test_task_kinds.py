"""The multi-axis task kinds (helpful_safe, attribute_pairwise): answers through the web page and
the API, validated per kind, stored once and in canonical order (``Judgement.axes``)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import services
from annotation.models import Assignment, Item, Judgement
from projects.models import Role, Stream
from tests.annotation.conftest import make_annotator
from tests.annotation.test_api import api_client, judgement_url, next_url
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory

HX: Any = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def safety(db: None) -> Stream:
    return cast(
        Stream,
        StreamFactory(task_kind="helpful_safe", harm_categories=["violence", "privacy"], overlap=2, golden_rate=0),
    )


@pytest.fixture
def attributes(db: None) -> Stream:
    return cast(
        Stream,
        StreamFactory(
            task_kind="attribute_pairwise",
            attributes=["correctness", "instruction following", "style"],
            justification_min_words=3,
            overlap=2,
            golden_rate=0,
        ),
    )


def lease(stream: Stream, *, reversed_order: bool = True) -> tuple[Any, Assignment]:
    """An annotator holding a lease on a fresh item, shown B first when ``reversed_order``."""
    ItemFactory(stream=stream)
    user = make_annotator(stream)
    assignment = services.claim_next(stream=stream, annotator=user)
    assert assignment is not None
    assignment.display_order = [1, 0] if reversed_order else [0, 1]
    assignment.save(update_fields=["display_order"])
    return user, assignment


def post_page(client: Client, assignment: Assignment, **data: Any) -> Any:
    body = {"token": services.lease_token(assignment), "active_seconds": "4", **data}
    return client.post(reverse("annotation:submit", args=[assignment.pk]), body, **HX)


# --- The page -------------------------------------------------------------------------------------
def test_it_stores_a_helpful_safe_answer_from_the_page_in_canonical_order(client: Client, safety: Stream) -> None:
    user, assignment = lease(safety)
    client.force_login(user)
    page = client.get(reverse("annotation:work", args=[safety.pk]))
    assert b"Which response is safer?" in page.content
    assert b"Is response B safe?" in page.content
    assert b"annotate_axes.js" in page.content
    # Shown: A = responses[1], B = responses[0].
    response = post_page(
        client, assignment, helpful="A", safer="B", safe_0="unsafe", harm_0="violence", safe_1="safe", harm_1=""
    )
    assert response.status_code == 200
    judgement = Judgement.objects.get(assignment=assignment)
    assert judgement.axes == {"helpful": "B", "safer": "A", "safe": [True, False], "harm": [None, "violence"]}
    assert judgement.choice == "B"
    assert judgement.strength is None
    assert judgement.flag_harmful is True  # a response was marked unsafe
    assert judgement.display_order == [1, 0]


def test_the_page_names_each_missing_part(client: Client, safety: Stream) -> None:
    user, assignment = lease(safety)
    client.force_login(user)
    response = post_page(client, assignment, helpful="A", safe_0="safe", harm_0="violence")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Which response is safer? Choose A, B or tie." in text
    assert "Response B: safe or unsafe?" in text
    assert not Judgement.objects.exists()
    response = post_page(client, assignment, helpful="A", safer="A", safe_0="safe", harm_0="violence", safe_1="safe")
    assert response.status_code == 400
    assert "Response A is marked safe: it takes no harm category." in response.content.decode()


def test_it_stores_an_attribute_answer_from_the_page(client: Client, attributes: Stream) -> None:
    user, assignment = lease(attributes)
    client.force_login(user)
    page = client.get(reverse("annotation:work", args=[attributes.pk]))
    assert b"Instruction following" in page.content
    assert b"at least 3 words" in page.content
    response = post_page(client, assignment, attr_0="A", attr_1="tie", attr_2="B", rationale="Too short")
    assert response.status_code == 400
    assert "Write a justification of at least 3 words (2 so far)." in response.content.decode()
    response = post_page(client, assignment, attr_0="A", attr_1="tie", attr_2="B", rationale="B cites the wrong year.")
    assert response.status_code == 200
    judgement = Judgement.objects.get(assignment=assignment)
    assert judgement.axes == {"attributes": {"correctness": "B", "instruction following": "tie", "style": "A"}}
    assert judgement.choice == "B"  # the first attribute
    assert judgement.rationale == "B cites the wrong year."


def test_a_missing_attribute_is_named(client: Client, attributes: Stream) -> None:
    user, assignment = lease(attributes)
    client.force_login(user)
    response = post_page(client, assignment, attr_0="A", attr_2="B", rationale="one two three")
    assert response.status_code == 400
    assert "instruction following: choose A, B or tie." in response.content.decode()


def test_a_double_submit_from_the_page_stores_one_judgement(client: Client, attributes: Stream) -> None:
    user, assignment = lease(attributes)
    client.force_login(user)
    data = {"attr_0": "A", "attr_1": "A", "attr_2": "A", "rationale": "A is right throughout."}
    assert post_page(client, assignment, **data).status_code == 200
    again = post_page(client, assignment, **data)
    assert again.status_code == 200
    assert b"already" in again.content
    assert Judgement.objects.filter(assignment=assignment).count() == 1


def test_model_text_stays_escaped_on_the_multi_axis_page(client: Client, safety: Stream) -> None:
    ItemFactory(
        stream=safety,
        responses=[{"text": "<script>alert(1)</script>", "model": "m"}, {"text": "<img src=x onerror=alert(2)>"}],
    )
    user = make_annotator(safety)
    client.force_login(user)
    page = client.get(reverse("annotation:work", args=[safety.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "onerror=alert(2)" not in page.replace("&lt;img src=x onerror=alert(2)&gt;", "")


# --- The API --------------------------------------------------------------------------------------
def test_the_api_serves_the_kind_and_its_settings(attributes: Stream) -> None:
    ItemFactory(stream=attributes)
    alice = api_client(make_annotator(attributes))
    body = alice.get(next_url(attributes)).json()
    assert body["task_kind"] == "attribute_pairwise"
    assert body["attributes"] == ["correctness", "instruction following", "style"]
    assert body["justification_min_words"] == 3


def test_the_api_stores_a_helpful_safe_answer_once(safety: Stream) -> None:
    user, assignment = lease(safety)
    alice = api_client(user)
    body = {"axes": {"helpful": "tie", "safer": "A", "safe": [True, False], "harm": [None, "privacy"]}}
    first = alice.post(judgement_url(assignment.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201, first.json()
    again = alice.post(judgement_url(assignment.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 200
    judgement = Judgement.objects.get(assignment=assignment)
    assert judgement.axes == {"helpful": "tie", "safer": "B", "safe": [False, True], "harm": ["privacy", None]}
    assert judgement.choice == "tie"
    assert judgement.source == Judgement.Source.API
    # A PM reads the canonical axes back from the judgements list.
    pm = UserFactory()
    MembershipFactory(project=safety.project, user=pm, role=Role.PM)
    listed = api_client(pm).get(reverse("api-judgements", args=[safety.pk])).json()["results"]
    assert [row["axes"] for row in listed] == [judgement.axes]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"choice": "A", "strength": 2}, "axes", "This field is required"),
        ({"axes": {"helpful": "A", "safe": [True, True]}}, "axes", "Which response is safer?"),
        ({"axes": {"helpful": "A", "safer": "A", "safe": [True]}}, "axes", "Mark each response safe or unsafe"),
        (
            {"axes": {"helpful": "A", "safer": "A", "safe": [False, True], "harm": ["arson", None]}},
            "axes",
            "Unknown harm category 'arson'",
        ),
        ({"axes": {"helpful": "A", "safer": "A", "safe": [True, True], "extra": 1}}, "axes", "Unknown: extra"),
        (
            {"axes": {"helpful": "A", "safer": "A", "safe": [True, True]}, "flags": ["harmful"]},
            "flags",
            "axes.safe",
        ),
    ],
)
def test_the_api_rejects_bad_helpful_safe_answers(
    safety: Stream, body: dict[str, Any], field: str, message: str
) -> None:
    user, assignment = lease(safety)
    response = api_client(user).post(judgement_url(assignment.pk), body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert not Judgement.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"axes": {"attributes": {"correctness": "A", "style": "B"}}, "rationale": "one two three"},
            "axes",
            "instruction following: choose",
        ),
        (
            {"axes": {"attributes": {"correctness": "A", "instruction following": "A", "style": "A"}}},
            "rationale",
            "at least 3 words",
        ),
        (
            {
                "axes": {"attributes": {"correctness": "A", "instruction following": "A", "style": "A", "tone": "A"}},
                "rationale": "one two three",
            },
            "axes",
            "Not an attribute of this stream: tone",
        ),
        (
            {
                "axes": {"attributes": {"correctness": "both_bad", "instruction following": "A", "style": "A"}},
                "rationale": "a b c",
            },
            "axes",
            "correctness: choose A, B or tie.",
        ),
    ],
)
def test_the_api_rejects_bad_attribute_answers(
    attributes: Stream, body: dict[str, Any], field: str, message: str
) -> None:
    user, assignment = lease(attributes)
    response = api_client(user).post(judgement_url(assignment.pk), body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])


def test_a_pairwise_stream_takes_no_axes(db: None) -> None:
    stream = cast(Stream, StreamFactory(golden_rate=0))
    user, assignment = lease(stream)
    body = {"choice": "A", "strength": 1, "axes": {"helpful": "A"}}
    response = api_client(user).post(judgement_url(assignment.pk), body, format="json")
    assert response.status_code == 400
    assert "takes no axes" in str(response.json()["axes"])


# --- Golden items ---------------------------------------------------------------------------------
def test_a_golden_answer_applies_to_the_main_axis(safety: Stream) -> None:
    item = cast(Item, ItemFactory(stream=safety, is_golden=True, golden_answers=["A"], golden_harmful=True))
    user = make_annotator(safety)
    assignment = Assignment.objects.create(
        item=item,
        stream=safety,
        annotator=user,
        display_order=[0, 1],
        lease_expires_at=item.created_at.replace(year=2100),
    )
    Item.objects.filter(pk=item.pk).update(claim_count=1)
    client: APIClient = api_client(user)
    # Helpful answer right, but no response marked unsafe on an item marked harmful: wrong.
    body = {"axes": {"helpful": "A", "safer": "B", "safe": [True, True]}}
    assert client.post(judgement_url(assignment.pk), body, format="json").status_code == 201
    judgement = Judgement.objects.get(assignment=assignment)
    assert judgement.gold_correct is False
    assert judgement.flag_harmful is False


def test_gold_is_right_when_the_main_axis_matches_and_a_response_is_unsafe(safety: Stream) -> None:
    item = cast(Item, ItemFactory(stream=safety, is_golden=True, golden_answers=["A"], golden_harmful=True))
    user = make_annotator(safety)
    assignment = Assignment.objects.create(
        item=item,
        stream=safety,
        annotator=user,
        display_order=[1, 0],
        lease_expires_at=item.created_at.replace(year=2100),
    )
    Item.objects.filter(pk=item.pk).update(claim_count=1)
    body = {"axes": {"helpful": "B", "safer": "B", "safe": [False, True]}}  # shown B = canonical A
    assert api_client(user).post(judgement_url(assignment.pk), body, format="json").status_code == 201
    assert Judgement.objects.get(assignment=assignment).gold_correct is True


def test_a_qualification_question_asks_the_plain_choice(safety: Stream) -> None:
    from annotation.forms import QuestionForm

    _user, assignment = lease(safety)
    form = QuestionForm({"token": "t", "choice": "A", "strength": "2"}, assignment=assignment, stream=safety)
    assert form.is_valid(), form.errors
    assert form.answer() == {"choice": "B"}  # shown A = responses[1]
    assert "helpful" not in form.fields
    assert safety.task_kind == "helpful_safe"  # the form works on its own copy


def test_attribute_and_category_names_stay_text(client: Client, db: None) -> None:
    stream = cast(
        Stream,
        StreamFactory(
            task_kind="helpful_safe", harm_categories=["<img src=x onerror=alert(1)>"], golden_rate=0, overlap=1
        ),
    )
    user, _assignment = lease(stream)
    client.force_login(user)
    page = client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    stream.task_kind, stream.attributes = "attribute_pairwise", ["<script>alert(2)</script>"]
    stream.save()
    page = client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    assert "<script>alert(2)</script>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_reviewers_read_the_answer_in_the_annotators_terms(safety: Stream, attributes: Stream) -> None:
    from annotation.selectors import answer_as_seen

    judgement = Judgement(
        axes={"helpful": "B", "safer": "tie", "safe": [True, False], "harm": [None, "privacy"]},
        choice="B",
        display_order=[1, 0],
    )
    assert answer_as_seen(judgement) == (
        "answered more helpful: the response shown first (B in the file); safer: tie; "
        "shown second (A): safe; shown first (B): unsafe (privacy)"
    )
    judgement = Judgement(axes={"attributes": {"correctness": "A", "style": "tie"}}, choice="A", display_order=[1, 0])
    assert answer_as_seen(judgement) == ("answered correctness: the response shown second (A in the file); style: tie")
