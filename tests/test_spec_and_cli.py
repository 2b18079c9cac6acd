"""`tradelane check` and the CLI contract: every problem at its place, exit codes, --json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.project import CSV_ROUTE, GOOD_CSV, REPO, ProjectDir
from tradelane.cli import app
from tradelane.errors import ConfigError
from tradelane.spec import load_project

runner = CliRunner()


def cli(project: ProjectDir, *args: str):
    return runner.invoke(app, [*args, "--project", str(project.root)])


BROKEN = """\
    source: {folder: inbox/x, min_age: soon}
    format: {type: csv, delimter: ";"}
    fields:
      qty: {type: integer, pattern: "([a-z"}
      price: {type: decimal, min: "lots"}
      when: {type: date, min: "yesterday"}
    transform:
      lookups: [{field: n, key: nope, table: missing.csv, key_column: a, value_column: b}]
    target: {folder: out, format: json, name: "{stem}-{weekday}.json"}
"""


def test_check_reports_every_problem_with_file_and_path(project: ProjectDir) -> None:
    project.route("broken", BROKEN)
    project.route("also_broken", "source: {folder: x}\nformat: {type: yaml}\nfields: {}\n")
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    problems = info.value.problems
    expected = [
        "mappings/broken.yaml: source.min_age: 'soon' is not a duration",
        "mappings/broken.yaml: format.delimter: unknown option; did you mean 'delimiter'?",
        "mappings/broken.yaml: fields.qty.pattern: not a valid regular expression",
        "mappings/broken.yaml: fields.price: min must be a number for decimal fields",
        "mappings/broken.yaml: fields.when: min must be an ISO date",
        "mappings/broken.yaml: target.name: unknown placeholder(s) ['weekday']",
        "mappings/also_broken.yaml: format: no format kind 'yaml' (known: csv, edifact,",
        "mappings/also_broken.yaml: target: Field required",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)


def test_check_reports_reference_problems_once_the_shape_is_right(project: ProjectDir) -> None:
    project.route("refs", """\
        source: {folder: inbox/x}
        format: {type: csv}
        fields: {a: {}}
        transform:
          lookups: [{field: n, key: nope, table: missing.csv, key_column: a, value_column: b}]
          derive: {t: {expr: "a * ghost"}}
          rename: {zzz: y}
        target: {folder: out}
    """)
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    assert info.value.problems == [
        "mappings/refs.yaml: transform.lookups.0.key: 'nope' is not a field",
        "mappings/refs.yaml: transform.lookups.0.table: file 'missing.csv' not found next to"
        " the mapping",
        "mappings/refs.yaml: transform.derive.t.expr: 'ghost' is not a field",
        "mappings/refs.yaml: transform.rename.zzz: not a field",
    ]


def test_cli_check_exit_codes(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    ok = cli(project, "check")
    assert ok.exit_code == 0 and "1 route(s): orders" in ok.stdout
    project.route("broken", BROKEN)
    bad = cli(project, "check")
    assert bad.exit_code == 2
    assert "mappings/broken.yaml: source.min_age:" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_run_once_exit_codes_and_json(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    (project.root / "inbox" / "orders").mkdir(parents=True)
    empty = cli(project, "run", "--once")
    assert empty.exit_code == 0 and "Nothing to do" in empty.stdout
    project.drop("orders", "good.csv", GOOD_CSV)
    project.drop("orders", "bad.csv", "Order;Qty\nPO-1;x\n")
    result = cli(project, "run", "--once", "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert sorted(f["outcome"] for f in data["files"]) == ["delivered", "quarantined"]


def test_unknown_route_is_not_found(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    result = cli(project, "run", "--once", "--route", "nope")
    assert result.exit_code == 5 and "no route named 'nope'" in result.stderr


def test_validate_is_a_dry_run(project: ProjectDir, tmp_path: Path) -> None:
    project.route("orders", CSV_ROUTE)
    bad = tmp_path / "bad.csv"
    bad.write_text("Order;Qty;Price;ShipDate;Status\nPO-1;x;1;;open\n")
    result = cli(project, "validate", str(bad), "--route", "orders", "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["errors"][0]["location"] == "row 1 (line 2)"
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV)
    assert cli(project, "validate", str(good), "--route", "orders").exit_code == 0
    assert not (project.root / ".tradelane").exists()
    assert not (project.root / "outbox").exists()


def test_quarantine_workflow_from_the_cli(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "bad.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;x;1;;open\n")
    cli(project, "run", "--once")
    listing = json.loads(cli(project, "quarantine", "list", "--json").stdout)
    assert [(q["id"], q["name"], q["stage"]) for q in listing] == [(1, "bad.csv", "validate")]
    shown = cli(project, "quarantine", "show", "1")
    assert shown.exit_code == 0 and "is not a whole number" in shown.stdout
    assert "     2 | PO-1;x;1;;open" in shown.stdout  # the offending line itself
    as_json = json.loads(cli(project, "quarantine", "show", "1", "--json").stdout)
    assert as_json["lines"] == [{"line": 2, "text": "PO-1;x;1;;open"}]
    Path(listing[0]["path"]).write_text(GOOD_CSV)
    again = cli(project, "quarantine", "reprocess", "1")
    assert again.exit_code == 0, again.stdout
    assert json.loads(cli(project, "quarantine", "list", "--json").stdout) == []
    trail = json.loads(cli(project, "history", "bad.csv", "--json").stdout)
    states = [e["to_state"] for e in trail[0]["events"]]
    assert states == ["claimed", "staged", "quarantined", "quarantined", "claimed", "staged",
                      "delivered", "archived"]
    assert trail[0]["events"][3]["detail"].startswith("original removed from the source")
    status = json.loads(cli(project, "status", "--json").stdout)
    assert status[0]["route"] == "orders" and status[0]["delivered"] == 1


def test_discard_keeps_the_file_and_the_reason(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "junk.csv", "Order;Qty\nPO-1;x\n")
    cli(project, "run", "--once")
    result = cli(project, "quarantine", "discard", "1", "--reason", "partner resent it")
    assert result.exit_code == 0
    assert list((project.root / "archive" / "orders" / "discarded").glob("1-junk.csv"))
    trail = json.loads(cli(project, "history", "1", "--json").stdout)
    assert trail[0]["events"][-1]["detail"] == "discarded: partner resent it"


def test_console_script_runs_as_a_real_process(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "good.csv", GOOD_CSV)
    exe = Path(sys.executable).parent / "tradelane"
    done = subprocess.run([str(exe), "run", "--once", "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (project.root / "outbox" / "orders" / "good.json").exists()


def test_repository_mappings_pass_check(tmp_path: Path) -> None:
    """The demo's own routes are valid (checked on a copy: a user's edits never run here)."""
    for part in ("mappings", "partners", "tradelane.yaml"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    assert len(load_project(tmp_path).routes) >= 7


def test_a_connection_problem_found_at_run_time_is_exit_2_and_others_still_run(
        project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARTNER_SFTP_KEY", raising=False)
    project.settings("""\
        connections:
          partner:
            sftp: {host: 127.0.0.1, port: 1, user: x, key_env: PARTNER_SFTP_KEY,
                   fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    """)
    project.route("orders", CSV_ROUTE)
    project.route("remote", CSV_ROUTE.replace("{folder: inbox/orders,",
                                              "{sftp: partner, path: /out,"))
    project.drop("orders", "good.csv", GOOD_CSV)
    result = cli(project, "run", "--once")
    assert result.exit_code == 2, result.stdout
    assert "route remote: configuration problem" in result.stdout
    assert "PARTNER_SFTP_KEY" in result.stdout
    assert (project.root / "outbox" / "orders" / "good.json").exists()


def test_reprocess_all_after_fixing_the_mapping(project: ProjectDir) -> None:
    """The partner's files were right; the mapping was too strict. Fix it, reprocess all."""
    strict = CSV_ROUTE.replace("enum: [open, closed]", "enum: [open]")
    project.route("orders", strict)
    for i in range(3):
        project.drop("orders", f"day{i}.csv", GOOD_CSV.replace("PO-1", f"PO-1{i}"))
    assert cli(project, "run", "--once").exit_code == 3
    assert len(json.loads(cli(project, "quarantine", "list", "--json").stdout)) == 3
    project.route("orders", CSV_ROUTE)  # the mapping is fixed
    result = cli(project, "quarantine", "reprocess", "--all", "--json")
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)  # the same shape as run --json
    assert report["exit_code"] == 0 and report["refused"] == []
    assert [r["outcome"] for r in report["files"]] == ["delivered"] * 3
    assert json.loads(cli(project, "quarantine", "list", "--json").stdout) == []
    assert len(list((project.root / "outbox" / "orders").glob("*.json"))) == 3
    reasons = list((project.root / "quarantine").rglob("*.reason.json"))
    assert reasons == []  # released to the archive with their files


def test_reprocess_all_goes_on_past_a_duplicate(project: ProjectDir) -> None:
    """--all meets a duplicate (which needs --force): it says so and reprocesses the rest."""
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV, age=300)
    project.drop("orders", "copy-of-a.csv", GOOD_CSV, age=200)
    project.drop("orders", "bad.csv", GOOD_CSV.replace("PO-1", "PO-9").replace("open", "shut"))
    assert cli(project, "run", "--once").exit_code == 3
    listing = json.loads(cli(project, "quarantine", "list", "--json").stdout)
    assert sorted((q["name"], q["state"]) for q in listing) == [
        ("bad.csv", "quarantined"), ("copy-of-a.csv", "duplicate")]
    project.route("orders", CSV_ROUTE.replace("enum: [open, closed]", "enum: [open, closed, shut]"))
    result = cli(project, "quarantine", "reprocess", "--all", "--json")
    report = json.loads(result.stdout)
    assert [r["name"] for r in report["files"]] == ["bad.csv"]
    assert report["files"][0]["outcome"] == "delivered"
    [refused] = report["refused"]
    assert "duplicate" in refused["message"] and "--force" in refused["message"]
    assert result.exit_code == 7  # partial: done what it could; the duplicate is still there


def test_run_without_once_explains_itself(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    result = cli(project, "run")
    assert result.exit_code == 2 and "tradelane run --once" in result.stderr


def test_split_is_refused_where_rejected_records_cannot_be_written_back(
        project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    # every built-in format can write its rejects back now: take that away from x12 here
    from dataclasses import replace

    from tradelane.registry import FORMATS

    monkeypatch.setitem(FORMATS._plugins, "x12", replace(FORMATS.get("x12"), splittable=False))
    project.route("r", """\
        source: {folder: inbox/r}
        format: {type: x12}
        fields: {a: {source: PO1.2}}
        on_invalid: split
        target: {folder: out}
    """)
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    assert info.value.problems == [
        "mappings/r.yaml: on_invalid: 'split' is not supported for x12 input yet (only"
        " for csv, json, jsonl, xml, edifact, fixed)"]


def test_check_refuses_folders_outside_the_project(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE.replace("folder: outbox/orders", "folder: ../../etc"))
    project.route("moved", CSV_ROUTE.replace("min_age: 1s", "min_age: 1s, after: move,"
                                             " move_to: ../../../tmp"))
    project.settings("folders: {archive: /var/tmp/archive}\n")
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    problems = info.value.problems
    assert any(p.startswith("mappings/orders.yaml: target.folder: '../../etc' is outside the"
                            " project folder") and "target.allow_outside: true" in p
               for p in problems), problems
    assert any(p.startswith("mappings/moved.yaml: source.move_to: '../../../tmp' is outside")
               for p in problems), problems
    assert any(p.startswith("tradelane.yaml: folders.archive: '/var/tmp/archive' is outside")
               for p in problems), problems
    # said on purpose, it is allowed
    project.route("orders", CSV_ROUTE.replace("folder: outbox/orders",
                                              "folder: ../shared-out, allow_outside: true"))
    project.route("moved", CSV_ROUTE)
    project.settings("folders: {archive: /var/tmp/archive, allow_outside: true}\n")
    assert load_project(project.root).routes["orders"].target.allow_outside


def test_check_refuses_hooks_that_are_not_the_projects_own_code(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE + "    transform: {hook: 'os:system'}\n")
    with pytest.raises(ConfigError) as info:
        load_project(project.root)
    [problem] = info.value.problems
    assert problem.startswith("mappings/orders.yaml: transform.hook: cannot load 'os:system':"
                              " 'os' is not a module of this project")
    # a module of the project's hooks/ folder is loaded from its file, never from sys.path:
    # one named like a library (json) does not shadow it
    project.file("hooks/json.py", "def tag(df, header):\n    return df\n")
    project.route("orders", CSV_ROUTE + "    transform: {hook: 'json:tag'}\n")
    assert load_project(project.root).routes["orders"].transform.hook == "json:tag"
    import json as stdlib_json

    assert hasattr(stdlib_json, "dumps")
