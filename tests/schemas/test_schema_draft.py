"""``tradelane draft --schema`` (issue 21): a JSON Schema proposed from a JSON or JSON Lines
sample, written to schemas/NAME.schema.json with a ``validate:`` step naming it. The route
passes ``check`` and accepts its own sample; a broken record is refused at its JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.project import ProjectDir
from tradelane.cli.main import app

STATUSES = ("open", "closed", "open", "shipped")


class _Done:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = code, stdout, stderr


def tradelane(project: ProjectDir, *args: str) -> _Done:
    """The CLI in this process (a subprocess per command would take most of the time)."""
    result = CliRunner().invoke(app, [*args, "-C", str(project.root)])
    return _Done(result.exit_code, result.stdout, result.output)


def _orders(count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(count):
        record: dict[str, object] = {
            "order": f"PO-{i}", "qty": i % 5 + 1, "price": 9.5 + i,
            "status": STATUSES[i % 4], "due": f"2026-12-{i % 28 + 1:02d}",
            "at": "2026-12-01T08:00:00Z", "sku": f"{4006381 + i}"}
        if i % 3:
            record["note"] = None if i % 2 else "fragile"  # not in every record
        out.append(record)
    return out


def _lines(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _validate(project: ProjectDir, sample: Path, route: str) -> tuple[int, list[tuple[str,
                                                                                   str, str]]]:
    """Exit status, and (location, rule, message) of each error."""
    done = tradelane(project, "validate", str(sample), "--route", route, "--json")
    errors = json.loads(done.stdout).get("errors", []) if done.stdout else []
    return done.returncode, [(e["location"], e["rule"], e["message"]) for e in errors]


def test_a_json_lines_sample_gets_a_schema_its_route_checks_every_record_against(
        project: ProjectDir, tmp_path: Path) -> None:
    sample = tmp_path / "orders_20261201.jsonl"
    sample.write_text(_lines(_orders(30)))
    drafted = tradelane(project, "draft", "--sample", str(sample), "--name", "orders",
                        "--schema")
    assert drafted.returncode == 0, drafted.stderr
    schema = json.loads((project.root / "schemas/orders.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["order", "qty", "price", "status", "due", "at", "sku"]
    props = schema["properties"]
    assert [props[k]["type"] for k in ("order", "qty", "price", "sku")] == [
        "string", "integer", "number", "string"]
    assert props["note"]["type"] == ["string", "null"] and "enum" not in props["note"]
    assert props["status"]["enum"] == ["closed", "open", "shipped"]
    assert "enum" not in props["order"]  # 30 different values: not a code list
    assert (props["due"]["format"], props["at"]["format"]) == ("date", "date-time")
    route = (project.root / "mappings/orders.yaml").read_text()
    assert "validate:\n  - json_schema: schemas/orders.schema.json\n" in route

    assert tradelane(project, "check").returncode == 0
    assert _validate(project, sample, "orders")[0] == 0  # it accepts its own sample
    broken = _orders(3)
    broken[1]["qty"] = "two"
    del broken[2]["order"]
    bad = tmp_path / "orders_20261202.jsonl"
    bad.write_text(_lines(broken))
    code, errors = _validate(project, bad, "orders")
    assert code == 3
    assert errors == [
        ("line 2 ($.qty)", "json_schema:type", "'two' is not of type 'integer'"),
        ("line 3 ($)", "json_schema:required", "'order' is a required property")]


def test_a_json_document_gets_a_schema_of_the_whole_document(project: ProjectDir,
                                                            tmp_path: Path) -> None:
    doc = {"batch": {"id": "B1", "sent": "2026-12-01T08:00:00+01:00"},
           "orders": [{"id": f"SO-{i}", "qty": i % 4 + 1, "lines": [{"sku": "A", "n": 1}]}
                      for i in range(5)]}
    sample = tmp_path / "shop.json"
    sample.write_text(json.dumps(doc, indent=2))
    assert tradelane(project, "draft", "--sample", str(sample), "--schema").returncode == 0
    schema = json.loads((project.root / "schemas/shop.schema.json").read_text())
    assert schema["required"] == ["orders"]  # the path to the records; the header is optional
    record = schema["properties"]["orders"]["items"]
    assert record["required"] == ["id", "qty", "lines"]
    assert record["properties"]["lines"]["items"]["required"] == ["sku", "n"]
    assert tradelane(project, "check").returncode == 0
    assert _validate(project, sample, "shop")[0] == 0
    doc["orders"][3]["qty"] = -1.5  # type: ignore[index]
    bad = tmp_path / "shop_bad.json"
    bad.write_text(json.dumps(doc, indent=2))
    code, errors = _validate(project, bad, "shop")
    assert code == 3
    assert errors == [("$.orders[3].qty", "json_schema:type",
                       "-1.5 is not of type 'integer'")]


@pytest.mark.parametrize(("content", "args", "says"), [
    ("id;qty\nA;1\n", [], "--schema drafts a JSON Schema, from JSON or JSON Lines"),
    ('{"id": 1}\n', ["--stdout"], "use it without --stdout"),
])
def test_schema_is_refused_where_it_cannot_apply(project: ProjectDir, tmp_path: Path,
                                                 content: str, args: list[str],
                                                 says: str) -> None:
    sample = tmp_path / "sample.dat"
    sample.write_text(content)
    done = tradelane(project, "draft", "--sample", str(sample), "--schema", *args)
    assert done.returncode == 2 and says in " ".join(done.stderr.split()), done.stderr
    assert not list(project.root.rglob("*.yaml")) and not list(project.root.rglob("*.json"))


def test_a_draft_never_writes_over_a_schema(project: ProjectDir, tmp_path: Path) -> None:
    kept = project.file("schemas/orders.schema.json", '{"title": "the partner\'s"}')
    sample = tmp_path / "orders.jsonl"
    sample.write_text(_lines(_orders(2)))
    done = tradelane(project, "draft", "--sample", str(sample), "--schema")
    assert done.returncode == 6 and "never writes over a schema" in done.stderr
    assert kept.read_text() == '{"title": "the partner\'s"}'
    assert not (project.root / "mappings/orders.yaml").exists()
