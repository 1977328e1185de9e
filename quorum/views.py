"""Pages that belong to no room: the API documentation."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """The OpenAPI schema as a plain page: no CDN, no script (the CSP allows neither)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
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
                }
            )
    return render(request, "api_docs.html", {"schema": schema, "endpoints": endpoints})
