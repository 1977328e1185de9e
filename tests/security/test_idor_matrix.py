"""IDOR matrix: every URL pattern that takes an id (walked from the URL resolver) and every API
operation on such a path (read from the OpenAPI schema), requested with a victim project's ids by
everyone who may not use it: an outsider, the annotator, reviewer and PM of another project, the
same project's members below the role (or not invited, or not the owner), and nobody signed in.
Pages are sent GET and POST through a CSRF-checking client, each also as htmx sends it
(``HX-Request``); API operations with every method the schema lists, through an API token.
Expected: 403/404 (405 for a method the view does not take, 302 to the login page for nobody), no
marker of the victim's data in the body, and no change to any of the victim's rows.

A new URL with an id fails ``test_every_pattern_with_an_id_is_classified`` until it is added to
``ACCESS`` below, so nobody has to remember to extend this matrix."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from rest_framework.test import APIClient

from annotation.models import Assignment, ImportBatch, Item, Judgement
from dynamic.models import Conversation, ModelEndpoint, Turn
from exports.models import Export
from judging.models import Judge, JudgeRun, Verdict
from projects.models import ApiToken, Membership, Project, Stream, StreamMembership
from qc.models import Alert, CalibrationAnswer, CalibrationItem, CalibrationRound, Review, ReviewTask
from qualification.models import QualificationAttempt, QualificationQuestion, QualificationTest
from quorum import urls as site_urls
from tests.factories import UserFactory
from tests.security.tally import Tally, record
from tests.security.world import World, build_world

pytestmark = pytest.mark.django_db

# Who may use a URL: the project's PM; reviewers and PMs; annotators invited to the stream;
# the owner of the object (assignment, conversation, attempt, token); any member of the project;
# staff (the admin).
PM, REVIEWER, INVITED, OWNER, MEMBER, STAFF = "pm", "reviewer", "invited", "owner", "member", "staff"
Level = str | dict[str, str]  # one level, or one per method

# Same-project members who may not use a URL of each level.
FORBIDDEN_MEMBERS = {
    PM: ("reviewer", "owner", "peer", "uninvited"),
    REVIEWER: ("owner", "peer", "uninvited"),
    INVITED: ("uninvited",),
    OWNER: ("pm", "reviewer", "peer", "uninvited"),
    MEMBER: (),
    STAFF: ("pm", "reviewer", "owner", "peer", "uninvited"),
}
# The member who may: the positive control that proves the URL was filled with the right ids.
ALLOWED_MEMBER = {PM: "pm", REVIEWER: "reviewer", INVITED: "owner", OWNER: "owner", MEMBER: "uninvited"}

ACCESS: dict[str, Level] = {
    # projects
    "project_detail": MEMBER,
    "project_edit": PM,
    "markdown_preview": PM,
    "stream_create": PM,
    "stream_detail": INVITED,
    "stream_edit": PM,
    "guideline_version": INVITED,
    "members": PM,
    "member_invite": PM,
    "member_role": PM,
    "member_remove": PM,
    "member_stream_status": PM,
    # annotation
    "annotation:stream_home": INVITED,
    "annotation:work": INVITED,
    "annotation:guidelines_acknowledge": INVITED,
    "annotation:submit": OWNER,
    "annotation:skip": OWNER,
    "annotation:heartbeat": OWNER,
    "annotation:stream_import": PM,
    "annotation:import_batch": PM,
    "annotation:import_report_file": PM,
    "annotation:item_browser": REVIEWER,
    "annotation:item_detail": REVIEWER,
    # qualification
    "qualification:test": INVITED,
    "qualification:test_start": INVITED,
    "qualification:test_answer": INVITED,
    "qualification:test_result": OWNER,
    "qualification:qualification_test": {"GET": REVIEWER, "POST": PM},
    "qualification:question_add": PM,
    "qualification:question_remove": PM,
    "qualification:question_import": PM,
    "qualification:qualification_candidates": REVIEWER,
    "qualification:candidate_action": PM,
    "qualification:invite_ranked": PM,
    # dynamic
    "dynamic:converse": INVITED,
    "dynamic:converse_send": INVITED,
    "dynamic:turn_poll": OWNER,
    "dynamic:turn_judge": OWNER,
    "dynamic:turn_retry": OWNER,
    "dynamic:conversation_end": OWNER,
    "dynamic:endpoints": PM,
    "dynamic:endpoint_create": PM,
    "dynamic:endpoint_edit": PM,
    "dynamic:endpoint_test": PM,
    # judging
    "judging:judge": PM,
    "judging:judge_run": PM,
    "judging:judge_stop": PM,
    "judging:judge_retry": PM,
    "dynamic:streams_from_eval": PM,
    # qc
    "qc:stream_qc": PM,
    "qc:stream_recompute": PM,
    "qc:annotator_qc": PM,
    "qc:annotator_history": PM,
    "qc:annotator_pause": PM,
    "qc:peer_review_start": PM,
    "qc:peer_review_stop": PM,
    "qc:annotator_resume": PM,
    "qc:annotator_send_review": PM,
    "qc:alert_close": PM,
    "qc:golden_set": PM,
    "qc:golden_item": PM,
    "qc:golden_from_prior": PM,
    "qc:review_queue": REVIEWER,
    "qc:review_submit": REVIEWER,
    "qc:my_quality": INVITED,
    "qc:gallery": INVITED,
    "qc:gallery_mark": REVIEWER,
    "qc:gallery_remove": REVIEWER,
    "qc:calibration_rounds": PM,
    "qc:calibration_round": INVITED,
    "qc:calibration_take": INVITED,
    "qc:calibration_close": PM,
    "qc:calibration_expected": PM,
    "qc:calibration_promote": PM,
    "qc:stream_models": PM,
    "qc:stream_model_history": PM,
    # exports
    "exports:exports": PM,
    "exports:export_detail": PM,
    "exports:export_file": PM,
    # API
    "api-project": MEMBER,
    "api-stream": {"GET": INVITED, "PATCH": PM},
    "api-items": REVIEWER,
    "api-items-import": PM,
    "api-item": REVIEWER,
    "api-judgements": REVIEWER,
    "api-metrics": PM,
    "api-annotator-pause": PM,
    "api-annotator-resume": PM,
    "api-qc-recompute": PM,
    "api-gallery": INVITED,
    "api-next": INVITED,
    "api-test": INVITED,
    "api-test-start": INVITED,
    "api-test-answer": INVITED,
    "api-judgement": OWNER,
    "api-skip": OWNER,
    "api-stream-export": PM,
    "api-export": PM,
    "api-export-file": PM,
    "api-token": OWNER,
}
# URL kwargs that name an object other than the default for that kwarg.
DYNAMIC_STREAM_ROUTES = {"dynamic:converse", "dynamic:converse_send", "qc:stream_models", "qc:stream_model_history"}

# Form fields most write views read: a request that passed the access check would do something.
FORM = {
    "role": "pm",
    "status": "removed",
    "action": "remove",
    "reason": "because",
    "choice": "A",
    "answer": "A",
    "decision": "reject",
    "text": "hello",
    "message": "hello",
    "name": "renamed",
    "guidelines": "changed",
    "golden_answers": "A",
    "explanation": "x",
    "username": "someone",
    "to": "golden",
    "expected_answer": "B",
}
API_BODY = {"choice": "A", "status": "paused", "name": "renamed", "reason": "x", "answer": "A"}


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # as in urls.py, e.g. "api/streams/<int:stream_id>/"
    kwargs: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def openapi_path(self) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.route)


def walk(patterns: list[Any] | None = None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    """Every URL pattern of the site, with its full route and namespaced name."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            kwargs = tuple(re.findall(r"<(?:\w+:)?(\w+)>", route)) or tuple(pattern.pattern.regex.groupindex)
            yield Route(f"{namespace}{pattern.name}", route, kwargs)


def routes_with_ids() -> list[Route]:
    return [r for r in walk() if r.kwargs]


def level_of(route: Route) -> Level | None:
    if route.name.startswith("admin:"):
        return STAFF
    return ACCESS.get(route.name)


def unclassified() -> list[str]:
    return sorted(r.route for r in routes_with_ids() if level_of(r) is None)


def schema_operations() -> dict[str, set[str]]:
    """OpenAPI path -> methods, from drf-spectacular's generated schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = {"get", "post", "put", "patch", "delete"}
    return {p: {m.upper() for m in ops if m in methods} for p, ops in schema["paths"].items()}


# --- The world and the people ---------------------------------------------------------------------

# With a hyphen, which no CSRF token, session key or hash contains: a bare "Z9V" turned up inside
# random tokens (about one page in 4,000), a false leak.
VICTIM_MARK = "Z9V-x"


def victim_text(field: str) -> str:
    return f"{VICTIM_MARK}-{field}-{VICTIM_MARK}"


@dataclass
class Matrix:
    victim: World
    other: World  # the attackers' own project
    outsider: User
    staff_pm: User  # not used as attacker: proves an admin account is not what makes pages work

    def attackers(self, level: str) -> dict[str, User | None]:
        """Who must be refused a URL of ``level``, by a label for the report."""
        people: dict[str, User | None] = {
            "nobody": None,
            "outsider": self.outsider,
            "other-project annotator": self.other.owner,
            "other-project reviewer": self.other.reviewer,
            "other-project PM": self.other.pm,
        }
        for name in FORBIDDEN_MEMBERS[level]:
            people[f"same-project {name}"] = self.victim.members()[name]
        return people

    def forbidden_marks(self) -> list[bytes]:
        marks = [VICTIM_MARK.encode()]
        marks += [u.username.encode() for u in self.victim.members().values()]
        return marks


@pytest.fixture
def matrix(settings: Any, tmp_path: Path) -> Matrix:
    settings.MEDIA_ROOT = tmp_path / "media"
    victim = build_world("victim", victim_text)
    other = build_world("attacker", lambda f: f"ATTACKER-{f}")
    return Matrix(
        victim=victim,
        other=other,
        outsider=UserFactory.create(username="outsider"),
        staff_pm=UserFactory.create(username="staff", is_staff=True),
    )


def url_for(route: Route, world: World) -> str:
    dynamic = route.name in DYNAMIC_STREAM_ROUTES
    values: dict[str, Any] = {
        "slug": world.project.slug,
        "stream_id": (world.dynamic_stream if dynamic else world.stream).pk,
        "item_id": (world.golden_item if route.name == "qc:golden_item" else world.item).pk,
        "batch_id": world.batch.pk,
        "question_id": world.question.pk,
        "number": 2 if route.name == "guideline_version" else world.attempt.number,
        "judgement_id": world.judgement.pk,
        "example_id": world.judgement.gallery_example.pk,
        "membership_id": (
            world.owner_stream_membership if route.name == "qualification:candidate_action" else world.owner_membership
        ).pk,
        "user_id": world.peer.pk,
        "alert_id": world.alert.pk,
        "task_id": world.review_task.pk,
        "turn_id": world.turn.pk,
        "conversation_id": world.conversation.pk,
        "endpoint_id": world.endpoint.pk,
        "export_id": world.export.pk,
        "name": "train.jsonl",
        "token_id": world.token.pk,
        "assignment_id": world.assignment.pk,
        "round_id": world.calibration_round.pk,
        "round_item_id": world.calibration_item.pk,
        # the admin
        "object_id": str(world.project.pk),
        "app_label": "projects",
        "content_type_id": "1",
        "id": world.owner.pk,
        "url": "",
    }
    missing = [k for k in route.kwargs if k not in values]
    assert not missing, f"{route.route}: no object for {missing}; add it to url_for()"
    if route.name == "admin:None":  # the admin's catch-all
        return f"/admin/projects/project/{world.project.pk}/change/"
    return reverse(route.name, kwargs={k: values[k] for k in route.kwargs})


def methods_for(route: Route, operations: dict[str, set[str]]) -> list[str]:
    if route.is_api:
        return sorted(operations.get(route.openapi_path, set()))
    if route.name.startswith("admin:"):
        return ["GET"]
    # "+htmx": the same request as htmx sends it (HX-Request), which views answer with a fragment.
    return ["GET", "GET+htmx", "POST", "POST+htmx"]


def level_for(route: Route, method: str) -> str:
    method = method.removesuffix("+htmx")
    level = level_of(route)
    assert level is not None
    if isinstance(level, dict):
        return level.get(method, level.get("POST", PM) if method != "GET" else PM)
    return level


# --- Clients --------------------------------------------------------------------------------------


def page_client(user: User | None) -> Client:
    """A session client that enforces CSRF like a browser: it holds a real token."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    # A page with a form sets the csrftoken cookie, as it would in a browser.
    client.get("/login/" if user is None else "/account/password/")
    assert "csrftoken" in client.cookies
    return client


def api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        _token, key = ApiToken.generate(user=user, name="idor")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def send(client: Client, route: Route, url: str, method: str) -> Any:
    if route.is_api:
        body = json.dumps(API_BODY)
        return client.generic(method, url, body, content_type="application/json")
    headers = {"HX-Request": "true"} if method.endswith("+htmx") else {}
    if method.startswith("GET"):
        return client.get(url, headers=headers)
    token = client.cookies["csrftoken"].value
    return client.post(url, FORM, headers={**headers, "X-CSRFToken": token})


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def refused(response: Any, who: User | None, route: Route, marks: list[bytes]) -> tuple[bool, str]:
    status = response.status_code
    body = body_of(response)
    own = who.username.encode() if who is not None else None  # the page header names the user
    leaked = [m.decode() for m in marks if m in body and m != own]
    if b"CSRF verification failed" in body:
        return False, "refused by CSRF, not by access control: the matrix did not test this"
    if who is None:
        location = response.get("Location", "")
        ok = (status == 302 and "login" in location) or status in (401, 403, 404, 405)
    elif route.name.startswith("admin:"):
        ok = status == 302 and "/admin/login/" in response.get("Location", "")
    else:
        ok = status in (403, 404, 405)
    return ok and not leaked, f"{status}{' leaked ' + ','.join(leaked) if leaked else ''}"


# --- What the victim owns, to prove nothing changed -------------------------------------------------


def fingerprint(world: World) -> dict[str, str]:
    project, streams = world.project, [world.stream, world.dynamic_stream]
    querysets: dict[str, Any] = {
        "Project": Project.objects.filter(pk=project.pk),
        "Stream": Stream.objects.filter(project=project),
        "Membership": Membership.objects.filter(project=project),
        "StreamMembership": StreamMembership.objects.filter(stream__in=streams),
        "Item": Item.objects.filter(stream__in=streams),
        "Assignment": Assignment.objects.filter(stream__in=streams),
        "Judgement": Judgement.objects.filter(stream__in=streams),
        "ReviewTask": ReviewTask.objects.filter(stream__in=streams),
        "Review": Review.objects.filter(judgement__stream__in=streams),
        "Alert": Alert.objects.filter(stream__in=streams),
        "Export": Export.objects.filter(project=project),
        "ImportBatch": ImportBatch.objects.filter(stream__in=streams),
        "QualificationTest": QualificationTest.objects.filter(stream__in=streams),
        "QualificationQuestion": QualificationQuestion.objects.filter(test__stream__in=streams),
        "QualificationAttempt": QualificationAttempt.objects.filter(test__stream__in=streams),
        "Conversation": Conversation.objects.filter(stream__in=streams),
        "Turn": Turn.objects.filter(conversation__stream__in=streams),
        "ModelEndpoint": ModelEndpoint.objects.filter(project=project),
        "Judge": Judge.objects.filter(stream__in=streams),
        "JudgeRun": JudgeRun.objects.filter(judge__stream__in=streams),
        "Verdict": Verdict.objects.filter(judge__stream__in=streams),
        "CalibrationRound": CalibrationRound.objects.filter(stream__in=streams),
        "CalibrationItem": CalibrationItem.objects.filter(round__stream__in=streams),
        "CalibrationAnswer": CalibrationAnswer.objects.filter(round_item__round__stream__in=streams),
        "ApiToken": ApiToken.objects.filter(user__in=list(world.members().values())).exclude(name="idor"),
    }
    prints = {}
    for name, qs in querysets.items():
        rows = [{k: v for k, v in row.items() if k != "last_used_at"} for row in qs.order_by("pk").values()]
        prints[name] = hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()
    return prints


def run_matrix(
    matrix: Matrix, routes: list[Route], operations: dict[str, set[str]], tally: Tally
) -> list[tuple[Route, str, str]]:
    """Every (route, method, attacker): returns the positive controls still to run."""
    marks = matrix.forbidden_marks()
    clients: dict[tuple[str, bool], Client] = {}

    def client_for(label: str, user: User | None, api: bool) -> Client:
        if (label, api) not in clients:
            clients[(label, api)] = api_client(user) if api else page_client(user)
        return clients[(label, api)]

    controls: list[tuple[Route, str, str]] = []
    for route in routes:
        url = url_for(route, matrix.victim)
        for method in methods_for(route, operations):
            level = level_for(route, method)
            for label, user in matrix.attackers(level).items():
                response = send(client_for(label, user, route.is_api), route, url, method)
                ok, what = refused(response, user, route, marks)
                tally.check(ok, f"{method} {url} as {label}: {what}")
            # One positive control per route: GET where the member may use it, else the write.
            if level in ALLOWED_MEMBER and not any(c[0] == route for c in controls):
                controls.append((route, method, ALLOWED_MEMBER[level]))
    return controls


# --- The tests ------------------------------------------------------------------------------------


def test_every_pattern_with_an_id_is_classified() -> None:
    assert unclassified() == [], "add these URLs to ACCESS in tests/security/test_idor_matrix.py"
    stale = sorted(set(ACCESS) - {r.name for r in walk()})
    assert stale == [], f"ACCESS names URLs that no longer exist: {stale}"


def test_every_api_path_with_an_id_in_the_schema_is_a_classified_url() -> None:
    operations = schema_operations()
    by_path = {r.openapi_path: r for r in routes_with_ids()}
    with_ids = [p for p in operations if "{" in p]
    assert len(with_ids) >= 15
    missing = [p for p in with_ids if p not in by_path or level_of(by_path[p]) is None]
    assert missing == []


def test_nobody_reaches_another_projects_objects_or_above_their_role(
    matrix: Matrix, request: pytest.FixtureRequest
) -> None:
    tally = Tally("IDOR matrix")
    operations = schema_operations()
    routes = routes_with_ids()
    before = fingerprint(matrix.victim)
    controls = run_matrix(matrix, routes, operations, tally)
    after = fingerprint(matrix.victim)
    record(request, tally)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [], f"refused requests changed the victim's {changed}"
    assert tally.through == [], "\n".join(tally.through[:50])
    assert tally.tried >= 3000

    # Positive controls: the member who may use each URL gets past the access check with the same
    # ids (not 403/404), so the refusals above were not just wrong ids. Each runs in a transaction
    # rolled back afterwards: a write it makes does not change what the next one sees.
    wrong = []
    members = matrix.victim.members()
    for route, method, member in controls:
        client = api_client(members[member]) if route.is_api else page_client(members[member])
        url = url_for(route, matrix.victim)
        with transaction.atomic():
            response = send(client, route, url, method)
            transaction.set_rollback(True)
        if response.status_code in (403, 404):
            wrong.append(f"{method} {url} as {member}: {response.status_code}")
    assert wrong == []
    assert len(controls) >= 70


# --- The checker catches a leak -------------------------------------------------------------------


def leaky_item(request: HttpRequest, item_id: int) -> HttpResponse:
    """The bug the matrix exists to catch: an item fetched by id without scoping it to the user."""
    item = Item.objects.get(pk=item_id)
    return HttpResponse(json.dumps(item.context))


urlpatterns = [path("leak/items/<int:item_id>/", leaky_item, name="leak-item"), *site_urls.urlpatterns]


def test_the_matrix_fails_on_an_unscoped_view_and_on_an_unclassified_url(matrix: Matrix) -> None:
    with override_settings(ROOT_URLCONF=__name__):
        assert unclassified() == ["leak/items/<int:item_id>/"]
        leak = next(r for r in routes_with_ids() if r.name == "leak-item")
        ACCESS[leak.name] = PM
        try:
            tally = Tally("IDOR matrix (planted leak)")
            run_matrix(matrix, [leak], {}, tally)
        finally:
            del ACCESS[leak.name]
    # GET and POST (with a valid CSRF token, so the POST reaches the view too), plain and htmx, for
    # nobody, 4 outsiders and the 4 same-project members below PM: every one read the prompt.
    assert tally.tried == len(tally.through) == 4 * 9
    assert all(f"200 leaked {VICTIM_MARK}" in line for line in tally.through)


def test_a_signed_in_client_posts_with_a_valid_csrf_token(matrix: Matrix) -> None:
    """The refusals above are access control, not CSRF: the same client, as the PM, gets a write
    through (the preview renders)."""
    client = page_client(matrix.victim.pm)
    response = client.post(
        f"/projects/{matrix.victim.project.slug}/preview/",
        {"guidelines": "**bold**"},
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 200
    assert b"<strong>bold</strong>" in response.content
