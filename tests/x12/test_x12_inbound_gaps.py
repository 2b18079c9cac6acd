"""Inbound X12 control numbers (issue 17): the ISA13s a partner sends are checked for gaps per
partner as UNB 0020s are, on their own series, and the alert goes to the route reading the
partner's files, not to the one writing X12 to it. (A repeated ISA13 is already refused as a
duplicate interchange by the envelope checks.)"""

from __future__ import annotations

import json

from x12_out_case import CASE, PARTNER, invoices, x12_project

from support.project import REPO, ProjectDir
from tradelane.ledger.alerts import Incidents
from tradelane.models import Outcome
from tradelane.serve.monitor import Monitor

ORDERS = (REPO / "tests" / "cases" / "x12_850" / "input.x12").read_bytes()


def _orders(isa13: int) -> bytes:
    """The golden 850 interchange from DISTRIB01 under another ISA13 (and IEA02)."""
    ref = f"{isa13:09d}".encode()
    return ORDERS.replace(b"*000000101*", b"*" + ref + b"*").replace(
        b"IEA*1*000000101", b"IEA*1*" + ref)


def _gap_alerts(project: ProjectDir) -> list[str]:
    with project.ledger() as ledger:
        return Monitor(project.load(), ledger, channel_list=[]).check()


def test_a_gap_in_a_partners_isa13s_is_listed_and_alerted_until_they_arrive(
        project: ProjectDir) -> None:
    from typer.testing import CliRunner

    from tradelane.cli.main import app

    x12_project(project, partner=PARTNER + 'edifact: {id: "5412345000013", our_id: "1"}\n')
    project.route("x12_850", "partner: distrib\n"
                  + (REPO / "mappings" / "x12_850.yaml").read_text())
    for ref in (101, 102, 105):  # 103 and 104 never came
        project.drop("x12_850", f"PO_{ref}.x12", _orders(ref))
    project.drop("x12_810_out", "INVOICES_1.csv", invoices(1))
    results = project.run().results
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4, results

    result = CliRunner().invoke(app, ["partners", "--json", "--project", str(project.root)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["last_inbound"]["control_ref"] == "000000105"
    assert row["gaps"] == [[103, 104]]

    assert _gap_alerts(project) == ["number_gap:distrib:x12:103-104"]
    with project.ledger() as ledger:
        [gap] = [i for i in Incidents(ledger).open_incidents() if i.kind == "number_gap"]
    assert gap.route == "x12_850"  # the route reading its files, not the one writing to it
    assert "partner distrib: X12 interchange 103 to 104 never arrived" in gap.message

    for ref in (103, 104):
        project.drop("x12_850", f"PO_{ref}.x12", _orders(ref))
    assert [r.outcome for r in project.run(["x12_850"]).results] == [Outcome.DELIVERED] * 2
    _gap_alerts(project)
    with project.ledger() as ledger:
        assert not [i for i in Incidents(ledger).open_incidents() if i.kind == "number_gap"]


def test_a_repeated_isa13_from_the_partner_is_refused_as_a_duplicate(
        project: ProjectDir) -> None:
    project.file("partners/distrib.yaml", (CASE / "partner.yaml").read_text())
    project.route("x12_850", "partner: distrib\n"
                  + (REPO / "mappings" / "x12_850.yaml").read_text())
    project.drop("x12_850", "PO_1.x12", _orders(101))
    assert [r.outcome for r in project.run().results] == [Outcome.DELIVERED]
    # the same ISA13 again, other content (another PO number)
    project.drop("x12_850", "PO_2.x12", _orders(101).replace(b"4500012345", b"4500099999"))
    [result] = project.run().results
    assert result.outcome == Outcome.DUPLICATE, result.message
    assert "000000101" in result.message
