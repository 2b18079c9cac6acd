"""`tradelane validate FILE --route R` gives the reader the file after the route's before_read
steps, as `run` does, says which steps ran, and leaves no temporary file behind."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.project import ProjectDir
from tradelane.cli import app

runner = CliRunner()
CSV = b"order,qty\nA1,3\nA2,five\n"

ROUTE = """\
    source: {folder: inbox/orders, pattern: "*.csv.gz", min_age: 1s}
    format: {type: csv}
    fields:
      order: {required: true}
      qty: {type: integer}
    target: {folder: outbox/orders, format: json, name: "{stem}.json"}
    steps:
      before_read: [{decompress: gzip}]
"""


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of the test's own, to see that validate cleans up after itself."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _validate(project: ProjectDir, path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["validate", str(path), "--route", "orders", "--project",
                               str(project.root), *extra])


def test_gzip_file_is_validated_through_before_read(project: ProjectDir, own_tmp: Path) -> None:
    project.route("orders", ROUTE)
    path = project.file("samples/ORD1.csv.gz", gzip.compress(CSV))
    result = _validate(project, path)
    assert result.exit_code == 3, result.output  # the data's own problem, found in the CSV
    assert "before_read steps applied: decompress: gzip" in result.stdout
    assert "qty" in result.stdout and "five" in result.stdout
    report = json.loads(_validate(project, path, "--json").stdout)
    assert report["steps"] == ["decompress: gzip"]
    assert report["stage"] == "validate" and report["error_count"] == 1
    assert report["errors"][0]["value"] == "five"
    assert list(own_tmp.iterdir()) == []  # the unpacked file is gone
    good = project.file("samples/ORD2.csv.gz", gzip.compress(CSV.replace(b"five", b"5")))
    assert _validate(project, good).exit_code == 0


def test_a_file_the_step_refuses_is_invalid_at_read(project: ProjectDir, own_tmp: Path) -> None:
    project.route("orders", ROUTE)
    path = project.file("samples/ORD3.csv.gz", CSV)  # named .gz, but not gzip
    result = _validate(project, path, "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["stage"] == "read" and report["steps"] == ["decompress: gzip"]
    assert report["errors"][0]["rule"] == "steps.decompress"
    assert list(own_tmp.iterdir()) == []


def test_a_route_without_steps_says_none(project: ProjectDir) -> None:
    project.route("orders", ROUTE.replace("      before_read: [{decompress: gzip}]\n", "")
                  .replace("    steps:\n", ""))
    path = project.file("samples/ORD4.csv", CSV.replace(b"five", b"5"))
    result = _validate(project, path)
    assert result.exit_code == 0, result.output
    assert "before_read" not in result.stdout
