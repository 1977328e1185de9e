"""Pages that belong to no room: the API documentation."""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """The OpenAPI schema as a plain page: no CDN, no script (the CSP allows neither)."""
    schema, endpoints = _docs()
    return render(request, "api_docs.html", {"schema": schema, "endpoints": endpoints})


@functools.cache
def _docs() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The public schema and the page's endpoints, built once per process: the schema depends on
    the code only (public, no request), and generating it took ~400 ms a view."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    endpoints = []
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            endpoints.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": op.get("summary") or op.get("description", "").split("\n\n")[0],
                    "description": op.get("description", ""),
                    "parameters": op.get("parameters", []),
                    "responses": sorted(op.get("responses", {})),
                    "id": op.get("operationId", ""),
                    "body": request_body(op.get("requestBody"), components),
                }
            )
    return {"info": schema.get("info", {})}, endpoints


BODY_DEPTH = 3  # nested objects are listed as "a.b.c" up to this depth


def _resolve(node: Any, components: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A schema node with its ``$ref`` followed (and the referenced component's name, or "")."""
    name = ""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 10:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        node = components.get(name, {})
        seen += 1
    return (node if isinstance(node, dict) else {}), name


def _type_of(node: dict[str, Any], components: dict[str, Any]) -> str:
    """A field's type in words: "string (date-time)", "one of: a, b", "array of integer"..."""
    if node.get("allOf") and len(node["allOf"]) == 1:  # a $ref with a description beside it
        node = {**node, **node["allOf"][0]}
    for key in ("oneOf", "anyOf"):
        if node.get(key):
            return " or ".join(_type_of(_resolve(n, components)[0], components) for n in node[key])
    resolved, _name = _resolve(node, components)
    if resolved.get("enum"):
        return "one of: " + ", ".join(str(v) for v in resolved["enum"] if v not in ("", None))
    kind = str(resolved.get("type", "object" if resolved.get("properties") else "any"))
    if kind == "array":
        return "array of " + _type_of(resolved.get("items", {}), components)
    if resolved.get("format"):
        kind += f" ({resolved['format']})"
    if node.get("nullable") or resolved.get("nullable"):
        kind += ", or null"
    return kind


def _fields(node: dict[str, Any], components: dict[str, Any], prefix: str, depth: int) -> list[dict[str, Any]]:
    resolved, _name = _resolve(node, components)
    required = set(resolved.get("required", []))
    rows: list[dict[str, Any]] = []
    for key, child in resolved.get("properties", {}).items():
        child_resolved, _ = _resolve(child, components)
        if child.get("readOnly") or child_resolved.get("readOnly"):
            continue  # sent back, never taken
        limits = [
            template.format(child_resolved[key_])
            for key_, template in (("minimum", "≥ {}"), ("maximum", "≤ {}"), ("maxLength", "at most {} characters"))
            if key_ in child_resolved and abs(float(child_resolved[key_])) < 2**31 - 1  # not the column's own bounds
        ]
        rows.append(
            {
                "name": prefix + key,
                "type": _type_of(child, components) + (f" ({', '.join(limits)})" if limits else ""),
                "required": key in required,
                "description": child.get("description") or child_resolved.get("description", ""),
            }
        )
        if child_resolved.get("properties") and depth < BODY_DEPTH:
            rows.extend(_fields(child_resolved, components, prefix + key + ".", depth + 1))
    return rows


def request_body(body: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any] | None:
    """An operation's ``requestBody`` as the docs page shows it: the content types it accepts, the
    schema's name and its writable fields (name, type, required, description), nested objects
    flattened to "a.b". None when the operation takes no body."""
    if not body or not body.get("content"):
        return None
    content = body["content"]
    media = "application/json" if "application/json" in content else next(iter(content))
    schema, name = _resolve(content[media].get("schema", {}), components)
    return {
        "media_types": list(content),
        "required": bool(body.get("required")),
        "name": name,
        "description": schema.get("description", ""),
        "fields": _fields(schema, components, "", 1),
        "free_form": not schema.get("properties"),
    }
