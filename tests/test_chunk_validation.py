"""Small files claimed in one chunk are validated together, in one table (issue 19): what a
user sees per file stays exactly what that file alone gives: its own outcome, its own output,
and a reason file naming only its own lines, values and count."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from support.project import CSV_ROUTE, ProjectDir
from tradelane.models import Outcome

HEADER = "Order;Qty;Price;ShipDate;Status\n"
#: Enough files for chunks of 2, 4, 8 and 16 (a chunk doubles while it is quick): most
#: chunks mix good files, bad ones and one with another header.
FILES = 30


def good_rows(k: int, rows: int = 3) -> list[tuple[str, str, str, str, str]]:
    return [(f"PO-{k}{r}", str(r + 1), f"{k},{r}5", "01.12.2026" if r % 2 else "", "open")
            for r in range(rows)]


def csv_text(rows: list[tuple[str, ...]], header: str = HEADER) -> str:
    return header + "".join(";".join(row) + "\n" for row in rows)


def expected_records(rows: list[tuple[str, str, str, str, str]]) -> list[dict[str, Any]]:
    return [{"order_id": o, "qty": int(q), "price": float(p.replace(",", ".")),
             "ship_on": "2026-12-01" if d else None, "status": s} for o, q, p, d, s in rows]


def reason_of(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".reason.json").read_text(encoding="utf-8"))


def errors_of(reason: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(e["location"], e["field"], e["value"], e["rule"]) for e in reason["errors"]}


def test_each_file_of_a_chunk_keeps_its_own_outcome_lines_and_values(
        project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    bad: dict[str, set[tuple[str, str, str, str]]] = {}
    good: dict[str, list[dict[str, Any]]] = {}
    for k in range(FILES):
        name = f"f{k:02}.csv"
        rows = good_rows(k)
        if k % 5 == 1:  # one bad value, on a line of its own (2, 3 or 4), unique to the file
            line = k % 3 + 2
            rows[line - 2] = (rows[line - 2][0], f"x{k}", *rows[line - 2][2:])
            bad[name] = {(f"row {line - 1} (line {line})", "qty", f"x{k}", "type")}
        elif k % 5 == 3:  # two bad values on two lines, other fields
            rows[0] = (f"XX-{k}", *rows[0][1:])
            rows[2] = (*rows[2][:4], f"shut{k}")
            bad[name] = {("row 1 (line 2)", "order_id", f"XX-{k}", "pattern"),
                         ("row 3 (line 4)", "status", f"shut{k}", "enum")}
        elif k % 5 == 4:  # another header: columns in another order, one optional missing
            project.drop("orders", name, csv_text([(s, o, q, p) for o, q, p, _, s in rows],
                                                  header="Status;Order;Qty;Price\n"))
            good[name] = expected_records([(o, q, p, "", s) for o, q, p, _, s in rows])
            continue
        else:
            good[name] = expected_records(rows)
        project.drop("orders", name, csv_text(rows))
    # a big file (Arrow's own CSV reader, not the small-file split) among them, all good
    big = good_rows(90, rows=400)
    project.drop("orders", "g-big.csv", csv_text(big))
    good["g-big.csv"] = expected_records(big)

    summary = project.run()

    outcomes = {r.name: r.outcome for r in summary.results}
    assert outcomes == {**{n: Outcome.QUARANTINED for n in bad},
                        **{n: Outcome.DELIVERED for n in good}}
    for name, records in good.items():
        out = project.root / "outbox" / "orders" / f"{Path(name).stem}.json"
        assert json.loads(out.read_text()) == records, name
    quarantined = {p.name.split("-", 1)[1]: p for p in project.quarantined("orders")}
    assert quarantined.keys() == bad.keys()
    for name, errors in bad.items():
        reason = reason_of(quarantined[name])
        assert errors_of(reason) == errors, name
        assert reason["error_count"] == len(errors), name


def test_a_file_with_more_problems_than_the_reason_shows_keeps_its_count(
        project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    for k in range(FILES):
        project.drop("orders", f"f{k:02}.csv", csv_text(good_rows(k)))
    rows = [(f"PO-{r}", "zero", "1", "", "open") for r in range(250)]
    project.drop("orders", "f15-many.csv", csv_text(rows))

    summary = project.run()

    assert sorted(r.outcome for r in summary.results) == sorted(
        [Outcome.DELIVERED] * FILES + [Outcome.QUARANTINED])
    [quarantined] = project.quarantined("orders")
    reason = reason_of(quarantined)
    assert reason["error_count"] == 250
    assert len(reason["errors"]) == 100  # max_reason_errors: its own first hundred
    assert [e["location"] for e in reason["errors"]][:2] == ["row 1 (line 2)",
                                                             "row 2 (line 3)"]
    assert reason["errors"][99]["location"] == "row 100 (line 101)"
    assert {e["value"] for e in reason["errors"]} == {"zero"}


@pytest.mark.parametrize("kind", ["csv", "fixed"])
def test_split_out_records_are_each_files_own(project: ProjectDir, kind: str) -> None:
    if kind == "csv":
        project.route("orders", CSV_ROUTE + "    on_invalid: split\n")
    else:
        project.route("orders", """\
            source: {folder: inbox/orders, pattern: "*.csv", min_age: 1s}
            format:
              type: fixed
              record_types:
                I: {prefix: "I", fields: {order_id: {start: 2, width: 6},
                                          qty: {start: 8, width: 3}}}
            fields:
              order_id: {source: I.order_id, required: true, pattern: "PO-\\\\d+"}
              qty: {source: I.qty, type: integer, min: 1}
            target: {folder: outbox/orders, format: json, name: "{stem}.json"}
            on_invalid: split
        """)
    kept: dict[str, list[str]] = {}
    rejected: dict[str, list[str]] = {}
    for k in range(FILES):
        orders = [f"PO-{k:03}", f"PO-{k + 100:03}", f"PO-{k + 200:03}"]
        zero = k % 4 == 2  # the second record of these files has a quantity of 0
        if kind == "csv":
            lines = [f"{o};{0 if zero and i == 1 else 1};1;;open"
                     for i, o in enumerate(orders)]
            text = HEADER + "".join(f"{line}\n" for line in lines)
        else:
            lines = [f"I{o}{0 if zero and i == 1 else 1:03}" for i, o in enumerate(orders)]
            text = "".join(f"{line}\n" for line in lines)
        project.drop("orders", f"f{k:02}.csv", text)
        kept[f"f{k:02}"] = [o for i, o in enumerate(orders) if not (zero and i == 1)]
        if zero:
            rejected[f"f{k:02}"] = [lines[1]]

    summary = project.run()

    assert {r.outcome for r in summary.results} == {Outcome.DELIVERED}
    assert {r.name: r.split_out for r in summary.results if r.split_out} == {
        f"{stem}.csv": 1 for stem in rejected}
    for stem, orders in kept.items():
        out = project.root / "outbox" / "orders" / f"{stem}.json"
        assert [r["order_id"] for r in json.loads(out.read_text())] == orders, stem
    split = {p.name.split("-split-")[1]: p for p in project.quarantined("orders")
             if "-split-" in p.name}
    assert split.keys() == {f"{stem}.rejected.csv" for stem in rejected}
    for stem, lines in rejected.items():
        path = split[f"{stem}.rejected.csv"]
        text = path.read_text()
        written = [";".join(row) for row in csv.reader(io.StringIO(text), delimiter=";")][1:] \
            if kind == "csv" else text.splitlines()  # the CSV writer quotes every value
        assert written == lines, stem
        reason = reason_of(path)
        assert [(e["field"], e["value"], e["rule"]) for e in reason["errors"]] == [
            ("qty", "0" if kind == "csv" else "000", "min")], stem
        assert reason["errors"][0]["original_location"].endswith(
            "(line 3)" if kind == "csv" else "line 2"), (stem, reason["errors"])


@pytest.mark.parametrize("target", ["csv", "jsonl", "xml"])
def test_a_file_checked_with_its_chunk_is_written_as_when_it_comes_alone(
        tmp_path: Path, target: str) -> None:
    route = CSV_ROUTE.replace('format: json, name: "{stem}.json"',
                              f'format: {target}, name: "{{stem}}.{target}"')
    texts = {f"f{k:02}.csv": csv_text(good_rows(k, rows=5)) for k in range(FILES)}
    together = ProjectDir(tmp_path / "together").route("orders", route)
    for name, text in texts.items():
        together.drop("orders", name, text)
    assert {r.outcome for r in together.run().results} == {Outcome.DELIVERED}
    for name in ("f20.csv", "f29.csv"):  # late files: in chunks of 8 or 16
        alone = ProjectDir(tmp_path / f"alone-{name}").route("orders", route)
        alone.drop("orders", name, texts[name])
        assert [r.outcome for r in alone.run().results] == [Outcome.DELIVERED]
        out = f"{Path(name).stem}.{target}"
        assert (together.root / "outbox" / "orders" / out).read_bytes() == \
            (alone.root / "outbox" / "orders" / out).read_bytes(), out
