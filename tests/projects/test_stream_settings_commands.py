"""``create_stream`` with QC thresholds and ``update_stream``: every stream-form setting has a flag,
validated by the stream form; errors name the flag."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Item
from projects.models import Stream
from tests.factories import ItemFactory, ProjectFactory, StreamFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_every_setting_of_the_stream_form_has_a_flag_in_both_commands() -> None:
    from django.core.management import load_command_class

    from projects.forms import StreamForm
    from projects.management.commands._stream_settings import flag

    for name in ("create_stream", "update_stream"):
        parser = load_command_class("projects", name).create_parser("manage.py", name)
        flags = {option for action in parser._actions for option in action.option_strings}
        missing = [flag(field) for field in StreamForm.Meta.fields if field != "slug" and flag(field) not in flags]
        assert missing == [], name


def test_create_stream_takes_the_thresholds() -> None:
    ProjectFactory.create(slug="p")
    lines = run(
        "create_stream", "--project", "p", "s",
        "--min-gold-accuracy", "0.8", "--min-gold-count", "15", "--min-agreement", "0.6", "--min-seconds", "12",
        "--adaptive-overlap", "--adaptive-min-agree", "2", "--overlap", "4", "--review-rate", "0.1",
        "--order", "breadth", "--lease-minutes", "20", "--rubric", "correctness,helpfulness", "--priority", "3",
        "--min-confidence", "0.6",
    )  # fmt: skip
    stream = Stream.objects.get(slug="s")
    assert (stream.min_gold_accuracy, stream.min_gold_count, stream.min_agreement, stream.min_seconds) == (
        0.8,
        15,
        0.6,
        12.0,
    )
    assert (stream.adaptive_overlap, stream.adaptive_min_agree, stream.overlap) == (True, 2, 4)
    assert (stream.review_rate, stream.order, stream.lease_minutes, stream.priority) == (0.1, "breadth", 20, 3)
    assert stream.rubric == ["helpfulness", "correctness"]
    assert stream.min_confidence == 0.6
    assert lines[1] == (
        "QC thresholds: gold accuracy 0.8 (acts after 15 golden answers), agreement 0.6, seconds per item 12; "
        "adaptive overlap on (stop when 2 agree)."
    )
    assert lines[-1] == f"stream id: {stream.pk}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-gold-accuracy", "1.2"], "--min-gold-accuracy: Ensure this value is less than or equal to 1.0."),
        (["--min-agreement", "-3"], "--min-agreement: Ensure this value is greater than or equal to -1.0."),
        (["--adaptive-overlap", "--adaptive-min-agree", "5"], "--adaptive-min-agree: Cannot be more than the overlap."),
        (["--rubric", "taste"], "--rubric: Select a valid choice. taste is not one of the available choices."),
        (["--lease-minutes", "0"], "--lease-minutes: Ensure this value is greater than or equal to 1."),
    ],
)
def test_create_stream_refuses_bad_thresholds_naming_the_flag(args: list[str], message: str) -> None:
    ProjectFactory.create(slug="p")
    with pytest.raises(CommandError) as exc:
        run("create_stream", "--project", "p", "s", *args)
    assert str(exc.value) == f"Invalid stream settings: {message}"
    assert not Stream.objects.exists()


def test_update_stream_changes_only_what_is_given(django_capture_on_commit_callbacks: Any) -> None:
    stream = StreamFactory.create(project=ProjectFactory.create(slug="p"), slug="s", overlap=1, golden_rate=0.05)
    item = ItemFactory.create(stream=stream, claim_count=1, is_open=False)
    with django_capture_on_commit_callbacks(execute=True):
        lines = run(
            "update_stream", "s", "--project", "p", "--overlap", "3", "--adaptive-overlap",
            "--adaptive-min-agree", "2", "--golden-rate", "0.1", "--min-gold-accuracy", "0.75",
            "--min-agreement", "0.4", "--min-seconds", "6", "--status", "active",
        )  # fmt: skip
    stream.refresh_from_db()
    assert (stream.overlap, stream.adaptive_overlap, stream.adaptive_min_agree) == (3, True, 2)
    assert (stream.golden_rate, stream.min_gold_accuracy, stream.min_agreement, stream.min_seconds) == (
        0.1,
        0.75,
        0.4,
        6.0,
    )
    assert stream.status == "active"
    assert Item.objects.get(pk=item.pk).is_open  # the overlap hook ran (projects.services.update_stream)
    assert lines[0] == f"Updated stream p/s ({stream.name}):"
    assert "  overlap: 1 -> 3" in lines
    assert "  golden-rate: 0.05 -> 0.1" in lines
    assert lines[-1] == f"stream id: {stream.pk}"
    lines = run("update_stream", "s", "--project", "p", "--no-adaptive-overlap")
    stream.refresh_from_db()
    assert not stream.adaptive_overlap
    assert lines[1] == "  adaptive-overlap: True -> False"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s", "--project", "nope", "--overlap", "2"], "No project with slug 'nope'"),
        (["gone", "--project", "p", "--overlap", "2"], "Project 'p' has no stream 'gone'. Its streams: s."),
        (["s", "--project", "p"], "Nothing to change"),
        (["s", "--project", "p", "--overlap", "0"], "Invalid stream settings: --overlap: Ensure this value is greater"),
        (
            ["s", "--project", "p", "--golden-rate", "2"],
            "--golden-rate: Ensure this value is less than or equal to 1.0",
        ),
        (["s", "--project", "p", "--adaptive-overlap", "--adaptive-min-agree", "9"], "--adaptive-min-agree: Cannot be"),
        (["s", "--project", "p", "--guidelines-file", "/no/such.md"], "Cannot read /no/such.md"),
    ],
)
def test_update_stream_refuses_bad_arguments_clearly(args: list[str], message: str) -> None:
    StreamFactory.create(project=ProjectFactory.create(slug="p"), slug="s", overlap=3, golden_rate=0.05)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run("update_stream", *args)
    stream = Stream.objects.get(slug="s")
    assert (stream.overlap, stream.golden_rate, stream.adaptive_overlap) == (3, 0.05, False)


@pytest.mark.parametrize("args", [["--status", "gone"], ["--overlap", "x"], ["--order", "random"]])
def test_update_stream_refuses_bad_choices(args: list[str]) -> None:
    StreamFactory.create(project=ProjectFactory.create(slug="p"), slug="s")
    with pytest.raises(CommandError):
        run("update_stream", "s", "--project", "p", *args)


def test_create_stream_takes_the_multi_axis_settings() -> None:
    ProjectFactory.create(slug="p")
    run(
        "create_stream", "--project", "p", "s", "--kind", "attribute_pairwise",
        "--attributes", "correctness, instruction following,style", "--justification-min-words", "10",
    )  # fmt: skip
    stream = Stream.objects.get(slug="s")
    assert (stream.task_kind, stream.attributes, stream.justification_min_words) == (
        "attribute_pairwise",
        ["correctness", "instruction following", "style"],
        10,
    )
    run("update_stream", "--project", "p", "s", "--harm-categories", "violence,privacy")
    stream.refresh_from_db()
    assert stream.harm_categories == ["violence", "privacy"]
    with pytest.raises(CommandError, match="--attributes: 'style' is given twice"):
        run("update_stream", "--project", "p", "s", "--attributes", "style,style")
