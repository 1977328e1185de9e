"""Versioned guidelines: every save that changes the text is a new version (the edit page, the API,
the command), through ``projects.services.update_stream``; the stream page lists the versions and
shows the changes of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from projects import selectors, services
from projects.models import GuidelineVersion, Role, Stream
from tests.factories import UserFactory
from tests.projects.test_views_stream_form import _data
from tests.projects.web_helpers import annotator_in, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def _stream(project: Any, author: Any = None, text: str = "Prefer the helpful answer.") -> Stream:
    return services.create_stream(project=project, slug="chat", name="Chat", guidelines=text, author=author)


def _numbers(stream: Stream) -> list[int]:
    return list(GuidelineVersion.objects.filter(stream=stream).values_list("number", flat=True))


# --- the service ---
def test_it_makes_version_1_when_a_stream_is_created() -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    version = GuidelineVersion.objects.get(stream=stream)
    assert (version.number, version.text, version.author) == (1, "Prefer the helpful answer.", pm)
    assert stream.guideline_version == 1


def test_it_makes_a_version_only_when_the_text_changes() -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    services.update_stream(stream=stream, author=pm, overlap=5)
    services.update_stream(stream=stream, author=pm, guidelines="Prefer the helpful answer.", change_note="same")
    assert _numbers(stream) == [1]
    services.update_stream(
        stream=stream, author=pm, guidelines="Prefer the honest answer.", change_note="Honesty first"
    )
    stream.refresh_from_db()
    assert _numbers(stream) == [1, 2]
    assert stream.guideline_version == 2
    assert stream.guidelines == "Prefer the honest answer."
    latest = GuidelineVersion.objects.get(stream=stream, number=2)
    assert (latest.text, latest.change_note, latest.author) == ("Prefer the honest answer.", "Honesty first", pm)


def test_it_numbers_versions_from_the_stored_stream_not_a_stale_copy() -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    stale = Stream.objects.get(pk=stream.pk)
    services.update_stream(stream=stream, guidelines="two")
    services.update_stream(stream=stale, guidelines="three")
    assert _numbers(stream) == [1, 2, 3]
    assert Stream.objects.get(pk=stream.pk).guideline_version == 3


def test_the_diff_marks_added_and_removed_lines_with_context_and_gaps() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 3", "line three").replace("line 18", "line 18\nline 18b")
    rows = selectors.guideline_diff(old, new)
    kinds = [(row.kind, row.text) for row in rows]
    assert ("del", "line 3") in kinds
    assert ("add", "line three") in kinds
    assert ("add", "line 18b") in kinds
    assert ("gap", "") in kinds  # lines 6-15 are folded
    assert ("same", "line 10") not in kinds
    assert selectors.guideline_diff("same", "same") == []


# --- the edit page ---
def test_the_edit_page_saves_a_new_version_with_the_change_note(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(pm)
    form = client.get(f"/streams/{stream.pk}/edit/")
    assert 'name="change_note"' in form.content.decode()
    data = _data(slug="chat", guidelines="Prefer the honest answer.", change_note="Honesty first")
    response = client.post(f"/streams/{stream.pk}/edit/", data)
    assert response.status_code == 302
    version = GuidelineVersion.objects.get(stream=stream, number=2)
    assert (version.change_note, version.author) == ("Honesty first", pm)


def test_the_edit_page_refuses_a_change_note_over_500_characters(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(pm)
    response = client.post(f"/streams/{stream.pk}/edit/", _data(slug="chat", guidelines="new", change_note="x" * 501))
    assert response.status_code == 400
    assert _numbers(stream) == [1]


def test_the_stream_page_lists_the_versions_and_links_their_changes(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    services.update_stream(stream=stream, author=pm, guidelines="Prefer the honest answer.", change_note="Honesty")
    client.force_login(pm)
    body = client.get(f"/streams/{stream.pk}/").content.decode()
    assert 'id="guideline-versions"' in body
    assert "Honesty" in body
    assert f'href="/streams/{stream.pk}/guidelines/2/"' in body
    annotator = annotator_in(stream)
    client.force_login(annotator)
    assert f'href="/streams/{stream.pk}/guidelines/2/"' in client.get(f"/streams/{stream.pk}/").content.decode()


def test_the_version_page_shows_the_changes_escaped(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm, text="Keep it short.\nBe kind.")
    services.update_stream(stream=stream, guidelines="Keep it short.\n<script>alert(1)</script>")
    client.force_login(pm)
    response = client.get(f"/streams/{stream.pk}/guidelines/2/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert (
        '<div class="gdiff-line gdiff-add"><ins><span class="gdiff-mark" aria-label="added">+</span>&lt;script&gt;'
        in body
    )
    assert (
        '<div class="gdiff-line gdiff-del"><del><span class="gdiff-mark" aria-label="removed">−</span>Be kind.' in body
    )


def test_the_version_page_is_404_for_outsiders_and_unknown_versions(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(outsider())
    assert client.get(f"/streams/{stream.pk}/guidelines/1/").status_code == 404
    client.force_login(member(project, Role.ANNOTATOR))  # in the project, not invited to the stream
    assert client.get(f"/streams/{stream.pk}/guidelines/1/").status_code == 404
    client.force_login(pm)
    assert client.get(f"/streams/{stream.pk}/guidelines/9/").status_code == 404
    assert client.post(f"/streams/{stream.pk}/guidelines/1/").status_code == 405


# --- the API ---
def test_the_api_makes_a_version_with_the_change_note(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(pm)
    response = client.patch(
        f"/api/streams/{stream.pk}/",
        {"guidelines": "Prefer the honest answer.", "change_note": "Honesty first"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["guideline_version"] == 2
    version = GuidelineVersion.objects.get(stream=stream, number=2)
    assert (version.change_note, version.author) == ("Honesty first", pm)


def test_the_api_refuses_a_long_change_note_and_a_written_version_number(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(pm)
    url = f"/api/streams/{stream.pk}/"
    long_note = client.patch(url, {"guidelines": "new", "change_note": "x" * 501}, content_type="application/json")
    assert long_note.status_code == 400
    assert "change_note" in long_note.json()
    number = client.patch(url, {"guideline_version": 7}, content_type="application/json")
    assert number.status_code == 400
    assert _numbers(stream) == [1]


# --- the command ---
def test_the_command_makes_a_version_from_a_file(tmp_path: Path) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    path = tmp_path / "guidelines.md"
    path.write_text("Prefer the honest answer.", encoding="utf-8")
    out = _call(
        "update_stream", "chat", "--project", project.slug, "--guidelines-file", str(path), "--change-note", "Honesty"
    )
    assert "text changed: version 2" in out
    version = GuidelineVersion.objects.get(stream=stream, number=2)
    assert (version.text, version.change_note, version.author) == ("Prefer the honest answer.", "Honesty", None)
    again = _call("update_stream", "chat", "--project", project.slug, "--guidelines-file", str(path))
    assert "guidelines-file: (unchanged)" in again
    assert _numbers(stream) == [1, 2]


def test_the_command_refuses_a_change_note_without_guidelines() -> None:
    project, pm = project_with_pm()
    _stream(project, pm)
    with pytest.raises(CommandError, match="--change-note goes with --guidelines-file"):
        _call("update_stream", "chat", "--project", project.slug, "--overlap", "4", "--change-note", "why")


def _call(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_user_who_is_not_a_member_cannot_edit(client: Client) -> None:
    project, pm = project_with_pm()
    stream = _stream(project, pm)
    client.force_login(UserFactory.create())
    assert (
        client.patch(f"/api/streams/{stream.pk}/", {"guidelines": "x"}, content_type="application/json").status_code
        == 404
    )
    assert _numbers(stream) == [1]
