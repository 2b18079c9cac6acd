"""``tradelane check`` refuses EDIFACT field paths the route's directory does not have: an
unknown segment (with "did you mean"), an element or component position past the
definition, components of a simple element, a qualifier outside its code list."""

from __future__ import annotations

import pytest

from support.project import ProjectDir
from tradelane.edi.paths import path_problem
from tradelane.errors import ConfigError
from tradelane.formats.edifact_paths import compile_path


def problem(source: str, messages: list[str] | None = None) -> str | None:
    return path_problem("D96A", ["ORDERS"] if messages is None else messages,
                        compile_path(source), "fields.x.source")


@pytest.mark.parametrize("source", ["NAD[BY].C082.3039", "NAD[BY].2.1", "QTY[21].C186.6060",
                                    "LIN.C212.7140", "UNS.1", "DTM[137].1.2", "UNH.2.1",
                                    "UNB.S002.0004", "UNG.1"])
def test_paths_the_message_has_pass(source: str) -> None:
    assert problem(source) is None


@pytest.mark.parametrize(("source", "why"), [
    ("FOO.1", "FOO is not a segment of ORDERS in D96A"),
    ("NDA.1", "NDA is not a segment of ORDERS in D96A; did you mean NAD?"),
    ("NAD.12", "NAD has 9 elements; there is no element 12"),
    ("NAD.2.9", "NAD.2 (C082) has 3 components; there is no component 9"),
    ("NAD.1.2", "NAD.1 (3035) is a simple element; it has no components"),
    ("NAD[QQ9].2.1", "[QQ9] is not a code of 3035 (Party qualifier)"),
])
def test_paths_the_message_does_not_have_are_refused(source: str, why: str) -> None:
    found = problem(source)
    assert found is not None and found.startswith(f"fields.x.source: {source!r}: {why}")


def test_a_path_in_any_accepted_message_type_passes() -> None:
    assert problem("CPS.1", ["ORDERS"]) is not None  # packaging levels: DESADV, not ORDERS
    assert problem("CPS.1", ["ORDERS", "DESADV"]) is None


def test_without_directory_or_message_types_nothing_is_checked() -> None:
    path = compile_path("FOO.1")
    assert path_problem(None, ["ORDERS"], path, "x") is None
    assert path_problem("D96A", None, path, "x") is None


def test_check_reports_the_path_with_its_file(project: ProjectDir) -> None:
    project.route("orders", """
source: {folder: inbox/orders}
format: {type: edifact, records: LIN, messages: [ORDERS], directory: D96A}
fields:
  gtin: {source: LIN.C212.7140}
  bad: {source: NDA.1}
target: {folder: outbox/orders, format: json}
""")
    with pytest.raises(ConfigError) as caught:
        project.load()
    text = "\n".join(caught.value.problems)
    assert "fields.bad.source: 'NDA.1': NDA is not a segment of ORDERS in D96A; did you mean NAD?" \
        in text, text
