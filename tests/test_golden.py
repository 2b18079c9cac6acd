"""Golden cases: every mapping in mappings/ turns tests/cases/<route>/input.* into exactly
tests/cases/<route>/expected.*.

To add a case: put the partner file as ``input.<ext>`` and the reviewed output as
``expected.<ext>``. Run with ``TRADELANE_UPDATE_GOLDEN=1`` to write ``expected.*`` from the
current output, then read the diff before committing it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from support.project import REPO, ProjectDir, copy_partners
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
    copy_partners(project.root)
    spec = project.load().route(route)
    table = _own_table(project, route) if spec.target.kind == "table" else None
    name = _name_matching(spec.source.pattern, source.suffix)
    project.drop(route, name, source.read_bytes())
    [result] = project.run([route]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    if table is not None:  # a table route: its rows, in key order, are the output
        output = project.root / "rows.json"
        output.write_text(json.dumps(_rows(project, table), indent=2, default=str) + "\n")
    else:
        [output] = project.outputs(route)
    expected = case / f"expected{output.suffix}"
    if os.environ.get("TRADELANE_UPDATE_GOLDEN"):
        expected.write_bytes(output.read_bytes())
    assert output.read_bytes() == expected.read_bytes()


def _own_table(project: ProjectDir, route: str) -> str:
    """Point the copied mapping of a table route at a table of the test's own."""
    table = f"golden_{uuid.uuid4().hex[:10]}"
    path = project.root / "mappings" / f"{route}.yaml"
    path.write_text(re.sub(r"(?m)^(\s+table:) \w+$", rf"\1 {table}", path.read_text()))
    return table


def _rows(project: ProjectDir, table: str) -> list[dict[str, object]]:
    from sqlalchemy import text

    from tradelane.database import connect

    spec = project.load()
    [route] = [r for r in spec.routes.values() if getattr(r.target, "kind", "") == "table"
               and r.target.table.table == table]
    engine = connect(spec.settings, route.target.table.connection)
    try:
        with engine.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text(
                f"SELECT * FROM {table} ORDER BY {', '.join(route.target.table.key or ['1'])}"))]
            conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text("DELETE FROM tradelane_deliveries WHERE table_name = :t"),
                         {"t": table})
    finally:
        engine.dispose()
    return rows


def _name_matching(pattern: str, suffix: str) -> str:
    """A file name the route's glob accepts, e.g. 'ARTIKEL_*.csv' -> 'ARTIKEL_golden.csv'."""
    name = pattern.replace("*", "golden").replace("?", "x")
    if fnmatch.fnmatchcase(name, pattern) and Path(name).suffix:
        return name
    return f"golden{suffix}"
