"""Background work of dynamic labeling: one model's answer per task."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="dynamic.tasks.generate",
    acks_late=True,
    # Above any endpoint timeout (at most 600 s, enforced by the form) and the final writes.
    soft_time_limit=660,
    time_limit=720,
)
def generate(generation_id: int, attempt: int) -> str:
    """Streams one model's answer for a dynamic-labeling turn (queued on commit by
    ``dynamic.send_message`` / ``retry_generations``). Idempotent: only a pending generation of
    this attempt runs. Not retried automatically: the error is shown to the annotator, who retries
    with one key press — a silent retry would hide a flaky endpoint from the comparison."""
    from dynamic import services

    return services.run_generation(generation_id=generation_id, attempt=attempt)
