"""A model as a monitored annotator: a judge attached to a stream, its runs and its verdicts.

A judge is one of the project's model endpoints asked, for each item, which response is better,
once in each display order. A verdict that agrees across the swap becomes a judgement with
``source="model"`` made by the judge's service user (never counted toward an item's overlap and
never in a human's figures); an inconsistent one is recorded as such and nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Judge(models.Model):
    """One model endpoint judging one stream, with its prompt, budget and the uses the PM chose."""

    stream = models.OneToOneField("projects.Stream", on_delete=models.CASCADE, related_name="judge")
    endpoint = models.ForeignKey("dynamic.ModelEndpoint", on_delete=models.PROTECT, related_name="judges")
    # The judge's identity on its judgements: an inactive account that cannot log in.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judge")
    prompt_template = models.TextField()
    budget_requests = models.PositiveIntegerField(default=2000)
    budget_tokens = models.PositiveBigIntegerField(default=2_000_000)
    spent_requests = models.PositiveIntegerField(default=0)
    spent_tokens = models.PositiveBigIntegerField(default=0)
    concurrency = models.PositiveSmallIntegerField(default=2)
    # Uses, each off by default (issue 14 part 3).
    use_escalate = models.BooleanField(default=False)
    use_vote = models.BooleanField(default=False)
    use_suggest = models.BooleanField(default=False)
    suggest_holdout = models.FloatField(default=0.2)  # share of items shown without the judge's pick
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(suggest_holdout__gte=0) & Q(suggest_holdout__lte=1), name="judge_holdout_0_1"
            ),
            models.CheckConstraint(condition=Q(concurrency__gte=1), name="judge_concurrency_positive"),
        ]

    def __str__(self) -> str:
        return f"judge of stream {self.stream_id}"


class Verdict(models.Model):
    """The judge's answer on one item: both display orders, in canonical terms."""

    class Status(models.TextChoices):
        CONSISTENT = "consistent", "Consistent across the swap"
        INCONSISTENT = "inconsistent", "Changed with the display order"
        ERROR = "error", "Failed"

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="verdicts")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="verdicts")
    status = models.CharField(max_length=16, choices=Status.choices)
    # Canonical answers ("A" = responses[0]) when shown in canonical order, and when swapped.
    answer_shown_ab = models.CharField(max_length=16, blank=True)
    answer_shown_ba = models.CharField(max_length=16, blank=True)
    reason_shown_ab = models.TextField(blank=True)
    reason_shown_ba = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)  # safe to show; upstream bodies are not echoed
    judgement = models.OneToOneField(
        "annotation.Judgement", null=True, blank=True, on_delete=models.SET_NULL, related_name="verdict"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "item"], name="verdict_one_per_judge_item"),
            models.CheckConstraint(
                condition=Q(status__in=["consistent", "inconsistent", "error"]), name="verdict_status_valid"
            ),
        ]
