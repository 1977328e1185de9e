"""The judge's page: attach, save, start, stop, ask again; scoped to the stream's PMs; model text
escaped."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from annotation.models import Judgement
from dynamic.demo_model import JUDGE_MODEL, Behaviour
from judging import prompting, services
from judging.models import Judge, JudgeRun, Verdict
from projects.models import Role
from tests.factories import StreamFactory
from tests.judging.helpers import items
from tests.model_servers import endpoint, model_server
from tests.projects.web_helpers import HTMX, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fields(endpoint_id: int, **overrides: Any) -> dict[str, Any]:
    data = {
        "endpoint": str(endpoint_id),
        "prompt_template": prompting.DEFAULT_TEMPLATE,
        "budget_requests": "100",
        "budget_tokens": "100000",
        "concurrency": "2",
        "follow": "on",
        "suggest_holdout": "0.2",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def _stream_with_endpoint(url: str = "https://models.example.org/v1") -> tuple[Any, Any, Any]:
    project, pm = project_with_pm()
    stream = StreamFactory(project=project)
    return stream, pm, endpoint(project, url, name="judge", model=JUDGE_MODEL)


def test_the_stream_page_links_to_the_judge() -> None:
    stream, pm, _endpoint = _stream_with_endpoint()
    response = _client(pm).get(reverse("stream_detail", args=[stream.pk]))
    assert reverse("judging:judge", args=[stream.pk]).encode() in response.content


def test_a_pm_attaches_a_judge_with_the_default_prompt() -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    page = _client(pm).get(reverse("judging:judge", args=[stream.pk]))
    assert page.status_code == 200
    assert b"Attach judge" in page.content
    assert b"[Response A]" in page.content  # the default prompt, to edit
    response = _client(pm).post(reverse("judging:judge", args=[stream.pk]), _fields(model_endpoint.pk))
    assert response.status_code == 302
    judge = Judge.objects.get(stream=stream)
    assert judge.endpoint == model_endpoint
    assert judge.prompt_template == prompting.DEFAULT_TEMPLATE
    assert (judge.budget_requests, judge.concurrency, judge.follow) == (100, 2, True)
    assert (judge.use_escalate, judge.use_vote, judge.use_suggest) == (False, False, False)
    assert judge.created_by == pm
    user = get_user_model().objects.get(pk=judge.user_id)
    assert not user.is_active
    assert not user.has_usable_password()


def test_a_pm_edits_the_judge() -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    judge = services.attach_judge(stream=stream, endpoint=model_endpoint)
    response = _client(pm).post(
        reverse("judging:judge", args=[stream.pk]),
        _fields(model_endpoint.pk, budget_requests="7", use_vote="on", suggest_holdout="0.5"),
    )
    assert response.status_code == 302
    judge.refresh_from_db()
    assert (judge.budget_requests, judge.use_vote, judge.suggest_holdout) == (7, True, 0.5)
    assert Judge.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"prompt_template": "Compare {{ response_a }}."}, b"must show both responses"),
        ({"prompt_template": "{{ response_a }} {{ response_b }} {{ secret }}"}, b"Unknown placeholder"),
        ({"concurrency": "50"}, b"Between 1 and 16"),
        ({"suggest_holdout": "1.5"}, b"between 0 and 1"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, str], error: bytes) -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    response = _client(pm).post(reverse("judging:judge", args=[stream.pk]), _fields(model_endpoint.pk, **overrides))
    assert response.status_code == 400
    assert error in response.content
    assert not Judge.objects.exists()


def test_another_projects_endpoint_is_refused() -> None:
    stream, pm, _endpoint = _stream_with_endpoint()
    other_project, _other_pm = project_with_pm()
    foreign = endpoint(other_project, "https://models.example.org/v1", name="theirs")
    response = _client(pm).post(reverse("judging:judge", args=[stream.pk]), _fields(foreign.pk))
    assert response.status_code == 400
    assert not Judge.objects.exists()


def test_outsiders_get_404_and_members_below_pm_403() -> None:
    stream, _pm, model_endpoint = _stream_with_endpoint()
    url = reverse("judging:judge", args=[stream.pk])
    assert _client(outsider()).get(url).status_code == 404
    assert _client(outsider()).post(url, _fields(model_endpoint.pk)).status_code == 404
    for role in (Role.ANNOTATOR, Role.REVIEWER):
        assert _client(member(stream.project, role)).get(url).status_code == 403
    assert not Judge.objects.exists()


def test_the_actions_take_post_only() -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    services.attach_judge(stream=stream, endpoint=model_endpoint)
    for name in ("judging:judge_run", "judging:judge_stop", "judging:judge_retry"):
        assert _client(pm).get(reverse(name, args=[stream.pk])).status_code == 405


def test_running_without_a_judge_is_404() -> None:
    stream, pm, _endpoint = _stream_with_endpoint()
    assert _client(pm).post(reverse("judging:judge_run", args=[stream.pk])).status_code == 404


def test_a_pm_runs_the_judge_and_sees_verdicts_and_spend(django_capture_on_commit_callbacks: Any) -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        stream, pm, model_endpoint = _stream_with_endpoint(server.url)
        items(stream, 3)
        services.attach_judge(stream=stream, endpoint=model_endpoint, budget_requests=100)
        with override_settings(QUORUM_JUDGE_BACKOFF_MS=10), django_capture_on_commit_callbacks(execute=True):
            response = _client(pm).post(reverse("judging:judge_run", args=[stream.pk]))
    assert response.status_code == 302
    assert JudgeRun.objects.get().status == JudgeRun.Status.DONE
    page = _client(pm).get(reverse("judging:judge", args=[stream.pk]))
    text = page.content.decode()
    assert 'id="judge-consistent">3<' in text
    assert 'id="judge-swap-rate">100%<' in text
    assert "6 of 100" in text  # requests spent of the budget
    assert "it always prefers the longer response" in text


def test_the_page_shows_a_budget_stop(django_capture_on_commit_callbacks: Any) -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        stream, pm, model_endpoint = _stream_with_endpoint(server.url)
        items(stream, 3)
        services.attach_judge(stream=stream, endpoint=model_endpoint, budget_requests=3, concurrency=1)
        with django_capture_on_commit_callbacks(execute=True):
            _client(pm).post(reverse("judging:judge_run", args=[stream.pk]))
    text = _client(pm).get(reverse("judging:judge", args=[stream.pk])).content.decode()
    assert "stopped: budget" in text
    assert "3 of 3" in text
    assert 'id="judge-budget-used"' in text
    # Running again with the budget used up starts nothing.
    _client(pm).post(reverse("judging:judge_run", args=[stream.pk]))
    assert JudgeRun.objects.count() == 1


def test_the_status_part_alone_for_htmx_and_a_pm_stops_a_run() -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    judge = services.attach_judge(stream=stream, endpoint=model_endpoint)
    open_run, _ = services.start_run(judge=judge)
    part = _client(pm).get(reverse("judging:judge", args=[stream.pk]), **HTMX)
    assert part.status_code == 200
    assert b'id="judge-status"' in part.content
    assert b"<form" not in part.content
    assert b'hx-trigger="every 3s"' in part.content  # polls while the run is open
    response = _client(pm).post(reverse("judging:judge_stop", args=[stream.pk]))
    assert response.status_code == 302
    open_run.refresh_from_db()
    assert open_run.status_text() == "stopped by a project manager"
    assert _client(pm).post(reverse("judging:judge_stop", args=[stream.pk])).status_code == 404


def test_a_pm_asks_again_about_failed_items(django_capture_on_commit_callbacks: Any) -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        stream, pm, model_endpoint = _stream_with_endpoint(server.url)
        (item,) = items(stream, 1)
        judge = services.attach_judge(stream=stream, endpoint=model_endpoint)
        Verdict.objects.create(judge=judge, item=item, status=Verdict.Status.ERROR, error="boom")
        with django_capture_on_commit_callbacks(execute=True):
            _client(pm).post(reverse("judging:judge_retry", args=[stream.pk]))
    assert Verdict.objects.get().status == Verdict.Status.CONSISTENT


def test_model_text_is_escaped() -> None:
    stream, pm, model_endpoint = _stream_with_endpoint()
    (item,) = items(stream, 1)
    judge = services.attach_judge(stream=stream, endpoint=model_endpoint)
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    Verdict.objects.create(
        judge=judge, item=item, status=Verdict.Status.INCONSISTENT, answer_shown_ab="A", answer_shown_ba="B",
        reason_shown_ab=payload, reason_shown_ba=payload,
    )  # fmt: skip
    JudgeRun.objects.create(judge=judge, status=JudgeRun.Status.RUNNING, last_error=payload, last_error_detail=payload)
    text = _client(pm).get(reverse("judging:judge", args=[stream.pk])).content.decode()
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text


def test_the_item_page_shows_the_judges_judgement_as_the_model_judge() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        stream, pm, model_endpoint = _stream_with_endpoint(server.url)
        (item,) = items(stream, 1)
        judge = services.attach_judge(stream=stream, endpoint=model_endpoint)
        started, _ = services.start_run(judge=judge)
        services.run_judge(run_id=started.pk)
    text = _client(pm).get(reverse("annotation:item_detail", args=[stream.pk, item.pk])).content.decode()
    assert Judgement.objects.filter(item=item, source=Judgement.Source.MODEL).exists(), text[-3000:]
    assert "Model judge" in text
    assert "not counted" in text, text[text.find("Judgements") : text.find("Judgements") + 1500]
    assert judge.user.username not in text  # the service user's name is not shown as a person's
