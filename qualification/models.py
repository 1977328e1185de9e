"""Qualification tests: a stream's test, its questions, people's attempts and answers."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class QualificationTest(models.Model):
    stream = models.OneToOneField("projects.Stream", on_delete=models.CASCADE, related_name="qualification_test")
    pass_mark = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    max_attempts = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    cooldown_hours = models.FloatField(default=24.0, validators=[MinValueValidator(0.0)])
    time_limit_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    shuffle_questions = models.BooleanField(default=True)
    shuffle_responses = models.BooleanField(default=True, help_text="Random response order per question and attempt.")
    show_explanations = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "projects_qualificationtest"  # its name from before the move (docs/architecture.md)
        constraints = [
            models.CheckConstraint(condition=Q(pass_mark__gte=0) & Q(pass_mark__lte=1), name="qtest_pass_mark_0_1"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="qtest_max_attempts_positive"),
            models.CheckConstraint(condition=Q(cooldown_hours__gte=0), name="qtest_cooldown_nonneg"),
        ]


class QualificationQuestion(models.Model):
    """A preference item with its acceptable answers. The item lives in the stream with
    ``pool=qualification`` (imported questions) or ``pool=work`` (picked from the stream's items)."""

    test = models.ForeignKey(QualificationTest, on_delete=models.CASCADE, related_name="questions")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="+")
    # Same shape as Item.golden_answers: a list of acceptable answers, e.g. ["A"] or ["A", "tie"].
    acceptable_answers = models.JSONField(default=list)
    explanation = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "projects_qualificationquestion"  # its name from before the move (docs/architecture.md)
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["test", "item"], name="qquestion_item_once_per_test")]


class QualificationAttempt(models.Model):
    test = models.ForeignKey(QualificationTest, on_delete=models.CASCADE, related_name="attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qualification_attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    # Question ids in the order served, and per question the response display order.
    question_order = models.JSONField(default=list)

    class Meta:
        db_table = "projects_qualificationattempt"  # its name from before the move (docs/architecture.md)
        constraints = [
            models.UniqueConstraint(fields=["test", "user", "number"], name="qattempt_number_unique"),
            # One attempt in progress per person and test: a double click on "start" cannot open two.
            models.UniqueConstraint(
                fields=["test", "user"], condition=Q(submitted_at__isnull=True), name="qattempt_one_open"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="qattempt_number_positive"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=1)), name="qattempt_score_0_1"
            ),
        ]


class QualificationAnswer(models.Model):
    attempt = models.ForeignKey(QualificationAttempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(QualificationQuestion, on_delete=models.CASCADE, related_name="answers")
    answer = models.CharField(max_length=16)  # canonical: "A", "B", "tie", "both_bad"
    display_order = models.JSONField(default=list)
    correct = models.BooleanField()
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "projects_qualificationanswer"  # its name from before the move (docs/architecture.md)
        constraints = [models.UniqueConstraint(fields=["attempt", "question"], name="qanswer_once_per_attempt")]
