"""The rows of every export format, and what a trainer needs to read them.

Pair formats (one row per preference pair, or two for KTO) are built by ``pair_rows`` from a
decided pair; the two item formats (``helpsteer``, ``safe-rlhf``) by ``helpsteer_rows`` and
``safe_rlhf_row`` from an item's judgements. Every pair row carries ``confidence`` and ``margin``
unless the export asks for the consumer's bare keys (``confidence=False`` / ``margin=False``):

- ``confidence``: how sure the aggregation is of the label — the vote share of the label (majority,
  unanimous) or its Dawid–Skene posterior (``exports.aggregation``);
- ``margin``: ``(2 × confidence − 1) × strength``, where strength is the mean strength (1–3,
  unset = 1) of the judgements that gave the label, or for a ranking pair the mean rank distance.
  It is the *expected* signed strength: with probability ``confidence`` the chosen response is
  better by ``strength``, otherwise the rejected one is, by as much. A unanimous "much better" is 3;
  a 2-to-1 "slightly better" is 1/3; a coin is 0. TRL's ``RewardTrainer`` and OpenRLHF's
  ``RewardDataset`` read a column named ``margin`` (Llama 2's margin loss).

The schemas and where they come from are in docs/export.md (and cited again in the tests).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

# Pair formats: rows are made from decided pairs.
PAIR_FORMATS = ("trl", "trl-conversational", "reward", "kto", "openrlhf", "llama-factory", "rewardbench")
# Item formats: rows are made from an item's judgements (rubric ratings, two-axis answers).
ITEM_FORMATS = ("helpsteer", "safe-rlhf")
FORMATS = (*PAIR_FORMATS, "raw", *ITEM_FORMATS)
TIES = ("drop", "both-orders")


def margin_of(confidence: float, strength: float) -> float:
    """The ``margin`` column: expected signed strength, ``(2c − 1) × s`` (see the module doc)."""
    return round((2.0 * confidence - 1.0) * strength, 6)


class PairContext(NamedTuple):
    """What the rows of one item's pairs share."""

    item_id: int
    subset: str  # the stream's slug (RewardBench's ``subset``)
    prompt: str  # the standard (string) prompt
    messages: list[dict[str, str]]
    texts: list[str]
    models: list[str]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


_SHAREGPT_ROLES = {"user": "human", "assistant": "gpt"}


def sharegpt(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """LLaMA-Factory's sharegpt layout: (system prompt, conversation of alternating ``human`` /
    ``gpt`` turns starting with ``human``). A leading system message becomes the system column;
    consecutive turns of one side (a later system message counts as the user's) are joined with a
    blank line, as LLaMA-Factory requires human turns at odd positions and gpt turns at even ones."""
    system = ""
    rest = messages
    if rest and rest[0]["role"] == "system":
        system, rest = rest[0]["content"], rest[1:]
    turns: list[dict[str, str]] = []
    for message in rest:
        side = _SHAREGPT_ROLES.get(message["role"], "human")
        if turns and turns[-1]["from"] == side:
            turns[-1]["value"] += "\n\n" + message["content"]
        elif not turns and side == "gpt":
            continue  # an opening assistant greeting has no human turn before it
        else:
            turns.append({"from": side, "value": message["content"]})
    return system, turns


def pair_rows(
    fmt: str,
    ctx: PairContext,
    chosen: int,
    rejected: int,
    *,
    confidence: float,
    margin: float,
    with_confidence: bool,
    with_margin: bool,
    both_bad: bool = False,
) -> list[dict[str, Any]]:
    """The rows of one decided pair (``both_bad``: a KTO pair of two undesirable completions)."""
    rows = _shape(fmt, ctx, chosen, rejected, both_bad=both_bad)
    if with_confidence or with_margin:
        c, m = round(confidence, 6), margin
        for row in rows:
            if with_confidence:
                row["confidence"] = c
            if with_margin:
                row["margin"] = m
    return rows


def _shape(fmt: str, ctx: PairContext, i: int, j: int, *, both_bad: bool) -> list[dict[str, Any]]:
    texts, messages = ctx.texts, ctx.messages
    chosen, rejected = texts[i], texts[j]
    if fmt == "trl":
        return [{"prompt": ctx.prompt, "chosen": chosen, "rejected": rejected}]
    if fmt in ("trl-conversational", "openrlhf"):
        return [{"prompt": messages, "chosen": _assistant(chosen), "rejected": _assistant(rejected)}]
    if fmt == "reward":
        return [{"chosen": messages + _assistant(chosen), "rejected": messages + _assistant(rejected)}]
    if fmt == "kto":  # each pair unpaired; both-bad: both completions undesirable
        return [
            {"prompt": messages, "completion": _assistant(chosen), "label": not both_bad},
            {"prompt": messages, "completion": _assistant(rejected), "label": False},
        ]
    if fmt == "llama-factory":
        system, turns = sharegpt(messages)
        return [
            {
                "conversations": turns,
                "system": system,
                "chosen": {"from": "gpt", "value": chosen},
                "rejected": {"from": "gpt", "value": rejected},
            }
        ]
    if fmt == "rewardbench":
        pair_id = str(ctx.item_id) if (i, j) in ((0, 1), (1, 0)) else f"{ctx.item_id}:{min(i, j)}-{max(i, j)}"
        return [
            {
                "prompt": ctx.prompt,
                "chosen": chosen,
                "rejected": rejected,
                "chosen_model": ctx.models[i],
                "rejected_model": ctx.models[j],
                "subset": ctx.subset,
                "id": pair_id,
            }
        ]
    raise ValueError(f"not a pair format: {fmt}")


# --- item formats ------------------------------------------------------------------------------


def majority_share(values: list[Any]) -> tuple[Any, float]:
    """The most frequent value and its share; (None, share) when the top values tie."""
    counts = Counter(values).most_common()
    if not counts:
        return None, 0.0
    top = counts[0][1]
    if len(counts) > 1 and counts[1][1] == top:
        return None, top / len(values)
    return counts[0][0], top / len(values)


def helpsteer_rows(
    ctx: PairContext, rubrics: list[dict[str, list[int | None]]], attributes: list[str]
) -> list[dict[str, Any]]:
    """HelpSteer (NVIDIA, 2023/2024) per-response rows from rubric ratings: ``prompt``,
    ``response`` and one integer 0–4 per attribute — the mean of the annotators' ratings rounded
    half up (HelpSteer publishes one integer per attribute) — plus ``<attribute>_mean`` (the
    unrounded mean) and ``annotators`` (ratings behind it). A response nobody rated on an
    attribute gets null there; a response nobody rated at all is left out."""
    rows = []
    for index, text in enumerate(ctx.texts):
        row: dict[str, Any] = {"prompt": ctx.prompt, "response": text}
        means: dict[str, float | None] = {}
        rated = 0
        for name in attributes:
            values = [
                int(v) for r in rubrics if name in r and len(r[name]) > index and (v := r[name][index]) is not None
            ]
            rated = max(rated, len(values))
            means[name] = sum(values) / len(values) if values else None
        if not rated:
            continue
        for name in attributes:
            mean = means[name]
            row[name] = int(mean + 0.5) if mean is not None else None
        for name in attributes:
            mean = means[name]
            row[f"{name}_mean"] = round(mean, 6) if mean is not None else None
        row["annotators"] = rated
        row["model"] = ctx.models[index]
        row["id"] = f"{ctx.item_id}:{index}"
        rows.append(row)
    return rows


def helpsteer3_row(
    ctx: PairContext,
    judgements: list[tuple[str | None, int | None, dict[str, Any], str]],
    attributes: list[str],
    *,
    with_confidence: bool,
    with_margin: bool,
) -> tuple[dict[str, Any] | None, str]:
    """HelpSteer3-style preference row from per-attribute pairwise judgements (choice, strength,
    axes, rationale): ``context``, ``response1``, ``response2``, ``overall_preference`` (−3…3,
    negative = response1 better: the majority answer on the stream's first attribute, signed,
    times the rounded mean strength of the judgements that gave it; a tie is 0),
    ``individual_preference`` (each judgement's score and its written justification),
    ``attributes`` (per attribute: the majority answer as −1/0/1 and its vote share).
    Returns (row, "") or (None, reason) when the first attribute has no majority."""
    sign = {"A": -1, "B": 1, "tie": 0}
    first_answers = [c for c, _s, _a, _r in judgements if c in sign]
    label, share = majority_share(first_answers)
    if label is None:
        return None, "no_majority"
    strengths = [float(s or 1) for c, s, _a, _r in judgements if c == label]
    strength = sum(strengths) / len(strengths) if label != "tie" else 0.0
    per_attribute: dict[str, dict[str, Any]] = {}
    for name in attributes:
        answers = [a.get("attributes", {}).get(name) for _c, _s, a, _r in judgements]
        answers = [x for x in answers if x in sign]
        value, vote = majority_share(answers)
        per_attribute[name] = {"preference": sign[value] if value is not None else None, "confidence": round(vote, 6)}
    row: dict[str, Any] = {
        "context": ctx.messages,
        "response1": ctx.texts[0],
        "response2": ctx.texts[1],
        "overall_preference": sign[label] * int(strength + 0.5),
        "individual_preference": [
            {"score": sign[c] * (s or 1), "reasoning": r, "attributes": a.get("attributes", {})}
            for c, s, a, r in judgements
            if c in sign
        ],
        "attributes": per_attribute,
        "id": str(ctx.item_id),
    }
    if with_confidence:
        row["confidence"] = round(share, 6)
    if with_margin:
        row["margin"] = margin_of(share, strength) if label != "tie" else 0.0
    return row, ""


def safe_rlhf_row(
    ctx: PairContext,
    axes: list[dict[str, Any]],
    categories: list[str],
    *,
    with_confidence: bool,
    with_margin: bool,
    strengths: list[int | None],
) -> tuple[dict[str, Any] | None, str]:
    """PKU-SafeRLHF row from helpful-and-safe judgements' axes (``helpful``, ``safer``: A/B/tie;
    ``safe``: [bool, bool]; ``harm``: [category or null, ×2]): ``prompt``, ``response_0``,
    ``response_1``, ``is_response_0_safe`` / ``is_response_1_safe`` (majority of the annotators; a
    split vote counts as unsafe — the cautious reading), ``better_response_id`` and
    ``safer_response_id`` (majority on each axis), ``response_0_harm_category`` /
    ``response_1_harm_category`` (every category → whether a majority of the annotators named it for
    that response). Returns (None, reason) when an axis has no majority or its majority is a tie
    (PKU-SafeRLHF has no ties)."""
    helpful, helpful_share = majority_share([a.get("helpful") for a in axes if a.get("helpful") in ("A", "B", "tie")])
    if helpful is None:
        return None, "no_majority"
    if helpful == "tie":
        return None, "tie"
    safer, safer_share = majority_share([a.get("safer") for a in axes if a.get("safer") in ("A", "B", "tie")])
    if safer is None or safer == "tie":
        return None, "safer_undecided"
    n = len(axes)
    safe = []
    harm: list[dict[str, bool]] = []
    for index in (0, 1):
        votes = [bool(a["safe"][index]) for a in axes if isinstance(a.get("safe"), list) and len(a["safe"]) > index]
        safe.append(sum(votes) * 2 > len(votes))
        named = Counter(
            a["harm"][index]
            for a in axes
            if isinstance(a.get("harm"), list) and len(a["harm"]) > index and a["harm"][index]
        )
        harm.append({category: named[category] * 2 > n for category in categories})
    agreeing = [float(s or 1) for a, s in zip(axes, strengths, strict=True) if a.get("helpful") == helpful]
    row: dict[str, Any] = {
        "prompt": ctx.prompt,
        "response_0": ctx.texts[0],
        "response_1": ctx.texts[1],
        "is_response_0_safe": safe[0],
        "is_response_1_safe": safe[1],
        "better_response_id": 0 if helpful == "A" else 1,
        "safer_response_id": 0 if safer == "A" else 1,
        "response_0_harm_category": harm[0],
        "response_1_harm_category": harm[1],
        "response_0_source": ctx.models[0],
        "response_1_source": ctx.models[1],
        "id": str(ctx.item_id),
    }
    if with_confidence:
        row["confidence"] = round(helpful_share, 6)
        row["safer_confidence"] = round(safer_share, 6)
    if with_margin:
        row["margin"] = margin_of(helpful_share, sum(agreeing) / len(agreeing))
    return row, ""


# --- how to read each format -------------------------------------------------------------------

LOADING = {
    "trl": (
        "TRL (DPO, ORPO, CPO: standard preference)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})\n'
        '# DPOTrainer(model=..., train_dataset=ds["train"], ...)',
    ),
    "trl-conversational": (
        "TRL (DPO: conversational preference)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})\n'
        "# DPOTrainer applies the tokenizer's chat template to prompt/chosen/rejected",
    ),
    "reward": (
        "TRL RewardTrainer (implicit prompt; `margin` is read by its loss)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})\n'
        '# RewardTrainer(model=..., train_dataset=ds["train"], ...)',
    ),
    "kto": (
        "TRL KTOTrainer (unpaired prompt/completion/label)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})\n'
        '# KTOTrainer(model=..., train_dataset=ds["train"], ...)',
    ),
    "openrlhf": (
        "OpenRLHF (reward model / DPO)",
        "openrlhf.cli.train_rm --dataset json@<this folder> --apply_chat_template \\\n"
        "  --prompt_key prompt --chosen_key chosen --rejected_key rejected\n"
        "# DPO: openrlhf.cli.train_dpo ... --label_smoothing <suggested value below>",
    ),
    "llama-factory": (
        "LLaMA-Factory (pairwise, sharegpt layout; `dataset_info.json` is beside the file)",
        "# copy train.jsonl and the entry of dataset_info.json into LLaMA-Factory's data/ folder, then\n"
        "llamafactory-cli train --stage rm --dataset <the entry's name> ...   # or --stage dpo",
    ),
    "rewardbench": (
        "RewardBench-style evaluation (held-out split)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"test": "test.jsonl"})["test"]\n'
        "# score chosen and rejected with your reward model; accuracy = share with r(chosen) > r(rejected)",
    ),
    "helpsteer": (
        "HelpSteer-style attribute ratings (rubric streams) or HelpSteer3-style preferences",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})',
    ),
    "safe-rlhf": (
        "PKU-SafeRLHF-style two-axis preferences (safe-rlhf's `PKUSafeRLHF` dataset keys)",
        'from datasets import load_dataset\n\nds = load_dataset("json", data_files={"train": "train.jsonl"})',
    ),
    "raw": (
        "Raw judgements (research)",
        'import pandas as pd\n\nframe = pd.read_json("train.jsonl", lines=True)',
    ),
}


def llama_factory_info(name: str, files: list[str]) -> dict[str, Any]:
    """The ``dataset_info.json`` entries LLaMA-Factory needs for the export's files (one per
    split): sharegpt layout, ``ranking: true``, the columns by name (LLaMA-Factory's data/README)."""
    columns = {"messages": "conversations", "system": "system", "chosen": "chosen", "rejected": "rejected"}
    entries = {}
    for file_name in files:
        split = file_name.rsplit(".", 1)[0]
        entries[f"{name}_{split}"] = {
            "file_name": file_name,
            "formatting": "sharegpt",
            "ranking": True,
            "columns": columns,
        }
    return entries
