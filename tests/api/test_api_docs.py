"""The API docs page (quorum.views.api_docs): request bodies from the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.test import Client

from quorum.views import request_body

COMPONENTS = {
    "Outer": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "name": {"type": "string", "maxLength": 20, "description": "What it is called."},
            "kind": {"$ref": "#/components/schemas/KindEnum"},
            "when": {"type": "string", "format": "date-time", "nullable": True},
            "tags": {"type": "array", "items": {"type": "string"}},
            "inner": {"$ref": "#/components/schemas/Inner"},
        },
    },
    "Inner": {"type": "object", "properties": {"depth": {"type": "integer", "minimum": 0}}},
    "KindEnum": {"enum": ["a", "b"], "type": "string"},
}


def test_it_lists_the_writable_fields_of_a_referenced_schema() -> None:
    body = request_body(
        {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Outer"}}}, "required": True},
        COMPONENTS,
    )
    assert body is not None
    assert body["name"] == "Outer"
    assert body["required"] is True
    fields = {f["name"]: f for f in body["fields"]}
    assert "id" not in fields  # read-only: the server sets it
    assert fields["name"]["required"] is True
    assert fields["name"]["type"] == "string (at most 20 characters)"
    assert fields["name"]["description"] == "What it is called."
    assert fields["kind"]["type"] == "one of: a, b"
    assert fields["when"]["type"] == "string (date-time), or null"
    assert fields["tags"]["type"] == "array of string"
    assert fields["inner.depth"]["type"] == "integer (≥ 0)"


def test_no_body_no_section() -> None:
    assert request_body(None, COMPONENTS) is None
    assert request_body({"content": {}}, COMPONENTS) is None


@pytest.mark.django_db
def test_the_docs_page_shows_request_bodies(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert html.count("Request body") >= 5
    assert "<code>ExportCreate</code>" in html
    assert "<code>JudgementAnswer</code>" in html
    assert "<script" not in html.split("</head>", 1)[1].replace('<script src="/static/', "")  # no inline script
