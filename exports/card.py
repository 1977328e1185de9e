"""The dataset card: ``README.md`` beside every export's manifest, rendered from the manifest dict
alone, so whatever the manifest states the card can show (a key added to the manifest later, such
as ``guideline_versions``, appears here without touching the export code)."""

from __future__ import annotations

from typing import Any

from exports import formats

CARD_NAME = "README.md"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _reasons(dropped: dict[str, int]) -> str:
    shown = [f"{reason.replace('_', ' ')} {n:,}" for reason, n in dropped.items() if n]
    return "; ".join(shown) if shown else "none"


def _files(manifest: dict[str, Any]) -> str:
    data = [f for f in manifest.get("files", []) if str(f.get("name", "")).endswith((".jsonl", ".parquet"))]
    return ", ".join(f"`{f['name']}` ({f.get('rows', 0):,} rows)" for f in data) or "none"


def render(manifest: dict[str, Any]) -> str:
    """Markdown: what the data is, from whom, under which guidelines, when, how much was kept and
    dropped and why, its licence and how to load it."""
    fmt = manifest.get("format", "")
    counts = manifest.get("counts", {})
    settings = manifest.get("settings", {})
    streams = manifest.get("streams", {})
    uncertainty = manifest.get("uncertainty", {})
    items = counts.get("items", {})
    title = f"Quorum export {manifest['export_id']}" if manifest.get("export_id") else "Quorum export"
    lines = [f"# {title}: {', '.join(streams) or 'no stream'} ({fmt})", ""]
    lines += [
        "Human preference data collected with Quorum. " + str(manifest.get("notes", "")),
        "",
        "## What",
        "",
        f"- Format: `{fmt}`; aggregation: {manifest.get('aggregation') or '— (one row per judgement)'}; "
        f"ties: {settings.get('ties', 'drop')}.",
        f"- Files: {_files(manifest)}.",
        f"- Licence: {manifest.get('licence') or 'not set (ask the project manager before sharing)'}.",
        f"- Guideline versions: {_guideline_versions(manifest)}.",
        f"- Made by {manifest.get('created_by') or 'the command line'} on {manifest.get('created_at', '')[:10]} "
        f"(Quorum {manifest.get('quorum_version', '')}); snapshot of the judgements up to id "
        f"{manifest.get('snapshot', {}).get('max_judgement_id', '')}.",
    ]
    date_range = manifest.get("date_range") or {}
    if date_range.get("first"):
        lines.append(f"- Judgements submitted from {date_range['first'][:10]} to {date_range['last'][:10]}.")
    lines += ["", "## From whom", ""]
    lines += ["| Stream | Task | Annotators | Qualification | Agreement | Pairs | Mean confidence | Label smoothing |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for slug, figures in streams.items():
        people = figures.get("annotators", {})
        qualification = people.get("qualification", {})
        test = f"test, pass mark {_pct(qualification.get('pass_mark'))}" if qualification.get("test") else "no test"
        members = people.get("members", {})
        if members:
            test += " (" + ", ".join(f"{status} {n}" for status, n in members.items()) + ")"
        agreement = (figures.get("agreement") or {}).get("value")
        confidence = (figures.get("confidence") or {}).get("mean")
        smoothing = (figures.get("label_smoothing") or {}).get("suggested")
        lines.append(
            f"| {slug} | {figures.get('task_kind', '')} | {people.get('pool', '—')} | {test} | {_pct(agreement)} | "
            f"{figures.get('pairs_kept', 0):,} | {'—' if confidence is None else f'{confidence:.3f}'} | "
            f"{'—' if smoothing is None else smoothing} |"
        )
    lines += [
        "",
        "Annotators: distinct people whose counted judgements the export read. Agreement: mean share of a "
        "comparison's judgements that gave its label. Golden items, simulated and model-judge judgements are never "
        "in the data.",
        "",
        "## Counts and drops",
        "",
        f"- Judgements read {counts.get('judgements', {}).get('read', 0):,}; dropped: "
        f"{_reasons(counts.get('judgements', {}).get('dropped', {}))}.",
        f"- Items read {items.get('read', 0):,}, exported {items.get('exported', 0):,}; "
        f"dropped: {_reasons(items.get('dropped', {}))}.",
        f"- Pairs kept {counts.get('pairs', {}).get('kept', 0):,}; dropped: "
        f"{_reasons(counts.get('pairs', {}).get('dropped', {}))}.",
        f"- Rows per split: {', '.join(f'{k} {v:,}' for k, v in counts.get('rows', {}).items()) or 'none'}.",
    ]
    if uncertainty:
        smoothing = uncertainty.get("label_smoothing", {})
        lines += [
            "",
            "## Uncertainty",
            "",
            f"- `confidence`: {uncertainty.get('confidence', '')}.",
            f"- `margin`: {uncertainty.get('margin', '')}.",
            f"- Suggested label smoothing: **{smoothing.get('suggested')}** — {smoothing.get('definition', '')}.",
        ]
    title, snippet = formats.LOADING.get(fmt, ("", ""))
    lines += ["", "## How to load it", "", f"{title}:", "", "```python" if "import" in snippet else "```sh"]
    lines += [snippet, "```", ""]
    if settings.get("file_format") == "parquet":
        lines += ['The files are Parquet: `load_dataset("parquet", data_files=...)`.', ""]
    lines += ["Every figure above is in `manifest.json` beside this card, with its definition.", ""]
    return "\n".join(lines)


def _guideline_versions(manifest: dict[str, Any]) -> str:
    """Per stream, the guideline versions the judgements were made under, with their share."""
    per_stream = manifest.get("guideline_versions") or {}
    parts = []
    for slug, versions in per_stream.items():
        shown = ", ".join(
            (f"v{v['number']}" if v.get("number") else "before versioning")
            + (f" of {str(v['created_at'])[:10]}" if v.get("created_at") else "")
            + f" ({v.get('judgements', 0)} judgements)"
            for v in versions
        )
        parts.append(f"`{slug}`: {shown or 'no judgements'}")
    return "; ".join(parts) or "not recorded"
