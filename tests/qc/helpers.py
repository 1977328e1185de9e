"""Small builders for export tests: an item with judgements from distinct annotators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotation.models import Item, Judgement
from projects.models import Stream
from tests.factories import ItemFactory, JudgementFactory, UserFactory


def judged_item(stream: Stream, answers: list[Any], **item_fields: Any) -> Item:
    """An item of ``stream`` judged once per answer, each by a new annotator. An answer is a
    choice ("A", "B", "tie", "both_bad"), a ranking (list of groups) or a dict of Judgement fields."""
    item = ItemFactory.create(stream=stream, **item_fields)
    for answer in answers:
        judge(item, UserFactory.create(), answer)
    return item


def judge(item: Item, user: Any, answer: Any) -> Judgement:
    if isinstance(answer, dict):
        fields = dict(answer)
    elif isinstance(answer, list):
        fields = {"choice": None, "ranking": answer}
    else:
        fields = {"choice": answer}
    return JudgementFactory.create(assignment__item=item, assignment__annotator=user, **fields)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
