"""X12 HIPAA guides validated by pyx12 (``format.hipaa``): every finding placed in the file,
the 999 that carries them, the severities, and the transaction sets no guide covers.

The samples in tests/data/x12_hipaa were written for these tests: a good 837P (two sets,
005010X222A1) and copies whose second set is broken one way each, a good 835 (005010X221A1)
and one without its mandatory TRN.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.project import DATA, ProjectDir
from tradelane.errors import ConfigError
from tradelane.formats.edi_errors import ServiceElementError
from tradelane.formats.x12 import X12Reader
from tradelane.formats.x12_acks import build_x12_acks
from tradelane.formats.x12_hipaa import HipaaInvalid, check
from tradelane.models import Outcome
from tradelane.spec import RouteSpec, X12Format
from tradelane.staging import Staged

SAMPLES = DATA / "x12_hipaa"
GOOD_837 = SAMPLES / "837p_good.edi"
WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

ROUTE = """\
source: {folder: inbox/claims, pattern: "*.edi", min_age: 0s}
format:
  type: x12
  records: CLM
  hipaa: "%(hipaa)s"
  isolate_messages: %(isolate)s
  ack: {folder: outbox/acks}
fields:
  claim: {source: CLM.1, required: true}
  amount: {source: CLM.2, type: decimal}
  set: {source: _message}
target: {folder: outbox/claims, format: csv}
"""


def claims(project: ProjectDir, hipaa: str = "reject", isolate: bool = False) -> ProjectDir:
    return project.route("claims", ROUTE % {"hipaa": hipaa, "isolate": str(isolate).lower()})


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "claims", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "CLM", "hipaa": "reject", **fmt},
        "fields": {"claim": {"source": "CLM.1"}}})


def read(path: Path, **fmt: object) -> list:
    return list(X12Reader().read(Staged.file(path), route(**fmt)))


def rejected(path: Path, **fmt: object) -> HipaaInvalid:
    with pytest.raises(HipaaInvalid) as info:
        read(path, **fmt)
    return info.value


def segments(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


def nine(path: Path, error: object = None, rejected: list | None = None) -> list[str]:
    fmt = X12Format.model_validate({"type": "x12", "hipaa": "reject",
                                    "ack": {"folder": "acks", "type": "999"}})
    answers = dict(build_x12_acks(fmt, Staged.file(path), error=error,  # type: ignore[arg-type]
                                  rejected=rejected or [], now=WHEN))
    [text] = [t for name, t in answers.items() if name.startswith("999_")]
    return segments(text)


def body(answer: list[str]) -> list[str]:
    """The 999 from AK1 to AK9."""
    return answer[answer.index(next(s for s in answer if s.startswith("AK1"))):
                  answer.index(next(s for s in answer if s.startswith("AK9"))) + 1]


# -- what pyx12 finds, placed in the file --------------------------------------------------------

BROKEN = [
    # file, field, value, pyx12 code, words of pyx12's text, the segment's start in the file
    ("837p_missing_receiver.edi", "NM1", "", "3", 'Mandatory loop "Receiver Name" (1000B)'
     " missing", "HL*1**20*1"),
    ("837p_bad_gender_code.edi", "DMG03", "X", "7", "is not a valid code for Subscriber Gender"
     " Code", "DMG*D8*19430501*X"),
    ("837p_state_too_long.edi", "N402", "FLA", "5", 'len("FLA") = 3 > 2', "N4*MIAMI*FLA"),
    ("837p_bad_birth_date.edi", "DMG02", "19431301", "8", "contains an invalid date",
     "DMG*D8*19431301"),
    ("835_missing_trn.edi", "TRN", "", "3", 'Mandatory segment "Reassociation Trace Number"'
     " (TRN) missing", "DTM*405"),
]


@pytest.mark.parametrize(("name", "field", "value", "code", "words", "at"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_each_broken_sample_is_rejected_with_its_finding_placed(
        name: str, field: str, value: str, code: str, words: str, at: str) -> None:
    path = SAMPLES / name
    error = rejected(path)
    [issue] = error.issues
    data = path.read_bytes()
    assert error.byte_offset is not None and data[error.byte_offset:].startswith(at.encode())
    segment = data[:error.byte_offset].count(b"~") + 1
    assert error.segment_index == segment
    control = "112233" if name.startswith("835") else "0002"
    assert issue.location == (f"transaction set {name[:3]} {control}, segment {segment}"
                              f" (byte {error.byte_offset})")
    assert (issue.field, issue.value, issue.rule) == (field, value, "hipaa")
    assert words in issue.message
    assert f"code {code}," in issue.message  # pyx12's code, then the guide's loop
    assert "breaks HIPAA guide 005010X22" in str(error)


def test_a_bom_and_crlf_line_ends_keep_the_places_right() -> None:
    """pyx12 and tradelane's tokenizer count the same segments whatever follows a terminator;
    the BOM is skipped for pyx12, which wants the ISA first."""
    data = b"\xef\xbb\xbf" + (SAMPLES / "837p_state_too_long.edi").read_bytes().replace(
        b"~\n", b"~\r\n")
    error = HipaaInvalid(check(Staged(size=len(data), data=data)).sets.values())
    assert error.segment_index == 37
    assert data[error.byte_offset:].startswith(b"N4*MIAMI*FLA")  # type: ignore[misc]


def test_interchanges_with_delimiters_of_their_own_are_each_read_with_theirs() -> None:
    """pyx12 takes the delimiters of the first ISA it reads: each run of interchanges that
    declares others is given to it on its own, its segments still counted from the file's
    start."""
    second = ((SAMPLES / "837p_state_too_long.edi").read_text().replace("000000001", "000000002")
              .replace("*", "|").replace("~", "!").replace(":", ">"))
    data = (GOOD_837.read_text() + second).encode()
    report = check(Staged(size=len(data), data=data))
    assert not report.envelope
    [(where, found)] = report.sets.items()
    [finding] = found.findings
    assert (where, finding.segment, finding.field, finding.value) == (85, 93, "N402", "FLA")
    assert data[finding.byte:].startswith(b"N4|MIAMI|FLA")  # type: ignore[misc]


@pytest.mark.parametrize("name", ["837p_good.edi", "835_good.edi"])
def test_the_good_samples_pass_and_are_read(name: str) -> None:
    docs = read(SAMPLES / name, records=None)
    assert sum(d.records.num_rows for d in docs) == (2 if name.startswith("837") else 1)
    assert not any(d.notes for d in docs)


def test_a_file_broken_in_several_places_lists_every_finding() -> None:
    text = GOOD_837.read_text().replace("N4*MIAMI*FL*33111", "N4*MIAMI*FLA*33111").replace(
        "DMG*D8*19430501*M", "DMG*D8*19431301*X")
    report = check(Staged(size=len(text), data=text.encode()))
    found = [(f.segment, f.field, f.code) for s in report.sets.values() for f in s.findings]
    assert found == [(11, "N402", "5"), (18, "DMG02", "8"), (18, "DMG03", "7"),
                     (37, "N402", "5"), (44, "DMG02", "8"), (44, "DMG03", "7")]
    error = HipaaInvalid(report.sets.values())
    assert error.error_count == 6 and "(and 5 more)" in str(error)


# -- the 999 --------------------------------------------------------------------------------------


def test_the_999_of_a_good_837_accepts_both_sets() -> None:
    assert body(nine(GOOD_837)) == ["AK1*HC*1*005010X222A1", "AK2*837*0001*005010X222A1",
                                    "IK5*A", "AK2*837*0002*005010X222A1", "IK5*A",
                                    "AK9*A*2*2*2"]


def test_an_isolated_set_is_answered_with_ik3_ik4_and_the_other_accepted() -> None:
    path = SAMPLES / "837p_state_too_long.edi"
    docs = read(path, isolate_messages=True)
    failed = [f.message for d in docs for f in d.failed]
    assert [t.control for t in failed] == ["0002"]
    assert [r for d in docs for r in d.records["claim"].to_pylist()] == ["26463774"]
    assert body(nine(path, rejected=failed)) == [
        "AK1*HC*1*005010X222A1", "AK2*837*0001*005010X222A1", "IK5*A",
        "AK2*837*0002*005010X222A1", "IK3*N4*9**8", "IK4*2*156*5*FLA", "IK5*R*5",
        "AK9*P*2*2*1"]


def test_a_file_rejected_whole_answers_each_set_with_its_own_findings() -> None:
    path = SAMPLES / "837p_missing_receiver.edi"
    error = rejected(path)
    answer = nine(path, error=error)
    assert body(answer) == [
        "AK1*HC*1*005010X222A1", "AK2*837*0001*005010X222A1", "IK5*R",  # not taken
        "AK2*837*0002*005010X222A1", "IK3*NM1*5**3", "IK5*R*5", "AK9*R*2*2*0"]
    assert answer[-3] == f"SE*{len(body(answer)) + 2}*0001"
    assert nine(path, error=error) == answer  # the same numbers on a retry


def test_the_999_of_a_missing_segment_and_element_errors_matches_pyx12s_own() -> None:
    """pyx12's own 999 writer (x12n_document) on the same file gives these IK3/IK4/IK5; its
    envelope is left out: it dates its control numbers and draws GS06 at random."""
    text = GOOD_837.read_text()
    first = text[:text.index("ST*837*0002")]
    one = (first.replace("NM1*40*2*KEY INSURANCE COMPANY*****46*66783JJT~\n", "")
           .replace("N4*MIAMI*FL*33111", "N4*MIAMI*FLA*33111").replace("SE*26*0001", "SE*25*0001")
           + "GE*1*1~\nIEA*1*000000001~\n")
    staged = Staged(size=len(one), data=one.encode())
    error = HipaaInvalid(check(staged).sets.values())
    fmt = X12Format.model_validate({"type": "x12", "ack": {"folder": "a", "type": "999"}})
    [(_, answer)] = [a for a in build_x12_acks(fmt, staged, error=error, now=WHEN)
                     if a[0].startswith("999")]
    assert body(segments(answer))[2:-1] == ["IK3*NM1*5**3", "IK3*N4*8**8", "IK4*2*156*5*FLA",
                                            "IK5*R*5"]


# -- routes: severities, other transaction sets, check ------------------------------------------


def test_run_quarantines_a_broken_837_with_every_finding_in_the_reason(
        project: ProjectDir) -> None:
    claims(project).drop("claims", "batch.edi", (SAMPLES / "837p_bad_gender_code.edi")
                         .read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    [copy] = project.quarantined("claims")
    reason = json.loads(copy.with_name(copy.name + ".reason.json").read_text())
    assert reason["stage"] == "read" and reason["error_count"] == 1
    [error] = reason["errors"]
    assert error["field"] == "DMG03" and error["value"] == "X" and error["rule"] == "hipaa"
    assert error["location"].startswith("transaction set 837 0002, segment 44 (byte ")
    [ack] = (project.root / "outbox" / "acks").iterdir()
    assert "IK4*3*1068*7*X~" in ack.read_text()
    assert project.outputs("claims") == []


def test_isolation_delivers_the_good_set_and_splits_out_the_broken_one(
        project: ProjectDir) -> None:
    claims(project, isolate=True).drop("claims", "batch.edi",
                                       (SAMPLES / "837p_bad_birth_date.edi").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.split_out == 1
    [out] = project.outputs("claims")
    assert out.read_text().splitlines()[1:] == ['"26463774",100,"0001"']
    [copy] = project.quarantined("claims")
    reason = json.loads(copy.with_name(copy.name + ".reason.json").read_text())
    [error] = reason["errors"]
    assert error["location"].startswith("transaction set 837 0002, segment 44 (byte ")
    assert error["field"] == "DMG02" and "invalid date" in error["message"]
    assert b"ST*837*0002" in copy.read_bytes() and b"ST*837*0001" not in copy.read_bytes()


def test_warn_delivers_and_keeps_the_findings_in_the_history(project: ProjectDir) -> None:
    claims(project, hipaa="warn").drop("claims", "batch.edi",
                                       (SAMPLES / "837p_state_too_long.edi").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.records == 2
    with project.ledger() as ledger:
        details = " ".join(e.detail or "" for e in ledger.events(result.file_id))
    assert "HIPAA 005010X222A1: transaction set 837 0002, segment 37 (byte 1097): N402 'FLA'" \
        in details
    [ack] = (project.root / "outbox" / "acks").iterdir()  # accepted, the errors noted
    assert body(segments(ack.read_text())) == [
        "AK1*HC*1*005010X222A1", "AK2*837*0001*005010X222A1", "IK5*A",
        "AK2*837*0002*005010X222A1", "IK3*N4*9**8", "IK4*2*156*5*FLA", "IK5*E*5",
        "AK9*E*2*2*2"]


def test_off_does_not_look(project: ProjectDir) -> None:
    claims(project, hipaa="off").drop("claims", "batch.edi",
                                      (SAMPLES / "837p_state_too_long.edi").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.records == 2


def test_an_850_under_hipaa_is_delivered_with_a_note_that_no_definitions_exist(
        project: ProjectDir) -> None:
    po = (DATA / "x12" / "node-x12__850.edi").read_bytes()
    docs = list(X12Reader().read(Staged(size=len(po), data=po), route(records="PO1")))
    notes = [n for d in docs for n in d.notes]
    assert len(notes) == 1
    assert notes[0].startswith("HIPAA: the interchange's control version 00400 has no HIPAA")
    assert "no free definitions exist" in notes[0] and "ASC X12 holds the rights" in notes[0]
    text = GOOD_837.read_text().replace("GS*HC*SUBMITTER01*RECEIVER01*20261207*1200*1*X*"
                                        "005010X222A1", "GS*PO*SUBMITTER01*RECEIVER01*20261207*"
                                        "1200*1*X*005010")
    docs = list(X12Reader().read(Staged(size=len(text), data=text.encode()), route()))
    [note] = [n for d in docs for n in d.notes]
    assert note.startswith("HIPAA: functional group at segment 2 (GS01 PO, GS08 005010) is not"
                           " a HIPAA guide pyx12 has a map for: no free definitions exist")
    assert sum(d.records.num_rows for d in docs) == 2  # not failed for it


def test_check_refuses_hipaa_on_a_route_of_non_hipaa_sets(project: ProjectDir) -> None:
    project.route("orders", textwrap.dedent("""\
        source: {folder: inbox/orders}
        format: {type: x12, records: PO1, transactions: ["850"], hipaa: reject}
        fields: {sku: {source: PO1.7}}
        target: {folder: outbox/orders, format: csv}
        """))
    done = subprocess.run([sys.executable, "-m", "tradelane", "check", "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "hipaa: reject checks none of transactions 850" in said
    assert "ASC X12 holds the rights" in said
    with pytest.raises(ConfigError):
        project.load()


def test_the_corpus_835_breaks_its_envelope_before_any_guide() -> None:
    """badX12's error_validation.edi (MANIFEST: intentionally invalid; its test expects it
    invalid): GS01 HPO is no functional identifier, so no guide applies (a note says so)
    and tradelane's envelope checks reject it."""
    path = DATA / "x12" / "badx12__error_validation_835.edi"
    report = check(Staged.file(path))
    [note] = report.uncovered.values()
    assert note.startswith(
        "functional group at segment 2 (GS01 HPO, GS08 005010X221A1) is not a HIPAA guide")
    with pytest.raises(ServiceElementError) as info:
        read(path)
    assert str(info.value) == ("GS01 'HPO' is longer than 2 characters"
                               " (segment 2 (byte 106))")


# -- cost --------------------------------------------------------------------------------------


def test_pyx12_is_not_imported_at_start_up() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, tradelane.cli, tradelane.formats."
                           "x12, tradelane.spec; print('pyx12' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def _claims(sets: int) -> str:
    text = GOOD_837.read_text()
    head, rest = text[:text.index("ST*")], text[text.index("ST*"):text.index("GE*")]
    one = rest[:rest.index("ST*837*0002")]
    return (head + "".join(one.replace("0001", f"{n:04d}") for n in range(1, sets + 1))
            + f"GE*{sets}*1~\nIEA*1*000000001~\n")


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """pyx12 reads through an 8 KB buffer, a closed set's node is dropped and the pass that
    looks for ISAs reads 16 KB chunks: three times the claims take about the same memory (a
    few bytes per set: pyx12 keeps each ST02)."""
    check(Staged.file(GOOD_837))  # the maps, parsed once per process
    peaks = []
    for sets in (120, 360):
        path = tmp_path / f"{sets}.edi"
        path.write_text(_claims(sets))
        tracemalloc.start()
        try:
            report = check(Staged.file(path))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert report.total == 0
    assert peaks[1] < peaks[0] + 30_000, peaks  # 160 KB more of file: not held
    assert peaks[1] < 500_000, peaks
