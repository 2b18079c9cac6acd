"""``tradelane edi describe``: the structure as a tree in 80 columns, a segment's elements and
codes, JSON for scripts, exit 2 with "did you mean" for what does not exist."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tradelane.cli import app

runner = CliRunner()


def describe(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["edi", "describe", *args])
    return result.exit_code, result.output


def test_the_tree_shows_groups_and_segments_within_80_columns() -> None:
    code, text = describe("ORDERS", "--directory", "D96A")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("ORDERS D96A: Purchase order message")
    assert "├─ BGM   M      1  Beginning of message" in lines
    assert any(line.startswith("├─ SG25  C 200000  group (LIN)") for line in lines)
    assert any(line.startswith("│  ├─ QTY   C     10  Quantity") for line in lines)
    assert lines[-1].startswith("└─ UNT   M      1")
    assert max(len(line) for line in lines) <= 80


def test_a_segment_with_its_elements_and_codes() -> None:
    code, text = describe("ORDERS", "-d", "D96A", "--segment", "nad", "--codes")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "NAD  NAME AND ADDRESS  (in SG2, SG35)"
    assert lines[1].split() == ["1", "3035", "Party", "qualifier", "M", "an", "299", "codes"]
    assert any(line.split()[:2] == ["2.1", "3039"] and line.endswith("M  an..35")
               for line in lines)
    assert any(" BY " in f" {line} " for line in lines)  # the codes of 3035 are listed
    assert max(len(line) for line in lines) <= 80


def test_json_for_scripts() -> None:
    code, text = describe("DESADV", "-d", "EAN97", "--json")
    assert code == 0, text
    data = json.loads(text)
    assert (data["directory"], data["base"], data["message"]) == ("EAN97", "D96A", "DESADV")
    groups = [n["group"] for n in data["structure"] if "group" in n]
    assert groups and all(g.startswith("SG") for g in groups)
    code, text = describe("ORDERS", "-d", "D96A", "-s", "DTM", "--json")
    [definition] = json.loads(text)["definitions"]
    first = definition["elements"][0]
    assert (first["number"], first["mandatory"]) == ("C507", True)
    assert first["components"][1]["max_length"] == 35


def test_what_does_not_exist_exits_2_with_did_you_mean() -> None:
    assert describe("ORDERS", "-d", "D69A")[0] == 2
    code, text = describe("ORDRES", "-d", "D96A")
    assert code == 2 and "did you mean" in text and "ORDERS?" in text
    code, text = describe("ORDERS", "-d", "D96A", "-s", "NDA")
    assert code == 2 and "did you mean NAD" in text
