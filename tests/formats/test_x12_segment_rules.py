"""An X12 route's own segment rules (``format.rules``): what they accept, every violation
located with its 999 code, the 999 that carries them, the severities, and ``check``.

tests/data/x12_rules/850_broken_rules.x12 was written for these tests (beside the corpus of
tests/data/x12, whose files come from other projects): its first set keeps the demo route's
rules; its second has no BEG, a PO1 with the unit KG and one with a PO107 of 54 characters.
"""

from __future__ import annotations

import json
import pickle
import textwrap
import tracemalloc
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from support.project import DATA, REPO, ProjectDir
from tradelane.cli import app
from tradelane.formats.x12 import X12File, X12Reader, iter_transactions
from tradelane.formats.x12_ruleset import route_rules
from tradelane.formats.x12_segment_rules import SegmentRulesInvalid
from tradelane.formats.x12_structure import SetChecker
from tradelane.models import Outcome
from tradelane.spec import RouteSpec, X12Format
from tradelane.staging import Staged

BROKEN = DATA / "x12_rules" / "850_broken_rules.x12"
GOOD = REPO / "tests" / "cases" / "x12_850" / "input.x12"
DEMO = (REPO / "mappings" / "x12_850.yaml").read_text()
DEMO_RULES = yaml.safe_load(DEMO)["format"]["rules"]


def demo(project: ProjectDir, *, isolate: bool = False) -> ProjectDir:
    spec = DEMO.replace("  min_age: 5s\n", "  min_age: 0s\n").replace(
        "  ack: {folder: outbox/acks}", '  ack: {folder: outbox/acks, type: "999"}')
    if isolate:
        spec = spec.replace("  type: x12\n", "  type: x12\n  isolate_messages: true\n")
    return project.route("x12_850", spec)


def reason(project: ProjectDir) -> dict:
    [path] = project.quarantined("x12_850")
    return json.loads(path.with_name(path.name + ".reason.json").read_text())


def answer(project: ProjectDir) -> list[str]:
    [ack] = (project.root / "outbox" / "acks").iterdir()
    return [s.strip() for s in ack.read_text().split("~") if s.strip()]


def body(segments: list[str]) -> list[str]:
    """The 999 between its AK1 and its AK9 (sets, segments, elements)."""
    return [s for s in segments if s[:3] in ("AK2", "IK3", "IK4", "IK5")]


def x12(*sets: str) -> bytes:
    """An interchange holding ``sets`` (each its segments between ST and SE, '~' ended)."""
    out = ["ISA*00*          *00*          *ZZ*DISTRIB01      *ZZ*TRADELANE      *261207*0930*U"
           "*00401*000000301*0*P*>~", "GS*PO*DISTRIB01*TRADELANE*20261207*0930*301*X*004010~"]
    for n, text in enumerate(sets, start=1):
        segs = [s for s in text.split("~") if s]
        out.append(f"ST*850*{n:04d}~" + "~".join(segs) + f"~SE*{len(segs) + 2}*{n:04d}~")
    out.append(f"GE*{len(sets)}*301~IEA*1*000000301~")
    return "\n".join(out).encode()


def findings(rules: dict, *sets: str) -> list[list[tuple]]:
    """Per set: (rule, 999 code, tag, position in the set, element, component, value)."""
    checker = SetChecker(route_rules(_fmt(rules), None))  # type: ignore[arg-type]
    return [[(f.rule, f.code, f.tag, f.position, f.element, f.component, f.value)
             for f in checker.check(tx)] for tx in iter_transactions(X12File(x12(*sets)))]


def _fmt(rules: dict) -> X12Format:
    return X12Format.model_validate({"type": "x12", "records": "PO1", "rules": rules})


def with_rules(rules: str | dict, *, ack: str = "999") -> str:
    """The demo route with other rules (inline, or a file's name) and a 999."""
    head, tail = DEMO.split("  rules:", 1)
    given = rules if isinstance(rules, str) else "\n" + textwrap.indent(
        yaml.safe_dump(rules, sort_keys=False), "    ")
    head = head.replace("  min_age: 5s\n", "  min_age: 0s\n").replace(
        "ack: {folder: outbox/acks}", f'ack: {{folder: outbox/acks, type: "{ack}"}}')
    return f"{head}  rules: {given.rstrip()}\nheader:" + tail.split("\nheader:", 1)[1]


SMALL = {"transaction": "850", "segments": [
    {"BEG": {"min": 1}}, {"DTM": {"max": 2}},
    {"N1 loop": ["N1", "N3"], "max": 2},
    {"PO1 loop": ["PO1", "PID"], "min": 1},
], "elements": {
    "BEG": {"BEG01": {"type": "ID", "mandatory": True}, "BEG05": {"type": "DT"}},
    "DTM": {"DTM02": {"type": "DT"}, "DTM03": {"type": "TM"}, "max_elements": 3},
    "N1": {"N101": {"type": "ID"}, "N102": {"max": 10}, "N103": {"type": "ID"},
           "N104": {"min": 2}, "syntax": ["R0203", "P0304"]},
    "PO1": {"PO102": {"type": "R", "max": 5}, "PO104": {"type": "N2", "max": 6},
            "PO106": {"type": "ID"}, "PO107": {}, "PO108": {"type": "ID"}, "PO109": {},
            "syntax": ["C0607", "E0809", "L010203"]},
    "PID": {"PID05": {}, "PID09-1": {"type": "ID", "mandatory": True}, "PID09-2": {"max": 3}},
}, "codes": {"BEG01": ["00", "05"], "N101": ["ST", "BY"]}}
OK = "BEG*00*SA*1**20261207~N1*ST*SHOP~PO1*1*2*EA*150~"


# -- what the rules find ---------------------------------------------------------------------------


def test_the_demo_routes_good_examples_keep_its_rules() -> None:
    checker = SetChecker(route_rules(_fmt(DEMO_RULES), None))  # type: ignore[arg-type]
    for path in (GOOD, REPO / "examples" / "x12_850" / "PO_4500012345.x12"):
        for tx in iter_transactions(X12File(path.read_bytes())):
            assert checker.check(tx) == [], path


def test_a_good_set_has_no_findings() -> None:
    assert findings(SMALL, OK) == [[]]


@pytest.mark.parametrize(("text", "expected"), [
    # a mandatory segment missing: IK304 3, named where the next segment came
    ("N1*ST*SHOP~PO1*1*2~", ("segment_missing", "3", "BEG", 2, 0, 0, "")),
    # a mandatory loop missing (before SE)
    ("BEG*00~N1*ST*SHOP~", ("segment_missing", "3", "PO1", 4, 0, 0, "")),
    # a segment the set does not have: 6; one out of its place: 2
    ("BEG*00~ZZZ*1~PO1*1*2~", ("segment_unknown", "6", "ZZZ", 3, 0, 0, "ZZZ")),
    ("BEG*00~PO1*1*2~DTM*002~", ("segment_unexpected", "2", "DTM", 4, 0, 0, "DTM")),
    # over its max use: 5; a loop over its max: 4 (at its first segment)
    ("BEG*00~DTM*1~DTM*2~DTM*3~PO1*1*2~", ("segment_repeats", "5", "DTM", 5, 0, 0, "DTM")),
    ("BEG*00~N1*ST*A~N1*ST*B~N1*ST*C~PO1*1*2~", ("loop_repeats", "4", "N1", 5, 0, 0, "N1")),
])
def test_structure_violations_are_placed_with_their_ik304_code(text: str,
                                                              expected: tuple) -> None:
    assert findings(SMALL, text) == [[expected]]


@pytest.mark.parametrize(("text", "expected"), [
    ("BEG**SA~PO1*1*2~", ("element_missing", "1", "BEG", 2, 1, 0, "")),
    ("BEG*07~PO1*1*2~", ("code_list", "7", "BEG", 2, 1, 0, "07")),
    ("BEG*00****20261301~PO1*1*2~", ("date", "8", "BEG", 2, 5, 0, "20261301")),
    ("BEG*00~DTM*002*261207*2460~PO1*1*2~", ("time", "9", "DTM", 3, 3, 0, "2460")),
    ("BEG*00~DTM*002*261207*1200*X~PO1*1*2~", ("element_count", "3", "DTM", 3, 4, 0, "X")),
    ("BEG*00~N1*ST*A>B~PO1*1*2~", ("element_count", "13", "N1", 3, 2, 0, "A>B")),
    ("BEG*00~N1*ST*MUCH TOO LONG~PO1*1*2~",
     ("too_long", "5", "N1", 3, 2, 0, "MUCH TOO LONG")),
    ("BEG*00~N1*ST*SHOP*92*1~PO1*1*2~", ("too_short", "4", "N1", 3, 4, 0, "1")),
    ("BEG*00~PO1*1*2,5~", ("representation", "6", "PO1", 3, 2, 0, "2,5")),
    # R counts digits, not its sign or point; N2's implied decimals are digits
    ("BEG*00~PO1*1*-123.456~", ("too_long", "5", "PO1", 3, 2, 0, "-123.456")),
    ("BEG*00~PO1*1*2*EA*1.50~", ("representation", "6", "PO1", 3, 4, 0, "1.50")),
    ("BEG*00~PO1*1*2*EA*1234567~", ("too_long", "5", "PO1", 3, 4, 0, "1234567")),
    # components, when their composite is there: a mandatory one missing, one too long
    ("BEG*00~PO1*1*2~PID*F****X****>AB~", ("element_missing", "1", "PID", 4, 9, 1, "")),
    ("BEG*00~PO1*1*2~PID*F****X****A>ABCD~", ("too_long", "5", "PID", 4, 9, 2, "ABCD")),
])
def test_element_violations_are_placed_with_their_ik403_code(text: str,
                                                             expected: tuple) -> None:
    assert findings(SMALL, text) == [[expected]]


@pytest.mark.parametrize(("text", "expected"), [
    ("BEG*00~N1*ST~PO1*1*2~", ("syntax_note", "2", "N1", 3, 2, 0, "")),  # R0203: neither
    ("BEG*00~N1*ST**92~PO1*1*2~", ("syntax_note", "2", "N1", 3, 4, 0, "")),  # P0304
    ("BEG*00~PO1*1*2****VP~", ("syntax_note", "2", "PO1", 3, 7, 0, "")),  # C0607
    ("BEG*00~PO1*1*2******BP*X1~", ("syntax_note", "10", "PO1", 3, 9, 0, "X1")),  # E0809
    ("BEG*00~PO1*1~", ("syntax_note", "2", "PO1", 3, 2, 0, "")),  # L010203: PO101 alone
])
def test_syntax_notes(text: str, expected: tuple) -> None:
    assert findings(SMALL, text) == [[expected]]


def test_syntax_notes_kept() -> None:
    assert findings(SMALL, "BEG*00~N1*ST*A*92*0042~PO1*1*2*EA*150**VP*X~") == [[]]


def test_the_compiled_pattern_and_the_walk_agree_on_every_segment() -> None:
    """A segment passes the fast pattern exactly when the element walk finds nothing."""
    texts = [OK, "BEG*00*SA*1**20261207~N1*ST*A*92*0042~PO1*1*2*EA*150**VP*X~",
             "BEG*05~DTM*002*20261207*1200~DTM*002**0930~PO1*1*.5*BX*12~PO1*-1.*3~"]
    for case in (test_structure_violations_are_placed_with_their_ik304_code,
                 test_element_violations_are_placed_with_their_ik403_code, test_syntax_notes):
        texts += [p[0] for p in case.pytestmark[0].args[1]]  # type: ignore[attr-defined]
    fast = SetChecker(route_rules(_fmt(SMALL), None)).segments  # type: ignore[arg-type]
    walk = SetChecker(route_rules(_fmt(SMALL), None)).segments  # type: ignore[arg-type]
    seen = 0
    for tx in iter_transactions(X12File(x12(*texts))):
        for text, tag in zip(tx.block.segs, tx.block.tags, strict=True):
            if tag in fast:
                seen += 1
                assert fast[tag].valid(text, tx.block.delims) == (
                    walk[tag].faults(text, tx.block.delims) == []), text
    assert seen > 60


def test_a_set_broken_several_ways_lists_each_in_order() -> None:
    [found] = findings(SMALL, "N1*XX*SHOP*92~PO1*1*2*EA*150~PID*F~PID*F~")
    assert [f[:3] for f in found] == [
        ("segment_missing", "3", "BEG"), ("code_list", "7", "N1"), ("syntax_note", "2", "N1"),
        ("segment_repeats", "5", "PID")]


# -- through the demo route ------------------------------------------------------------------------


def test_a_broken_850_is_rejected_with_each_violation_located_and_a_999(
        project: ProjectDir) -> None:
    demo(project).drop("x12_850", "PO_broken.x12", BROKEN.read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    data = BROKEN.read_bytes()
    n1, kg = data.index(b"N1*ST", data.index(b"ST*850*0002")), data.index(b"PO1*1*24*KG")
    long = data.index(b"PO1*2*6*CS")
    why = reason(project)
    assert why["errors"] == [
        {"location": f"transaction set 850 0002, segment 10 (byte {n1})", "field": "BEG",
         "value": "", "rule": "segment_missing",
         "message": "mandatory segment BEG is missing before N1 (IK304 code 3)"},
        {"location": f"transaction set 850 0002, segment 11 (byte {kg})", "field": "PO103",
         "value": "KG", "rule": "code_list",
         "message": "'KG' is not a code of PO103 (BX, CS, EA) (IK403 code 7, loop PO1)"},
        {"location": f"transaction set 850 0002, segment 12 (byte {long})", "field": "PO107",
         "value": "NW-2040-THIS-VENDOR-PART-NUMBER-IS-FAR-TOO-LONG-TO-FIT", "rule": "too_long",
         "message": "PO107 is 54 characters long; at most 48 (IK403 code 5, loop PO1)"},
    ]
    nine = answer(project)
    assert body(nine) == [
        "AK2*850*0001", "IK5*R",  # not in error, but not taken: the file was rejected
        "AK2*850*0002",
        "IK3*BEG*2**3",
        "IK3*PO1*3**8", "IK4*3*355*7*KG",
        "IK3*PO1*4**8", "IK4*7*234*5*NW-2040-THIS-VENDOR-PART-NUMBER-IS-FAR-TOO-LONG-TO-FIT",
        "IK5*R*5"]
    assert nine[nine.index("IK5*R*5") + 1] == "AK9*R*2*2*0"
    assert project.outputs("x12_850") == []


def test_the_demo_routes_997_carries_the_same_places(project: ProjectDir) -> None:
    """The demo route answers its 004010 groups with a 997: AK3/AK4 with the same codes."""
    project.route("x12_850", DEMO.replace("  min_age: 5s\n", "  min_age: 0s\n"))
    project.drop("x12_850", "PO_broken.x12", BROKEN.read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    nine = answer(project)
    assert nine[nine.index("AK2*850*0002"):][:7] == [
        "AK2*850*0002", "AK3*BEG*2**3", "AK3*PO1*3**8", "AK4*3*355*7*KG", "AK3*PO1*4**8",
        "AK4*7*234*5*NW-2040-THIS-VENDOR-PART-NUMBER-IS-FAR-TOO-LONG-TO-FIT", "AK5*R*5"]
    assert nine[0].startswith("ISA") and nine[2] == "ST*997*0001"


def test_isolation_delivers_the_good_set_and_splits_out_the_broken_one(
        project: ProjectDir) -> None:
    demo(project, isolate=True).drop("x12_850", "PO_broken.x12", BROKEN.read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [output] = project.outputs("x12_850")
    assert output.read_text().splitlines()[1].startswith('"4500012399",')
    [copy] = project.quarantined("x12_850")
    [back] = iter_transactions(X12File(copy.read_bytes()))
    assert back.control == "0002"
    assert [e["rule"] for e in reason(project)["errors"]] == [
        "segment_missing", "code_list", "too_long"]
    nine = body(answer(project))
    assert nine[:2] == ["AK2*850*0001", "IK5*A"]
    assert nine[2:5] == ["AK2*850*0002", "IK3*BEG*2**3", "IK3*PO1*3**8"]
    assert nine[-1] == "IK5*R*5"


def test_warn_delivers_with_the_findings_noted_and_the_999_says_e(project: ProjectDir) -> None:
    rules = DEMO_RULES | {"severity": {"default": "reject", "code_list": "warn"}}
    project.route("x12_850", with_rules(rules))
    text = GOOD.read_text().replace("**VP*NW-2040", "**PI*NW-2040")
    project.drop("x12_850", "PO_kg.x12", text)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    with project.ledger() as ledger:
        events = " | ".join(e.detail for e in ledger.events(result.file_id))
    assert "PO106 'PI': 'PI' is not a code of PO106 (BP, IN, UP, VN, VP) (IK403 code 7" \
        in events
    assert "transaction set 850 0001, segment 7 (byte " in events
    assert body(answer(project)) == ["AK2*850*0001", "IK3*PO1*5**8", "IK4*6*235*7*PI",
                                     "IK5*E*5"]


def test_the_999_of_a_file_read_in_another_process_still_says_e(project: ProjectDir) -> None:
    """After a restart (or when another process read the file) the 999 is built from the
    file alone: its warnings are found again, not forgotten into an IK5*A."""
    import hashlib

    from tradelane.acks import build_acks
    from tradelane.spec.loader import load_project

    rules = DEMO_RULES | {"severity": {"default": "reject", "code_list": "warn"}}
    project.route("x12_850", with_rules(rules))
    # content no test reads in this process: nothing about it is remembered here
    data = GOOD.read_text().replace("**VP*NW-2040", "**PI*NW-2040").replace(
        "4500012345", "4500077777").encode()
    staged = Staged(size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)
    route = load_project(project.root).routes["x12_850"]
    [(name, nine)] = build_acks(route, staged, 7)
    assert name.startswith("7-999_")
    segments = [s.strip() for s in nine.decode().split("~") if s.strip()]
    assert body(segments) == ["AK2*850*0001", "IK3*PO1*5**8", "IK4*6*235*7*PI", "IK5*E*5"]


def test_rules_in_a_file_beside_the_route(project: ProjectDir) -> None:
    project.file("mappings/rules/po_850.yaml", yaml.safe_dump(DEMO_RULES))
    project.route("x12_850", with_rules("rules/po_850.yaml"))
    project.drop("x12_850", "PO_broken.x12", BROKEN.read_bytes())
    project.drop("x12_850", "PO_good.x12", GOOD.read_bytes(), age=300)
    outcomes = {r.name: r.outcome for r in project.run().results}
    assert outcomes == {"PO_good.x12": Outcome.DELIVERED, "PO_broken.x12": Outcome.QUARANTINED}
    assert reason(project)["message"].startswith(
        "transaction set 850 0002 breaks the segment rules rules/po_850.yaml: BEG: mandatory"
        " segment BEG is missing before N1 (IK304 code 3) (and 2 more)")


# -- check -----------------------------------------------------------------------------------------


BAD_RULES = """\
transaction: "850"
severty: {default: reject}
severity: {code_lists: warn, too_long: sometimes}
segments:
  - BEG: {min: 1, maxx: 1}
  - PO1 lop: [PO1]
  - PO1 loop: [PO1, PID]
    min: 2
    max: 1
  - ST
  - CTT loop: [CTT]
    mx: 1
elements:
  BEG:
    BEG01: {type: ID, mandatroy: true}
    BEG05: {type: DATE}
    BEGX: {}
    syntax: [P01, X0102]
  PO1:
    PO102: {type: R}
  PO2:
    PO201: {}
codes:
  PO102: [EA]
  PID01: []
"""


def test_check_refuses_a_bad_rules_file_each_problem_at_its_place(project: ProjectDir) -> None:
    project.file("mappings/rules/po.yaml", BAD_RULES)
    project.route("po", """\
        source: {folder: inbox/po}
        format: {type: x12, records: PO1, transactions: ["850"], rules: rules/po.yaml}
        fields: {qty: {source: PO1.2}}
        target: {folder: outbox/po}
        """)
    done = CliRunner().invoke(app, ["check", "--project", str(project.root)])
    assert done.exit_code == 2, done.output
    lines = [" ".join(line.split()) for line in done.output.splitlines()]
    text = " ".join(lines)
    at = "mappings/po.yaml: format.rules: rules/po.yaml:"
    for expected in [
        f"{at} severty: unknown key 'severty'; did you mean severity?",
        f"{at} severity.code_lists: unknown rule; did you mean code_list?",
        f"{at} severity.too_long: 'sometimes' is not reject, warn or off",
        f"{at} segments.0.BEG: unknown key 'maxx'; did you mean max?",
        f"{at} segments.1: 'PO1 lop' is not a segment tag",
        f"{at} segments.2 (PO1 loop): min 2 is above max 1",
        f"{at} segments.3: ST and SE frame every set",
        f"{at} segments.4 (CTT loop): unknown key 'mx'; did you mean max?",
        f"{at} elements.BEG.BEG01: unknown key 'mandatroy'; did you mean mandatory?",
        f"{at} elements.BEG.BEG05.type: 'DATE' is not an X12 type",
        f"{at} elements.BEG.BEGX: 'BEGX' is not an element of BEG",
        f"{at} elements.BEG.syntax.0: 'P01' is not a syntax note",
        f"{at} elements.BEG.syntax.1: 'X0102' is not a syntax note",
        f"{at} elements.PO2: PO2 is not a segment of the set's structure; did you mean PO1?",
        f"{at} codes.PO102: PO102 is of type R: a code list needs an ID element",
        f"{at} codes.PID01: a list of the codes accepted",
    ]:
        assert expected in text, (expected, lines)


def test_check_refuses_rules_outside_the_mappings_folder_or_missing(
        project: ProjectDir) -> None:
    for name, path in (("po", "../../etc/passwd"), ("po2", "rules/none.yaml")):
        project.route(name, f"""\
            source: {{folder: inbox/{name}}}
            format: {{type: x12, records: PO1, rules: "{path}"}}
            fields: {{qty: {{source: PO1.2}}}}
            target: {{folder: outbox/{name}}}
            """)
    done = CliRunner().invoke(app, ["check", "--project", str(project.root)])
    assert done.exit_code == 2
    text = " ".join(done.output.split())
    assert "mappings/po.yaml: format.rules: '../../etc/passwd' is outside the mappings" \
           " folder" in text
    assert "mappings/po2.yaml: format.rules: rules/none.yaml: cannot read the rules: No such" \
           " file or directory" in text


def test_check_refuses_rules_for_another_transaction_set(project: ProjectDir) -> None:
    project.route("po", DEMO.replace('transactions: ["850"]', 'transactions: ["855"]'))
    done = CliRunner().invoke(app, ["check", "--project", str(project.root)])
    assert done.exit_code == 2
    assert "format.rules: transaction: 850 is not one of format.transactions (855)" \
           in " ".join(done.output.split())


# -- bounds ----------------------------------------------------------------------------------------


def test_a_file_broken_everywhere_keeps_a_bounded_count_of_findings(tmp_path: Path) -> None:
    line = "BEG*99~" + "PO1*1*2*KG*1**VP*X~" * 60
    path = tmp_path / "many.x12"
    # 400 sets x 65 findings: BEG01's code, BEG02, 03 and 05 missing, 60 PO103 codes, no CTT
    path.write_bytes(x12(*[line] * 400))
    staged = Staged.file(path)
    route = RouteSpec.model_validate({
        "name": "po", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "PO1", "rules": DEMO_RULES},
        "fields": {"qty": {"source": "PO1.2"}}})
    tracemalloc.start()
    with pytest.raises(SegmentRulesInvalid) as info:
        list(X12Reader().read(staged, route))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    error = info.value
    assert error.error_count == 400 * 65
    assert len(error.issues) == 5_000
    assert len(error.rule_sets) == 400 and len(error.rule_sets[3].findings) == 50
    assert peak < 40 << 20


def test_the_reject_crosses_process_boundaries() -> None:
    """Worker processes send the error to their parent, every set's findings with it."""
    route = RouteSpec.model_validate({
        "name": "po", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "PO1", "rules": DEMO_RULES},
        "fields": {"qty": {"source": "PO1.2"}}})
    with pytest.raises(SegmentRulesInvalid) as info:
        list(X12Reader().read(Staged.file(BROKEN), route))
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.issues == info.value.issues
    assert again.rule_sets[9].findings == info.value.rule_sets[9].findings
