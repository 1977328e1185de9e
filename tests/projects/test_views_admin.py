from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

from tests.factories import ItemFactory, JudgementFactory, UserFactory
from tests.projects.web_helpers import project_with_pm

pytestmark = pytest.mark.django_db

APPS = ("projects", "annotation", "judging", "qc")


def test_it_registers_every_model() -> None:
    missing = [
        model.__name__
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if not model._meta.auto_created and model not in admin.site._registry
    ]
    assert missing == []


def test_it_opens_every_changelist_and_add_page_for_a_superuser(client: Client) -> None:
    JudgementFactory.create()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    for model in admin.site._registry:
        if model._meta.app_label not in APPS:
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(base).status_code == 200, base
        # API tokens are made by their owner; periodic jobs by the scheduler, from the settings.
        expected = 403 if model._meta.model_name in ("apitoken", "periodicjob") else 200
        assert client.get(base + "add/").status_code == expected, base


def test_it_shows_model_output_as_text(client: Client) -> None:
    item = ItemFactory.create(
        responses=[
            {"text": "<script>alert(1)</script>", "model": "m1", "metadata": {}},
            {"text": '<img src=x onerror="alert(2)">', "model": "m2", "metadata": {}},
        ]
    )
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    body = client.get(f"/admin/annotation/item/{item.pk}/change/").content.decode()
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)" in body


def test_it_keeps_the_admin_to_staff(client: Client) -> None:
    _, pm = project_with_pm()
    client.force_login(pm)
    response = client.get("/admin/annotation/item/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_never_adds_api_tokens_in_the_admin(client: Client) -> None:
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    assert client.get("/admin/projects/apitoken/add/").status_code == 403


@pytest.mark.parametrize(
    ("base_url", "key_env", "refused"),
    [
        ("http://169.254.169.254/v1", "", "base_url"),
        ("http://[::ffff:127.0.0.1]:8000/v1", "", "base_url"),
        ("https://93.184.216.34/v1", "SECRET_KEY", "api_key_env"),
        ("https://93.184.216.34/v1", "OPENAI_API_KEY", "api_key_env"),  # not in QUORUM_ENDPOINT_KEYS
    ],
)
def test_the_admin_refuses_unsafe_endpoints_like_the_pm_form(
    client: Client, base_url: str, key_env: str, refused: str
) -> None:
    from dynamic.models import ModelEndpoint

    project, _pm = project_with_pm()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/dynamic/modelendpoint/add/",
        {
            "project": project.pk,
            "name": "probe",
            "base_url": base_url,
            "model": "m",
            "parameters": "{}",
            "system_prompt": "",
            "api_key_env": key_env,
            "timeout_seconds": 60,
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert refused in response.context["adminform"].form.errors
    assert not ModelEndpoint.objects.exists()
