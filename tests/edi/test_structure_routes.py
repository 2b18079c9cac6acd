"""Structure validation on an EDIFACT route: the route's severity decides (warn notes, reject
quarantines, isolate_messages splits out the one bad message), the reason file and the CONTRL
say where; ``check`` refuses a directory tradelane does not have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from support.project import ProjectDir
from tradelane.edi.errors import StructureInvalid
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_contrl import contrls
from tradelane.models import Outcome
from tradelane.spec import EdifactFormat, RouteSpec
from tradelane.staging import Staged

GOOD = ("UNH+{ref}+ORDERS:D:96A:UN'BGM+220+PO{ref}+9'DTM+137:20240101:102'"
        "NAD+BY+5412345000013::9'LIN+1++4000862141404:EN'QTY+21:5,5'UNS+S'UNT+8+{ref}'")
BAD = GOOD.replace("BGM+220+", "BGM+999+")  # 1001: 999 is not a document name code


def interchange(*messages: str) -> str:
    return ("UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+240101:1200+REF1'"
            + "".join(m.format(ref=k) for k, m in enumerate(messages, start=1))
            + f"UNZ+{len(messages)}+REF1'")


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", **fmt},
        "fields": {"gtin": {"source": "LIN.3.1"}}})


def read(tmp_path: Path, text: str, **fmt: object) -> list:
    path = tmp_path / "in.edi"
    path.write_text(text, encoding="latin-1")
    return list(EdifactReader().read(Staged.file(path), route(**fmt)))


def test_by_default_a_violation_is_a_warning_noted_and_the_message_delivered(
        tmp_path: Path) -> None:
    [doc] = read(tmp_path, interchange(GOOD, BAD))
    assert len(doc.records) == 2
    [note] = doc.notes
    assert note.startswith("ORDERS D96A: message 2, segment 2 (BGM), element 1, component 1")
    assert "syntax error 12" in note


def test_reject_refuses_the_file_with_every_violation_and_answers_in_the_contrl(
        tmp_path: Path) -> None:
    text = interchange(GOOD, BAD.replace("QTY+21:5,5", "QTY+21:5,"))
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, text, validate_structure={"default": "reject"})
    error = caught.value
    assert [(i.rule, i.field) for i in error.issues] == [("code_list", "BGM.1.1"),
                                                        ("decimal_mark", "QTY.1.2")]
    assert error.segment_index == 12  # UNA 1, UNB 2, message 1 is 3..10, its UNH 11, BGM 12
    fmt = route(validate_structure={"default": "reject"}).format
    assert isinstance(fmt, EdifactFormat)
    [(_, contrl)] = contrls(Staged.file(tmp_path / "in.edi"), fmt, error=error)
    assert b"UCM+2+ORDERS:D:96A:UN+4'\nUCS+2+12'\nUCD+12+1:1'" in contrl, contrl


def test_a_rule_set_off_or_to_warn_does_not_reject(tmp_path: Path) -> None:
    text = interchange(GOOD, BAD)
    [doc] = read(tmp_path, text, validate_structure={"default": "reject", "code_list": "off"})
    assert doc.notes == () and len(doc.records) == 2
    [doc] = read(tmp_path, text, validate_structure={"default": "off"})
    assert doc.notes == ()


def test_isolation_splits_out_only_the_bad_message(tmp_path: Path) -> None:
    [doc] = read(tmp_path, interchange(GOOD, BAD, GOOD), isolate_messages=True,
                 validate_structure={"default": "reject"})
    assert doc.unit_refs == ("1", "3")
    [failed] = doc.failed
    assert failed.message.number == 2
    assert failed.issue.rule == "code_list"
    assert failed.issue.location == "message 2 (2), segment 12 (byte 205)"
    assert failed.issue.message == ("message 2 (2): '999' is not a code of 1001 (Document/message"
                                    " name, coded) (syntax error 12)")


def test_the_route_directory_overrides_the_unh_and_is_checked(tmp_path: Path) -> None:
    text = interchange(GOOD.replace("D:96A", "D:01B"))
    [doc] = read(tmp_path, text, directory="D96A", validate_structure={"default": "reject"})
    assert len(doc.records) == 1
    with pytest.raises(ValidationError, match="did you mean D96A"):
        route(directory="96A")
    with pytest.raises(ValidationError, match="code_lists"):
        route(validate_structure={"code_lists": "off"})


def test_a_message_of_an_unknown_directory_is_noted_not_refused(tmp_path: Path) -> None:
    [doc] = read(tmp_path, interchange(GOOD.replace("D:96A", "D:21A")),
                 validate_structure={"default": "reject"})
    assert len(doc.records) == 1
    [note] = doc.notes
    assert note.startswith("not validated against a directory: unknown EDIFACT directory 'D21A'")


def test_run_once_quarantines_the_file_with_each_violation_in_its_reason(
        project: ProjectDir) -> None:
    project.route("orders", """
source: {folder: inbox/orders, pattern: "*.edi", min_age: 0s}
format: {type: edifact, records: LIN, validate_structure: {default: reject}}
fields: {gtin: {source: LIN.3.1, required: true}}
target: {folder: outbox/orders, format: json}
""")
    project.drop("orders", "ORDERS_1.edi", interchange(GOOD, BAD))
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED, result.message
    [rejected] = project.quarantined("orders")
    why = json.loads(rejected.with_name(rejected.name + ".reason.json").read_text())
    assert why["stage"] == "read"
    [error] = why["errors"]
    assert (error["rule"], error["field"], error["value"]) == ("code_list", "BGM.1.1", "999")
    assert error["location"].startswith("message 2, segment 2 (BGM), element 1, component 1")
