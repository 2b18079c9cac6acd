"""``validate: [{json_schema: …}]``: JSON Schema (2020-12 and older) with ``$ref`` kept in
schemas/, JSON Lines per record so ``on_invalid: split`` sets schema rejects apart (issue 21)."""

from __future__ import annotations

import json

from schemas.helpers import shown, tradelane, with_schemas
from support.project import ProjectDir
from tradelane.models import Outcome

GOOD = [{"order": "PO-1", "sku": "4006381", "qty": 2, "price": 9.5},
        {"order": "PO-1", "sku": "4006382", "qty": 1}]


def _route(project: ProjectDir, on_invalid: str = "reject", schema: str = "order") -> None:
    with_schemas(project).route("orders", f"""\
        source: {{folder: inbox/orders, min_age: 0s}}
        format: {{type: jsonl}}
        validate: [{{json_schema: schemas/json/{schema}.schema.json}}]
        on_invalid: {on_invalid}
        fields:
          order: {{required: true}}
          sku: {{}}
          qty: {{}}
        target: {{folder: outbox/orders, format: json}}
    """)


def _lines(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_records_that_meet_the_schema_are_delivered(project: ProjectDir) -> None:
    _route(project)
    project.drop("orders", "good.jsonl", _lines(GOOD))
    assert [r.outcome for r in project.run().results] == [Outcome.DELIVERED]


def test_each_error_has_its_line_json_path_and_keyword(project: ProjectDir) -> None:
    _route(project)
    bad = [GOOD[0], {"order": "PO-2", "sku": "12", "qty": 0}, {"order": "2", "qty": 1},
           {**GOOD[1], "price": -1}]
    project.drop("orders", "bad.jsonl", "\n" + _lines(bad))  # a blank first line
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["stage"] == "validate" and reason["error_count"] == 5
    assert [(e["location"], e["rule"], e["value"]) for e in reason["errors"]] == [
        ("line 3 ($.sku)", "json_schema:minLength", '"12"'),
        ("line 3 ($.qty)", "json_schema:minimum", "0"),
        ("line 4 ($)", "json_schema:required", '{"order": "2", "qty": 1}'),
        ("line 4 ($.order)", "json_schema:pattern", '"2"'),
        ("line 5 ($.price)", "json_schema:exclusiveMinimum", "-1")]
    assert reason["errors"][2]["message"] == "'sku' is a required property"
    assert [line["line"] for line in reason["lines"]] == [3, 4, 5]


def test_split_delivers_the_good_records_and_quarantines_the_rest(project: ProjectDir) -> None:
    _route(project, on_invalid="split")
    bad = {"order": "PO-3", "sku": "4006383", "qty": "two"}
    project.drop("orders", "mixed.jsonl", _lines([GOOD[0], bad, GOOD[1]]))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.split_out == 1
    delivered = json.loads(project.outputs("orders")[0].read_text())
    assert [r["sku"] for r in delivered] == ["4006381", "4006382"]
    [rejects] = [p for p in project.quarantined("orders") if ".rejected" in p.name]
    assert [json.loads(t) for t in rejects.read_text().splitlines()] == [bad]
    reason = json.loads(rejects.with_name(rejects.name + ".reason.json").read_text())
    assert [(e["location"], e["rule"]) for e in reason["errors"]] == [
        ("line 2 ($.qty)", "json_schema:type")]


def test_a_draft7_document_schema_checks_the_whole_document(project: ProjectDir) -> None:
    with_schemas(project).route("doc", """\
        source: {folder: inbox/doc, min_age: 0s}
        format: {type: json, records: orders}
        validate: [{json_schema: schemas/json/order-draft7.schema.json}]
        fields: {sku: {}, qty: {}}
        target: {folder: outbox/doc, format: json}
    """)
    project.drop("doc", "a.json", json.dumps({"orders": [{"sku": "A", "qty": 1}]}))
    project.drop("doc", "b.json", json.dumps({"orders": [{"sku": "A", "qty": 1},
                                                         {"sku": "B", "qty": 1.5}]}))
    results = {r.name: r.outcome for r in project.run().results}
    assert results == {"a.json": Outcome.DELIVERED, "b.json": Outcome.QUARANTINED}
    file_id = json.loads(tradelane(project, "quarantine", "list", "--json").stdout)[0]["id"]
    [error] = shown(project, file_id)["errors"]
    assert (error["location"], error["rule"]) == ("$.orders[1].qty", "json_schema:type")


def test_a_line_over_max_record_bytes_is_the_readers_to_refuse(project: ProjectDir) -> None:
    """The schema pass stops at a line too long to read: the file is refused for the limit,
    not for schema errors on the pieces of that line."""
    with_schemas(project).route("orders", """\
        source: {folder: inbox/orders, min_age: 0s}
        format: {type: jsonl}
        validate: [{json_schema: schemas/json/order.schema.json}]
        limits: {max_record_bytes: 200}
        fields: {order: {}}
        target: {folder: outbox/orders, format: json}
    """)
    long = {"order": "PO-1", "sku": "4006381", "qty": 1, "note": "x" * 400}
    after = {"order": "PO-2", "sku": "4006381", "qty": 0}  # breaks the schema, after it
    project.drop("orders", "long.jsonl", _lines([GOOD[0], long, after]))
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["stage"] == "read"
    assert [e["location"] for e in reason["errors"]] == ["line 2"]
    assert "max_record_bytes" in reason["message"]


def test_split_takes_schema_and_mapping_rejects_from_every_batch(project: ProjectDir) -> None:
    """Records that break the schema in the first and in a later batch of the reader
    (50,000 records each), and one that meets the schema but breaks a field rule, all go
    to one rejects file; every other record is delivered once."""
    with_schemas(project).route("orders", """\
        source: {folder: inbox/orders, min_age: 0s}
        format: {type: jsonl}
        validate: [{json_schema: schemas/json/order.schema.json}]
        on_invalid: split
        fields: {order: {required: true}, sku: {}, qty: {type: integer, max: 8}}
        target: {folder: outbox/orders, format: json}
    """)
    records = [{"order": f"PO-{i}", "sku": f"{4006381 + i % 50}", "qty": i % 8 + 1}
               for i in range(50_010)]
    records[3]["qty"] = "two"  # the schema: type
    records[7]["qty"] = 9  # the schema allows it, the field's max does not
    records[50_005]["sku"] = "12"  # the schema, in the reader's second batch
    project.drop("orders", "mixed.jsonl", _lines(records))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.split_out == 3, result.message
    delivered = json.loads(project.outputs("orders")[0].read_text())
    assert len(delivered) == 50_007
    assert {"PO-3", "PO-7", "PO-50005"}.isdisjoint(r["order"] for r in delivered)
    [rejects] = [p for p in project.quarantined("orders") if ".rejected" in p.name]
    assert sorted(json.loads(t)["order"] for t in rejects.read_text().splitlines()) == [
        "PO-3", "PO-50005", "PO-7"]
    reason = json.loads(rejects.with_name(rejects.name + ".reason.json").read_text())
    assert sorted(e["rule"] for e in reason["errors"]) == [
        "json_schema:minLength", "json_schema:type", "max"]
