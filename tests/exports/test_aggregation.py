from __future__ import annotations

from exports import aggregation


def test_it_takes_the_plurality_and_reports_its_share() -> None:
    assert aggregation.majority(["A", "A", "B"]) == aggregation.Outcome("A", 2 / 3, "", 2 / 3)
    assert aggregation.majority(["A", "B"]) == aggregation.Outcome(None, 0.5, "no_majority")
    assert aggregation.majority(["tie", "tie", "A"]).label == "tie"


def test_it_requires_every_vote_for_unanimous() -> None:
    assert aggregation.unanimous(["B", "B"]) == aggregation.Outcome("B", 1.0, "", 1.0)
    assert aggregation.unanimous(["B", "B", "A"]) == aggregation.Outcome(None, 2 / 3, "not_unanimous")


def test_it_outvotes_a_majority_of_unreliable_annotators_with_dawid_skene() -> None:
    # Two reliable annotators agree with each other on 20 calibration tasks; three others answer
    # "A" whatever the task. On the last task the reliable two say "B" and the three say "A":
    # majority gives "A", Dawid–Skene trusts the reliable annotators and gives "B".
    data = aggregation.DawidSkeneInput()
    for task in range(20):
        truth = "A" if task % 2 else "B"
        for reliable in (1, 2):
            data.add(task, reliable, truth)
        for spammer in (3, 4, 5):
            data.add(task, spammer, "A")
    for reliable in (1, 2):
        data.add("last", reliable, "B")
    for spammer in (3, 4, 5):
        data.add("last", spammer, "A")
    labels = data.fit()
    assert aggregation.majority(["B", "B", "A", "A", "A"]).label == "A"
    assert labels["last"][0] == "B"
    assert labels["last"][1] > 0.5  # its posterior
    assert all(labels[t][0] == ("A" if t % 2 else "B") for t in range(20))
    assert len(data) == 20 * 5 + 5
