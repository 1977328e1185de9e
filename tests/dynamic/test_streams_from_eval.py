"""Streams from an evaluation file (issue 16, part 4): the JSONL of prompts with per-category
scores is read line by line (errors name the line and the field; nothing is created on error), the
categories are ranked weakest first, and each chosen category becomes a dynamic stream whose
prompts are the conversation starters offered to annotators."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from dynamic import services
from dynamic.evalfile import read_eval_lines
from dynamic.models import Conversation, ConversationStarter, StreamEndpoint
from projects.models import Role, Stream
from tests.annotation.conftest import make_annotator
from tests.model_servers import endpoint
from tests.projects.web_helpers import member, outsider, project_with_pm

pytestmark = pytest.mark.django_db

LINES = [
    {"prompt": "Wie viel ist 17 mal 23, minus 41?", "category": "math-de", "score": 0.2, "id": "e1"},
    {"prompt": "Was ist 3/4 von 128?", "category": "math-de", "score": 0.4},
    {"prompt": "Summarise the clause.", "scores": {"law": 0.9, "summaries": 0.5}},
    {"prompt": "Shorten this email.", "scores": {"summaries": 0.3}},
    {"prompt": "Is this contract valid?", "category": "law", "score": 0.7},
]
# Hand-computed: math-de (0.2 + 0.4) / 2 = 0.30, n 2; summaries (0.5 + 0.3) / 2 = 0.40, n 2;
# law (0.9 + 0.7) / 2 = 0.80, n 2. Weakest first: math-de, summaries, law.


def _jsonl(lines: list[Any]) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


def _url(project: Any) -> str:
    return reverse("dynamic:streams_from_eval", args=[project.slug])


def _upload(client: Client, project: Any, text: str, name: str = "eval.jsonl") -> Any:
    return client.post(_url(project), {"file": SimpleUploadedFile(name, text.encode(), "application/jsonl")})


def _token(body: str) -> str:
    start = body.index('name="token" value="') + len('name="token" value="')
    return body[start : body.index('"', start)]


# --- Reading -----------------------------------------------------------------------------------
def test_it_ranks_categories_by_mean_score_weakest_first() -> None:
    evaluation = read_eval_lines(_jsonl(LINES).splitlines())
    assert evaluation.ok
    assert evaluation.error_count == 0
    ranking = evaluation.ranking()
    assert [(r.category, r.n, round(r.mean, 4)) for r in ranking] == [
        ("math-de", 2, 0.3),
        ("summaries", 2, 0.4),
        ("law", 2, 0.8),
    ]
    assert (ranking[0].low, ranking[0].high) == (0.2, 0.4)
    assert [p.prompt for p in evaluation.prompts_of("summaries")] == ["Summarise the clause.", "Shorten this email."]
    assert evaluation.prompts[0].external_id == "e1"


def test_it_names_the_line_and_field_of_every_error() -> None:
    lines = [
        LINES[0],
        "",  # blank lines are skipped
        '{"prompt": "broken", "category": "x", ',
        {"prompt": "no score", "category": "math"},
        {"prompt": "", "category": "math", "score": 0.1},
        {"prompt": "both", "category": "a", "score": 1, "scores": {"a": 1}},
        {"prompt": "bool", "scores": {"math": True}},
        ["not", "an", "object"],
        {"prompt": "nan", "category": "m", "score": float("inf")},
    ]
    evaluation = read_eval_lines(_jsonl(lines).splitlines())
    assert not evaluation.ok
    found = [(e.line, e.field) for e in evaluation.errors]
    assert found == [(3, ""), (4, "score"), (5, "prompt"), (6, "scores"), (7, "scores.math"), (8, ""), (9, "score")]
    assert str(evaluation.errors[1]) == "line 4, field “score”: Required with “category”: a finite number."
    assert "Not valid JSON" in str(evaluation.errors[0])


def test_an_empty_file_is_an_error() -> None:
    evaluation = read_eval_lines(["", "  "])
    assert not evaluation.ok
    assert "no prompts" in str(evaluation.errors[0])


# --- The page ------------------------------------------------------------------------------------
def test_a_pm_uploads_ranks_and_opens_one_stream_per_chosen_category() -> None:
    project, pm = project_with_pm()
    first = endpoint(project, "https://models.example/v1", name="v1")
    second = endpoint(project, "https://models.example/v1", name="v2", model="ckpt-2")
    endpoint(project, "https://models.example/v1", name="old", is_active=False)
    client = Client()
    client.force_login(pm)
    assert "Streams from an evaluation" in client.get(f"/projects/{project.slug}/").content.decode()
    assert client.get(_url(project)).status_code == 200

    response = _upload(client, project, _jsonl(LINES))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("math-de") < body.index("summaries") < body.index(">law<")
    assert "0.300" in body
    assert "0.400" in body
    assert "0.800" in body
    assert not Stream.objects.filter(project=project).exists()  # nothing yet

    done = client.post(
        _url(project), {"token": _token(body), "categories": ["summaries", "math-de"], "use_endpoints": "on"}
    )
    assert done.status_code == 302
    assert done["Location"] == f"/projects/{project.slug}/"
    streams = {s.purpose_capability: s for s in Stream.objects.filter(project=project)}
    assert set(streams) == {"math-de", "summaries"}
    math = streams["math-de"]
    assert (math.mode, math.status, math.task_kind) == ("dynamic", "draft", "pairwise")
    assert math.name == "Eval: math-de"
    assert math.slug == "eval-math-de"
    assert math.purpose == "Weakness: math-de (mean score 0.30 over 2 prompts in eval.jsonl)"
    starters = list(ConversationStarter.objects.filter(stream=math).order_by("id"))
    assert [(s.text, s.score, s.external_id) for s in starters] == [
        ("Wie viel ist 17 mal 23, minus 41?", 0.2, "e1"),
        ("Was ist 3/4 von 128?", 0.4, ""),
    ]
    assert set(StreamEndpoint.objects.filter(stream=math).values_list("endpoint_id", flat=True)) == {
        first.pk,
        second.pk,
    }
    # The token is spent: a second post creates nothing more.
    again = client.post(_url(project), {"token": _token(body), "categories": ["law"]})
    assert again.status_code == 302
    assert Stream.objects.filter(project=project).count() == 2


def test_a_malformed_line_is_named_and_nothing_is_created() -> None:
    project, pm = project_with_pm()
    client = Client()
    client.force_login(pm)
    response = _upload(client, project, _jsonl([LINES[0], LINES[1], {"prompt": "x", "category": "math"}]))
    assert response.status_code == 400
    body = response.content.decode()
    assert "line 3, field “score”" in body
    assert "Nothing was created" in body
    assert not Stream.objects.filter(project=project).exists()
    assert not ConversationStarter.objects.exists()


def test_choosing_no_category_is_a_400_and_slugs_stay_unique() -> None:
    project, pm = project_with_pm()
    Stream.objects.create(project=project, slug="eval-law", name="Taken")
    client = Client()
    client.force_login(pm)
    body = _upload(client, project, _jsonl(LINES)).content.decode()
    assert client.post(_url(project), {"token": _token(body)}).status_code == 400
    assert client.post(_url(project), {"token": _token(body), "categories": ["law"]}).status_code == 302
    assert Stream.objects.filter(project=project, slug="eval-law-2", purpose_capability="law").exists()


def test_only_the_pm_who_uploaded_may_use_the_file() -> None:
    project, pm = project_with_pm()
    other_pm = member(project, Role.PM)
    client = Client()
    client.force_login(pm)
    token = _token(_upload(client, project, _jsonl(LINES)).content.decode())
    thief = Client()
    thief.force_login(other_pm)
    response = thief.post(_url(project), {"token": token, "categories": ["law"]})
    assert response.status_code == 302
    assert response["Location"] == _url(project)
    assert not Stream.objects.filter(project=project).exists()


def test_outsiders_get_404_and_members_below_pm_403() -> None:
    project, _pm = project_with_pm()
    for user, status in ((outsider(), 404), (member(project, Role.REVIEWER), 403), (member(project), 403)):
        client = Client()
        client.force_login(user)
        assert client.get(_url(project)).status_code == status
        assert _upload(client, project, _jsonl(LINES)).status_code == status
    assert not Stream.objects.exists()


def test_wrong_methods_are_405() -> None:
    project, pm = project_with_pm()
    client = Client()
    client.force_login(pm)
    assert client.put(_url(project)).status_code == 405


# --- The command ---------------------------------------------------------------------------------
def test_the_command_lists_and_opens_the_weakest(tmp_path: Path) -> None:
    project, _pm = project_with_pm()
    path = tmp_path / "eval.jsonl"
    path.write_text(_jsonl(LINES))
    out = StringIO()
    call_command("streams_from_eval", str(path), "--project", project.slug, "--list", stdout=out)
    assert [line.split()[0] for line in out.getvalue().splitlines()[1:]] == ["math-de", "summaries", "law"]
    assert not Stream.objects.exists()
    out = StringIO()
    call_command("streams_from_eval", str(path), "--project", project.slug, "--weakest", "1", stdout=out)
    stream = Stream.objects.get()
    assert stream.purpose_capability == "math-de"
    assert stream.starters.count() == 2
    assert "opened eval-math-de" in out.getvalue()


def test_the_command_refuses_a_malformed_file(tmp_path: Path) -> None:
    project, _pm = project_with_pm()
    path = tmp_path / "eval.jsonl"
    path.write_text(_jsonl([LINES[0], "{oops"]))
    err = StringIO()
    with pytest.raises(CommandError, match="1 error; nothing was created"):
        call_command("streams_from_eval", str(path), "--project", project.slug, "--weakest", "1", stderr=err)
    assert "line 2" in err.getvalue()
    path.write_text(_jsonl(LINES))
    with pytest.raises(CommandError, match="Not in the file: chess"):
        call_command("streams_from_eval", str(path), "--project", project.slug, "--categories", "law,chess")
    assert not Stream.objects.exists()


# --- Starters --------------------------------------------------------------------------------------
def test_a_new_conversation_starts_from_the_least_used_starter() -> None:
    project, _pm = project_with_pm()
    endpoint(project, "https://models.example/v1", name="v1")
    endpoint(project, "https://models.example/v1", name="v2")
    evaluation = read_eval_lines(_jsonl(LINES).splitlines())
    (stream,) = services.create_streams_from_eval(project=project, evaluation=evaluation, categories=["math-de"])
    Stream.objects.filter(pk=stream.pk).update(status=Stream.Status.ACTIVE)
    stream.refresh_from_db()
    alice, bob = make_annotator(stream, "alice"), make_annotator(stream, "bob")
    first, second = stream.starters.order_by("id")

    client = Client()
    client.force_login(alice)
    page = client.get(reverse("dynamic:converse", args=[stream.pk])).content.decode()
    assert 'id="starter-note"' in page
    assert f'name="starter" value="{first.pk}"' in page
    assert "Wie viel ist 17 mal 23, minus 41?</textarea>" in page
    sent = client.post(
        reverse("dynamic:converse_send", args=[stream.pk]),
        {"message": "Wie viel ist 17 mal 23, minus 41? Rechne Schritt für Schritt.", "starter": str(first.pk)},
    )
    assert sent.status_code == 302
    conversation = Conversation.objects.get(annotator=alice)
    assert conversation.starter_id == first.pk
    # Bob is offered the starter nobody used yet; Alice, once her conversation ends, the other one.
    assert services.next_starter(stream=stream, annotator=bob) == second
    services.end_conversation(conversation=conversation)
    assert services.next_starter(stream=stream, annotator=alice) == second


def test_a_starter_of_another_stream_is_not_recorded() -> None:
    project, _pm = project_with_pm()
    endpoint(project, "https://models.example/v1", name="v1")
    endpoint(project, "https://models.example/v1", name="v2")
    evaluation = read_eval_lines(_jsonl(LINES).splitlines())
    mine, other = services.create_streams_from_eval(
        project=project, evaluation=evaluation, categories=["law", "math-de"]
    )
    Stream.objects.filter(pk=mine.pk).update(status=Stream.Status.ACTIVE)
    mine.refresh_from_db()
    alice = make_annotator(mine, "alice")
    foreign = other.starters.first()
    turn = services.send_message(stream=mine, annotator=alice, text="Hello", starter_id=foreign.pk)
    assert turn.conversation.starter_id is None
