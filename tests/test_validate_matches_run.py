"""``tradelane validate`` says what ``tradelane run`` will do: the same files through both, and
the same verdict, stage, problems (location and rule), split-out and delivered record counts.

Each case is run for real: ``validate --json`` on the file, then ``run --once`` on a project
holding only that file, and the ledger, outbox and reason file are read as a user would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, REPO, ProjectDir, copy_partners

CASES = REPO / "tests" / "cases"
ORDERS_EDI = (CASES / "edifact_orders" / "input.edi").read_text()
SPLIT_ROUTE = CSV_ROUTE.replace("target:", "on_invalid: split\n    target:")


def demo(route: str) -> str:
    return (REPO / "mappings" / f"{route}.yaml").read_text()


def isolating() -> str:
    return demo("edifact_orders").replace("isolate_messages: false", "isolate_messages: true")


#: (route name, its spec, file name, file bytes)
CASES_ = {
    "csv good": ("orders", CSV_ROUTE, "a.csv", GOOD_CSV),
    "csv bad values": ("orders", CSV_ROUTE, "a.csv",
                       GOOD_CSV + "PO-3;x;1;;open\nPO-4;0;-1;31.02.2026;gone\n"),
    "csv missing column": ("orders", CSV_ROUTE, "a.csv", "Order;Qty\nPO-1;5\n"),
    "csv split": ("orders", SPLIT_ROUTE, "a.csv",
                  GOOD_CSV + "PO-3;x;1;;open\nPO-5;2;1;;open\nPO-4;0;1;;open\n"),
    "json bad": ("shop_orders", demo("shop_orders"), "orders-x.json", b'{"orders": [}'),
    "fixed width": ("fixed_items", demo("fixed_items"), "ITEMS_x.txt",
                    (CASES / "fixed_items" / "input.txt").read_bytes()),
    "ubl invoice": ("ubl_invoices", demo("ubl_invoices"), "inv.xml",
                    (CASES / "ubl_invoices" / "input.xml").read_bytes()),
    "edifact bad count": ("edifact_orders", demo("edifact_orders"), "o.edi",
                          (REPO / "examples" / "edifact_orders" /
                           "ORDERS_20261126_bad_count.edi").read_bytes()),
    "edifact isolated message": ("edifact_orders", isolating(), "o.edi",
                                 ORDERS_EDI.replace("UNT+9+2'", "UNT+8+2'")),
    "x12": ("x12_850", demo("x12_850"), "po.x12", (CASES / "x12_850" / "input.x12").read_bytes()),
}


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(root)],
                          capture_output=True, text=True, timeout=120)


def records_in(path: Path) -> int:
    text = path.read_text()
    if path.suffix == ".edi":  # an interchange: its messages
        return text.count("UNH+")
    if path.suffix == ".json":
        return len(json.loads(text))
    return len(text.splitlines()) - (path.suffix == ".csv")  # a CSV's header line


def problems(errors: list[dict]) -> list[tuple[str, str]]:
    """Each error's place in the file validated (a split-out rejects file's reason points
    into the rejects file, and keeps the original's place as original_location)."""
    return [(e.get("original_location", e["location"]), e["rule"]) for e in errors]


@pytest.mark.parametrize("case", sorted(CASES_))
def test_validate_reports_what_run_does(case: str, project: ProjectDir, tmp_path: Path) -> None:
    route, spec, name, content = CASES_[case]
    project.route(route, spec)
    copy_partners(project.root)
    shutil.copytree(REPO / "mappings" / "lookups", project.root / "mappings" / "lookups")
    sample = tmp_path / name
    sample.write_bytes(content.encode() if isinstance(content, str) else content)

    checked = cli(project.root, "validate", str(sample), "--route", route, "--json")
    assert checked.returncode in (0, 3), checked.stderr
    report = json.loads(checked.stdout)

    project.drop(route, name, sample.read_bytes())
    ran = cli(project.root, "run", "--once", "--json")
    assert ran.returncode in (0, 3), ran.stderr
    [result] = [f for f in json.loads(ran.stdout)["files"] if f["name"] == name]
    delivered = result["records"]
    quarantined = project.quarantined(route)
    reasons = [json.loads(p.with_name(p.name + ".reason.json").read_text()) for p in quarantined]

    assert report["valid"] == (result["outcome"] == "delivered" and not quarantined)
    assert checked.returncode == (0 if report["valid"] else 3)
    assert report["records"] == delivered
    if report["valid"]:
        return
    [reason] = reasons
    assert report["stage"] == reason["stage"]
    assert report["error_count"] == reason["error_count"]
    assert problems(report["errors"]) == problems(reason["errors"])
    if report["split_out"]:  # the good records went on, the bad ones were split out
        assert result["outcome"] == "delivered" and reason.get("split_from") == result["file_id"]
        assert report["split_out"] == records_in(quarantined[0])
        with project.ledger() as ledger:  # the history counts records, not problems
            details = [e.detail or "" for e in ledger.events(result["file_id"])]
        assert any(f"; {report['split_out']} invalid records split out" in d for d in details)
    else:
        assert result["outcome"] == "quarantined" and report["records"] == 0 == delivered
