"""Reads of the judging room shared by the judge's page and the jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q

from judging.models import Judge, JudgeRun, Verdict
from judging.services import pending_items

RECENT_VERDICTS = 20


@dataclass(frozen=True)
class JudgeFigures:
    """The judge's verdicts so far: ``swap_consistency`` is consistent / (consistent +
    inconsistent), the share of answered items whose verdict survived the swap (None before any)."""

    consistent: int
    inconsistent: int
    errors: int
    pending: int

    @property
    def answered(self) -> int:
        return self.consistent + self.inconsistent

    @property
    def swap_consistency(self) -> float | None:
        return self.consistent / self.answered if self.answered else None

    @property
    def swap_consistency_percent(self) -> str:
        rate = self.swap_consistency
        return "—" if rate is None else f"{100 * rate:.0f}%"


def judge_figures(judge: Judge) -> JudgeFigures:
    row = Verdict.objects.filter(judge=judge).aggregate(
        consistent=Count("id", filter=Q(status=Verdict.Status.CONSISTENT)),
        inconsistent=Count("id", filter=Q(status=Verdict.Status.INCONSISTENT)),
        errors=Count("id", filter=Q(status=Verdict.Status.ERROR)),
    )
    return JudgeFigures(pending=pending_items(judge).count(), **row)


def page_context(judge: Judge) -> dict[str, Any]:
    """What the judge's page shows besides the form: figures, spend against budget, the open run
    and the last runs, the latest verdicts with their reasons (model text: rendered escaped)."""
    runs = list(JudgeRun.objects.filter(judge=judge)[:10])
    open_run = next((run for run in runs if run.is_open), None)
    return {
        "figures": judge_figures(judge),
        "spend": {
            "requests": judge.spent_requests,
            "requests_budget": judge.budget_requests,
            "requests_percent": _percent(judge.spent_requests, judge.budget_requests),
            "tokens": judge.spent_tokens,
            "tokens_budget": judge.budget_tokens,
            "tokens_percent": _percent(judge.spent_tokens, judge.budget_tokens),
            "estimated": judge.estimated_tokens,
            "exhausted": not judge.budget_left,
        },
        "runs": runs,
        "open_run": open_run,
        "verdicts": list(
            Verdict.objects.filter(judge=judge)
            .select_related("item")
            .only(
                "status",
                "answer_shown_ab",
                "answer_shown_ba",
                "reason_shown_ab",
                "reason_shown_ba",
                "attempts",
                "error",
                "error_detail",
                "prompt_tokens",
                "completion_tokens",
                "tokens_estimated",
                "created_at",
                "item__external_id",
                "item__id",
                "item__stream_id",
            )
            .order_by("-created_at", "-id")[:RECENT_VERDICTS]
        ),
    }


def _percent(spent: int, budget: int) -> int:
    return min(100, int(100 * spent / budget)) if budget else 100
