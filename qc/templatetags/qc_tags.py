"""Template helpers of the QC pages: a figure with its sample size, flag and format."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from qc.rules import RULE_LABELS

register = template.Library()


@register.filter
def fmt(value: Any, kind: str = "pct") -> str:
    """A figure's value as the table shows it: pct (62%), sec (8.4 s), int, num (0.42)."""
    if value is None or value == "":  # "": the template's lookup on a figure not computed yet
        return "—"
    if kind == "pct":
        return f"{float(value):.0%}"
    if kind == "sec":
        return f"{float(value):.1f} s"
    if kind == "int":
        return f"{int(value)}"
    return f"{float(value):.2f}"


@register.filter
def figure(figures: dict[str, Any], metric: str) -> Any:
    return figures.get(metric)


@register.filter
def flagged(row: Any) -> bool:
    return bool(row is not None and (row.details or {}).get("flagged"))


@register.filter
def any_flagged(figures: dict[str, Any]) -> bool:
    """Whether any figure of a row (metric → snapshot) is flagged."""
    return any(flagged(row) for row in (figures or {}).values())


@register.filter
def evidence_message(row: Any) -> str:
    """The sentence of a figure's evidence test (``details.evidence.message``), "" when none."""
    return str(((row.details or {}).get("evidence") or {}).get("message", "")) if row is not None else ""


@register.filter
def compact_json(value: Any) -> str:
    """Figure details as compact JSON (escaped by the template like any text)."""
    return json.dumps(value, separators=(", ", ": "), default=str)


@register.filter
def rule_label(kind: str) -> str:
    """A rule's or metric's name in words (``qc.rules.RULE_LABELS``); a key without a label reads
    as its words ("agreement_low" -> "Agreement low")."""
    kind = str(kind or "")
    return RULE_LABELS.get(kind) or kind.replace("_", " ").strip().capitalize()


@register.filter
def rule_labels(kinds: Any) -> str:
    """Several rule or metric keys in words, joined by "; "."""
    return "; ".join(rule_label(kind) for kind in kinds or [])


@register.filter
def figure_cells(figures: dict[str, Any], groups: Any) -> list[SafeString]:
    """An annotator's row of the Quality page's table, one ``<td>`` per figure of ``groups``
    (``qc.selectors.TABLE_GROUPS``): the value as ``fmt`` shows it, ⚑ and the rule's name when
    flagged, its sample size, and the raw value for sorting. Made here, not with a dozen template
    tags a cell: a stream of 75 annotators is 1,350 cells, most of the page's time."""
    cells = []
    for _group, columns in groups:
        for index, (metric, _heading, kind, _title) in enumerate(columns):
            f = figures.get(metric)
            is_flagged = flagged(f)
            classes = "num" + (" group-start" if index == 0 else "") + (" cell-flagged" if is_flagged else "")
            sort_value = repr(f.value) if f is not None and f.value is not None else ""
            title = format_html(' title="Flagged: {}"', rule_label(metric)) if is_flagged else ""
            body: str = "—"
            if f is not None:
                mark = " ⚑" if is_flagged else ""
                body = format_html('{}{}<span class="cell-n">n={}</span>', fmt(f.value, kind), mark, f.sample_size)
            cells.append(format_html('<td class="{}" data-value="{}"{}>{}</td>', classes, sort_value, title, body))
    return cells
