"""Extension points: how a lower room lets a room above it take part, without importing it.

Rooms import only downwards (docs/architecture.md). Where a lower room must let work above it run
— a golden answer that may pause its annotator, a page that shows a figure from QC — the lower
room declares a ``Hook`` in its ``hooks.py`` and calls it; the room above registers a function in
its ``AppConfig.ready()``. This is the house's one mechanism for upward calls: the call site reads
as a plain call, the registrations are listed in one place per room, and an unfilled hook does
nothing (a room can be left out of ``INSTALLED_APPS`` and the rooms below still work).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Hook(Generic[F]):
    """A named extension point: its functions run in registration order (``INSTALLED_APPS``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[F] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._functions)} registered>"

    def register(self, function: F) -> F:
        """Adds ``function`` (idempotent: ``ready()`` may run twice in tests). Usable as a decorator."""
        if function not in self._functions:
            self._functions.append(function)
        return function

    @property
    def functions(self) -> tuple[F, ...]:
        return tuple(self._functions)

    def call(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Calls every registered function; their results in order."""
        return [function(*args, **kwargs) for function in self._functions]

    def first(self, *args: Any, **kwargs: Any) -> Any:
        """The first result that is not None, or None (later functions are not called)."""
        for function in self._functions:
            result = function(*args, **kwargs)
            if result is not None:
                return result
        return None

    def context(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """For hooks that add to a page's template context: the merged dicts of every function."""
        merged: dict[str, Any] = {}
        for result in self.call(*args, **kwargs):
            merged.update(result)
        return merged
