"""``annotation.strategies``: the trivial strategies held against a bar, in words."""

from __future__ import annotations

from annotation import strategies
from qc import evidence


def test_it_is_the_function_qc_evidence_re_exports() -> None:
    assert evidence.trivial_strategy_scores is strategies.trivial_strategy_scores
    assert evidence.QuestionFacts is strategies.QuestionFacts


def test_check_strategies_names_each_passing_strategy_and_its_bar() -> None:
    longer_right = [strategies.QuestionFacts(["B"], [10, 90])] * 9 + [strategies.QuestionFacts(["A"], [10, 90])]
    check = strategies.check_strategies(longer_right, bar=0.8)
    assert check.questions == 10
    assert check.passable
    assert check.warnings == [
        "always the longer response scores 90% ≥ pass mark 80%",
        "always response B scores 90% ≥ pass mark 80%",
    ]
    assert check.summary().startswith("Trivial strategies on 10 questions: longer 90%, shorter 10%, first_shown 50%")
    assert check.summary().endswith(
        "Always the longer response scores 90% ≥ pass mark 80%; always response B scores 90% ≥ pass mark 80%."
    )
    gold = strategies.check_strategies(longer_right, bar=0.7, mark="pause threshold")
    assert gold.warnings[0] == "always the longer response scores 90% ≥ pause threshold 70%"


def test_a_balanced_set_passes_no_strategy() -> None:
    balanced = [
        strategies.QuestionFacts(["A"], [90, 10]),
        strategies.QuestionFacts(["A"], [10, 90]),
        strategies.QuestionFacts(["B"], [90, 10]),
        strategies.QuestionFacts(["B"], [10, 90]),
    ]
    check = strategies.check_strategies(balanced, bar=0.6)
    assert not check.passable
    assert check.summary().endswith("None reaches the pass mark 60%.")
    assert ("always the longer response", "50%") in check.rows
    assert strategies.check_strategies([], bar=0.6).summary() == "Trivial strategies: no pairwise questions to score."


def test_response_length_counts_characters_of_the_text() -> None:
    assert strategies.response_length({"text": "héllo", "model": "x"}) == 5
    assert strategies.response_length("abc") == 3
