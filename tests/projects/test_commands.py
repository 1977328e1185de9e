from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from projects.models import ApiToken, Membership, Project, Role, Stream, StreamMembership
from tests.factories import MembershipFactory, ProjectFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


# --- create_project ---
def test_it_creates_a_project() -> None:
    lines = run("create_project", "copilot-v3", "--name", "Support copilot v3", "--description", "Hello")
    project = Project.objects.get(slug="copilot-v3")
    assert (project.name, project.description) == ("Support copilot v3", "Hello")
    assert lines == [f"Created project 'copilot-v3' (Support copilot v3), id {project.pk}."]


def test_it_creates_a_project_with_an_owner_as_pm() -> None:
    owner = UserFactory.create(username="maria")
    lines = run("create_project", "p1", "--owner", "maria")
    project = Project.objects.get(slug="p1")
    assert project.name == "P1"
    assert Membership.objects.get(project=project, user=owner).role == Role.PM
    assert lines[-1] == "maria is its project manager."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["taken"], "already exists"),
        (["not a slug"], "not a valid slug"),
        (["ok", "--owner", "ghost"], "No user named 'ghost'"),
        (["x" * 65], "longer than 64"),
    ],
)
def test_it_refuses_bad_project_arguments(args: list[str], message: str) -> None:
    ProjectFactory.create(slug="taken")
    with pytest.raises(CommandError, match=message):
        run("create_project", *args)
    assert Project.objects.count() == 1


# --- create_stream ---
def test_it_creates_a_stream_and_prints_its_id_last() -> None:
    ProjectFactory.create(slug="p")
    lines = run(
        "create_stream",
        "--project",
        "p",
        "german",
        "--name",
        "German chat",
        "--kind",
        "ranking",
        "--mode",
        "dynamic",
        "--overlap",
        "5",
        "--golden-rate",
        "0.1",
        "--status",
        "active",
    )
    stream = Stream.objects.get(slug="german")
    assert lines[-1] == f"stream id: {stream.pk}"
    assert (stream.name, stream.task_kind, stream.mode, stream.overlap, stream.golden_rate, stream.status) == (
        "German chat",
        "ranking",
        "dynamic",
        5,
        0.1,
        "active",
    )
    assert "Created stream p/german" in lines[0]


def test_it_defaults_a_stream_to_a_pairwise_static_draft(tmp_path: object) -> None:
    ProjectFactory.create(slug="p")
    lines = run("create_stream", "--project", "p", "s1")
    stream = Stream.objects.get(slug="s1")
    assert (stream.task_kind, stream.mode, stream.status, stream.overlap) == ("pairwise", "static", "draft", 3)
    assert lines[-1] == f"stream id: {stream.pk}"


def test_it_reads_guidelines_from_a_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "g.md"
    path.write_text("# Be kind", encoding="utf-8")
    ProjectFactory.create(slug="p")
    run("create_stream", "--project", "p", "s1", "--guidelines-file", str(path))
    assert Stream.objects.get(slug="s1").guidelines == "# Be kind"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "s"], "No project with slug 'nope'"),
        (["--project", "p", "taken"], "already has a stream 'taken'"),
        (["--project", "p", "bad slug"], "not a valid slug"),
        (["--project", "p", "s", "--overlap", "0"], "--overlap must be between 1 and 50"),
        (["--project", "p", "s", "--golden-rate", "1.5"], "--golden-rate must be between 0 and 1"),
        (["--project", "p", "s", "--guidelines-file", "/no/such/file.md"], "Cannot read"),
    ],
)
def test_it_refuses_bad_stream_arguments(args: list[str], message: str) -> None:
    StreamFactory.create(project=ProjectFactory.create(slug="p"), slug="taken")
    with pytest.raises(CommandError, match=message):
        run("create_stream", *args)
    assert Stream.objects.count() == 1


@pytest.mark.parametrize("args", [["--kind", "essay"], ["--mode", "live"], ["--status", "gone"], ["--overlap", "x"]])
def test_it_refuses_bad_choices(args: list[str]) -> None:
    ProjectFactory.create(slug="p")
    with pytest.raises(CommandError):
        run("create_stream", "--project", "p", "s", *args)


# --- add_members ---
def test_it_adds_existing_members_and_invites_them_to_streams() -> None:
    project = ProjectFactory.create(slug="p")
    s1, s2 = StreamFactory.create(project=project, slug="s1"), StreamFactory.create(project=project, slug="s2")
    UserFactory.create(username="alice")
    UserFactory.create(username="bob")
    lines = run(
        "add_members", "--project", "p", "--role", "annotator", "--stream", "s1", "--stream", "s2", "alice", "bob"
    )
    assert lines == ["alice: annotator in p; invited to s1, s2", "bob: annotator in p; invited to s1, s2"]
    assert StreamMembership.objects.filter(stream__in=[s1, s2], status="invited").count() == 4


def test_it_creates_missing_accounts_and_prints_each_password_once() -> None:
    ProjectFactory.create(slug="p")
    UserFactory.create(username="alice")
    lines = run("add_members", "--project", "p", "--role", "reviewer", "--create", "alice", "carol")
    carol = User.objects.get(username="carol")
    password_lines = [line for line in lines if "password:" in line]
    assert len(password_lines) == 1
    password = password_lines[0].rsplit(" ", 1)[-1]
    assert carol.check_password(password)
    assert password not in carol.password
    assert sum(line.count(password) for line in lines) == 1
    assert lines[-1].startswith("1 account created.")
    assert Membership.objects.get(user=carol).role == Role.REVIEWER


def test_it_says_when_a_role_is_kept() -> None:
    project = ProjectFactory.create(slug="p")
    MembershipFactory.create(project=project, user=UserFactory.create(username="pat"), role=Role.PM)
    lines = run("add_members", "--project", "p", "--role", "annotator", "pat")
    assert lines == ["pat: project manager in p (kept: a role is never lowered here; asked for annotator)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--role", "annotator", "alice"], "No project with slug 'nope'"),
        (["--project", "p", "--role", "annotator", "--stream", "zz", "alice"], "has no stream 'zz'"),
        (["--project", "p", "--role", "annotator", "alice", "ghost"], "No account named ghost"),
        (["--project", "p", "--role", "annotator", "--create", "bad name!"], "not a valid username"),
    ],
)
def test_it_refuses_bad_member_arguments_and_changes_nothing(args: list[str], message: str) -> None:
    ProjectFactory.create(slug="p")
    UserFactory.create(username="alice")
    with pytest.raises(CommandError, match=message):
        run("add_members", *args)
    assert not Membership.objects.exists()
    assert User.objects.count() == 1


def test_it_refuses_an_unknown_role() -> None:
    ProjectFactory.create(slug="p")
    with pytest.raises(CommandError):
        run("add_members", "--project", "p", "--role", "boss", "alice")


# --- create_api_token ---
def test_it_creates_a_token_printed_once_and_stored_hashed() -> None:
    user = UserFactory.create(username="trainer")
    lines = run("create_api_token", "trainer", "--name", "ci")
    key = lines[-1]
    assert key.startswith(ApiToken.PREFIX)
    token = ApiToken.objects.get(user=user)
    assert token.name == "ci"
    assert token.key_hash == ApiToken.hash_key(key)
    assert key not in token.key_hash
    assert sum(line.count(key) for line in lines) == 1


def test_it_creates_a_different_token_each_time() -> None:
    UserFactory.create(username="trainer")
    assert run("create_api_token", "trainer")[-1] != run("create_api_token", "trainer")[-1]
    assert ApiToken.objects.count() == 2


@pytest.mark.parametrize(("username", "message"), [("ghost", "No user named 'ghost'"), ("sleeper", "inactive")])
def test_it_refuses_bad_token_users(username: str, message: str) -> None:
    UserFactory.create(username="sleeper", is_active=False)
    with pytest.raises(CommandError, match=message):
        run("create_api_token", username)
    assert not ApiToken.objects.exists()


# --- as operators run them ---
def test_it_exits_non_zero_with_the_message_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        execute_from_command_line(["manage.py", "create_stream", "--project", "nope", "s"])
    assert exc.value.code == 1
    assert "CommandError: No project with slug 'nope'" in capsys.readouterr().err


def test_it_exits_zero_and_prints_the_id_last_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    ProjectFactory.create(slug="p")
    execute_from_command_line(["manage.py", "create_stream", "--project", "p", "s"])
    # (The command closes the database connection when it ends, as it does for operators.)
    assert re.fullmatch(r"stream id: \d+", capsys.readouterr().out.splitlines()[-1])
