"""The judging room's uses (``judging.uses``) plugged into the rooms below it: called once from
``JudgingConfig.ready()``. Registering is idempotent (``Hook.register``; signal receivers with a
``dispatch_uid``)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from annotation import hooks as annotation_hooks
from judging import uses
from judging.models import Judge, Verdict


def connect() -> None:
    # Escalate: a consistent verdict that disagrees with the first n agreeing people re-opens
    # the item, whichever came first.
    annotation_hooks.first_agreement_overruled.register(uses.overruled)
    post_save.connect(uses.on_verdict_saved, sender=Verdict, dispatch_uid="judging.uses.on_verdict_saved")
    post_save.connect(uses.on_judge_saved, sender=Judge, dispatch_uid="judging.uses.on_judge_saved")
    post_delete.connect(uses.on_judge_deleted, sender=Judge, dispatch_uid="judging.uses.on_judge_deleted")
    # Suggest: the judge's pick on the item page, and stored with the judgement.
    annotation_hooks.item_suggestion.register(uses.suggestion_for)
