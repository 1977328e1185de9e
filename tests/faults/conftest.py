"""Fault suites: real processes killed or stopped mid-work (docs/operations.md). Their figures
(acknowledged / stored / lost / duplicated, and how long a dead worker's job took to end) are
printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.faults.harness import RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault suites")
    for suite, figures in RESULTS:
        terminalreporter.line(f"{suite}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
