"""Proof that an export trains: every format loads with Hugging Face ``datasets`` and, where TRL has
a data utility for it, passes through TRL's own code, with a chat template on a tokenizer built here
(nothing from a hub); a tiny reward model trained by TRL's ``RewardTrainer`` on an export with margins
ranks held-out pairs better than chance. Consumers that do not install here (OpenRLHF, LLaMA-Factory,
RewardBench, HelpSteer, PKU-SafeRLHF) are checked against their documented schema; each test names
its source.

Runs in CI: ``requirements-train.txt`` installs trl, datasets, transformers and a CPU torch. It is
skipped, with the reason printed, only where trl is not importable at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from exports import services as exporting
from tests.factories import StreamFactory
from tests.qc.helpers import judged_item

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

trl_data_utils = pytest.importorskip(
    "trl.data_utils", reason="trl is not installed: pip install -r requirements-train.txt"
)
datasets = pytest.importorskip("datasets")

pytestmark = pytest.mark.django_db

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
CONTEXT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Capital of France?\nOne word 😀"},
]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "<|end|>": 2}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _dataset(tmp_path: Path, fmt: str, **spec: Any) -> Any:
    stream = StreamFactory.create()
    for _ in range(3):
        judged_item(stream, [{"choice": "B", "strength": 2}, "B", "A"], context=CONTEXT)
    judged_item(stream, ["A", "A"], context=[{"role": "user", "content": "Plain\u2028prompt"}])
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format=fmt, **spec), tmp_path)
    return datasets.load_dataset("json", data_files=str(tmp_path / "train.jsonl"), split="train")


def test_it_loads_standard_trl_rows(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "trl")
    assert dataset.column_names == ["prompt", "chosen", "rejected", "confidence", "margin"]
    example = dataset[3]
    assert not trl_data_utils.is_conversational(example)
    assert example["prompt"] == "Plain\u2028prompt"
    # Standard rows pass through the chat-template step unchanged.
    assert trl_data_utils.maybe_apply_chat_template(example, _tokenizer()) == example
    bare = _dataset(tmp_path / "bare", "trl", confidence=False, margin=False)
    assert bare.column_names == ["prompt", "chosen", "rejected"]


def test_it_applies_the_chat_template_to_conversational_rows(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "trl-conversational")
    assert len(dataset) == 4
    example = dataset[0]
    assert trl_data_utils.is_conversational(example)
    assert example["prompt"][-1]["role"] == "user"
    templated = trl_data_utils.maybe_apply_chat_template(example, _tokenizer())
    assert templated["prompt"].endswith("<|user|> Capital of France?\nOne word 😀 <|end|>\n<|assistant|> ")
    assert templated["prompt"].startswith("<|system|> Answer briefly.")
    assert templated["chosen"].startswith("A longer, more detailed answer")
    assert templated["rejected"].startswith("A short answer.")
    mapped = dataset.map(trl_data_utils.maybe_apply_chat_template, fn_kwargs={"processing_class": _tokenizer()})
    assert all(isinstance(mapped[0][key], str) for key in ("prompt", "chosen", "rejected"))


def test_it_extracts_the_implicit_prompt_of_reward_rows(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "reward")
    assert set(dataset.column_names) == {"chosen", "rejected", "margin", "confidence"}
    example = dataset[0]
    assert trl_data_utils.is_conversational(example)
    extracted = trl_data_utils.maybe_extract_prompt(example)
    assert extracted["prompt"] == CONTEXT
    assert extracted["chosen"] == [{"role": "assistant", "content": "A longer, more detailed answer with reasons."}]
    # Two of three say B (confidence 2/3), with strengths 2 and unset (1): (2 × 2/3 − 1) × 1.5.
    assert example["confidence"] == pytest.approx(2 / 3, abs=1e-6)
    assert example["margin"] == pytest.approx(0.5, abs=1e-6)
    templated = trl_data_utils.maybe_apply_chat_template(extracted, _tokenizer())
    assert templated["prompt"].endswith("<|assistant|> ")


def test_it_gives_kto_rows_like_trls_own_unpairing(tmp_path: Path) -> None:
    kto = _dataset(tmp_path / "kto", "kto", confidence=False, margin=False)
    assert kto.column_names == ["prompt", "completion", "label"]
    assert kto["label"] == [True, False] * 4
    templated = trl_data_utils.maybe_apply_chat_template(kto[0], _tokenizer())
    assert set(templated) == {"prompt", "completion", "label"}

    paired = datasets.load_dataset(
        "json", data_files=str(_export_again(tmp_path / "pairs", "trl-conversational")), split="train"
    )
    unpaired = trl_data_utils.maybe_unpair_preference_dataset(paired)
    assert unpaired.column_names == ["prompt", "completion", "label"]
    assert sorted(map(str, unpaired.to_list())) == sorted(map(str, kto.to_list()))


def _export_again(out: Path, fmt: str) -> Path:
    from projects.models import Stream

    stream = Stream.objects.order_by("-pk").first()
    assert stream is not None
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format=fmt, confidence=False, margin=False)
    exporting.write_export(spec, out)
    return out / "train.jsonl"


def _load(path: Path) -> Any:
    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def test_it_writes_openrlhf_rows_its_reward_dataset_reads(tmp_path: Path) -> None:
    """Schema: OpenRLHF ``openrlhf/datasets/reward_dataset.py`` ``preprocess_data`` (with
    ``--apply_chat_template --prompt_key prompt --chosen_key chosen --rejected_key rejected``:
    ``apply_chat_template(data[prompt_key] + data[chosen_key])``; ``margin`` read when present),
    https://github.com/OpenRLHF/OpenRLHF/blob/main/openrlhf/datasets/reward_dataset.py"""
    dataset = _dataset(tmp_path, "openrlhf")
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected", "margin", "confidence"}
    data = dataset[0]
    tokenizer = _tokenizer()
    prompt = tokenizer.apply_chat_template(data["prompt"], tokenize=False, add_generation_prompt=True)
    chosen = tokenizer.apply_chat_template(data["prompt"] + data["chosen"], tokenize=False)[len(prompt) :]
    rejected = tokenizer.apply_chat_template(data["prompt"] + data["rejected"], tokenize=False)[len(prompt) :]
    assert prompt.endswith("<|assistant|> ")
    assert chosen.startswith("A longer, more detailed answer")
    assert rejected.startswith("A short answer.")
    assert isinstance(data["margin"], float)


def test_it_writes_llama_factory_pairwise_data_with_its_dataset_info(tmp_path: Path) -> None:
    """Schema: LLaMA-Factory ``data/README.md``, "Preference Dataset" in the sharegpt format
    (``conversations`` of human/gpt turns, human at odd positions; ``chosen``/``rejected`` one gpt
    message; the ``dataset_info.json`` entry with ``formatting: sharegpt``, ``ranking: true`` and
    the columns), https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md"""
    dataset = _dataset(tmp_path, "llama-factory", test_fraction=0.5, seed=3)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    entries = {entry["file_name"]: entry for entry in info.values()}
    assert set(entries) == {"train.jsonl", "test.jsonl"}
    for entry in entries.values():
        assert entry["formatting"] == "sharegpt"
        assert entry["ranking"] is True
        assert entry["columns"] == {
            "messages": "conversations",
            "system": "system",
            "chosen": "chosen",
            "rejected": "rejected",
        }
    rows = datasets.concatenate_datasets([dataset, _load(tmp_path / "test.jsonl")])
    assert len(rows) == 4
    for row in rows:
        sides = [turn["from"] for turn in row["conversations"]]
        assert sides[::2] == ["human"] * len(sides[::2])
        assert sides[1::2] == ["gpt"] * len(sides[1::2])
        assert sides[-1] == "human"
        assert row["chosen"]["from"] == row["rejected"]["from"] == "gpt"
    multi = next(r for r in rows if len(r["conversations"]) > 1)
    assert multi["system"] == "Answer briefly."
    # TRL's converter reads the from/value layout (roles keep LLaMA-Factory's names).
    chatml = trl_data_utils.maybe_convert_to_chatml({"messages": multi["conversations"]})
    assert [m["role"] for m in chatml["messages"]] == ["human", "gpt", "human"]
    assert chatml["messages"][-1]["content"] == CONTEXT[-1]["content"]


def test_it_writes_a_rewardbench_set_from_the_held_out_split_only(tmp_path: Path) -> None:
    """Schema: RewardBench's data set card (columns prompt, chosen, chosen_model, rejected,
    rejected_model, subset, id), https://huggingface.co/datasets/allenai/reward-bench"""
    stream = StreamFactory.create()
    for n in range(20):
        judged_item(stream, ["A", "A", "B"] if n % 2 else ["B", "B"])
    spec: dict[str, Any] = {"test_fraction": 0.3, "seed": 5}
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="rewardbench", **spec), tmp_path / "rb")
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="trl", **spec), tmp_path / "trl")
    assert not (tmp_path / "rb" / "train.jsonl").exists()
    bench = _load(tmp_path / "rb" / "test.jsonl")
    assert set(bench.column_names) == {
        "prompt", "chosen", "rejected", "chosen_model", "rejected_model", "subset", "id", "confidence", "margin"
    }  # fmt: skip
    assert 0 < len(bench) < 20
    assert set(bench["subset"]) == {stream.slug}
    assert {(r["chosen_model"], r["rejected_model"]) for r in bench} <= {("model-a", "model-b"), ("model-b", "model-a")}
    trained_on = set(_load(tmp_path / "trl" / "train.jsonl")["prompt"])
    assert trained_on.isdisjoint(bench["prompt"])  # same seed and fraction: the evaluation items stay out
    assert len(trained_on) + len(bench) == 20


def test_it_writes_helpsteer_attribute_ratings_from_a_rubric_stream(tmp_path: Path) -> None:
    """Schema: HelpSteer2's data set card (prompt, response, helpfulness, correctness, coherence,
    complexity, verbosity: integers 0–4), https://huggingface.co/datasets/nvidia/HelpSteer2"""
    stream = StreamFactory.create(rubric=["helpfulness", "correctness"])
    judged_item(
        stream,
        [
            {"choice": "B", "rubric": {"helpfulness": [1, 4], "correctness": [2, 3]}},
            {"choice": "B", "rubric": {"helpfulness": [2, 3], "correctness": [2, None]}},
        ],
    )
    judged_item(stream, ["A"])  # no ratings: not a HelpSteer row
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="helpsteer"), tmp_path)
    rows = _load(tmp_path / "train.jsonl")
    assert rows.column_names[:4] == ["prompt", "response", "helpfulness", "correctness"]
    assert [(r["helpfulness"], r["correctness"]) for r in rows] == [(2, 2), (4, 3)]  # means 1.5, 2 / 3.5, 3
    assert rows[1]["helpfulness_mean"] == 3.5
    assert rows[1]["annotators"] == 2
    assert manifest["counts"]["items"]["dropped"]["no_ratings"] == 1


def test_it_writes_helpsteer3_preferences_with_justifications(tmp_path: Path) -> None:
    """Schema: HelpSteer3's preference subset (context, response1, response2, overall_preference
    −3…3 with negative = response1 better, individual_preference with score and reasoning),
    https://huggingface.co/datasets/nvidia/HelpSteer3"""
    stream = StreamFactory.create()

    def answer(overall: str, style: str, strength: int | None, why: str) -> dict[str, Any]:
        attributes = {"correctness": overall, "style": style}
        return {"choice": overall, "strength": strength, "axes": {"attributes": attributes}, "rationale": why}

    judged_item(
        stream,
        [
            answer("A", "B", 3, "Response 1 is right, 2 is wrong."),
            answer("A", "tie", 2, "Only 1 answers the question."),
            answer("B", "B", 1, "2 reads better."),
        ],
    )
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="helpsteer"), tmp_path)
    row = _load(tmp_path / "train.jsonl")[0]
    assert row["overall_preference"] == -3  # A by 2 of 3, mean strength 2.5 → rounded 3, response1 better
    assert [p["score"] for p in row["individual_preference"]] == [-3, -2, 1]
    assert row["individual_preference"][0]["reasoning"] == "Response 1 is right, 2 is wrong."
    assert row["attributes"]["correctness"] == {"preference": -1, "confidence": pytest.approx(2 / 3, abs=1e-6)}
    assert row["attributes"]["style"]["preference"] == 1
    assert row["context"] == [{"role": "user", "content": row["context"][0]["content"]}]


def test_it_writes_pku_safe_rlhf_rows_from_helpful_and_safe_judgements(tmp_path: Path) -> None:
    """Schema: PKU-SafeRLHF's data set card (prompt, response_0, response_1, is_response_0_safe,
    is_response_1_safe, better_response_id, safer_response_id, response_0_harm_category and
    response_1_harm_category: category → bool), https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF.
    The judgements are made here as a helpful-and-safe page stores them (``Judgement.axes``)."""
    stream = StreamFactory.create()

    def answer(helpful: str, safer: str, safe: list[bool], harm: list[str | None]) -> dict[str, Any]:
        return {"choice": helpful, "axes": {"helpful": helpful, "safer": safer, "safe": safe, "harm": harm}}

    judged_item(
        stream,
        [
            answer("B", "A", [True, False], [None, "violence"]),
            answer("B", "A", [True, False], [None, "violence"]),
            answer("A", "A", [True, True], [None, None]),
        ],
    )
    judged_item(stream, [answer("A", "A", [True, True], [None, None]), answer("A", "B", [True, True], [None, None])])
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="safe-rlhf"), tmp_path)
    rows = _load(tmp_path / "train.jsonl")
    assert len(rows) == 1
    row = rows[0]
    assert (row["better_response_id"], row["safer_response_id"]) == (1, 0)
    assert (row["is_response_0_safe"], row["is_response_1_safe"]) == (True, False)
    assert row["response_1_harm_category"] == {"violence": True}
    assert row["response_0_harm_category"] == {"violence": False}
    assert row["confidence"] == pytest.approx(2 / 3, abs=1e-6)
    assert manifest["counts"]["items"]["dropped"]["safer_undecided"] == 1


def test_it_writes_parquet_that_datasets_reads(tmp_path: Path) -> None:
    _dataset(tmp_path / "jsonl", "trl-conversational")
    from projects.models import Stream

    stream = Stream.objects.order_by("-pk").first()
    assert stream is not None
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format="trl-conversational", file_format="parquet")
    manifest = exporting.write_export(spec, tmp_path / "pq")
    parquet = _load(tmp_path / "pq" / "train.parquet")
    assert parquet.to_list() == _load(tmp_path / "jsonl" / "train.jsonl").to_list()
    assert trl_data_utils.is_conversational(parquet[0])
    assert next(f["name"] for f in manifest["files"]) == "train.parquet"


# --- a tiny reward model, trained by TRL on an export with margins -----------------------------

GOOD = ["clear", "correct", "kind", "precise", "helpful", "honest"]
BAD = ["vague", "wrong", "rude", "sloppy", "useless", "evasive"]


def _word_tokenizer(words: list[str]) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "<|end|>": 2, "<|user|>": 3, "<|assistant|>": 4}
    for word in words:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|end|>"
    )
    tokenizer.chat_template = (
        "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    return tokenizer


def test_a_tiny_reward_model_trained_on_an_export_with_margins_ranks_held_out_pairs(tmp_path: Path) -> None:
    """Annotators (right 80% of the time, with strengths) compare a response of "good" words with
    one of "bad" words; the ``reward`` export (margins on) trains a one-layer model with TRL's
    ``RewardTrainer`` on CPU; on the held-out split (test_fraction) it must rank the chosen response
    above the rejected one more often than chance: one-sided binomial test at 1%."""
    import random

    import torch
    from scipy.stats import binomtest
    from transformers import LlamaConfig, LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from annotation.models import Item
    from tests.factories import ItemFactory, UserFactory
    from tests.qc.helpers import judge

    rng = random.Random(11)
    torch.manual_seed(0)
    stream = StreamFactory.create()
    annotators = [UserFactory.create() for _ in range(3)]
    topics = ["tax", "code", "soup", "trip", "loan", "poem"]
    for _n in range(120):
        good = " ".join(rng.sample(GOOD, 3))
        bad = " ".join(rng.sample(BAD, 3))
        good_first = rng.random() < 0.5
        texts = [good, bad] if good_first else [bad, good]
        item = ItemFactory.create(
            stream=stream,
            context=[{"role": "user", "content": f"help {rng.choice(topics)}"}],
            responses=[{"text": t, "model": "m", "metadata": {}} for t in texts],
        )
        right = "A" if good_first else "B"
        for user in annotators:
            choice = right if rng.random() < 0.8 else "AB"[right == "A"]
            judge(item, user, {"choice": choice, "strength": rng.choice([1, 2, 3])})
    assert Item.objects.filter(stream=stream).count() == 120
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format="reward", test_fraction=0.3, seed=1)
    manifest = exporting.write_export(spec, tmp_path / "export")
    train = _load(tmp_path / "export" / "train.jsonl")
    test = _load(tmp_path / "export" / "test.jsonl")
    assert "margin" in train.column_names
    assert min(train["margin"]) >= 0
    assert manifest["uncertainty"]["label_smoothing"]["suggested"] > 0

    tokenizer = _word_tokenizer(GOOD + BAD + topics + ["help"])
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        num_labels=1,  # type: ignore[call-arg]  # a PretrainedConfig keyword
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForSequenceClassification(config)
    args = RewardConfig(
        output_dir=str(tmp_path / "rm"),
        per_device_train_batch_size=16,
        num_train_epochs=8,
        learning_rate=3e-3,
        max_length=64,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        dataset_num_proc=None,
        seed=0,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    trainer.train()

    model.eval()
    correct = 0
    with torch.no_grad():
        for row in test:
            scores = []
            for side in ("chosen", "rejected"):
                text = tokenizer.apply_chat_template(row[side], tokenize=False)
                ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
                scores.append(model(**ids).logits[0, 0].item())
            correct += int(scores[0] > scores[1])
    # The held-out labels are the annotators' majority (right ~90% of the time), not the truth:
    # beating a coin on them is the claim, at a stated error rate.
    assert binomtest(correct, len(test), 0.5, alternative="greater").pvalue < 0.01, (correct, len(test))
