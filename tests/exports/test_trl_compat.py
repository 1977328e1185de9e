"""Proof that an export trains: it loads with Hugging Face ``datasets`` and passes through TRL's
own data utilities, with a chat template on a tokenizer built here (nothing from a hub).

Runs in CI: ``requirements-train.txt`` installs trl, datasets, transformers and a CPU torch. It is
skipped, with the reason printed, only where trl is not importable at all.
"""

from __future__ import annotations

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
    assert dataset.column_names == ["prompt", "chosen", "rejected"]
    example = dataset[3]
    assert not trl_data_utils.is_conversational(example)
    assert example["prompt"] == "Plain\u2028prompt"
    # Standard rows pass through the chat-template step unchanged.
    assert trl_data_utils.maybe_apply_chat_template(example, _tokenizer()) == example


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
    assert all(isinstance(v, str) for v in mapped[0].values())


def test_it_extracts_the_implicit_prompt_of_reward_rows(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "reward", margin=True)
    assert set(dataset.column_names) == {"chosen", "rejected", "margin"}
    example = dataset[0]
    assert trl_data_utils.is_conversational(example)
    extracted = trl_data_utils.maybe_extract_prompt(example)
    assert extracted["prompt"] == CONTEXT
    assert extracted["chosen"] == [{"role": "assistant", "content": "A longer, more detailed answer with reasons."}]
    assert example["margin"] == 1.5  # strengths 2 and unset (1) of the two agreeing judgements
    templated = trl_data_utils.maybe_apply_chat_template(extracted, _tokenizer())
    assert templated["prompt"].endswith("<|assistant|> ")


def test_it_gives_kto_rows_like_trls_own_unpairing(tmp_path: Path) -> None:
    kto = _dataset(tmp_path / "kto", "kto")
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
    exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format=fmt), out)
    return out / "train.jsonl"
