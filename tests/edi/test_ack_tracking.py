"""Interchanges tradelane sends are recorded, and the CONTRL/APERAK partners send back are
matched to them: ``tradelane acks`` and ``status`` show accepted, rejected (with the reason),
late past ``ack_within`` (an alert, once), and answers to nothing sent (unmatched, the file
still delivered). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from support.project import DATA, REPO, ProjectDir, copy_partners
from tradelane.cli import app
from tradelane.formats.ack_reading import read_acks
from tradelane.ledger import utcnow
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.interchanges import Tracking
from tradelane.models import Outcome
from tradelane.serve.monitor import Monitor

runner = CliRunner()

US, PARTNER = "4012345000009:14", "5412345000013:14"
ACKS_IN = """\
    source: {folder: inbox/acks_in, pattern: "*.edi", min_age: 1s}
    format: {type: edifact, messages: [CONTRL, APERAK]}
    fields:
      kind: {source: UNH.2.1}
    target: {folder: outbox/acks_in, format: json, name: "{stem}.json"}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def sent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ProjectDir, str]]:
    """A project that has sent one INVOIC interchange (two invoices) expecting its CONTRL
    within 2h; yields it and the interchange's reference."""
    project = ProjectDir(tmp_path / "project")
    if request.param == "postgresql":
        project.settings(f"ledger: '{request.getfixturevalue('pg_url')}'\n")
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    copy_partners(project.root)
    spec = spec.replace("    prepared: invoice_date",
                        "    ack_within: 2h\n    prepared: invoice_date")
    assert "ack_within: 2h" in spec
    (project.root / "mappings" / "invoic_out.yaml").write_text(spec)
    project.route("acks_in", ACKS_IN)
    for csv in (REPO / "examples" / "invoic_out").glob("*.csv"):
        project.drop("invoic_out", csv.name, csv.read_bytes())
    [result] = project.run(["invoic_out"]).results
    assert result.outcome == Outcome.DELIVERED
    [out] = project.outputs("invoic_out")
    unb = out.read_text(encoding="latin-1").split("'")[1]
    yield project, unb.split("+")[5]


def contrl(ref: str, body: str, *, sender: str = PARTNER, recipient: str = US) -> str:
    segs = ["UNH+1+CONTRL:D:3:UN", *body.format(ref=ref, us=US, partner=PARTNER).split("'")]
    segs.append(f"UNT+{len(segs) + 1}+1")
    return (f"UNA:+.? 'UNB+UNOC:3+{sender}+{recipient}+261125:1300+C{ref[:8]}'"
            + "".join(s + "'" for s in segs) + f"UNZ+1+C{ref[:8]}'")


def cli(project: ProjectDir, *args: str) -> str:
    result = runner.invoke(app, [*args, "--project", str(project.root)],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def acks_json(project: ProjectDir, *args: str) -> dict:
    return json.loads(cli(project, "acks", "--json", *args))


def receive(project: ProjectDir, name: str, text: str) -> Outcome:
    project.drop("acks_in", name, text)
    [result] = project.run(["acks_in"]).results
    return result.outcome


def test_a_contrl_rejecting_the_interchange_shows_it_rejected_with_the_ucm_reason(
        sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    [before] = acks_json(project)["sent"]
    assert (before["ack_state"], before["overdue"]) == ("waiting", False)
    assert (before["sender"], before["recipient"], before["messages"]) == (US, PARTNER, 2)
    text = contrl(ref, "UCI+{ref}+{us}+{partner}+4'UCM+2+INVOIC:D:96A:UN:EAN008+4+29")
    assert receive(project, "reject.edi", text) == Outcome.DELIVERED
    [row] = acks_json(project)["sent"]
    assert row["ack_state"] == "rejected"
    assert row["ack"]["kind"] == "CONTRL"
    assert row["ack"]["errors"] == [
        "message 2 (INVOIC) rejected: syntax error 29 (control count does not match)"]
    words = " ".join(cli(project, "acks").split())  # the reason, however the lines wrap
    assert f"{ref} (invoic_out), rejected by CONTRL (file 2): message 2 (INVOIC) rejected:" \
           " syntax error 29 (control count does not match)" in words, words


def test_a_contrl_accepting_the_interchange_shows_it_acknowledged(
        sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    assert receive(project, "ok.edi", contrl(ref, "UCI+{ref}+{us}+{partner}+7")) \
        == Outcome.DELIVERED
    [row] = acks_json(project)["sent"]
    assert (row["ack_state"], row["ack"]["verdict"], row["ack"]["errors"]) == (
        "accepted", "accepted", [])
    assert acks_json(project)["unmatched"] == []
    assert acks_json(project, "--waiting")["sent"] == []


def test_no_ack_within_ack_within_is_late_in_status_and_alerts_once(
        sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    rows = {r["route"]: r for r in json.loads(cli(project, "status", "--json"))}
    assert rows["invoic_out"]["acks_late"] == 0  # sent just now: due in 2h
    later = utcnow() + timedelta(hours=2, minutes=1)
    with project.ledger() as ledger:
        monitor = Monitor(project.load(), ledger, channel_list=[], clock=lambda: later)
        assert monitor.check() == ["ack_overdue:1"]
        assert monitor.check() == []  # once
    with time_machine.travel(later, tick=False):
        rows = {r["route"]: r for r in json.loads(cli(project, "status", "--json"))}
        [late] = rows["invoic_out"]["acks_late_list"]
        assert rows["invoic_out"]["acks_late"] == 1 and late["control_ref"] == ref
        assert [s["control_ref"] for s in acks_json(project, "--waiting")["sent"]] == [ref]
        table = cli(project, "status")
        assert "acks late" in table
        assert max(len(line) for line in table.splitlines()) <= 80
    # the CONTRL arrives late: no longer waiting, and the alert is resolved
    receive(project, "ok.edi", contrl(ref, "UCI+{ref}+{us}+{partner}+7"))
    with project.ledger() as ledger:
        Monitor(project.load(), ledger, channel_list=[], clock=lambda: later).check()
        assert [i.key for i in Incidents(ledger).open_incidents()] == []


def test_an_ack_for_an_unknown_interchange_is_unmatched_and_the_file_still_delivered(
        sent: tuple[ProjectDir, str]) -> None:
    project, _ = sent
    text = contrl("NOSUCHREF", "UCI+{ref}+{us}+{partner}+4+29")
    assert receive(project, "stray.edi", text) == Outcome.DELIVERED
    assert project.outputs("acks_in")  # delivered like any file of the route
    data = acks_json(project)
    assert data["sent"][0]["ack_state"] == "waiting"
    [stray] = data["unmatched"]
    assert (stray["control_ref"], stray["verdict"], stray["matched"]) == (
        "NOSUCHREF", "rejected", False)
    assert "NOSUCHREF" in cli(project, "acks")


def test_a_contrl_from_another_partner_with_the_same_reference_is_not_taken(
        sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    text = contrl(ref, "UCI+{ref}+{us}+9999999999999:14+7", sender="9999999999999:14")
    receive(project, "other.edi", text)
    data = acks_json(project)
    assert data["sent"][0]["ack_state"] == "waiting" and len(data["unmatched"]) == 1


def test_an_aperak_refusing_an_invoice_by_its_number_outweighs_a_later_contrl(
        sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    aperak = ("UNA:+.? 'UNB+UNOC:3+5412345000013:14+4012345000009:14+261125:1400+A1'"
              "UNH+1+APERAK:D:96A:UN'BGM+313+AP1+27'RFF+IV:INV-90002'ERC+12'"
              "FTX+AAO+++Unknown GTIN 4006381333955'UNT+6+1'UNZ+1+A1'")
    assert receive(project, "aperak.edi", aperak) == Outcome.DELIVERED
    receive(project, "ok.edi", contrl(ref, "UCI+{ref}+{us}+{partner}+7"))
    [row] = acks_json(project)["sent"]
    assert row["ack_state"] == "rejected"
    assert row["ack"]["kind"] == "APERAK"
    assert row["ack"]["errors"] == ["application error 12: Unknown GTIN 4006381333955"]


def test_the_acks_table_fits_80_columns(sent: tuple[ProjectDir, str]) -> None:
    project, ref = sent
    receive(project, "r.edi", contrl(ref, "UCI+{ref}+{us}+{partner}+4'UCM+2+INVOIC:D:96A:UN+4+29"))
    table = cli(project, "acks")
    assert max(len(line) for line in table.splitlines()) <= 80
    assert ref[:6] in table


# -- partners' files from the corpus ------------------------------------------------------


def test_medcoms_negative_contrl_is_read_with_its_reasons_and_kept_unmatched(
        project: ProjectDir) -> None:
    project.route("acks_in", ACKS_IN)
    contrl_file = (DATA / "edifact" / "medcom__CTL01_1_contrl.edi").read_bytes()
    assert receive(project, "ctl.edi", contrl_file) == Outcome.DELIVERED
    [stray] = acks_json(project)["unmatched"]
    assert (stray["kind"], stray["control_ref"], stray["verdict"]) == (
        "CONTRL", "MEDREF01095", "rejected")
    assert stray["errors"][1:] == ["message 1111FRE01095 (MEDREF) rejected",
                                   "message 1111MAN01095 (MEDREF) rejected"]
    assert stray["errors"][0].startswith("EDI-kuvert afsendt 11/11 1999")


def test_pydifacts_aperak_is_read_as_a_rejection_of_its_order() -> None:
    [ack] = read_acks(DATA / "edifact" / "pydifact__aperak_rejected.edi", standard="edifact")
    assert (ack.kind, ack.sender, ack.verdict) == ("APERAK", "RECEIVERID", "rejected")
    assert ack.references == ["PO123456"]
    assert ack.errors == ["application error 12: Order rejected due to invalid product code"]


def test_pydifacts_aperak_with_its_wrong_unt_count_is_quarantined_not_recorded(
        project: ProjectDir) -> None:
    """Its UNT declares 8 segments for 7: the reader refuses it before any tracking."""
    project.route("acks_in", ACKS_IN)
    aperak = (DATA / "edifact" / "pydifact__aperak_rejected.edi").read_bytes()
    assert receive(project, "aperak.edi", aperak) == Outcome.QUARANTINED
    assert acks_json(project)["unmatched"] == []


def test_an_x12_997_rejecting_a_transaction_set_is_read_and_kept_unmatched(
        project: ProjectDir) -> None:
    """tradelane writes no X12 yet, so every 997 answers nothing it sent."""
    project.route("fa_in", """\
        source: {folder: inbox/fa_in, pattern: "*.edi", min_age: 1s}
        format: {type: x12, transactions: ['997']}
        fields:
          group: {source: AK1.2}
        target: {folder: outbox/fa_in, format: json, name: "{stem}.json"}
    """)
    project.drop("fa_in", "fa.edi", (DATA / "x12" / "staedi__simple997.edi").read_bytes())
    [result] = project.run(["fa_in"]).results
    assert result.outcome == Outcome.DELIVERED
    [stray] = acks_json(project)["unmatched"]
    assert (stray["kind"], stray["sender"], stray["control_ref"], stray["verdict"]) == (
        "997", "ReceiverID", "000001", "rejected")
    assert stray["errors"] == ["segment NM1 at position 8: error 8",
                               "element 8: error 7, value 'MI'",
                               "transaction set rejected (AK501 R, code 5)"]


# -- crash safety ---------------------------------------------------------------------------


def run_killed_at(project: ProjectDir, point: str) -> None:
    """``run --once`` in a process of its own, SIGKILLed at ``point``; then a clean run."""
    env = {**os.environ, "TRADELANE_CRASH_AT": point}
    killed = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                             str(project.root)], env=env, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    env.pop("TRADELANE_CRASH_AT")
    again = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                            str(project.root)], env=env, capture_output=True, check=False)
    assert again.returncode == 0, again.stderr.decode()


def test_a_kill_after_recording_what_was_sent_or_answered_records_it_once(
        project: ProjectDir) -> None:
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    copy_partners(project.root)
    (project.root / "mappings" / "invoic_out.yaml").write_text(spec.replace(
        "    prepared: invoice_date", "    ack_within: 2h\n    prepared: invoice_date"))
    for csv in (REPO / "examples" / "invoic_out").glob("*.csv"):
        project.drop("invoic_out", csv.name, csv.read_bytes())
    run_killed_at(project, "sent-recorded")  # recorded, the step not marked done: redone
    [row] = acks_json(project)["sent"]
    [out] = project.outputs("invoic_out")
    ref = out.read_text(encoding="latin-1").split("'")[1].split("+")[5]
    assert row["control_ref"] == ref
    project.route("acks_in", ACKS_IN)
    project.drop("acks_in", "ok.edi", contrl(ref, "UCI+{ref}+{us}+{partner}+7"))
    run_killed_at(project, "ack-recorded")
    [row] = acks_json(project)["sent"]
    assert row["ack_state"] == "accepted"
    with project.ledger() as ledger:
        assert [a.kind for a in Tracking(ledger).acks_of_file(row["ack"]["file_id"])] == [
            "CONTRL"]
