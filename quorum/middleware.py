"""Plumbing middleware: the server time of each response, for browsers and the crawl test."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    """Adds ``Server-Timing: app;dur=<milliseconds>`` to every response: the time spent in Django
    from this middleware inwards (views, templates, queries), without the network or the static
    files served before it. Browsers show it in their network panel; ``tests/e2e/test_crawl.py``
    fails a page above its budget. It reveals only a duration, no names or queries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not response.streaming:  # a streamed body is still being produced when headers leave
            response["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        return response
