"""Logging: a 403 is one WARNING line without a traceback (it is an answer, not a fault); a 500
keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Role
from tests.projects.web_helpers import member, project_with_pm

pytestmark = pytest.mark.django_db


def test_a_403_logs_one_warning_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    project, _pm = project_with_pm()
    client = Client()
    client.force_login(member(project, Role.ANNOTATOR))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("dynamic:endpoints", args=[project.slug]))
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", f"Forbidden (Permission denied): /projects/{project.slug}/endpoints/")
    ]
    assert records[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_the_filter_leaves_other_records_alone() -> None:
    from quorum.logfilters import OneLineForbidden

    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, info)
    record.status_code = 500
    assert OneLineForbidden().filter(record)
    assert record.exc_info is info
