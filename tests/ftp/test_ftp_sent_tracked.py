"""An interchange sent over FTP is recorded as sent like one written to a folder: the writer
tells what it wrote, nothing is read back from the target (issue 17)."""

from __future__ import annotations

import re

import yaml
from ftp_routes import server_for

from support.project import REPO, ProjectDir
from tradelane.ledger.interchanges import Tracking
from tradelane.models import Outcome

CASE = REPO / "tests" / "x12" / "cases" / "x12_810_out"


def test_an_x12_810_sent_over_ftp_is_recorded_with_its_isa13(project: ProjectDir) -> None:
    server = server_for("none")
    outbox = server.folder()
    project.settings(yaml.safe_dump({"connections": {"acme": {"ftp": server.connection()}}}))
    project.file("partners/distrib.yaml", (CASE / "partner.yaml").read_text())
    spec = (CASE / "mapping.yaml").read_text().replace("min_age: 5s", "min_age: 0s")
    spec = spec.replace("  folder: outbox/x12_810_out\n", f"  ftp: acme\n  path: {outbox}\n")
    assert "ftp: acme" in spec
    project.route("x12_810_out", spec)
    project.drop("x12_810_out", "INVOICES_01.csv", (CASE / "input.csv").read_text())
    [result] = project.run(["x12_810_out"]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    [out] = list(outbox.iterdir())
    isa13 = out.read_text().split("*")[13]
    with project.ledger() as ledger:
        [row] = Tracking(ledger).sent()
    assert (row.control_ref, row.recipient, row.messages) == (
        isa13, "DISTRIB01:ZZ", len(re.findall(r"~\s*ST\*", out.read_text())))
    assert not row.output.startswith("file:")
