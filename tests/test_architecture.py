"""The house keeps its shape: every room imports only from the rooms below it (docs/architecture.md).

Read from the source (``ast``), so a new module is checked without anyone listing it; lazy imports
inside functions count as much as the ones at the top. Migrations are history and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Ground floor first. Rooms on one floor are independent of each other: neither imports the other.
FLOORS: list[tuple[str, ...]] = [
    ("projects",),
    ("annotation",),
    ("qualification", "dynamic"),
    ("judging",),
    ("qc",),
    ("exports",),
    ("demo",),
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
# The plumbing every room may use; the URL configuration is the one place that knows every room.
PLUMBING_ONLY_ABOVE = {"quorum.urls", "quorum.api_urls", "quorum.views"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def violations(root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for room, level in FLOOR.items():
        for path in sorted((root / room).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for line, module in imports_of(path):
                top = module.split(".")[0]
                where = f"{path.relative_to(root)}:{line}"
                if top in FLOOR and top != room and FLOOR[top] >= level:
                    problems.append(f"{where}: {room} imports {module} (same floor or above)")
                if any(module == m or module.startswith(m + ".") for m in PLUMBING_ONLY_ABOVE):
                    problems.append(f"{where}: {room} imports {module} (only the URL configuration may)")
    return problems


def test_every_room_imports_only_downwards() -> None:
    assert violations() == []


def test_every_room_is_on_a_floor() -> None:
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} - {"quorum"}
    assert apps == set(FLOOR), "a new app needs a floor in FLOORS and in docs/architecture.md"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: an upward import (even inside a function) and a sideways one."""
    for room in FLOOR:
        (tmp_path / room).mkdir()
    (tmp_path / "projects" / "views.py").write_text("def f():\n    from annotation import services\n")
    (tmp_path / "dynamic" / "services.py").write_text("from qualification.models import QualificationTest\n")
    (tmp_path / "qc" / "views.py").write_text("import quorum.urls\n")
    found = violations(tmp_path)
    assert any("projects/views.py:2: projects imports annotation" in p for p in found)
    assert any("dynamic/services.py:1: dynamic imports qualification.models" in p for p in found)
    assert any("qc imports quorum.urls" in p for p in found)


@pytest.mark.parametrize("room", sorted(FLOOR))
def test_room_has_its_tests_folder(room: str) -> None:
    assert (ROOT / "tests" / room / "__init__.py").exists()
