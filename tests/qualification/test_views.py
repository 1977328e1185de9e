"""The PM's qualification pages: test settings and questions, candidates and actions, ranked
invites, and everyone's own profile."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import Item
from projects.models import AnnotatorProfile, Role, Stream, StreamMembership, StreamMembershipEvent
from qualification import requirements, services
from qualification.models import QualificationQuestion, QualificationTest
from tests.factories import ItemFactory
from tests.projects.web_helpers import annotator_in, member, outsider, project_with_pm, stream_in
from tests.qualification.helpers import answer_all, make_test

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup() -> tuple[Stream, Any]:
    project, pm = project_with_pm()
    return stream_in(project, name="German medical"), pm


def urls(stream: Stream) -> dict[str, str]:
    return {
        "test": f"/streams/{stream.pk}/qualification/",
        "add": f"/streams/{stream.pk}/qualification/questions/",
        "import": f"/streams/{stream.pk}/qualification/import/",
        "candidates": f"/streams/{stream.pk}/qualification/candidates/",
        "invite": f"/streams/{stream.pk}/qualification/invite/",
    }


# --- Access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["test", "candidates", "invite"])
def test_outsiders_get_404(client: Client, setup: tuple[Stream, Any], page: str) -> None:
    stream, _pm = setup
    client.force_login(outsider())
    assert client.get(urls(stream)[page]).status_code == 404
    if page != "candidates":  # a read-only page: POST is a 405 for everyone
        assert client.post(urls(stream)[page]).status_code == 404


@pytest.mark.parametrize("page", ["test", "candidates", "invite"])
def test_annotators_get_403(client: Client, setup: tuple[Stream, Any], page: str) -> None:
    stream, _pm = setup
    client.force_login(annotator_in(stream))
    assert client.get(urls(stream)[page]).status_code == 403


def test_reviewers_read_but_cannot_change(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, _pm = setup
    make_test(stream)
    client.force_login(member(stream.project, Role.REVIEWER))
    assert client.get(urls(stream)["test"]).status_code == 200
    assert client.get(urls(stream)["candidates"]).status_code == 200
    assert client.post(urls(stream)["test"], {"pass_mark_percent": "10"}).status_code == 403
    assert client.post(urls(stream)["add"], {}).status_code == 403


def test_wrong_methods_get_405(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    client.force_login(pm)
    assert client.get(urls(stream)["add"]).status_code == 405
    assert client.get(urls(stream)["import"]).status_code == 405
    assert client.put(urls(stream)["test"]).status_code == 405


# --- The test page --------------------------------------------------------------------------------
def test_it_saves_settings_and_requirements(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    client.force_login(pm)
    data = {
        "pass_mark_percent": "75",
        "max_attempts": "3",
        "cooldown_hours": "12",
        "time_limit_minutes": "20",
        "shuffle_questions": "on",
        "show_explanations": "on",
        "is_active": "on",
        "languages": "de C1, en native",
        "domains": "Medicine",
    }
    response = client.post(urls(stream)["test"], data)
    assert response.status_code == 302
    test = QualificationTest.objects.get(stream=stream)
    assert (test.pass_mark, test.max_attempts, test.cooldown_hours, test.time_limit_minutes) == (0.75, 3, 12.0, 20)
    assert test.shuffle_questions
    assert not test.shuffle_responses
    stream.refresh_from_db()
    assert stream.requirements == {
        "languages": [{"code": "de", "level": "C1"}, {"code": "en", "level": "native"}],
        "domains": ["medicine"],
    }


def test_bad_settings_are_a_400_with_field_errors(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    client.force_login(pm)
    data = {"pass_mark_percent": "150", "max_attempts": "0", "cooldown_hours": "1", "languages": "German please"}
    response = client.post(urls(stream)["test"], data)
    assert response.status_code == 400
    assert b"German please" in response.content
    assert not QualificationTest.objects.exists()


def test_it_adds_a_question_from_the_streams_items(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    ItemFactory(stream=stream, external_id="work-7")
    client.force_login(pm)
    response = client.post(urls(stream)["add"], {"external_id": "work-7", "answers": "b, tie", "explanation": "B."})
    assert response.status_code == 302
    question = QualificationQuestion.objects.get()
    assert question.item.external_id == "work-7"
    assert question.acceptable_answers == ["B", "tie"]
    assert question.item.pool == "work"  # picked, not moved
    page = client.get(urls(stream)["test"])
    assert b"work-7" in page.content
    assert b"B, tie" in page.content


def test_adding_an_unknown_or_foreign_item_is_a_400(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    other_project, _ = project_with_pm()
    ItemFactory(stream=stream_in(other_project), external_id="elsewhere")
    ItemFactory(stream=stream, external_id="mine")
    client.force_login(pm)
    assert client.post(urls(stream)["add"], {"external_id": "elsewhere", "answers": "A"}).status_code == 400
    assert client.post(urls(stream)["add"], {"external_id": "mine", "answers": "Z"}).status_code == 400
    assert not QualificationQuestion.objects.exists()


def test_it_imports_questions_from_an_upload(
    client: Client, setup: tuple[Stream, Any], settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    stream, pm = setup
    client.force_login(pm)
    body = b'{"id": "q1", "prompt": "2+2?", "responses": ["4", "5"], "answers": ["A"], "explanation": "4."}\n'
    upload = SimpleUploadedFile("q.jsonl", body)
    response = client.post(urls(stream)["import"], {"file": upload, "format": "native"})
    assert response.status_code == 302
    assert QualificationQuestion.objects.get().item.pool == Item.Pool.QUALIFICATION
    bad = SimpleUploadedFile("bad.jsonl", b'{"id": "q2", "prompt": "x", "responses": ["a", "b"]}\n')
    response = client.post(urls(stream)["import"], {"file": bad, "format": "native"})
    assert response.status_code == 400
    assert b"line 1, field &quot;answers&quot;" in response.content
    assert QualificationQuestion.objects.count() == 1


def test_the_page_shows_difficulty_and_flags_bad_questions(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    make_test(stream, answers=[["A"]], cooldown_hours=0)
    for _ in range(5):
        user = annotator_in(stream, "invited")
        answer_all(services.start_attempt(stream=stream, user=user), ["B"])
    client.force_login(pm)
    body = client.get(urls(stream)["test"]).content.decode()
    assert "B × 5" in body
    assert "0%" in body
    assert "chosen more often than the expected answer" in body


def test_removing_a_question_deletes_its_imported_item(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    test = make_test(stream, answers=[["A"]])
    question = test.questions.get()
    client.force_login(pm)
    assert client.post(f"/streams/{stream.pk}/qualification/questions/{question.pk}/remove/").status_code == 302
    assert not QualificationQuestion.objects.exists()
    assert not Item.objects.filter(pk=question.item_id).exists()


# --- Candidates -----------------------------------------------------------------------------------
def test_the_candidate_list_shows_attempts_scores_and_status(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    make_test(stream, answers=[["A"], ["A"]], pass_mark=1.0)
    user = annotator_in(stream, "invited")
    answer_all(services.start_attempt(stream=stream, user=user), ["A", "B"])
    client.force_login(pm)
    response = client.get(urls(stream)["candidates"])
    body = response.content.decode()
    assert user.username in body
    assert "50% failed" in body
    assert "1 of 2 used" in body
    assert "Failed" in body
    assert "Allow another attempt" in body


def test_a_pm_action_needs_a_reason_and_is_logged(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    make_test(stream)
    user = annotator_in(stream, "invited")
    sm = StreamMembership.objects.get(user=user)
    client.force_login(pm)
    url = f"/streams/{stream.pk}/qualification/candidates/{sm.pk}/"
    client.post(url, {"action": "waive", "reason": "  "})
    sm.refresh_from_db()
    assert sm.status == "invited"
    client.post(url, {"action": "waive", "reason": "certified medical translator"})
    sm.refresh_from_db()
    assert sm.status == "qualified"
    event = StreamMembershipEvent.objects.get(stream_membership=sm)
    assert (event.actor, event.action, event.reason) == (pm, "waive", "certified medical translator")
    body = client.get(urls(stream)["candidates"]).content.decode()
    assert "certified medical translator" in body
    # A move the state machine forbids is refused with a message, nothing changes.
    response = client.post(url, {"action": "resume", "reason": "x"}, follow=True)
    assert "does not apply" in response.content.decode()


def test_a_member_of_another_stream_is_404_for_actions(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    other_project, _ = project_with_pm()
    foreign = StreamMembership.objects.get(user=annotator_in(stream_in(other_project)))
    client.force_login(pm)
    url = f"/streams/{stream.pk}/qualification/candidates/{foreign.pk}/"
    assert client.post(url, {"action": "pause", "reason": "x"}).status_code == 404


# --- Requirements and the ranked invite list ------------------------------------------------------
def profile(user: Any, languages: list[dict[str, str]], domains: list[str]) -> None:
    AnnotatorProfile.objects.create(user=user, languages=languages, domains=domains)


def test_candidates_are_filtered_and_ranked_by_requirements(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    stream.requirements = {"languages": [{"code": "de", "level": "C1"}], "domains": ["medicine"]}
    stream.save()
    project = stream.project
    best = member(project, username="best")
    profile(best, [{"code": "de", "level": "native"}], ["medicine"])
    half = member(project, username="half")
    profile(half, [{"code": "de", "level": "B2"}], ["medicine"])
    member(project, username="blank")
    already = annotator_in(stream)
    profile(already, [{"code": "de", "level": "C2"}], ["medicine"])
    other_project, _ = project_with_pm()
    stranger = member(other_project, username="stranger")  # not in a project this PM manages
    profile(stranger, [{"code": "de", "level": "C2"}], ["medicine"])

    ranked = requirements.ranked_candidates(stream=stream, viewer=pm)
    names = [m.user.username for m in ranked]
    assert names.index("best") < names.index("half") < names.index("blank")
    assert "stranger" not in names
    assert already.username not in names
    assert ranked[0].meets_all
    assert ranked[1].missing == ["de ≥ C1"]

    client.force_login(pm)
    filtered = client.get(urls(stream)["invite"], {"meets": "1"}).content.decode()
    assert "best" in filtered
    assert ">half<" not in filtered
    assert "blank" not in filtered
    response = client.post(urls(stream)["invite"], {"username": "half"})
    assert response.status_code == 302
    assert StreamMembership.objects.get(stream=stream, user=half).status == "invited"
    assert client.post(urls(stream)["invite"], {"username": "stranger"}).status_code == 404


@pytest.mark.parametrize(
    ("have", "need", "met"),
    [("C1", "C1", True), ("native", "C2", True), ("B2", "C1", False), ("c2", "B1", True)],
)
def test_a_language_level_meets_the_same_or_a_lower_requirement(have: str, need: str, met: bool) -> None:
    profile_ = AnnotatorProfile(languages=[{"code": "de", "level": have}])
    result = requirements.match_profile(profile_, {"languages": [{"code": "de", "level": need}]})
    assert (not result[1]) is met


def test_anyone_edits_their_own_profile(client: Client) -> None:
    _project, pm = project_with_pm()
    client.force_login(pm)
    assert client.get("/account/profile/").status_code == 200
    data = {"languages_text": "de native, en C1", "domains_text": "law, Medicine", "profession": "Doctor"}
    assert client.post("/account/profile/", data).status_code == 302
    saved = AnnotatorProfile.objects.get(user=pm)
    assert saved.languages == [{"code": "de", "level": "native"}, {"code": "en", "level": "C1"}]
    assert saved.domains == ["law", "medicine"]
    assert client.post("/account/profile/", {"languages_text": "klingon"}).status_code == 400


def test_the_profile_page_needs_a_login(client: Client) -> None:
    response = client.get("/account/profile/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_invite_page_links_to_each_streams_ranked_list(client: Client, setup: tuple[Stream, Any]) -> None:
    stream, pm = setup
    client.force_login(pm)
    body = client.get(f"/projects/{stream.project.slug}/members/invite/").content.decode()
    assert f'href="{urls(stream)["invite"]}"' in body
