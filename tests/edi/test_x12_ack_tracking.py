"""X12 interchanges tradelane sends are recorded like EDIFACT ones (issue 17): ISA13, the
GS06 and ST02 of each set, the partner; ``tradelane partners`` shows them as its last
outbound, an incoming 997 accepting the group is matched to them, and none within the
partner's ``ack_within`` raises the overdue-acknowledgement alert."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from support.project import REPO, ProjectDir
from tradelane.cli import app
from tradelane.ledger import utcnow
from tradelane.ledger.interchanges import Tracking
from tradelane.ledger.tables import sent_interchanges
from tradelane.models import Outcome
from tradelane.serve.monitor import Monitor

CASE = REPO / "tests" / "x12" / "cases" / "x12_810_out"
FA_IN = """\
    source: {folder: inbox/fa_in, pattern: "*.x12", min_age: 1s}
    format: {type: x12, transactions: ['997']}
    fields:
      group: {source: AK1.2}
    target: {folder: outbox/fa_in, format: json, name: "{stem}.json"}
"""


def _997(gs06: str, *, sender: str = "DISTRIB01", verdict: str = "A") -> str:
    """A 997 from ``sender`` answering group ``gs06`` of an 810 (IN)."""
    segs = [f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{'TRADELANE':<15}*261208*0900*U"
            f"*00401*000000777*0*P*>", "GS*FA*DISTRIB01*TRADELANE*20261208*0900*777*X*004010",
            "ST*997*0001", f"AK1*IN*{gs06}", "AK2*810*0001", f"AK5*{verdict}",
            f"AK9*{verdict}*1*1*1", "SE*6*0001", "GE*1*777", "IEA*1*000000777"]
    return "~\n".join(segs) + "~\n"


@pytest.fixture
def sent(tmp_path: Path) -> tuple[ProjectDir, str, str]:
    """A project that sent one X12 810 interchange to partner distrib, whose 997 is expected
    within 2h (the partner's ack_within); yields it, the ISA13 and the GS06."""
    project = ProjectDir(tmp_path / "project")
    project.file("partners/distrib.yaml", (CASE / "partner.yaml").read_text()
                 + "ack_within: 2h\n")
    project.route("x12_810_out", (CASE / "mapping.yaml").read_text().replace(
        "min_age: 5s", "min_age: 0s"))
    project.route("fa_in", FA_IN)
    project.drop("x12_810_out", "INVOICES_01.csv", (CASE / "input.csv").read_text())
    [result] = project.run(["x12_810_out"]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    [out] = project.outputs("x12_810_out")
    segs = [s.split("*") for s in out.read_text().replace("\n", "").split("~") if s]
    return project, segs[0][13], segs[1][6]


def _cli(project: ProjectDir, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--project", str(project.root)],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def test_an_x12_interchange_sent_is_recorded_and_shown_as_the_partners_last_out(
        sent: tuple[ProjectDir, str, str]) -> None:
    project, isa13, gs06 = sent
    with project.ledger() as ledger:
        [row] = Tracking(ledger).sent()
    assert (row.route, row.control_ref, row.ack_state) == ("x12_810_out", isa13, "waiting")
    assert (row.sender, row.recipient) == ("TRADELANE:ZZ", "DISTRIB01:ZZ")
    st02s = re.findall(r"ST\*810\*(\w+)", Path(row.output.removeprefix("file://"))
                       .read_text())
    assert row.messages == len(st02s) == 2
    with project.ledger() as ledger, ledger.engine.connect() as conn:
        documents = conn.execute(select(sent_interchanges.c.documents)).scalar_one()
    assert [d[0] for d in json.loads(documents)] == st02s
    assert {d[3] for d in json.loads(documents)} == {gs06}
    assert row.ack_due_at is not None and row.ack_due_at - row.sent_at == timedelta(hours=2)
    [partner] = json.loads(_cli(project, "partners", "--json"))
    assert partner["last_outbound"]["control_ref"] == isa13
    assert partner["acks_waiting"] == 1


def test_a_997_accepting_the_group_is_matched_to_the_interchange_sent(
        sent: tuple[ProjectDir, str, str]) -> None:
    project, isa13, gs06 = sent
    project.drop("fa_in", "other.x12", _997(gs06, sender="ELSEWHERE"))  # not from distrib
    project.drop("fa_in", "fa.x12", _997(gs06))
    results = project.run(["fa_in"]).results
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 2
    data = json.loads(_cli(project, "acks", "--json"))
    [row] = data["sent"]
    assert (row["control_ref"], row["ack_state"]) == (isa13, "accepted")
    assert (row["ack"]["kind"], row["ack"]["control_ref"]) == ("997", gs06)
    [stray] = data["unmatched"]
    assert stray["sender"] == "ELSEWHERE"
    [partner] = json.loads(_cli(project, "partners", "--json"))
    assert partner["acks_waiting"] == 0


def test_no_997_within_ack_within_raises_the_overdue_alert_once(
        sent: tuple[ProjectDir, str, str]) -> None:
    project, isa13, _gs06 = sent
    later = utcnow() + timedelta(hours=2, minutes=1)
    with project.ledger() as ledger:
        monitor = Monitor(project.load(), ledger, channel_list=[], clock=lambda: later)
        assert monitor.check() == ["ack_overdue:1"]
        assert monitor.check() == []  # once
        [late] = Tracking(ledger).overdue(later)
    assert late.control_ref == isa13 and late.recipient == "DISTRIB01:ZZ"
