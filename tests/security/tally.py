"""Each security suite counts what it tried and what got through; the counts go into the pytest
terminal summary ("security suites") through the reports' ``user_properties``, so they arrive from
xdist workers too. ``tests/conftest.py`` wires the two hooks below."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

KEY = "security_tally"
_seen: dict[tuple[str, str], tuple[int, int]] = {}


@dataclass
class Tally:
    suite: str
    tried: int = 0
    through: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        """One attempt: ``ok`` when it was stopped."""
        self.tried += 1
        if not ok:
            self.through.append(what)

    def line(self) -> str:
        return f"{self.suite}: tried {self.tried}, got through {len(self.through)}"


def record(request: pytest.FixtureRequest, tally: Tally) -> None:
    """Attach the counts to the test's report and print them (shown with ``-s`` or ``-rP``)."""
    request.node.user_properties.append((KEY, (tally.suite, tally.tried, len(tally.through))))
    print(f"[security] {tally.line()}")


def logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == KEY:
            suite, tried, through = cast(tuple[str, int, int], value)
            _seen[(report.nodeid, suite)] = (tried, through)


def terminal_summary(terminalreporter: Any) -> None:
    if not _seen:
        return
    totals: dict[str, list[int]] = {}
    for (_nodeid, suite), (tried, through) in _seen.items():
        entry = totals.setdefault(suite, [0, 0])
        entry[0] += tried
        entry[1] += through
    terminalreporter.section("security suites")
    for suite, (tried, through) in sorted(totals.items()):
        terminalreporter.write_line(f"{suite}: tried {tried}, got through {through}")
