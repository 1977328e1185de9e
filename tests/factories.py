"""factory_boy factories shared by the whole suite."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement, gold_answer_correct
from projects.models import Membership, Project, Role, Stream, StreamMembership

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.Sequence(lambda n: f"Project {n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class StreamFactory(factory.django.DjangoModelFactory[Stream]):
    class Meta:
        model = Stream

    project = factory.SubFactory(ProjectFactory)
    slug = factory.Sequence(lambda n: f"stream-{n}")
    name = factory.Sequence(lambda n: f"Stream {n}")
    status = Stream.Status.ACTIVE


class StreamMembershipFactory(factory.django.DjangoModelFactory[StreamMembership]):
    class Meta:
        model = StreamMembership

    stream = factory.SubFactory(StreamFactory)
    user = factory.SubFactory(UserFactory)
    status = StreamMembership.Status.QUALIFIED


def _content_hash(o: Any) -> str:
    return hashlib.sha256(repr((o.context, o.responses)).encode()).hexdigest()


class ItemFactory(factory.django.DjangoModelFactory[Item]):
    class Meta:
        model = Item

    stream = factory.SubFactory(StreamFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    context = factory.Sequence(lambda n: [{"role": "user", "content": f"Question number {n}?"}])
    responses = factory.LazyFunction(
        lambda: [
            {"text": "A short answer.", "model": "model-a", "metadata": {}},
            {"text": "A longer, more detailed answer with reasons.", "model": "model-b", "metadata": {}},
        ]
    )
    num_responses = factory.LazyAttribute(lambda o: len(o.responses))
    content_hash = factory.LazyAttribute(_content_hash)


class AssignmentFactory(factory.django.DjangoModelFactory[Assignment]):
    class Meta:
        model = Assignment

    item = factory.SubFactory(ItemFactory)
    stream = factory.SelfAttribute("item.stream")
    annotator = factory.SubFactory(UserFactory)
    display_order = factory.LazyFunction(lambda: [0, 1])
    lease_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=10))


class JudgementFactory(factory.django.DjangoModelFactory[Judgement]):
    class Meta:
        model = Judgement

    assignment = factory.SubFactory(AssignmentFactory, status=Assignment.Status.SUBMITTED)
    item = factory.SelfAttribute("assignment.item")
    stream = factory.SelfAttribute("assignment.stream")
    annotator = factory.SelfAttribute("assignment.annotator")
    choice = "A"
    display_order = factory.SelfAttribute("assignment.display_order")
    served_at = factory.SelfAttribute("assignment.served_at")
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")
    # As the submit service stores it: on a golden item, whether the answer is acceptable.
    gold_correct = factory.LazyAttribute(
        lambda o: (
            gold_answer_correct(
                choice=o.choice,
                ranking=getattr(o, "ranking", None),
                flag_harmful=getattr(o, "flag_harmful", False),
                golden_answers=o.item.golden_answers,
                golden_harmful=o.item.golden_harmful,
            )
            if o.item.is_golden
            else None
        )
    )
