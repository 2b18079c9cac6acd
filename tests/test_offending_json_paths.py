"""`quarantine show` prints the offending lines of a JSON document whose errors are located
by JSON paths (a json_schema step): the line where each value starts, or for a missing key
the object that should hold it (issue 17)."""

from __future__ import annotations

import json

from schemas.helpers import shown, tradelane, with_schemas
from support.project import ProjectDir
from tradelane.models import Outcome

SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema",
          "type": "object", "required": ["lines"],
          "properties": {"lines": {"type": "array", "items": {"$ref": "order.schema.json"}}}}


def test_json_schema_errors_in_a_document_show_their_lines(project: ProjectDir) -> None:
    with_schemas(project).file("schemas/json/lines.schema.json", json.dumps(SCHEMA))
    project.route("doc", """\
        source: {folder: inbox/doc, min_age: 0s}
        format: {type: json, records: lines}
        validate: [{json_schema: schemas/json/lines.schema.json}]
        fields: {order: {}, sku: {}, qty: {}}
        target: {folder: outbox/doc, format: json}
    """)
    lines = [{"order": "PO-1", "sku": "4006381", "qty": 2},
             {"order": "PO-1", "sku": "4006382", "qty": 0},
             {"order": "PO-3", "qty": 1}]  # no sku
    text = json.dumps({"lines": lines}, indent=2)
    project.drop("doc", "order.json", text)
    assert [r.outcome for r in project.run().results] == [Outcome.QUARANTINED]
    reason = shown(project)
    assert sorted(e["location"] for e in reason["errors"]) == ["$.lines[1].qty", "$.lines[2]"]
    numbered = {n: line for n, line in enumerate(text.splitlines(), start=1)}
    qty = next(n for n, line in numbered.items() if line == '      "qty": 0')
    obj = next(n for n, line in numbered.items() if '"PO-3"' in line) - 1  # its "{"
    assert reason["lines"] == [{"line": qty, "text": '      "qty": 0'},
                               {"line": obj, "text": "    {"}]
    printed = tradelane(project, "quarantine", "show", "1").stdout
    assert f'{qty} | ' in printed and '"qty": 0' in printed, printed
