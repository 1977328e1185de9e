"""The REST API's JSON parser: DRF's, with a bound on nesting depth.

Python's JSON decoder recurses once per level, so a body nested a few thousand levels deep
raises ``RecursionError`` (an HTTP 500 with a traceback), and data nested a few hundred levels
deep breaks later encoders (orjson stops at 254). Definition: the *depth* of a JSON value is 0 for
a scalar and 1 + the largest depth of its members for an array or object. A body deeper than
``MAX_JSON_DEPTH`` is a 400 with a message saying so, for any caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Is ``value`` (parsed JSON) nested deeper than ``limit``? Iterative: no recursion."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, Mapping):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth + 1 > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _too_deep() -> ParseError:
    return ParseError(f"JSON parse error - the body is nested deeper than {MAX_JSON_DEPTH} levels.")


class DepthLimitedJSONParser(JSONParser):
    """``JSONParser`` that answers 400 for bodies nested deeper than ``MAX_JSON_DEPTH``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise _too_deep()
        return data
