"""Partners as records (issue 17): partners/*.yaml, routes that name one, check's messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.project import REPO, ProjectDir
from tradelane.errors import ConfigError
from tradelane.models import Outcome

CASES = REPO / "tests" / "cases"
PARTNER = """\
description: the retail chain
owner: {name: Retail desk, email: retail@example.com}
edifact: {id: "5412345000013", qualifier: "14", our_id: "4012345000009", our_qualifier: "14"}
ack_within: 2h
"""


def _invoic_with_partner(project: ProjectDir, partner_line: str = "partner: retailer") -> None:
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    spec = spec.replace('    sender: "4012345000009:14"\n', "").replace(
        '    recipient: "5412345000013:14"\n', "")
    spec = "".join(line for line in spec.splitlines(keepends=True)
                   if not line.startswith("partner:"))  # the demo's own: replaced here
    project.route("invoic_out", f"{partner_line}\n{spec}")


def _problems(project: ProjectDir) -> str:
    with pytest.raises(ConfigError) as info:
        project.load()
    return str(info.value)


def test_a_route_naming_an_unknown_partner_is_refused_with_the_closest_name(
        project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", PARTNER)
    _invoic_with_partner(project, "partner: retailler")
    problems = _problems(project)
    assert "mappings/invoic_out.yaml: partner: 'retailler' is not a partner" in problems
    assert "did you mean 'retailer'?" in problems


def test_an_edifact_target_without_sender_and_without_partner_is_refused(
        project: ProjectDir) -> None:
    _invoic_with_partner(project, "")
    assert "target.edifact: give sender and recipient, or name the route's partner" \
        in _problems(project)


def test_partner_file_problems_are_located(project: ProjectDir) -> None:
    project.settings("connections:\n  retail_sftp: {sftp: {host: h, user: u,"
                     " password_env: P, fingerprint: 'SHA256:" + "A" * 43 + "'}}\n")
    project.file("partners/retailer.yaml", PARTNER + "transports: [retail_sfpt]\n"
                 "keys: {certificate: certs/retailer.pem}\n")
    project.file("partners/other.yaml", "edifact: {id: X, our_id: Y, qualifer: ZZ}\n"
                 "ack_within: soon\n")
    problems = _problems(project)
    assert "partners/retailer.yaml: transports.0: 'retail_sfpt' is not a connection in" \
        " tradelane.yaml; did you mean 'retail_sftp'?" in problems
    assert "partners/retailer.yaml: keys.certificate: certs/retailer.pem does not exist" \
        in problems
    assert "partners/other.yaml: edifact.qualifer: unknown option" in problems
    assert "partners/other.yaml: ack_within:" in problems


def test_a_sequence_whose_range_cannot_hold_its_width_is_refused(project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", PARTNER.replace(
        'our_qualifier: "14"}', 'our_qualifier: "14", control_numbers: {interchange:'
        ' {start: 1, max: 99999999, width: 5}}}'))
    assert "partners/retailer.yaml: edifact.control_numbers.interchange: max (99999999)" \
        " does not fit in width 5" in _problems(project)


def test_a_route_takes_its_partners_ids_owner_and_ack_window(project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", PARTNER)
    _invoic_with_partner(project)
    route = project.load().route("invoic_out")
    assert route.target.edifact is not None
    assert route.target.edifact.sender == "4012345000009:14"
    assert route.target.edifact.recipient == "5412345000013:14"
    assert route.target.edifact.ack_within is not None
    assert route.target.edifact.ack_within.total_seconds() == 7200
    assert route.owner is not None and route.owner.email == "retail@example.com"


def test_the_partners_ids_write_the_same_bytes_as_the_route_giving_them(
        project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", PARTNER)
    _invoic_with_partner(project)
    case = CASES / "invoic_out"
    project.drop("invoic_out", "INVOICES_1.csv", (case / "input.csv").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs("invoic_out")
    # the golden output is numbered by the demo's partner's sequences; this one has none
    numbered = (case / "expected.edi").read_bytes()
    assert output.read_bytes() == numbered.replace(b"+00000001'", b"+1BCF7C32C609DE'")


def test_the_demo_partners_load_with_the_demo(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(REPO / "mappings", root / "mappings")
    shutil.copytree(REPO / "partners", root / "partners")
    shutil.copy(REPO / "tradelane.yaml", root / "tradelane.yaml")
    project = ProjectDir(root).load()
    assert "retailer" in project.partners
    assert project.partners["retailer"].edifact is not None
    # the EANCOM routes name it instead of repeating its ids
    assert {r.name for r in project.routes.values() if r.partner == "retailer"} == {
        "invoic_out", "edifact_orders", "eancom_invoic"}
    assert project.routes["invoic_out"].target.edifact.recipient == "5412345000013:14"


# -- tradelane partners: what the ledger knows of each partner --------------------------------

def _cli(project: ProjectDir, *args: str) -> str:
    from typer.testing import CliRunner

    from tradelane.cli.main import app

    result = CliRunner().invoke(app, [*args, "--project", str(project.root)],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def _orders(ref: str) -> bytes:
    """The golden ORDERS interchange under another control reference."""
    return (CASES / "edifact_orders" / "input.edi").read_bytes().replace(
        b"+ORD0001'", f"+{ref}'".encode())


def test_partners_lists_last_interchanges_outstanding_acks_and_gaps(
        project: ProjectDir) -> None:
    import json

    from tradelane.serve.monitor import Monitor

    project.file("partners/retailer.yaml", PARTNER)
    _invoic_with_partner(project)
    project.route("edifact_orders", "partner: retailer\n"
                  + (REPO / "mappings" / "edifact_orders.yaml").read_text())
    for ref in ("101", "102", "105"):  # 103 and 104 never came
        project.drop("edifact_orders", f"ORDERS_{ref}.edi", _orders(ref))
    project.drop("invoic_out", "INVOICES_1.csv",
                 (CASES / "invoic_out" / "input.csv").read_bytes())
    results = project.run().results
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4, results

    [row] = json.loads(_cli(project, "partners", "--json"))
    assert row["name"] == "retailer"
    assert row["last_inbound"]["control_ref"] == "105"
    assert row["last_outbound"]["route"] == "invoic_out"
    assert row["acks_waiting"] == 1 and row["acks_late"] == 0  # ack_within 2h: not late yet
    assert row["gaps"] == [[103, 104]]

    table = _cli(project, "partners")
    assert "retailer" in table and "105" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    shown = _cli(project, "partners", "show", "retailer")
    assert "gap: interchange 103 to 104 never received" in shown
    assert "acknowledgements outstanding: 1" in shown

    with project.ledger() as ledger:  # the gap is an alert, once; it closes when they come
        assert Monitor(project.load(), ledger, channel_list=[]).check() == \
            ["number_gap:retailer:103-104"]
        assert Monitor(project.load(), ledger, channel_list=[]).check() == []
        from tradelane.ledger.alerts import Incidents
        [gap] = [i for i in Incidents(ledger).open_incidents() if i.kind == "number_gap"]
    # to the owner of the route reading the partner's files (the partner's, as it has none)
    assert gap.route == "edifact_orders"
    assert "partner retailer: interchange 103 to 104 never arrived" in gap.message
    for ref in ("103", "104"):
        project.drop("edifact_orders", f"ORDERS_{ref}.edi", _orders(ref))
    project.run()
    with project.ledger() as ledger:
        Monitor(project.load(), ledger, channel_list=[]).check()
        assert not [i for i in Incidents(ledger).open_incidents() if i.kind == "number_gap"]


def test_partners_show_an_unknown_name_says_the_closest(project: ProjectDir) -> None:
    from typer.testing import CliRunner

    from tradelane.cli.main import app

    project.file("partners/retailer.yaml", PARTNER)
    result = CliRunner().invoke(app, ["partners", "show", "retialer", "--project",
                                      str(project.root)])
    assert result.exit_code == 5
    assert "no partner named 'retialer'" in result.output
    assert "did you mean 'retailer'?" in result.output


def test_the_console_shows_a_viewer_the_partners(project: ProjectDir,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from support.console import PASSWORD, LiveConsole, log_in
    from tradelane.cli.main import app

    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops}\n")
    project.file("partners/retailer.yaml", PARTNER.replace(
        'our_qualifier: "14"}', 'our_qualifier: "14", control_numbers: {interchange:'
        ' {start: 1, max: 99999999, width: 8}}}'))
    _invoic_with_partner(project)
    project.drop("invoic_out", "INVOICES_1.csv",
                 (CASES / "invoic_out" / "input.csv").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    added = CliRunner().invoke(app, ["user", "add", "vic", "--role", "viewer",
                                     "--password-stdin", "-C", str(project.root)],
                               input="vic only looks around\n")
    assert added.exit_code == 0, added.output
    server = LiveConsole(project.root)
    try:
        with server.client() as anonymous:
            assert anonymous.get("/partners").status_code in (302, 303, 401)
        with server.client() as client:
            assert log_in(client, "vic only looks around", "vic").status_code == 303
            page = client.get("/partners").text
            menu = client.get("/").text
    finally:
        server.stop()
    assert '<a href="/partners"' in menu
    section = page[page.index('id="partner-retailer"'):]
    assert "Retail desk &lt;retail@example.com&gt;" in section
    assert "interchange 00000001 at" in section  # last sent
    assert '<dd class="sequence">00000002 (max 99999999)</dd>' in section
    assert '<dd class="acks">1</dd>' in section


def test_serve_reloading_its_mappings_keeps_the_partners_and_sees_theirs_change(
        project: ProjectDir) -> None:
    from tradelane.serve.reload import fingerprint, merge

    project.file("partners/retailer.yaml", PARTNER)
    _invoic_with_partner(project)
    before = project.load()
    seen = fingerprint(before)
    project.file("partners/retailer.yaml", PARTNER.replace('our_id: "4012345000009"',
                                                           'our_id: "4012345000016"'))
    assert fingerprint(before) != seen  # an edited partner is a change serve reloads
    merged, _changes = merge(before, project.load())
    assert merged.partners["retailer"].edifact is not None
    assert merged.partners["retailer"].edifact.our_id == "4012345000016"
    edifact = merged.route("invoic_out").target.edifact
    assert edifact is not None and edifact.sender == "4012345000016:14"
