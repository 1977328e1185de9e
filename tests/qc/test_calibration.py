"""Calibration rounds (``qc.calibration``): a round's life through the pages (open, answer blind
with a rationale, a double submit stores one answer, close, results, promote to golden and to the
guidelines), the alignment figures against a hand-computed fixture, the periodic job that closes
rounds at their deadline, anonymity on every annotator-facing page, and no calibration answer in
an export."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Item, Judgement
from exports import services as exporting
from projects import services as project_services
from projects.models import Role, Stream, StreamMembership
from qc import calibration
from qc.charts import wilson
from qc.models import CalibrationAnswer, CalibrationRound
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, StreamFactory, UserFactory
from tests.qc.helpers import judge, judged_item, read_jsonl

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
NAMES = ("ann-anna-unique", "ann-boris-unique", "ann-carla-unique")


def _settled(stream: Stream, **fields: Any) -> Item:
    """An item that stopped collecting judgements (its round results are shown to annotators)."""
    return ItemFactory.create(stream=stream, is_open=False, claim_count=0, judgement_count=0, **fields)


@pytest.fixture
def world() -> dict[str, Any]:
    stream = project_services.create_stream(
        project=ProjectFactory.create(), slug="chat", name="Chat", guidelines="Prefer correct answers."
    )
    Stream.objects.filter(pk=stream.pk).update(status=Stream.Status.ACTIVE)
    stream.refresh_from_db()
    pm = UserFactory.create(username="pm-petra-unique")
    MembershipFactory.create(project=stream.project, user=pm, role=Role.PM)
    annotators = [make_annotator(stream, name) for name in NAMES]
    outsider = make_annotator(stream, "not-qualified-olga", status=StreamMembership.Status.INVITED)
    return {"stream": stream, "pm": pm, "annotators": annotators, "outsider": outsider}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _token(body: str) -> str:
    match = re.search(r'name="token" value="([0-9a-f]+)"', body)
    assert match, "no token in the page"
    return match.group(1)


def _answer(client: Client, stream: Stream, round_: CalibrationRound, **data: Any) -> Any:
    url = reverse("qc:calibration_take", args=[stream.pk, round_.pk])
    page = client.get(url).content.decode()
    return client.post(url, {"token": _token(page), **data}, **HTMX), _token(page)


def test_a_rounds_life_open_answer_close_results_promote(world: dict[str, Any]) -> None:
    stream, pm = world["stream"], world["pm"]
    anna, boris, carla = world["annotators"]
    disputed = judged_item(stream, ["A", "B"], external_id="disputed", is_open=False, claim_count=2, judgement_count=2)
    edge = _settled(stream, external_id="edge-case")
    pm_client = _client(pm)

    # The PM opens a round: the most-disagreed list is offered, an edge case typed by external id.
    rounds_url = reverse("qc:calibration_rounds", args=[stream.pk])
    page = pm_client.get(rounds_url).content.decode()
    assert f'value="{disputed.pk}"' in page
    assert "disputed" in page
    deadline = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = pm_client.post(
        rounds_url,
        {
            "title": "Ties or not",
            "deadline": deadline,
            "items": [disputed.pk],
            "extra": "edge-case",
            "min_rationale_words": 3,
        },
    )
    round_ = CalibrationRound.objects.get()
    assert response.status_code == 302
    assert [ri.item_id for ri in round_.items.order_by("position")] == [disputed.pk, edge.pk]
    assert round_.include_in_exports is False

    # The annotators find it on the stream's page.
    anna_client = _client(anna)
    home = anna_client.get(reverse("annotation:stream_home", args=[stream.pk])).content.decode()
    assert "Calibration round: 2 items, due" in home
    assert reverse("qc:calibration_take", args=[stream.pk, round_.pk]) in home

    # A rationale is required: nothing is stored without one.
    response, _key = _answer(anna_client, stream, round_, choice="A", strength=2, rationale="")
    assert response.status_code == 400
    assert not CalibrationAnswer.objects.filter(submitted_at__isnull=False).exists()
    response, _key = _answer(anna_client, stream, round_, choice="A", strength=2, rationale="too short")
    assert response.status_code == 400
    assert "at least 3 words" in response.content.decode()

    # Anna answers the first item as shown; the order drawn for her is recorded.
    row = CalibrationAnswer.objects.get(annotator=anna, round_item__item=disputed)
    response, key = _answer(anna_client, stream, round_, choice="A", strength=2, rationale="A cites the docs correctly")
    assert response.status_code == 200
    assert "Saved." in response.content.decode()
    row.refresh_from_db()
    assert row.display_order in ([0, 1], [1, 0])
    assert row.choice == "AB"[row.display_order[0]]  # "A" on the page is the response shown first
    assert row.strength == 2
    assert row.rationale == "A cites the docs correctly"
    # The next item is the edge case; a double submit of the first page stores nothing more.
    assert 'data-assignment="cal-' in response.content.decode()
    again = anna_client.post(
        reverse("qc:calibration_take", args=[stream.pk, round_.pk]),
        {"token": key, "choice": "tie", "rationale": "changed my mind after all"},
        **HTMX,
    )
    assert "That answer was already saved." in again.content.decode()
    assert CalibrationAnswer.objects.filter(annotator=anna, submitted_at__isnull=False).count() == 1
    row.refresh_from_db()
    assert row.choice == "AB"[row.display_order[0]]
    _answer(anna_client, stream, round_, choice="tie", rationale="both are equally fine here")
    done = anna_client.get(reverse("qc:calibration_take", args=[stream.pk, round_.pk])).content.decode()
    assert "You answered every item of this round" in done

    # While open, an annotator's round page shows no other answer.
    for user, choice in ((boris, "tie"), (carla, "both_bad")):
        client = _client(user)
        _answer(client, stream, round_, choice=choice, rationale=f"{user.username} thinks so too")
        _answer(client, stream, round_, choice=choice, rationale=f"{user.username} says the same")
    round_page = anna_client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).content.decode()
    assert "thinks so too" not in round_page
    assert "Annotator 1" not in round_page
    assert "You answered <strong>2</strong> of 2 items" in round_page

    # The PM sees the progress, sets an expected answer and closes the round early.
    pm_page = pm_client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).content.decode()
    assert "ann-boris-unique" in pm_page
    first = round_.items.get(item=disputed)
    pm_client.post(
        reverse("qc:calibration_expected", args=[stream.pk, round_.pk, first.pk]),
        {"expected_answer": "tie", "explanation": "Both cite the docs: **a tie**."},
    )
    pm_client.post(reverse("qc:calibration_close", args=[stream.pk, round_.pk]))
    round_.refresh_from_db()
    assert round_.status == "closed"
    assert round_.closed_by == pm

    # Results for an annotator: distribution, anonymised reasons, the expected answer, alignment.
    results = anna_client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).content.decode()
    assert "Both cite the docs: <strong>a tie</strong>." in results
    assert "thinks so too" in results
    assert re.search(r"\[Annotator [123]\] thinks so too", results)  # a signed rationale, its name redacted
    assert re.search(r"Annotator [123]</strong> · Tie", results)
    for name in (*NAMES[1:], "pm-petra-unique"):
        assert name not in results

    # One action each: the expected answer becomes a golden item, or a guideline example.
    pm_client.post(reverse("qc:calibration_promote", args=[stream.pk, round_.pk, first.pk]), {"to": "golden"})
    disputed.refresh_from_db()
    assert disputed.is_golden
    assert disputed.golden_answers == ["tie"]
    assert disputed.golden_explanation == "Both cite the docs: **a tie**."
    version = stream.guideline_version
    pm_client.post(reverse("qc:calibration_promote", args=[stream.pk, round_.pk, first.pk]), {"to": "guidelines"})
    stream.refresh_from_db()
    assert stream.guideline_version == version + 1
    assert "**Expected answer:** Tie." in stream.guidelines
    assert "Both cite the docs" in stream.guidelines
    assert stream.guideline_versions.get(number=version + 1).change_note.startswith("Calibration example")
    # Now golden: its results are held back from annotators (they would publish a check item's answer).
    results = anna_client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).content.decode()
    assert "became a check item" in results


def test_alignment_against_a_hand_computed_fixture(world: dict[str, Any]) -> None:
    stream = world["stream"]
    anna, boris, carla = world["annotators"]
    items = [_settled(stream) for _ in range(3)]
    round_ = calibration.open_round(
        stream=stream,
        title="Fixture",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[i.pk for i in items],
        created_by=world["pm"],
    )
    round_items = list(round_.items.order_by("position"))
    calibration.set_expected(round_item=round_items[0], expected_answer="A", explanation="")
    calibration.set_expected(round_item=round_items[1], expected_answer="tie", explanation="")
    answers = {anna: ["A", "tie", "A"], boris: ["A", "B", "both_bad"], carla: ["B", "B", "both_bad"]}
    for user, choices in answers.items():
        for choice in choices:
            row = calibration.next_for(round_=round_, annotator=user)
            assert row is not None
            calibration.submit_answer(
                answer=row,
                idempotency_key=row.idempotency_key,
                choice=choice,
                strength=2 if choice in "AB" else None,
                rationale="a reason given",
            )
    result = calibration.results(round_)
    assert [r.counts for r in result.items] == [{"A": 2, "B": 1}, {"B": 2, "tie": 1}, {"A": 1, "both_bad": 2}]
    assert [r.majority for r in result.items] == ["A", "B", "both_bad"]
    # Expected answer (items 1 and 2 have one): anna 2/2, boris 1/2, carla 0/2.
    # Others' majority (leave-one-out; an even split at the top is left out):
    #   anna: item 1 others A/B split -> out; item 2 others B,B -> B (anna tie: no); item 3 others
    #         both_bad x2 (anna A: no) -> 0 of 2.
    #   boris: item 1 others A/B -> out; item 2 tie/B -> out; item 3 A/both_bad -> out -> 0 of 0.
    #   carla: item 1 others A,A -> A (carla B: no); items 2 and 3 split -> out -> 0 of 1.
    got = {a.user_id: (a.k, a.n, a.mk, a.mn, a.answered) for a in result.alignments}
    assert got == {anna.pk: (2, 2, 0, 2, 3), boris.pk: (1, 2, 0, 0, 3), carla.pk: (0, 2, 0, 1, 3)}
    interval = result.alignment_of(anna.pk).interval
    assert interval == wilson(2, 2)
    assert interval is not None
    assert interval[0] == pytest.approx(0.3424, abs=1e-4)
    assert interval[1] == 1.0
    assert sorted(a.label for a in result.alignments) == ["Annotator 1", "Annotator 2", "Annotator 3"]
    # The rationales carry labels, never a user id; the same labels as the alignment table.
    labels = {a.label for a in result.alignments}
    assert {r.label for item in result.items for r in item.rationales} == labels


def test_the_periodic_job_closes_rounds_past_their_deadline(world: dict[str, Any]) -> None:
    stream, anna = world["stream"], world["annotators"][0]
    opened = timezone.now() - timedelta(hours=2)
    due = calibration.open_round(
        stream=stream,
        title="Due",
        deadline=timezone.now() - timedelta(minutes=1),
        item_ids=[_settled(stream).pk],
        created_by=world["pm"],
        now=opened,
    )
    later = calibration.open_round(
        stream=stream,
        title="Later",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[_settled(stream).pk],
        created_by=world["pm"],
    )
    call_command("run_periodic", "--once", "--only", "qc-close-calibration-rounds")
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.closed_by) == ("closed", None)
    assert due.closed_at is not None
    assert later.status == "open"
    # Past the deadline the judging page sends the annotator to the results, and a late post stores nothing.
    client = _client(anna)
    response = client.get(reverse("qc:calibration_take", args=[stream.pk, due.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("qc:calibration_round", args=[stream.pk, due.pk])
    assert not CalibrationAnswer.objects.filter(round_item__round=due).exists()


def test_annotators_never_see_another_annotators_name(world: dict[str, Any]) -> None:
    stream = world["stream"]
    anna, boris, carla = world["annotators"]
    for user in (boris, carla):
        user.email = f"{user.username}@mail.example"
        user.save()
    round_ = calibration.open_round(
        stream=stream,
        title="Names",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[_settled(stream).pk],
        created_by=world["pm"],
    )
    for user in (anna, boris, carla):
        row = calibration.next_for(round_=round_, annotator=user)
        assert row is not None
        calibration.submit_answer(
            answer=row, idempotency_key=row.idempotency_key, choice="A", strength=1, rationale="short and fine"
        )
    calibration.set_expected(round_item=round_.items.get(), expected_answer="A", explanation="Right.")
    calibration.close_round(round_=round_, closed_by=world["pm"])
    client = _client(anna)
    pages = [
        client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])),
        client.get(reverse("qc:my_quality", args=[stream.pk])),
        client.get(reverse("annotation:stream_home", args=[stream.pk])),
    ]
    for response in pages:
        body = response.content.decode()
        assert response.status_code == 200
        for secret in (boris.username, carla.username, boris.email, carla.email, "pm-petra-unique"):
            assert secret not in body
        for other in (boris, carla):
            assert f"user={other.pk}" not in body
            assert f"/annotators/{other.pk}/" not in body
    my_quality = pages[1].content.decode()
    assert "Names" in my_quality
    assert "matched the expected answer on <strong>1 of 1</strong>" in my_quality


def test_who_may_do_what(world: dict[str, Any]) -> None:
    stream, anna, outsider = world["stream"], world["annotators"][0], world["outsider"]
    round_ = calibration.open_round(
        stream=stream,
        title="Access",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[_settled(stream).pk],
        created_by=world["pm"],
    )
    not_qualified = _client(outsider)
    assert not_qualified.get(reverse("qc:calibration_take", args=[stream.pk, round_.pk])).status_code == 404
    assert not_qualified.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).status_code == 404
    assert (
        "Calibration round"
        not in not_qualified.get(reverse("annotation:stream_home", args=[stream.pk])).content.decode()
    )
    annotator = _client(anna)
    assert annotator.post(reverse("qc:calibration_close", args=[stream.pk, round_.pk])).status_code == 403
    assert annotator.get(reverse("qc:calibration_rounds", args=[stream.pk])).status_code == 403
    assert annotator.get(reverse("qc:calibration_close", args=[stream.pk, round_.pk])).status_code == 405
    other_stream = StreamFactory.create(project=stream.project)
    assert (
        _client(world["pm"]).get(reverse("qc:calibration_round", args=[other_stream.pk, round_.pk])).status_code == 404
    )


def test_a_round_refuses_what_it_cannot_hold(world: dict[str, Any]) -> None:
    stream = world["stream"]
    golden_item = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    soon = timezone.now() + timedelta(days=1)
    with pytest.raises(calibration.CalibrationError, match="golden"):
        calibration.open_round(stream=stream, title="x", deadline=soon, item_ids=[golden_item.pk], created_by=None)
    foreign = ItemFactory.create()
    with pytest.raises(calibration.CalibrationError, match="No such item"):
        calibration.open_round(stream=stream, title="x", deadline=soon, item_ids=[foreign.pk], created_by=None)
    ranking = StreamFactory.create(task_kind=Stream.TaskKind.RANKING)
    with pytest.raises(calibration.CalibrationError, match="pairwise"):
        calibration.open_round(stream=ranking, title="x", deadline=soon, item_ids=[1], created_by=None)
    with pytest.raises(calibration.CalibrationError, match="future"):
        calibration.open_round(
            stream=stream, title="x", deadline=timezone.now(), item_ids=[_settled(stream).pk], created_by=None
        )
    assert not CalibrationRound.objects.exists()


def test_calibration_answers_stay_out_of_exports_unless_the_pm_lets_them_in(
    world: dict[str, Any], tmp_path: Path
) -> None:
    stream = world["stream"]
    item = _settled(stream)
    for _ in range(2):
        judge(item, UserFactory.create(), "A")
    round_ = calibration.open_round(
        stream=stream, title="Exports", deadline=timezone.now() + timedelta(days=1), item_ids=[item.pk], created_by=None
    )
    for user in world["annotators"]:
        row = calibration.next_for(round_=round_, annotator=user)
        assert row is not None
        calibration.submit_answer(
            answer=row, idempotency_key=row.idempotency_key, choice="B", strength=3, rationale="calibration only answer"
        )
    calibration.close_round(round_=round_)
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="raw"), tmp_path)
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert len(rows) == 2
    assert Judgement.objects.count() == 2
    assert all(row["choice"] == "A" for row in rows)
    assert "calibration only answer" not in (tmp_path / "train.jsonl").read_text()
    # The selector the export will read when the PM lets a round in: nothing while the flag is off.
    assert calibration.answers_for_export([stream.pk], timezone.now()) == []
    CalibrationRound.objects.filter(pk=round_.pk).update(include_in_exports=True)
    votes = calibration.answers_for_export([stream.pk], timezone.now())
    assert sorted((v[1], v[2], v[3], v[4], v[5], v[6:]) for v in votes) == sorted(
        (item.pk, stream.pk, user.pk, "B", 3, (None, False, False, False)) for user in world["annotators"]
    )
    assert calibration.answers_for_export([stream.pk], round_.opened_at) == []  # not closed yet then
    # Let in, they join as votes (the general path: the tallied one counts judgements only): the
    # item's two A judgements and the round's three B answers of people who did not judge it.
    assert len(world["annotators"]) == 3
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format="trl")
    assert not exporting._tallies_apply(spec, [stream], exporting.Snapshot.take())
    manifest = exporting.write_export(spec, tmp_path / "trl")
    assert manifest["streams"][stream.slug]["calibration_votes"]["votes"] == 3
    texts = [r["text"] for r in item.responses]
    (pair,) = [r for r in read_jsonl(tmp_path / "trl" / "train.jsonl") if r["chosen"] in texts]
    assert (pair["chosen"], pair["rejected"], pair["confidence"]) == (texts[1], texts[0], 0.6)
    # An annotator who also judged the item votes once, by their judgement.
    judge(item, world["annotators"][0], "A")
    again = exporting.write_export(spec, tmp_path / "again")
    assert again["streams"][stream.slug]["calibration_votes"]["votes"] == 2


def test_the_quality_page_shows_the_figures_before_and_after_each_round(world: dict[str, Any]) -> None:
    stream, pm = world["stream"], world["pm"]
    now = timezone.now()
    opened, closed = now - timedelta(days=5), now - timedelta(days=4)
    round_ = calibration.open_round(
        stream=stream, title="Window", deadline=closed, item_ids=[_settled(stream).pk], created_by=pm, now=opened
    )
    calibration.close_round(round_=round_, now=closed)
    before = [judged_item(stream, ["A", "B"]) for _ in range(2)]
    after = [judged_item(stream, ["A", "A"]) for _ in range(3)]
    Judgement.objects.filter(item__in=before).update(submitted_at=opened - timedelta(days=1))
    Judgement.objects.filter(item__in=after).update(submitted_at=closed + timedelta(days=1))
    judged_item(stream, ["A"]).judgements.update(submitted_at=opened - timedelta(days=30))  # outside both windows
    (row,) = calibration.before_and_after(stream=stream, now=now)
    assert row.before.figures["judgements"].sample_size == 4
    assert row.after.figures["judgements"].sample_size == 6
    assert row.after_complete is False  # 14 days after the close are not over
    page = _client(pm).get(reverse("qc:stream_qc", args=[stream.pk]) + "?split=calibration").content.decode()
    assert "Before and after calibration rounds" in page
    assert reverse("qc:calibration_round", args=[stream.pk, round_.pk]) in page
    assert "still filling" in page


def test_a_served_item_keeps_its_order_and_takes_one_answer_while_the_round_is_open(world: dict[str, Any]) -> None:
    stream, anna = world["stream"], world["annotators"][0]
    round_ = calibration.open_round(
        stream=stream,
        title="Once",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[_settled(stream).pk, _settled(stream).pk],
        created_by=None,
    )
    served = calibration.next_for(round_=round_, annotator=anna)
    again = calibration.next_for(round_=round_, annotator=anna)
    assert served is not None
    assert again is not None
    assert (again.pk, again.display_order, again.idempotency_key) == (
        served.pk,
        served.display_order,
        served.idempotency_key,
    )
    with pytest.raises(calibration.StalePage):
        calibration.submit_answer(answer=served, idempotency_key="other", choice="A", strength=1, rationale="x y z")
    # A second post of an answered page, even an incomplete one, stores nothing and says so.
    client = _client(anna)
    url = reverse("qc:calibration_take", args=[stream.pk, round_.pk])
    client.post(url, {"token": served.idempotency_key, "choice": "tie", "rationale": "both the same really"}, **HTMX)
    response = client.post(url, {"token": served.idempotency_key, "choice": "", "rationale": ""}, **HTMX)
    assert response.status_code == 200
    assert "That answer was already saved." in response.content.decode()
    served.refresh_from_db()
    assert (served.choice, served.rationale) == ("tie", "both the same really")
    # Past the deadline (before the periodic job ran) an answer is refused.
    following = calibration.next_for(round_=round_, annotator=anna)
    assert following is not None
    CalibrationRound.objects.filter(pk=round_.pk).update(
        opened_at=timezone.now() - timedelta(hours=1), deadline=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(calibration.RoundClosed):
        calibration.submit_answer(
            answer=following, idempotency_key=following.idempotency_key, choice="A", strength=1, rationale="x y z"
        )
    following.refresh_from_db()
    assert following.submitted_at is None


def test_the_open_form_records_the_exports_choice_and_refuses_other_task_kinds(world: dict[str, Any]) -> None:
    stream, pm = world["stream"], world["pm"]
    item = _settled(stream, external_id="edge")
    client = _client(pm)
    url = reverse("qc:calibration_rounds", args=[stream.pk])
    deadline = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"title": "In exports", "deadline": deadline, "extra": str(item.pk), "min_rationale_words": 5}
    response = client.post(url, {**form, "include_in_exports": "on"})
    round_ = CalibrationRound.objects.get()
    assert response.status_code == 302
    assert (round_.include_in_exports, round_.min_rationale_words) == (True, 5)
    page = client.get(reverse("qc:calibration_round", args=[stream.pk, round_.pk])).content.decode()
    assert "they join the item's votes in pair exports" in page
    # Unknown references and a past deadline are refused with a message; nothing is opened.
    response = client.post(url, {**form, "extra": "nope"})
    assert response.status_code == 400
    assert "No such item in this stream: nope." in response.content.decode()
    assert CalibrationRound.objects.count() == 1
    ranking = StreamFactory.create(project=stream.project, task_kind=Stream.TaskKind.RANKING)
    response = client.post(reverse("qc:calibration_rounds", args=[ranking.pk]), form)
    assert response.status_code == 400
    assert "Calibration rounds are for pairwise streams" in response.content.decode()
