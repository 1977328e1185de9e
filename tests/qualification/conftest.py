"""The annotation tests' fixtures (a stream, its annotator, its items) serve this room's tests too."""

from __future__ import annotations

from tests.annotation.conftest import annotator, items, stream

__all__ = ["annotator", "items", "stream"]
