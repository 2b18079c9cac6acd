"""`check` finds every problem in one pass; one bad mapping disables only its own route
(issue 16). Driven as a user drives it: `python -m tradelane` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir

FINGERPRINT = "SHA256:" + "A" * 43


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_check_reports_one_error_of_every_kind_in_one_run(project: ProjectDir) -> None:
    project.settings(f"""\
        max_reason_errors: 0
        connections:
          acme: {{sftp: {{host: sftp.example.com, user: u, key_env: K,
                         fingerprint: "{FINGERPRINT}"}}}}
    """)
    project.route("every", """\
        source: {sftp: nosuch, path: /in}
        every: soon
        format: {type: csv, delimeter: ";"}
        fields:
          qty: {type: integer, pattern: "([a-z"}
          sku: {codes: missing_codes.csv}
        transform:
          lookups: [{field: n, key: nope, table: missing.csv, key_column: code,
                     value_column: name}]
          hook: "nohook:fn"
        target: {folder: ../../outside, format: json}
    """)
    project.route("edi", """\
        source: {folder: inbox/edi}
        format: {type: edifact}
        fields: {buyer: {source: "NAD[BY].C082.9999"}, qty: {source: "QTY[21].C186.6060"}}
        target: {folder: outbox/edi}
    """)
    project.route("ubl", """\
        source: {folder: inbox/ubl}
        format: {type: xml, records: "cac:InvoiceLine", namespaces: {cac: "urn:cac"}}
        fields: {item: {source: "cbc:Item/cbc:Name"}, qty: {source: "cac:Qty["}}
        target: {folder: outbox/ubl}
    """)
    project.route("x12", """\
        source: {folder: inbox/x12}
        format: {type: x12}
        fields: {po: {source: "BEG.3"}, qty: {source: "PO1"}}
        target: {folder: outbox/x12}
    """)
    result = tradelane(project, "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    expected = [
        # schema, in tradelane.yaml and in a route
        "tradelane.yaml: max_reason_errors: Input should be greater than 0",
        "mappings/every.yaml: every: 'soon' is not a duration",
        # an unknown key, with the closest option
        "mappings/every.yaml: format.delimeter: unknown option; did you mean 'delimiter'?",
        # a regular expression
        "mappings/every.yaml: fields.qty.pattern: not a valid regular expression",
        # cross-references: tables, lookups, hooks, connections
        "mappings/every.yaml: fields.sku.codes: file 'missing_codes.csv' not found",
        "mappings/every.yaml: transform.lookups.0.key: 'nope' is not a field",
        "mappings/every.yaml: transform.lookups.0.table: file 'missing.csv' not found",
        "mappings/every.yaml: transform.hook: cannot load 'nohook:fn'",
        "mappings/every.yaml: source.sftp: no connection named 'nosuch' in tradelane.yaml",
        # folders
        "mappings/every.yaml: target.folder: '../../outside' is outside the project folder",
        # field paths of each format
        "mappings/edi.yaml: fields.buyer.source: 'NAD[BY].C082.9999': 9999 is not a"
        " component of C082",
        "mappings/ubl.yaml: fields.item.source: 'cbc:Item/cbc:Name': Undefined namespace"
        " prefix",
        "mappings/ubl.yaml: fields.qty.source: 'cac:Qty[' is not an XPath expression",
        "mappings/x12.yaml: fields.qty.source: 'PO1' is not an X12 path",
    ]
    lines = [line.strip() for line in result.stderr.splitlines()]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, result.stderr)
    assert f"has {len(lines) - 1} problem(s)" in lines[0]
    assert not any("EDIFACT" in line and "QTY[21]" in line for line in lines)  # a good path


def test_validate_never_shows_a_traceback(project: ProjectDir, tmp_path: Path) -> None:
    project.route("orders", CSV_ROUTE)
    project.route("broken", CSV_ROUTE.replace("pattern: \"PO-\\\\d+\"", "pattern: \"([\""))
    sample = tmp_path / "orders.csv"
    sample.write_text(GOOD_CSV)
    broken = tradelane(project, "validate", str(sample), "--route", "broken")
    assert broken.returncode == 2
    assert "route broken is disabled: its mapping is invalid" in broken.stderr
    assert "mappings/broken.yaml: fields.order_id.pattern: not a valid regular" in broken.stderr
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff\xfe" * 1000)
    for args, code in ((["validate", str(sample), "--route", "orders"], 0),
                       (["validate", str(garbage), "--route", "orders"], 3),
                       (["validate", str(sample), "--route", "nope"], 5)):
        result = tradelane(project, *args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout


def test_a_bad_mapping_disables_only_its_own_route(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.route("broken", CSV_ROUTE.replace("inbox/orders", "inbox/broken")
                  .replace("min_age: 1s", "min_age: soon"))
    project.drop("orders", "good.csv", GOOD_CSV)
    project.drop("broken", "waiting.csv", GOOD_CSV)
    result = tradelane(project, "run", "--once", "--json")
    # the only failure is a configuration error: 2, and the good route delivered
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    assert [f["outcome"] for f in data["files"]] == ["delivered"]
    assert data["config_errors"]["broken"].startswith("disabled: its mapping is invalid:"
                                                      " mappings/broken.yaml: source.min_age")
    assert (project.root / "inbox" / "broken" / "waiting.csv").exists()
    # a quarantine on a route that ran is what the exit code says, not the disabled route
    project.drop("orders", "bad.csv", "Order;Qty\nPO-1;x\n")
    assert tradelane(project, "run", "--once").returncode == 3
    status = json.loads(tradelane(project, "status", "--json").stdout)
    broken = next(r for r in status if r["route"] == "broken")
    assert broken["mapping"] == "disabled" and broken["open_alerts"] == 1
    assert broken["mapping_problems"][0].startswith("mappings/broken.yaml: source.min_age:")
    assert next(r for r in status if r["route"] == "orders")["mapping"] == "ok"
    # fixed: the route runs, its alert is resolved
    project.route("broken", CSV_ROUTE.replace("inbox/orders", "inbox/broken"))
    fixed = json.loads(tradelane(project, "run", "--once", "--json").stdout)
    assert [f["name"] for f in fixed["files"]] == ["waiting.csv"]
    status = json.loads(tradelane(project, "status", "--json").stdout)
    broken = next(r for r in status if r["route"] == "broken")
    assert broken["mapping"] == "ok" and broken["open_alerts"] == 0


def test_split_out_records_show_in_the_run_and_make_the_exit_code_3(
        project: ProjectDir) -> None:
    project.route("orders", textwrap.dedent(CSV_ROUTE) + "on_invalid: split\n")
    project.drop("orders", "mixed.csv", GOOD_CSV + "PO-3;x;1;;open\nPO-4;y;1;;open\n")
    result = tradelane(project, "run", "--once", "--json")
    assert result.returncode == 3, result.stderr
    [delivered] = json.loads(result.stdout)["files"]
    assert (delivered["outcome"], delivered["records"], delivered["split_out"]) == (
        "delivered", 2, 2)
    project.drop("orders", "mixed2.csv", GOOD_CSV.replace("PO-1", "PO-7").replace("PO-2", "PO-8")
                 + "PO-9;x;1;;open\n")
    text = tradelane(project, "run", "--once")
    assert text.returncode == 3
    assert "1 split out to quarantine" in text.stdout and "1 records split out" in text.stdout
