"""The outbound X12 case the tests of tests/x12 share: the 810 route of cases/x12_810_out
writing to the partner ``distrib``."""

from __future__ import annotations

from pathlib import Path

from support.project import ProjectDir
from tradelane.models import Outcome

CASE = Path(__file__).parent / "cases" / "x12_810_out"
ROUTE = "x12_810_out"
PARTNER = (CASE / "partner.yaml").read_text()


def x12_project(project: ProjectDir, *, partner: str = PARTNER, mapping: str | None = None
                ) -> ProjectDir:
    project.file("partners/distrib.yaml", partner)
    project.route(ROUTE, mapping or (CASE / "mapping.yaml").read_text())
    return project


def deliver(project: ProjectDir, name: str, content: bytes) -> Path:
    project.drop(ROUTE, name, content)
    [result] = project.run([ROUTE]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    return project.root / "outbox" / ROUTE / name.replace(".csv", ".x12")


def segments(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="ascii")
    return [s.split("*") for s in text.replace("\n", "").split("~") if s]


def invoices(n: int) -> bytes:
    """The golden input with other invoice numbers: another file, other content."""
    return (CASE / "input.csv").read_text().replace("INV-7000", f"INV-{n}000").encode()
