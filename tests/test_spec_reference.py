"""`tradelane spec`: the option reference generated from the spec declarations (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, REPO, ProjectDir
from tradelane.spec.reference import known_keys, reference, sections
from tradelane.spec.reference_docs import MARKDOWN_COMMAND

GOLDEN = REPO / "tests" / "data" / "spec"


def tradelane(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("section", ["format.csv", "target.http", "source.sftp"])
def test_spec_output_matches_its_golden_file(section: str) -> None:
    # to accept a deliberate change: tradelane spec SECTION > tests/data/spec/SECTION.txt
    result = tradelane("spec", section)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / f"{section}.txt").read_text()


def test_docs_reference_is_not_stale() -> None:
    # in a process of its own, as the user runs it: this one may hold the tests' plug-ins
    result = tradelane("spec", "--markdown")
    assert result.returncode == 0, result.stderr
    expected = result.stdout
    actual = (REPO / "docs" / "reference.md").read_text()
    assert actual == expected, f"docs/reference.md is stale: run {MARKDOWN_COMMAND}"


def test_every_option_has_a_description_and_the_reference_covers_every_plugin() -> None:
    options = reference()
    missing = [f"{o.section}: {o.path}" for o in options if not o.description]
    assert missing == []
    assert {"tradelane.yaml", "route", "format.csv", "format.edifact", "format.x12",
            "source.folder", "source.sftp", "target.http", "connection.sftp"} <= set(sections())
    paths = {(o.section, o.path) for o in options}
    # options deep inside maps and lists, and the engine settings
    assert ("route", "fields.*.pattern") in paths
    assert ("route", "transform.lookups[].on_missing") in paths
    assert ("tradelane.yaml", "alerts.webhook.url_env") in paths
    assert ("format.fixed", "record_types.*.fields.*.start") in paths


def test_spec_json_gives_type_default_description_and_example() -> None:
    result = tradelane("spec", "route.expect", "--json")
    assert result.returncode == 0, result.stderr
    options = {o["path"]: o for o in json.loads(result.stdout)}
    assert set(options) == {"expect", "expect.by", "expect.every"}
    by, every = options["expect.by"], options["expect.every"]
    assert by["required"] is True and by["type"] == "time (HH:MM)"
    assert every["default"] == '"daily"' and "weekday" in every["description"]
    assert by["example"] == 'by: "06:00"'


def test_spec_of_an_unknown_section_suggests_and_exits_not_found() -> None:
    result = tradelane("spec", "format.cvs")
    assert result.returncode == 5
    assert "did you mean 'format.csv'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_keys_get_did_you_mean_at_every_depth(project: ProjectDir) -> None:
    project.settings("max_reason_error: 5\nalerts: {pending_aftr: 1h}\n")
    project.route("orders", CSV_ROUTE)
    project.route("typo", """\
        source: {folder: inbox/x, min_ag: 5s}
        format: {type: csv}
        fields: {a: {requried: true}}
        target: {folder: out}
        expect: {by: "06:00", evry: daily}
    """)
    result = tradelane("check", "-C", str(project.root))
    assert result.returncode == 2
    for line in [
        "tradelane.yaml: max_reason_error: unknown option; did you mean 'max_reason_errors'?",
        "tradelane.yaml: alerts.pending_aftr: unknown option; did you mean 'pending_after'?",
        "mappings/typo.yaml: source.min_ag: unknown option; did you mean 'min_age'?",
        "mappings/typo.yaml: fields.a.requried: unknown option; did you mean 'required'?",
        "mappings/typo.yaml: expect.evry: unknown option; did you mean 'every'?",
    ]:
        assert line in result.stderr, (line, result.stderr)
    assert "Traceback" not in result.stderr


def test_known_keys_follow_the_kind_of_a_connection() -> None:
    data = {"connections": {"acme": {"sftp": {"host": "h", "prot": 22}}}}
    keys = known_keys("tradelane.yaml", ("connections", "acme", "sftp", "prot"), data)
    assert "port" in keys and "host" in keys


def test_version() -> None:
    result = tradelane("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("tradelane ") and result.stdout.strip() != "tradelane"
