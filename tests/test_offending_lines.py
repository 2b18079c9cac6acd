"""`quarantine show` prints the offending line or segment for XML and EDI too, and XML errors
carry lxml's own message and position (issue 16)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from support.project import REPO, ProjectDir, copy_partners


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)


def test_an_undefined_xml_entity_is_named_at_its_place(project: ProjectDir) -> None:
    project.route("x", """\
        source: {folder: inbox/x, min_age: 0s}
        format: {type: xml, records: item}
        fields: {id: {required: true}}
        target: {folder: outbox/x, format: json}
    """)
    project.drop("x", "ent.xml", '<?xml version="1.0"?>\n<items>\n<item><id>A&nbsp;</id>'
                 "</item>\n</items>\n")
    assert tradelane(project, "run", "--once").returncode == 3
    reason = json.loads(tradelane(project, "quarantine", "show", "1", "--json").stdout)
    assert reason["message"] == ("the file is not well-formed XML: Entity 'nbsp' not defined"
                                 " (line 3, column 18)")
    assert reason["lines"] == [{"line": 3, "text": "<item><id>A&nbsp;</id></item>"}]


def test_an_edifact_error_shows_its_segment(project: ProjectDir) -> None:
    shutil.copy(REPO / "mappings" / "edifact_orders.yaml", project.root / "mappings")
    copy_partners(project.root)
    project.drop("edifact_orders", "bad.edi",
                 (REPO / "examples" / "edifact_orders" / "ORDERS_20261126_bad_count.edi")
                 .read_bytes())
    assert tradelane(project, "run", "--once").returncode == 3
    shown = tradelane(project, "quarantine", "show", "1", "--json")
    reason = json.loads(shown.stdout)
    assert reason["lines"], reason
    assert reason["lines"][0]["line"].startswith("byte ")
    assert reason["lines"][0]["text"].startswith("UNT+")
    text = tradelane(project, "quarantine", "show", "1").stdout
    assert "| UNT+" in text
