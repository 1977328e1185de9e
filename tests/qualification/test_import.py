"""``import_qualification``: questions from JSONL through the importer's formats, plus answers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import ImportBatch, Item
from qualification import services
from qualification.importing import InvalidQuestions, import_questions
from qualification.models import QualificationQuestion, QualificationTest
from tests.factories import ItemFactory, StreamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def stream() -> Any:
    return StreamFactory(slug="german")


def write(tmp_path: Path, lines: list[dict[str, Any]], name: str = "questions.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_qualification", *args, stdout=out)
    return out.getvalue()


LINES = [
    {"id": "q1", "prompt": "2 + 2?", "responses": ["4", "5"], "answers": ["A"], "explanation": "It is 4."},
    {"id": "q2", "prompt": "Capital of France?", "responses": ["Lyon", "Paris"], "answers": "B"},
    {"id": "q3", "prompt": "Say hi", "responses": ["Hi!", "Hello!"], "answers": ["A", "B", "tie"]},
]


def canonical(item: Item, text: str) -> str:
    return "AB"[[r["text"] for r in item.responses].index(text)]


def test_it_imports_questions_and_sets_the_test(tmp_path: Path, stream: Any) -> None:
    out = run("--stream", "german", str(write(tmp_path, LINES)), "--pass-mark", "75", "--attempts", "3",
              "--cooldown-hours", "12")  # fmt: skip
    test = QualificationTest.objects.get(stream=stream)
    assert (test.pass_mark, test.max_attempts, test.cooldown_hours) == (0.75, 3, 12.0)
    assert "3 questions added, 0 updated; the test has 3 questions" in out
    assert "Pass mark 75%, 3 attempts, cool-down 12 h" in out
    questions = {q.item.external_id: q for q in test.questions.select_related("item")}
    assert set(questions) == {"q1", "q2", "q3"}
    # Letters name responses in the file's order and are remapped to the canonical order.
    q1, q2 = questions["q1"], questions["q2"]
    assert q1.acceptable_answers == [canonical(q1.item, "4")]
    assert q2.acceptable_answers == [canonical(q2.item, "Paris")]
    assert questions["q3"].acceptable_answers == ["A", "B", "tie"]
    assert q1.explanation == "It is 4."
    # Question items are never work items, never golden, and carry no answer themselves.
    items = Item.objects.filter(stream=stream)
    assert set(items.values_list("pool", flat=True)) == {"qualification"}
    assert not items.filter(is_golden=True).exists()
    assert all(item.golden_answers == [] and "answers" not in item.metadata for item in items)
    assert ImportBatch.objects.get(stream=stream).options["qualification"] is True
    assert services.active_test(stream) == test


def test_a_second_import_updates_instead_of_duplicating(tmp_path: Path, stream: Any) -> None:
    path = write(tmp_path, LINES)
    run("--stream", "german", str(path))
    changed = [dict(LINES[0], answers=["A", "tie"], explanation="Four."), *LINES[1:]]
    out = run("--stream", "german", str(write(tmp_path, changed)))
    assert "0 questions added, 3 updated; the test has 3 questions" in out
    assert QualificationQuestion.objects.count() == 3
    assert Item.objects.count() == 3
    q1 = QualificationQuestion.objects.get(item__external_id="q1")
    assert "tie" in q1.acceptable_answers
    assert q1.explanation == "Four."


def test_settings_not_given_keep_their_values(tmp_path: Path, stream: Any) -> None:
    run("--stream", "german", str(write(tmp_path, LINES)), "--attempts", "4")
    run("--stream", "german", str(write(tmp_path, LINES)), "--pass-mark", "90")
    test = QualificationTest.objects.get(stream=stream)
    assert (test.max_attempts, test.pass_mark) == (4, 0.9)


def test_it_reads_other_formats_with_their_golden_answer_as_fallback(tmp_path: Path, stream: Any) -> None:
    native_golden = [
        {"id": "g1", "prompt": "1 + 1?", "responses": ["2", "3"], "golden": {"answers": ["A"], "explanation": "Two."}}
    ]
    run("--stream", "german", str(write(tmp_path, native_golden)))
    trl = [{"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away.", "answers": ["A"], "explanation": "Polite."}]
    run("--stream", "german", str(write(tmp_path, trl, "trl.jsonl")), "--format", "trl")
    questions = {q.item.external_id: q for q in QualificationQuestion.objects.select_related("item")}
    g1 = questions.pop("g1")
    assert g1.acceptable_answers == [canonical(g1.item, "2")]
    assert g1.explanation == "Two."
    (trl_question,) = questions.values()
    assert trl_question.acceptable_answers == [canonical(trl_question.item, "Hello!")]
    assert not Item.objects.filter(is_golden=True).exists()


def test_invalid_lines_import_nothing_and_name_line_and_field(tmp_path: Path, stream: Any) -> None:
    bad = [
        LINES[0],
        {"id": "q2", "prompt": "x", "responses": ["a", "b"]},
        {"id": "q3", "prompt": "x", "responses": ["a", "b"], "answers": ["C"]},
        {"id": "q1", "prompt": "y", "responses": ["a", "b"], "answers": ["A"]},
    ]
    with pytest.raises(CommandError) as exc:
        run("--stream", "german", str(write(tmp_path, bad)))
    message = str(exc.value)
    assert "Nothing imported: 3 invalid lines" in message
    assert 'line 2, field "answers": missing' in message
    assert 'line 3, field "answers[0]": must be one of A, B, tie, both_bad' in message
    assert 'line 4, field "id": duplicate id' in message
    assert not Item.objects.exists()
    assert not QualificationTest.objects.exists()


def test_a_work_item_id_is_refused(tmp_path: Path, stream: Any) -> None:
    ItemFactory(stream=stream, external_id="q1")
    with pytest.raises(InvalidQuestions) as exc:
        import_questions(stream=stream, source=write(tmp_path, LINES))
    assert "work item of this stream" in str(exc.value.errors[0])
    assert Item.objects.get(external_id="q1").pool == "work"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pass-mark", "0.8"], "did you mean 80"),
        (["--pass-mark", "120"], "between 0 and 100"),
        (["--attempts", "0"], "at least 1"),
        (["--cooldown-hours", "-1"], "cannot be negative"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, stream: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("--stream", "german", str(write(tmp_path, LINES)), *args)
    assert not QualificationTest.objects.exists()


def test_unknown_stream_and_missing_file(tmp_path: Path, stream: Any) -> None:
    with pytest.raises(CommandError, match="No stream"):
        run("--stream", "nope", str(write(tmp_path, LINES)))
    with pytest.raises(CommandError, match="No such file"):
        run("--stream", "german", str(tmp_path / "missing.jsonl"))


def test_it_detects_the_format_by_default(tmp_path: Path, stream: Any) -> None:
    trl = [
        {"id": "t1", "prompt": "2 + 2?", "chosen": "4", "rejected": "5", "answers": ["A"]},
        {"id": "t2", "prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon", "answers": ["A"]},
    ]
    out = run("--stream", "german", str(write(tmp_path, trl)))
    assert "(format trl, detected: TRL preference data (prompt/chosen/rejected), batch" in out
    assert QualificationTest.objects.get(stream=stream).questions.count() == 2
    assert ImportBatch.objects.get(stream=stream).format == "trl"
    mixed = write(tmp_path, [trl[0], LINES[0]], "mixed.jsonl")
    with pytest.raises(CommandError, match="The format could not be detected: of the first 2 records, 1 like"):
        run("--stream", "german", str(mixed))
