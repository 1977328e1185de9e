"""Helpers for the qualification tests: a stream with a test of n questions."""

from __future__ import annotations

from typing import Any

from projects.models import Stream
from qualification import services
from qualification.models import QualificationQuestion, QualificationTest
from tests.factories import ItemFactory

ANSWER_KEY_MARK = "EXPLANATION-ONLY-AFTER-SUBMIT"


def make_test(
    stream: Stream, *, answers: list[list[str]] | None = None, pool: str = "qualification", **settings: Any
) -> QualificationTest:
    """A test on ``stream`` with one question per entry of ``answers`` (default: three questions
    whose only acceptable answer is "A"), each with an explanation that contains ``ANSWER_KEY_MARK``."""
    settings = {"cooldown_hours": 24.0, "max_attempts": 2, "pass_mark": 0.6, **settings}
    test = services.get_or_create_test(stream=stream, **settings)
    for n, accepted in enumerate(answers or [["A"], ["A"], ["A"]]):
        item = ItemFactory.create(stream=stream, pool=pool, external_id=f"q-{stream.pk}-{n}")
        services.add_question(
            test=test, item=item, answers=accepted, explanation=f"{ANSWER_KEY_MARK} {n}: response A is right."
        )
    return test


def answer_all(attempt: Any, answers: list[str]) -> Any:
    """Answers the attempt's questions in the order served; ``answers[i]`` goes to the question
    at position i of the test (by ``QualificationQuestion.position``), whatever order was served."""
    by_position = {
        q.pk: i for i, q in enumerate(QualificationQuestion.objects.filter(test=attempt.test).order_by("position"))
    }
    result = None
    for entry in list(attempt.question_order):
        result = services.answer_question(
            attempt=attempt, question_id=entry["question"], answer=answers[by_position[entry["question"]]]
        )
    return result
