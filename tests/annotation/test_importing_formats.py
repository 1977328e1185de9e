"""The importer's converters and line parsing, without a database."""

from __future__ import annotations

import io
from typing import Any

import pytest

from annotation.importing.formats import (
    ALPACA_EVAL,
    ImportOptionsError,
    MappedConverter,
    check_candidate_count,
    convert_hh,
    convert_native,
    convert_trl,
    parse_mapping,
)
from annotation.importing.records import Candidate, Draft, RecordError, finalise
from annotation.importing.service import SeenIds
from annotation.importing.sources import Source, parse_json_line


def error_of(convert: Any, record: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(RecordError) as info:
        convert(record)
    return info.value.field, info.value.message


# --- native -----------------------------------------------------------------------------------


def test_it_reads_a_native_prompt_with_string_responses() -> None:
    draft = convert_native({"id": 7, "prompt": "Why?", "responses": ["Because.", "No idea."], "priority": "3"})
    assert draft.external_id == "7"
    assert draft.context == [{"role": "user", "content": "Why?"}]
    assert [c.text for c in draft.candidates] == ["Because.", "No idea."]
    assert draft.priority == 3


def test_it_reads_a_native_context_with_response_objects_golden_and_prior() -> None:
    draft = convert_native(
        {
            "context": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "responses": [{"text": "Hello", "model": "m1", "metadata": {"t": 0.7}}, {"text": "Hey", "model": "m2"}],
            "golden": {"answers": ["b", "tie"], "explanation": "Warmer.", "harmful": False},
            "prior": {"choice": "A", "source": "vendor"},
            "metadata": {"batch": 2},
            "pool": "qualification",
        }
    )
    assert draft.candidates[0] == Candidate("Hello", "m1", {"t": 0.7})
    assert draft.golden_answers == [1, "tie"]
    assert draft.prior == {"choice": 0, "source": "vendor"}
    assert draft.pool == "qualification"


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"prompt": "Q", "responses": ["a", "  "]}, "responses[1]", "must be a non-empty string"),
        ({"prompt": "Q", "responses": ["a", {"text": ""}]}, "responses[1].text", "must be a non-empty string"),
        ({"prompt": "Q", "responses": ["a", {"text": 5}]}, "responses[1].text", "not a number"),
        ({"prompt": "Q", "responses": "ab"}, "responses", "must be a list"),
        ({"responses": ["a", "b"]}, "prompt", "missing"),
        ({"prompt": "Q", "context": [], "responses": ["a", "b"]}, "prompt", "not both"),
        ({"context": [{"role": "bot", "content": "x"}], "responses": ["a", "b"]}, "context[0].role", "must be one of"),
        ({"prompt": "Q", "respones": ["a", "b"]}, "respones", "unknown field"),
        ({"prompt": "Q", "responses": ["a", "b"], "golden": {"answers": ["C"]}}, "golden.answers[0]", "must be one of"),
        ({"prompt": "Q", "responses": ["a", "b"], "golden": {"answers": []}}, "golden.answers", "non-empty list"),
        ({"prompt": "Q", "responses": ["a", "b"], "priority": True}, "priority", "must be an integer"),
        ({"prompt": "Q", "responses": ["a", "b"], "id": ""}, "id", "must not be empty"),
        ({"prompt": "Q", "responses": ["a", "b"], "pool": "gold"}, "pool", "must be"),
    ],
)
def test_it_names_the_field_of_a_native_error(record: dict[str, Any], field: str, message: str) -> None:
    got_field, got_message = error_of(convert_native, record)
    assert got_field == field
    assert message in got_message


def test_it_requires_two_responses_and_exactly_two_in_a_pairwise_stream() -> None:
    one = convert_native({"prompt": "Q", "responses": ["a"]})
    with pytest.raises(RecordError, match="at least 2 responses"):
        check_candidate_count(one, pairwise=False)
    three = convert_native({"prompt": "Q", "responses": ["a", "b", "c"]})
    check_candidate_count(three, pairwise=False)
    with pytest.raises(RecordError, match="exactly 2"):
        check_candidate_count(three, pairwise=True)


# --- canonical order --------------------------------------------------------------------------


def test_it_orders_candidates_by_text_hash_and_remaps_labels() -> None:
    forward = Draft([{"role": "user", "content": "Q"}], [Candidate("alpha"), Candidate("beta")], prior={"choice": 0})
    forward.golden_answers = [0]
    backward = Draft([{"role": "user", "content": "Q"}], [Candidate("beta"), Candidate("alpha")], prior={"choice": 1})
    backward.golden_answers = [1]
    a, b = finalise(forward, line=1), finalise(backward, line=2)
    assert a.responses == b.responses
    assert a.external_id == b.external_id  # the id of a file without ids does not depend on order
    assert a.content_hash == b.content_hash
    chosen = [r["text"] for r in a.responses].index("alpha")
    assert a.prior_label == b.prior_label == {"choice": "AB"[chosen]}
    assert a.golden_answers == ["AB"[chosen]]


def test_it_changes_the_content_hash_with_any_imported_field() -> None:
    base = finalise(convert_native({"id": "x", "prompt": "Q", "responses": ["a", "b"]}), line=1)
    for change in ({"metadata": {"k": 1}}, {"priority": 2}, {"golden": {"answers": ["A"]}}, {"prior": {"choice": "B"}}):
        other = finalise(convert_native({"id": "x", "prompt": "Q", "responses": ["a", "b"], **change}), line=1)
        assert other.content_hash != base.content_hash, change


# --- TRL --------------------------------------------------------------------------------------


def test_it_reads_trl_standard_strings_with_chosen_as_prior() -> None:
    draft = convert_trl({"prompt": "2+2?", "chosen": "4", "rejected": "5", "score_chosen": 9})
    assert draft.context == [{"role": "user", "content": "2+2?"}]
    assert [c.text for c in draft.candidates] == ["4", "5"]
    assert draft.prior == {"choice": 0, "source": "trl:chosen"}
    assert draft.metadata == {"score_chosen": 9}


def test_it_reads_trl_conversational() -> None:
    draft = convert_trl(
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello!"}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        }
    )
    assert draft.context == [{"role": "user", "content": "Hi"}]
    assert [c.text for c in draft.candidates] == ["Hello!", "Go away."]


def test_it_refuses_a_trl_answer_that_is_not_one_assistant_message() -> None:
    record = {
        "prompt": [{"role": "user", "content": "Hi"}],
        "chosen": [{"role": "user", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    }
    assert error_of(convert_trl, record) == ("chosen", "must be a list with one assistant message")


def test_it_splits_an_implicit_trl_prompt_from_strings() -> None:
    draft = convert_trl({"chosen": "The sky is blue.", "rejected": "The sky is green."})
    assert draft.context == [{"role": "user", "content": "The sky is"}]
    assert [c.text for c in draft.candidates] == [" blue.", " green."]
    assert not draft.mismatch


def test_it_splits_an_implicit_trl_prompt_from_messages() -> None:
    turn = [{"role": "user", "content": "Hi"}]
    draft = convert_trl(
        {
            "chosen": [*turn, {"role": "assistant", "content": "Hello"}],
            "rejected": [*turn, {"role": "assistant", "content": "Bye"}],
        }
    )
    assert draft.context == turn
    assert [c.text for c in draft.candidates] == ["Hello", "Bye"]


def test_it_reports_implicit_trl_messages_that_differ_early_as_a_mismatch() -> None:
    draft = convert_trl(
        {
            "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            "rejected": [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Bye"}],
        }
    )
    assert draft.mismatch
    assert draft.context == []
    assert draft.candidates[0].text == "User: Hi\n\nAssistant: Hello"
    assert draft.metadata == {"transcript_mismatch": True}


def test_it_refuses_mixed_trl_types() -> None:
    assert error_of(convert_trl, {"chosen": "a", "rejected": [{"role": "assistant", "content": "b"}]})[0] == "rejected"
    assert error_of(convert_trl, {"chosen": "a"}) == ("rejected", "missing")


# --- HH-RLHF ----------------------------------------------------------------------------------

SHARED = "\n\nHuman: How do I pick a lock?\n\nAssistant: Why do you ask?\n\nHuman: I am locked out."


def test_it_turns_hh_shared_turns_into_the_context() -> None:
    draft = convert_hh(
        {"chosen": SHARED + "\n\nAssistant: Call a locksmith.", "rejected": SHARED + "\n\nAssistant: Use a pin."}
    )
    assert draft.context == [
        {"role": "user", "content": "How do I pick a lock?"},
        {"role": "assistant", "content": "Why do you ask?"},
        {"role": "user", "content": "I am locked out."},
    ]
    assert [c.text for c in draft.candidates] == ["Call a locksmith.", "Use a pin."]
    assert draft.prior == {"choice": 0, "source": "hh:chosen"}
    assert not draft.mismatch


def test_it_keeps_an_empty_hh_answer_with_a_warning() -> None:
    draft = convert_hh({"chosen": SHARED + "\n\nAssistant: ", "rejected": SHARED + "\n\nAssistant: Use a pin."})
    assert [c.text for c in draft.candidates] == ["", "Use a pin."]
    assert [(w.field, w.message) for w in draft.warnings] == [("chosen", "the last assistant turn is empty")]


def test_it_imports_hh_transcripts_that_differ_early_whole() -> None:
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello.  Human: more\n\nAssistant: Sure."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: more\n\nAssistant: No."
    draft = convert_hh({"chosen": chosen, "rejected": rejected})
    assert draft.mismatch
    assert [c.text for c in draft.candidates] == [chosen.strip(), rejected.strip()]


def test_it_refuses_text_that_is_not_an_hh_transcript() -> None:
    assert error_of(convert_hh, {"chosen": "hello", "rejected": SHARED})[0] == "chosen"


# --- mapped -----------------------------------------------------------------------------------


def test_it_parses_and_checks_mappings() -> None:
    assert parse_mapping("prompt=q, response_1=a\nresponse_2=b") == {
        "prompt": "q",
        "response_1": "a",
        "response_2": "b",
    }
    for bad, message in [
        (["prompt"], "target=source"),
        (["prompt=q", "response_1=a"], "response_2"),
        (["prompt=q", "response_1=a", "response_3=c"], "without gaps"),
        (["response_1=a", "response_2=b"], "exactly one of prompt"),
        (["prompt=q", "answer=a"], "Unknown mapping target"),
        (["prompt=q", "response_1=a", "response_2=b", "model_3=m"], "response_3 is not"),
    ]:
        with pytest.raises(ImportOptionsError, match=message):
            parse_mapping(bad)


ALPACA_ROW = {
    "instruction": "Name a colour.",
    "dataset": "koala",
    "generator_1": "gpt4",
    "output_1": "Blue.",
    "generator_2": "mixtral",
    "output_2": "Red.",
    "preference": 2.0,
}


def test_it_recognises_alpaca_eval_without_a_mapping() -> None:
    convert = MappedConverter(None)
    draft = convert(dict(ALPACA_ROW))
    assert convert.preset == "alpacaeval"
    assert convert.mapping == ALPACA_EVAL
    assert draft.context == [{"role": "user", "content": "Name a colour."}]
    assert [(c.text, c.model) for c in draft.candidates] == [("Blue.", "gpt4"), ("Red.", "mixtral")]
    assert draft.prior == {"choice": 1, "source": "alpacaeval:preference", "value": 2.0}
    assert draft.metadata == {"dataset": "koala"}


@pytest.mark.parametrize(
    ("value", "choice"), [(1.0, 0), (2, 1), (1.5, "tie"), (1.2, 0), (1.9, 1), ("2.0", 1), ("B", 1), ("", None)]
)
def test_it_reads_numeric_and_letter_priors(value: object, choice: object) -> None:
    draft = MappedConverter(None)({**ALPACA_ROW, "preference": value})
    assert (draft.prior or {}).get("choice") == choice


def test_it_refuses_an_unknown_file_without_a_mapping() -> None:
    with pytest.raises(ImportOptionsError, match="needs a mapping"):
        MappedConverter(None)({"question": "x"})


def test_it_names_the_source_field_of_a_mapped_error() -> None:
    convert = MappedConverter({"prompt": "q", "response_1": "a", "response_2": "b", "prior": "p"})
    assert error_of(convert, {"q": "Q", "a": "A"}) == ("b", "missing")
    assert error_of(convert, {"q": "Q", "a": "A", "b": "B", "p": 7})[0] == "p"


# --- lines ------------------------------------------------------------------------------------


def test_it_finds_the_field_of_a_nul_character() -> None:
    err = parse_json_line(b'{"prompt": "Q", "responses": ["a", {"text": "b\\u0000"}]}')
    assert isinstance(err, RecordError)
    assert (err.field, err.message) == ("responses[1].text", "contains a NUL character (\\u0000)")


def test_it_finds_the_field_of_a_lone_surrogate() -> None:
    err = parse_json_line(b'{"prompt": "Q\\ud800", "responses": ["a", "b"]}')
    assert isinstance(err, RecordError)
    assert err.field == "prompt"
    assert "lone surrogate" in err.message


def test_it_accepts_a_surrogate_pair() -> None:
    assert parse_json_line(b'{"prompt": "\\ud83d\\ude00"}') == {"prompt": "\U0001f600"}


def test_it_reports_bytes_that_are_not_utf8() -> None:
    err = parse_json_line(b'{"prompt": "caf\xe9"}')
    assert isinstance(err, RecordError)
    assert err.field == "prompt"
    assert "not valid UTF-8" in err.message


def test_it_explains_a_json_array_and_invalid_json() -> None:
    err = parse_json_line(b'[{"prompt": "Q"}]', first=True)
    assert isinstance(err, RecordError)
    assert "JSON array" in err.message
    err = parse_json_line(b'{"prompt": "Q",}')
    assert isinstance(err, RecordError)
    assert err.message.startswith("invalid JSON")


def test_it_numbers_csv_records_by_their_first_line() -> None:
    data = b'q,a,b\n"multi\nline",x,y\nz,"p\x00",w\n,,\n'
    records = list(Source(io.BytesIO(data), "f.csv", len(data)).records())
    assert records[0] == (2, {"q": "multi\nline", "a": "x", "b": "y"})
    line, err = records[1]
    assert line == 4
    assert isinstance(err, RecordError)
    assert err.field == "a"


def test_it_remembers_the_first_line_of_every_id() -> None:
    seen = SeenIds(size=4)  # grows many times
    for n in range(1, 5001):
        assert seen.first_line(f"id-{n}", n) == n
    assert [seen.first_line(f"id-{n}", 9999) for n in (1, 2500, 5000)] == [1, 2500, 5000]
    assert seen.first_line("", 7) == 7
