"""Implementation guides: a YAML guide beside the route narrows a message of its directory (or
of an EANCOM subset), ``tradelane check`` refuses a guide that does not fit the directory, and a
message that breaks only the guide is refused with the guide rule and its place."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from support.project import REPO, ProjectDir, copy_partners
from tradelane.edi.directory import load
from tradelane.edi.errors import StructureInvalid
from tradelane.edi.guides import load_guide
from tradelane.edi.validation import machine_for
from tradelane.errors import ConfigError
from tradelane.formats.edifact import EdifactReader
from tradelane.models import Outcome
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

GOOD = ("UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20240101:102'"
        "NAD+BY+5412345000013::9'LIN+1++4000862141404:EN'QTY+21:5'UNS+S'UNT+8+1'")


def interchange(message: str) -> str:
    count = message.count("'")
    message = message.replace("UNT+8+1'", f"UNT+{count}+1'")
    return f"UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+240101:1200+REF1'{message}UNZ+1+REF1'"


def write_guide(folder: Path, body: str, name: str = "guides/g.yaml") -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    return name


def route(folder: Path, guide: str, **fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", "guide": guide,
                   "validate_structure": {"default": "reject"}, **fmt},
        "fields": {"gtin": {"source": "LIN.3.1"}},
        "base_dir": folder, "spec_path": folder / "r.yaml"})


def read(folder: Path, guide: str, message: str, **fmt: object) -> list:
    path = folder / "in.edi"
    path.write_text(interchange(message), encoding="latin-1")
    return list(EdifactReader().read(Staged.file(path), route(folder, guide, **fmt)))


ORDERS_GUIDE = "message: ORDERS\ndirectory: D96A\nsegments:\n"

# (guide rules, the message broken one way, rule, field, segment position, CONTRL code, text)
NARROWINGS = [
    ("  SG25/QTY: {mandatory: true}", GOOD.replace("QTY+21:5'", ""),
     "guide_segment_missing", "UNS", 6, "13", "makes SG25/QTY mandatory"),
    ("  SG2: {mandatory: true}", GOOD.replace("NAD+BY+5412345000013::9'", ""),
     "guide_segment_missing", "LIN", 4, "13", "makes SG2 mandatory"),
    ("  FTX: {forbidden: true}", GOOD.replace("NAD+", "FTX+AAI+++call first'NAD+"),
     "guide_segment_position", "FTX", 4, "15", "forbids FTX"),
    ("  SG1: {forbidden: true}", GOOD.replace("NAD+", "RFF+CT:C-9'NAD+"),
     "guide_segment_position", "RFF", 4, "15", "forbids SG1"),
    ("  DTM: {max: 1}", GOOD.replace("NAD+", "DTM+2:20240105:102'NAD+"),
     "guide_segment_repeats", "DTM", 4, "35", "allows DTM at most 1 times"),
    ("  SG25: {max: 1}", GOOD.replace("UNS+", "LIN+2++4000862141411:EN'QTY+21:1'UNS+"),
     "guide_group_repeats", "LIN", 7, "36", "allows SG25 at most 1 times"),
    ("  BGM: {elements: {1225: {mandatory: true}}}", GOOD.replace("BGM+220+PO1+9", "BGM+220+PO1"),
     "guide_element_missing", "BGM.3", 2, "13", "makes BGM 1225 mandatory"),
    ("  SG2/NAD: {elements: {C082.3055: {mandatory: true}}}",
     GOOD.replace("5412345000013::9", "5412345000013"),
     "guide_element_missing", "NAD.2.3", 4, "13", "makes SG2/NAD C082.3055 mandatory"),
    ("  BGM: {elements: {4343: {forbidden: true}}}", GOOD.replace("PO1+9'", "PO1+9+AC'"),
     "guide_code_list", "BGM.4", 2, "12", "BGM 4343 must be empty"),
    ("  SG2/NAD: {elements: {3035: {codes: [BY, SU]}}}", GOOD.replace("NAD+BY", "NAD+DP"),
     "guide_code_list", "NAD.1", 4, "12", "allows only BY, SU in SG2/NAD 3035"),
    ("  DTM: {elements: {C507.2005: {codes: [137, 2]}}}", GOOD.replace("DTM+137", "DTM+4"),
     "guide_code_list", "DTM.1.1", 3, "12", "allows only 137, 2 in DTM C507.2005"),
    ("  SG2/NAD: {elements: {C082.3039: {length: 13}}}",
     GOOD.replace("5412345000013", "541234500001"),
     "guide_too_short", "NAD.2.1", 4, "40", "sets the length of SG2/NAD C082.3039 to 13"),
    ("  SG2/NAD: {elements: {2.1: {length: 13}}}",
     GOOD.replace("5412345000013", "54123450000130"),
     "guide_too_long", "NAD.2.1", 4, "39", "sets the length of SG2/NAD 2.1 to 13"),
]


@pytest.mark.parametrize(("rules", "bad", "rule", "field", "position", "code", "says"),
                         NARROWINGS, ids=[n[0].strip() for n in NARROWINGS])
def test_each_narrowing_accepts_the_good_message_and_refuses_the_broken_one(
        tmp_path: Path, rules: str, bad: str, rule: str, field: str, position: int, code: str,
        says: str) -> None:
    guide = write_guide(tmp_path, ORDERS_GUIDE + rules + "\n")
    [doc] = read(tmp_path, guide, GOOD)
    assert len(doc.records) == 1 and doc.notes == ()
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, guide, bad)
    [issue] = caught.value.issues
    assert (issue.rule, issue.field) == (rule, field)
    assert issue.location.startswith(f"message 1, segment {position} ")
    assert caught.value.code == code
    assert f"guide guides/g.yaml {says}" in issue.message or says in issue.message, issue.message
    assert "guides/g.yaml" in issue.message


def test_the_same_message_without_the_guide_follows_the_standard(tmp_path: Path) -> None:
    """Every broken message above breaks only its guide, never D96A itself."""
    for _rules, bad, *_ in NARROWINGS:
        path = tmp_path / "in.edi"
        path.write_text(interchange(bad), encoding="latin-1")
        plain = RouteSpec.model_validate({
            "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
            "format": {"type": "edifact", "records": "LIN",
                       "validate_structure": {"default": "reject"}},
            "fields": {"gtin": {"source": "LIN.3.1"}}})
        docs = list(EdifactReader().read(Staged.file(path), plain))
        assert all(d.notes == () for d in docs), bad


def test_a_guide_at_warn_delivers_with_a_note_and_off_skips_it(tmp_path: Path) -> None:
    guide = write_guide(tmp_path, ORDERS_GUIDE.replace("segments:", "severity: warn\nsegments:")
                        + "  SG2/NAD: {elements: {3035: {codes: [SU]}}}\n")
    [doc] = read(tmp_path, guide, GOOD)
    [note] = doc.notes
    assert "'BY' is not a code of 3035" in note and "guides/g.yaml" in note
    write_guide(tmp_path, ORDERS_GUIDE.replace("segments:", "severity: off\nsegments:")
                + "  SG2/NAD: {elements: {3035: {codes: [SU]}}}\n")
    [doc] = read(tmp_path, guide, GOOD)
    assert doc.notes == ()


def test_the_standard_keeps_its_own_severity_beside_the_guide(tmp_path: Path) -> None:
    """A route that only warns about the standard still rejects what breaks its guide."""
    guide = write_guide(tmp_path, ORDERS_GUIDE + "  SG2/NAD: {elements: {3035: {codes: [BY]}}}\n")
    bad_standard = GOOD.replace("BGM+220+", "BGM+999+")  # 999 is no document name code
    [doc] = read(tmp_path, guide, bad_standard, validate_structure={"default": "warn"})
    assert "syntax error 12" in doc.notes[0] and "guide" not in doc.notes[0]
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, guide, bad_standard.replace("NAD+BY", "NAD+SU"),
             validate_structure={"default": "warn"})
    assert [i.rule for i in caught.value.issues] == ["guide_code_list"]


def test_a_guide_never_changes_the_directory_other_routes_see(tmp_path: Path) -> None:
    guide = load_guide(write_guide(tmp_path, ORDERS_GUIDE + "  SG2/NAD: {elements: {3035:"
                                   " {codes: [BY]}}}\n  FTX: {forbidden: true}\n"), tmp_path)
    narrowed = guide.narrowed()
    assert list(narrowed.segments("NAD")[0].positions[0].element.codes) == ["BY"]
    assert "FTX" not in [getattr(node, "tag", "") for node in narrowed.structure]
    standard = load("D96A", "ORDERS")
    assert len(standard.segments("NAD")[0].positions[0].element.codes) > 200
    assert "FTX" in [getattr(node, "tag", "") for node in standard.structure]
    # compiled once per (directory, message, guide): the same guide read again is the same key
    again = load_guide("guides/g.yaml", tmp_path)
    assert machine_for("D96A", "ORDERS", guide) is machine_for("D96A", "ORDERS", again)
    assert machine_for("D96A", "ORDERS", guide) is not machine_for("D96A", "ORDERS")


# -- tradelane check ------------------------------------------------------------------------------


def check_problems(project: ProjectDir, guide_body: str, fmt: str = "") -> list[str]:
    write_guide(project.root / "mappings", guide_body)
    project.route("orders", f"""
source: {{folder: inbox/orders}}
format: {{type: edifact, records: LIN, messages: [ORDERS], guide: guides/g.yaml{fmt}}}
fields: {{gtin: {{source: LIN.C212.7140}}}}
target: {{folder: outbox/orders, format: json}}
""")
    with pytest.raises(ConfigError) as caught:
        project.load()
    return caught.value.problems


@pytest.mark.parametrize(("rules", "said"), [
    ("  SG2/NDA: {mandatory: true}", "segments.SG2/NDA: NDA is not a segment of ORDERS in D96A;"
     " did you mean NAD?"),
    ("  SG99: {mandatory: true}", "segments.SG99: SG99 is not a group of ORDERS in D96A;"
     " did you mean SG9"),
    ("  QTY: {max: 2}", "segments.QTY: QTY is not in the message level; did you mean SG16/QTY,"
     " SG19/QTY, SG25/QTY?"),
    ("  SG2/NAD: {elements: {C083.3039: {mandatory: true}}}",
     "segments.SG2/NAD.elements.C083.3039: NAD: C083 is not one of its elements"),
    ("  SG2/NAD: {elements: {3035: {codes: [BY, BYY]}}}",
     "segments.SG2/NAD.elements.3035.codes: 'BYY' is not a code of 3035 (Party qualifier) in"
     " D96A; did you mean BY"),
    ("  SG2: {max: 100}", "segments.SG2.max: 100 is above the standard's limit of 99 for SG2"),
    ("  BGM: {forbidden: true}", "segments.BGM.forbidden: BGM is mandatory in D96A"),
    ("  SG2/NAD: {forbidden: true}", "NAD starts its group: forbid the group (SG2) instead"),
    ("  SG2/NAD: {elements: {C082.3039: {length: 40}}}",
     "40 is above the standard's maximum length of 35"),
    ("  SG2/NAD: {elements: {3035: {length: 2}}}", "3035 is coded: restrict its codes"),
    ("  SG2/NAD: {elements: {1.2: {mandatory: true}}}", "3035 is a simple element"),
    ("  SG2/NAD: {mandatroy: true}", "segments.SG2/NAD.mandatroy: Extra inputs are not"
     " permitted"),
])
def test_check_refuses_a_guide_that_does_not_fit_its_directory(project: ProjectDir, rules: str,
                                                               said: str) -> None:
    problems = check_problems(project, ORDERS_GUIDE + rules + "\n")
    text = "\n".join(problems)
    assert f"mappings/orders.yaml: format.guide: guides/g.yaml: {said.split(':')[0]}" in text \
        or said in text, text
    assert said in text, text


def test_check_reports_every_problem_of_a_guide_at_once(project: ProjectDir) -> None:
    problems = check_problems(project, ORDERS_GUIDE + "  SG2/NDA: {mandatory: true}\n"
                              "  SG2/NAD: {elements: {3035: {codes: [BYY]}}}\n")
    assert len([p for p in problems if "guides/g.yaml" in p]) == 2, problems


@pytest.mark.parametrize(("guide", "fmt", "said"), [
    ("../outside.yaml", "", "is outside the mappings folder"),
    ("guides/missing.yaml", "", "guides/missing.yaml: cannot read the guide"),
    ("/etc/passwd.yaml", "", "give the path relative to the mapping file"),
])
def test_check_refuses_a_guide_outside_the_mappings_folder_or_missing(
        project: ProjectDir, guide: str, fmt: str, said: str) -> None:
    (project.root / "outside.yaml").write_text(ORDERS_GUIDE)
    project.route("orders", f"""
source: {{folder: inbox/orders}}
format: {{type: edifact, records: LIN, guide: {guide}}}
fields: {{gtin: {{source: LIN.C212.7140}}}}
target: {{folder: outbox/orders, format: json}}
""")
    with pytest.raises(ConfigError, match=said):
        project.load()


def test_check_needs_the_directory_and_a_message_type_the_route_accepts(
        project: ProjectDir) -> None:
    problems = "\n".join(check_problems(project, "message: ORDERS\nsegments: {}\n"))
    assert "say which directory the guide narrows" in problems
    problems = "\n".join(check_problems(project, "message: INVOIC\ndirectory: D96A\n"))
    assert "INVOIC is not one of format.messages (ORDERS)" in problems
    problems = "\n".join(check_problems(project, ORDERS_GUIDE, ", directory: D01B"))
    assert "the guide narrows D96A but format.directory is D01B" in problems
    problems = "\n".join(check_problems(project, "message: ORDRES\ndirectory: D96A\n"))
    assert "guides/g.yaml: message: unknown EDIFACT message type in D96A 'ORDRES'; did you mean" \
        " RDRMES, ORDRSP, ORDERS?" in problems, problems


def test_codes_that_yaml_would_read_as_booleans_or_numbers_stay_codes(tmp_path: Path) -> None:
    guide = load_guide(write_guide(tmp_path, ORDERS_GUIDE
                                   + "  SG1/RFF: {elements: {C506.1153: {codes: [ON]}}}\n"
                                   + "  DTM: {elements: {C507.2005: {codes: [137, 2]}}}\n"),
                       tmp_path)
    rules = guide.spec.segments
    assert rules["SG1/RFF"].elements["C506.1153"].codes == ["ON"]  # not True
    assert rules["DTM"].elements["C507.2005"].codes == ["137", "2"]
    with pytest.raises(ConfigError) as caught:  # NO is not read as False, nor 010 as 8
        load_guide(write_guide(tmp_path, ORDERS_GUIDE + "  SG2/NAD: {elements: {3035: {codes:"
                               " [NO, 010]}}}\n"), tmp_path)
    assert "'NO' is not a code of 3035" in str(caught.value)
    assert "'010' is not a code of 3035" in str(caught.value)


# -- on top of an EANCOM subset --------------------------------------------------------------------

EANCOM_INVOIC = ("UNH+1+INVOIC:D:96A:UN:EAN008'BGM+380+INV1+9'DTM+137:20240101:102'"
                 "NAD+BY+5412345000013::9'NAD+SU+4012345000009::9'UNS+S'MOA+124:10'UNT+8+1'")
EANCOM_GUIDE = "message: INVOIC\ndirectory: EAN97\nsegments:\n  SG2/NAD:\n" \
               "    elements: {{3035: {{codes: [{codes}]}}}}\n"


def test_a_guide_stacks_on_an_eancom_subset(tmp_path: Path) -> None:
    """The subset narrows D96A (NAD 3035: CA, a carrier, is D96A's but not EANCOM's), the guide
    narrows the subset (ST is EANCOM's but not the guide's): both apply, each as itself."""
    assert "CA" in load("D96A", "INVOIC").segments("NAD")[0].positions[0].element.codes
    guide = write_guide(tmp_path, EANCOM_GUIDE.format(codes="BY, SU, DP, CA"))
    with pytest.raises(ConfigError, match=r"'CA' is not a code of 3035 \(PARTY QUALIFIER\) in"
                       " EAN97"):
        load_guide(guide, tmp_path)
    write_guide(tmp_path, EANCOM_GUIDE.format(codes="BY, SU, DP"))
    [doc] = read(tmp_path, guide, EANCOM_INVOIC)  # UNH 0057 EAN008: EANCOM 1997
    assert doc.notes == () and doc.unit_refs == ("1",)
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, guide, EANCOM_INVOIC.replace("NAD+SU", "NAD+ST"))
    assert [i.rule for i in caught.value.issues] == ["guide_code_list"]
    assert caught.value.directory == "EAN97"
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, guide, EANCOM_INVOIC.replace("NAD+SU", "NAD+CA"))
    assert [i.rule for i in caught.value.issues] == ["code_list"]  # EANCOM's own list


def test_the_same_guide_on_d96a_accepts_what_eancom_does_not(tmp_path: Path) -> None:
    guide = write_guide(tmp_path, EANCOM_GUIDE.format(codes="BY, SU, DP, CA")
                        .replace("EAN97", "D96A"))
    assert load_guide(guide, tmp_path).directory == "D96A"


# -- the demo route -------------------------------------------------------------------------------


def test_the_demo_route_quarantines_the_invoice_that_breaks_only_its_guide(
        tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "project")
    shutil.copy(REPO / "tradelane.yaml", project.root / "tradelane.yaml")
    shutil.copy(REPO / "mappings" / "eancom_invoic.yaml", project.root / "mappings")
    copy_partners(project.root)
    shutil.copytree(REPO / "mappings" / "guides", project.root / "mappings" / "guides")
    for sample in sorted((REPO / "examples" / "eancom_invoic").glob("*.edi")):
        project.drop("eancom_invoic", sample.name, sample.read_bytes())
    outcomes = {r.name: r.outcome for r in project.run(["eancom_invoic"]).results}
    assert outcomes == {"INVOIC_20261126_0630.edi": Outcome.DELIVERED,
                        "INVOIC_20261126_0645_ship_to.edi": Outcome.QUARANTINED}
    [rejected] = project.quarantined("eancom_invoic")
    reason = json.loads(rejected.with_name(rejected.name + ".reason.json").read_text())
    [error] = reason["errors"]
    assert error["rule"] == "guide_code_list"
    assert error["field"] == "NAD.1" and error["value"] == "ST"
    assert error["location"].startswith("message 1, segment 9 (NAD), element 1")
    assert "guides/eancom_invoic.yaml allows only BY, SU, DP, IV in SG2/NAD 3035" \
        in error["message"]
    assert "guides/eancom_invoic.yaml" in reason["message"]


def test_a_guide_violation_is_answered_in_the_contrl_like_any_other(tmp_path: Path) -> None:
    from tradelane.formats.edifact_contrl import contrls

    guide = write_guide(tmp_path, ORDERS_GUIDE + "  SG2/NAD: {elements: {3035: {codes: [SU]}}}\n")
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, guide, GOOD, ack={"folder": "acks"})
    fmt = route(tmp_path, guide, ack={"folder": "acks"}).format
    [(_, contrl)] = contrls(Staged.file(tmp_path / "in.edi"), fmt, error=caught.value)
    assert b"UCM+1+ORDERS:D:96A:UN+4'\nUCS+4+12'\nUCD+12+1'" in contrl, contrl


def test_isolate_messages_splits_out_only_the_message_that_breaks_the_guide(
        tmp_path: Path) -> None:
    guide = write_guide(tmp_path, ORDERS_GUIDE + "  SG2/NAD: {elements: {3035: {codes: [BY]}}}\n")
    two = GOOD + GOOD.replace("UNH+1+", "UNH+2+").replace("UNT+8+1'", "UNT+8+2'") \
        .replace("NAD+BY", "NAD+SU")
    path = tmp_path / "in.edi"
    path.write_text("UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+240101:1200+REF1'" + two
                    + "UNZ+2+REF1'", encoding="latin-1")
    [doc] = EdifactReader().read(Staged.file(path), route(tmp_path, guide, isolate_messages=True))
    assert doc.unit_refs == ("1",)
    [failed] = doc.failed
    assert failed.message.number == 2 and failed.issue.rule == "guide_code_list"


def test_editing_only_the_guide_changes_the_routes_mapping_version(tmp_path: Path) -> None:
    """Each file's history records the mapping version it was processed under: a guide
    edited alone must show up there, as an edited mapping does."""
    from tradelane.spec.loader import load_project

    project = ProjectDir(tmp_path / "project")
    shutil.copy(REPO / "tradelane.yaml", project.root / "tradelane.yaml")
    shutil.copy(REPO / "mappings" / "eancom_invoic.yaml", project.root / "mappings")
    copy_partners(project.root)
    shutil.copytree(REPO / "mappings" / "guides", project.root / "mappings" / "guides")
    before = load_project(project.root).routes["eancom_invoic"].version
    guide = project.root / "mappings" / "guides" / "eancom_invoic.yaml"
    guide.write_text(guide.read_text() + "\n# tightened after the partner's call\n")
    assert load_project(project.root).routes["eancom_invoic"].version != before
