"""XSS and CSP: every payload of ``payloads.PAYLOADS`` in every user-controlled field
(``world.FIELDS``: names, guidelines, prompts, responses, conversation turns, test questions,
review notes, endpoint names, profiles...), rendered on every page each role can open, in Chromium
with the Content-Security-Policy on. Watched on every page: dialogs, ``window.__xss`` (every payload
calls ``xss()``), page and console errors, ``securitypolicyviolation`` events, requests to other
hosts, and the DOM: no on* attribute, javascript: URL, foreign script, frame, object, base, img or
htmx attribute from a payload. The DOM check is what proves the sanitiser holds without the CSP (a
payload element that survived is reported even though the CSP would stop it running), and 0 CSP
violations with this data means nothing on any page even tried to run or load; the planted pages at
the end prove each watch fires.

Fields that hold few characters get the payloads spread over extra objects of the same kind
(projects, streams, endpoints, imports, annotators' profiles, reviews, alerts) that the same pages
list. A field counts as covered when its marker ``XF:<field>`` shows as text on some page."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path, reverse
from django.utils import timezone
from playwright.sync_api import Browser

from annotation.models import Assignment, ImportBatch, Item, Judgement
from dynamic.models import ModelEndpoint
from projects.models import AnnotatorProfile, ApiToken, Membership, Project, Role, Stream, StreamMembership
from qc.models import Alert, Review, ReviewTask
from quorum import urls as site_urls
from tests.factories import UserFactory
from tests.security.crawl import Visit, openable, page_urls, signed_in_context, visit_all
from tests.security.payloads import PAYLOADS, pack
from tests.security.tally import Tally, record
from tests.security.world import FIELDS, LIMITS, World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Fields no HTML page shows: item and response metadata and a static item's model names go to the
# API and exports only (reviews are blind), and an import's error list names the line and field
# without echoing the data. Their payloads are stored all the same.
NOT_IN_PAGES = {"item.metadata", "item.response_metadata", "item.model", "batch.invalid_line"}


def prefix(field: str) -> str:
    return f"XF:{field}"


def chunks(field: str) -> list[str]:
    return pack(prefix(field), LIMITS.get(field, 1_000_000))


def add_carriers(world: World) -> None:
    """The payloads that did not fit in a short field's first object, on more objects of its kind
    where the same pages show them."""
    members = world.members()
    for n, name in enumerate(chunks("project.name")[1:]):
        project = Project.objects.create(slug=f"carrier-{n}", name=name)
        for key, user in members.items():
            role = {"pm": Role.PM, "reviewer": Role.REVIEWER}.get(key, Role.ANNOTATOR)
            Membership.objects.create(project=project, user=user, role=role)
    for field, mode in (("stream.name", Stream.Mode.STATIC), ("dynamic_stream.name", Stream.Mode.DYNAMIC)):
        for n, name in enumerate(chunks(field)[1:]):
            stream = Stream.objects.create(
                project=world.project, slug=f"{mode}-carrier-{n}", name=name, status=Stream.Status.ACTIVE, mode=mode
            )
            StreamMembership.objects.create(stream=stream, user=world.owner, status=StreamMembership.Status.QUALIFIED)
    names, models = chunks("endpoint.name")[1:], chunks("endpoint.model")[1:]
    for n in range(max(len(names), len(models))):
        ModelEndpoint.objects.create(
            project=world.project,
            name=names[n] if n < len(names) else f"carrier-{n}",
            model=models[n] if n < len(models) else "m",
            base_url="https://models.example.org/v1",
        )
    for name in chunks("batch.filename")[1:]:
        ImportBatch.objects.create(stream=world.stream, filename=name, format="native", status="done", lines_read=1)
    for n, model in enumerate(chunks("item.model")[1:]):
        Item.objects.create(
            stream=world.stream,
            external_id=f"carrier-{n}",
            context=[{"role": "user", "content": "carrier"}],
            responses=[{"text": "a", "model": model, "metadata": {}}, {"text": "b", "model": "m", "metadata": {}}],
            content_hash=f"carrier-{n}",
        )
    for name in chunks("token.name")[1:]:
        ApiToken.generate(user=world.owner, name=name)
    world_profile = AnnotatorProfile.objects.get(user=world.owner)
    world_profile.domains = chunks("profile.domain")
    world_profile.save()
    # Annotators who carry the rest of the profile, review and alert text, each with a judgement.
    per_person = {f: chunks(f)[1:] for f in ("profile.education", "profile.profession", "review.note", "review.reason")}
    per_person["alert.action"] = chunks("alert.action")[1:]
    now = timezone.now()
    for n in range(max(len(v) for v in per_person.values())):

        def part(f: str, n: int = n) -> str:
            return per_person[f][n] if n < len(per_person[f]) else ""

        user = UserFactory.create(username=f"carrier-{n}")
        Membership.objects.create(project=world.project, user=user, role=Role.ANNOTATOR)
        StreamMembership.objects.create(stream=world.stream, user=user, status=StreamMembership.Status.QUALIFIED)
        AnnotatorProfile.objects.create(
            user=user, education=part("profile.education"), profession=part("profile.profession")
        )
        assignment = Assignment.objects.create(
            item=world.item, stream=world.stream, annotator=user, display_order=[0, 1], lease_expires_at=now,
            status=Assignment.Status.SUBMITTED,
        )  # fmt: skip
        judgement = Judgement.objects.create(
            assignment=assignment, item=world.item, stream=world.stream, annotator=user, choice="B",
            display_order=[0, 1], served_at=now - timedelta(seconds=20), idempotency_key=f"carrier-{n}",
        )  # fmt: skip
        if part("review.note"):
            ReviewTask.objects.create(judgement=judgement, stream=world.stream, reason="pm", note=part("review.note"))
        if part("review.reason"):
            Review.objects.create(
                judgement=judgement, reviewer=world.reviewer, decision="reject", reason=part("review.reason")
            )
        if part("alert.action"):
            Alert.objects.create(
                stream=world.stream,
                annotator=user,
                kind="rushing",
                message="carrier",
                action_taken=part("alert.action"),
            )


def problems(visit: Visit) -> list[str]:
    found = []
    if visit.executed:
        found.append(f"xss() ran {visit.executed}×")
    found += [f"dialog {m!r}" for m in visit.dialogs]
    found += [f"DOM {d}" for d in visit.dom]
    found += [f"fetched {u}" for u in visit.external]
    found += [f"CSP violation {v}" for v in visit.violations]
    found += [f"console {c}" for c in visit.console]
    return found


@pytest.fixture
def xss_world(settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_world("probe", lambda field: chunks(field)[0])
    add_carriers(world)
    return world


def test_no_payload_runs_or_survives_on_any_page_for_any_role(
    browser: Browser, live_server: Any, xss_world: World, request: pytest.FixtureRequest
) -> None:
    tally = Tally("XSS (payload placements rendered)")
    pages = Tally("XSS and CSP (page loads)")
    urls = page_urls(xss_world)
    shown: Counter[str] = Counter()
    roles = xss_world.members()
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[]):
        for role, user in roles.items():
            context = signed_in_context(browser, live_server.url, user)
            try:
                visits = visit_all(context, live_server.url, role, openable(user, urls))
            finally:
                context.close()
            for visit in visits:
                fields = set(re.findall(r"XF:([a-z_]+\.[a-z_]+)", visit.text))
                shown.update(fields)
                found = problems(visit)
                pages.check(not found, f"{role} {visit.url}: {found[:5]}")
                # Every payload of every field this page showed was one placement.
                for _field in fields:
                    for _payload in PAYLOADS:
                        tally.check(not found, f"{role} {visit.url}")
    record(request, pages)
    record(request, tally)
    assert pages.through == [], "\n".join(pages.through[:20])
    assert pages.tried >= 70
    rendered = set(shown)
    missing = sorted(set(FIELDS) - NOT_IN_PAGES - rendered)
    assert missing == [], f"fields no page showed, so untested: {missing}"
    assert len(PAYLOADS) >= 50
    print(f"[security] XSS: {len(PAYLOADS)} payloads x {len(rendered)} fields; pages per field: {dict(shown)}")


def admin_urls() -> list[str]:
    """Every model's list, and the change page of its first object, in the admin."""
    urls = []
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
    return urls


def test_no_payload_runs_or_survives_in_the_admin(
    browser: Browser, live_server: Any, xss_world: World, request: pytest.FixtureRequest
) -> None:
    """The operator's view of the same data: every admin list and change page, as a superuser."""
    staff = UserFactory.create(username="operator", is_staff=True, is_superuser=True)
    pages = Tally("XSS and CSP in the admin (page loads)")
    context = signed_in_context(browser, live_server.url, staff)
    try:
        visits = visit_all(context, live_server.url, "operator", openable(staff, admin_urls()))
    finally:
        context.close()
    shown: set[str] = set()
    for visit in visits:
        shown.update(re.findall(r"XF:([a-z_]+\.[a-z_]+)", visit.text))
        # The admin's own script is Django's (under /static/admin/): allowed by the DOM check.
        found = problems(visit)
        pages.check(not found, f"operator {visit.url}: {found[:5]}")
    record(request, pages)
    assert pages.through == [], "\n".join(pages.through[:20])
    assert pages.tried >= 40
    assert len(shown) >= 20, sorted(shown)


# --- The watch catches what it is for ---------------------------------------------------------------


def planted(request: HttpRequest, n: int) -> HttpResponse:
    """The bug this suite exists to catch: user text put in a page unescaped (payload ``n``, or all
    of them, one after the other, for -1)."""
    text = " ".join(PAYLOADS) if n < 0 else PAYLOADS[n]
    return HttpResponse(f"<!doctype html><html><body><p>{text}</p></body></html>")


urlpatterns = [path("planted/<int:n>/", planted), path("planted/all/", planted, {"n": -1}), *site_urls.urlpatterns]


ALERT, IMAGE = "<img src=x onerror=alert('xss')>", '<img src="https://evil.example/t2.png">'


def test_the_watch_sees_payloads_run_and_survive_on_a_page_that_does_not_escape(
    browser: Browser, live_server: Any
) -> None:
    with override_settings(ROOT_URLCONF=__name__):
        context = signed_in_context(browser, live_server.url, UserFactory.create(), bypass_csp=True)
        try:
            visit, alert, image = visit_all(
                context,
                live_server.url,
                "pm",
                ["/planted/all/", f"/planted/{PAYLOADS.index(ALERT)}/", f"/planted/{PAYLOADS.index(IMAGE)}/"],
            )
        finally:
            context.close()
    found = problems(visit)
    assert visit.executed >= 3, found
    assert any(f.startswith("DOM img[onerror]") for f in found)
    assert any(f.startswith("DOM script") for f in found)
    assert alert.dialogs == ["xss"]
    assert image.external == ["https://evil.example/t2.png"]


def test_the_watch_sees_csp_violations_on_a_page_that_does_not_escape(browser: Browser, live_server: Any) -> None:
    with override_settings(ROOT_URLCONF=__name__):
        context = signed_in_context(browser, live_server.url, UserFactory.create())
        try:
            [visit] = visit_all(context, live_server.url, "pm", ["/planted/all/"])
        finally:
            context.close()
    assert visit.executed == 0  # the CSP held...
    assert any("script-src" in v for v in visit.violations), visit.violations  # ...and said so
    assert any(f.startswith("DOM img[onerror]") for f in problems(visit))
