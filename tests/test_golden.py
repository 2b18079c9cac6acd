"""Golden cases: every mapping in mappings/ turns tests/cases/<route>/input.* into exactly
tests/cases/<route>/expected.*.

To add a case: put the partner file as ``input.<ext>`` and the reviewed output as
``expected.<ext>``. Run with ``TRADELANE_UPDATE_GOLDEN=1`` to write ``expected.*`` from the
current output, then read the diff before committing it.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

import pytest

from support.project import REPO, ProjectDir
from tradelane.models import Outcome

CASES = REPO / "tests" / "cases"


def _cases() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if any(p.glob("input.*"))) \
        if CASES.exists() else []


def test_every_mapping_has_a_golden_case() -> None:
    """A new mapping without its golden case is not done (STYLE.md)."""
    routes = sorted(p.stem for p in (REPO / "mappings").glob("*.yaml"))
    assert routes == [name for name in _cases() if name in routes]


@pytest.mark.parametrize("route", _cases())
def test_golden_case(route: str, tmp_path: Path) -> None:
    case = CASES / route
    [source] = case.glob("input.*")
    project = ProjectDir(tmp_path / "project")
    shutil.copy(REPO / "tradelane.yaml", project.root / "tradelane.yaml")
    shutil.copytree(REPO / "mappings", project.root / "mappings", dirs_exist_ok=True)
    spec = project.load().route(route)
    name = _name_matching(spec.source.pattern, source.suffix)
    project.drop(route, name, source.read_bytes())
    [result] = project.run([route]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs(route)
    expected = case / f"expected{output.suffix}"
    if os.environ.get("TRADELANE_UPDATE_GOLDEN"):
        expected.write_bytes(output.read_bytes())
    assert output.read_bytes() == expected.read_bytes()


def _name_matching(pattern: str, suffix: str) -> str:
    """A file name the route's glob accepts, e.g. 'ARTIKEL_*.csv' -> 'ARTIKEL_golden.csv'."""
    name = pattern.replace("*", "golden").replace("?", "x")
    if fnmatch.fnmatchcase(name, pattern) and Path(name).suffix:
        return name
    return f"golden{suffix}"
