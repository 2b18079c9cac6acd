"""Every EDIFACT file of the conformance corpus (../shared/corpus/edifact) validated against
the directory its UNH names, with the verdict expected for each: valid, or the rules it breaks
(with where the first break is).

Files whose envelope the reader refuses (issue 13's rules: tests/formats/test_edi_corpus.py)
are split into messages by pydifact instead, so that their messages are validated all the
same. Directories tradelane does not ship (PNRGOV's IATA release, CONTRL's syntax directory)
are named as not validated.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydifact.parser import Parser

from tradelane.edi.validation import StructureValidator
from tradelane.errors import RejectError
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import Block, Delimiters, SegmentStream

CORPUS = (Path(__file__).resolve().parents[2] / "../shared/corpus/edifact").resolve()

#: file -> (directory, {rule: count}, first violation's place) per message; or a reason
#: the file is not validated. An empty rule set is a valid message.
EXPECTED: dict[str, list[tuple[str, dict[str, int], str]] | str] = {
    # no BGM after UNH (and no UNS before UNT): both mandatory in ORDERS
    "edifact-rs__d96a_orders_malformed.edi": [
        ("D96A", {"segment_missing": 2}, "message 1, segment 2 (DTM)")],
    # CONTRL is a service message of the syntax (D:3), not of directory D93A
    "medcom__CTL01_1_contrl.edi": "unknown EDIFACT message type in D93A 'CONTRL'",
    # BGM 1001 'TS2' and RFF 1153 'SSX' are not in D99B's code lists
    "portxchange__VIFTSAI0000001.txt": [
        ("D99B", {"code_list": 2}, "message 1, segment 2 (BGM), element 1, component 1")],
    "pydifact__aperak_rejected.edi": [("D96A", {}, "")],
    "pydifact__invoice1.edi": [("D97A", {}, "")],
    # UNH 0057 EAN008 selects EAN97, whose schema lists only '1' for QTY 6063 (the source's
    # EANCOM code lists are narrower than the EANCOM manuals in places): QTY+21 breaks it
    "pydifact__order.edi": [
        ("EAN97", {"code_list": 2}, "message 1, segment 10 (QTY), element 1, component 1")],
    # MEDRPT:1:901 names no UN directory
    "pydifact__patient1.edi": "unknown EDIFACT directory '1901'",
    # 36 DTM at message level, where D03B ORDERS allows 35
    "smooks__BAD_ORDERS_D.03B_Interchange.txt": [
        ("D03B", {"segment_repeats": 1}, "message 1, segment 38 (DTM)")],
    "smooks__INVOIC_D.03B_Interchange_with_UNA.txt": [("D03B", {}, "")],
    "smooks__ORDERS_D.03B_Interchange.txt": [("D03B", {}, "")],
    # two RFF at message level, where PAXLST allows one
    "smooks__bad-paxlst.txt": [("D03B", {"segment_repeats": 1}, "message 1, segment 4 (RFF)")],
    # EAN007 on D01B selects EAN02: DTM, RFF qualifiers outside its code lists, one value long
    "smooks__recadv.txt": [
        ("EAN02", {"code_list": 11, "too_long": 1},
         "message 1, segment 6 (DTM), element 1, component 1")],
    "smooks__unedifact-msg-02_with_ung.edi": "not split into messages: Segment tag must be an"
    " uppercase 3-letter string, not 'BBBB'.",
    "staedi__baplie-test.edi": [("D95B", {}, "")],
    "staedi__invoic_d93a_una.edi": [("D93A", {}, "")],
    # the file StAEDI breaks on purpose: NAD 'BYZZ', letters in QTY and PRI, UNS twice
    "staedi__invoic_d97b_bad.edi": [
        ("D97B", {"code_list": 1, "representation": 2, "segment_repeats": 1},
         "message 1, segment 5 (NAD), element 1")],
    "staedi__invoic_d97b_una.edi": [("D97B", {}, "")],
    # MEA 6313 'LAY' and 'ULY', SCC 4017 '7': codes D96B does not define
    "staedi__orders-with-group.edi": [
        ("D96B", {"code_list": 3}, "message 1, segment 11 (MEA), element 2, component 1")],
    # PNRGOV:11:1:IA is an IATA message, not a UN directory
    "staedi__pnrgov.edi": "unknown EDIFACT directory '111'",
    "staedi__wrapped_invoic_d97b_una.edi": [("D97B", {}, "")],
}


def pydifact_messages(text: str) -> list[Any]:
    """UNH..UNT runs as the validator's messages, for a file our reader refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segments = list(Parser().parse(text))
    out: list[Any] = []
    current: list[list[Any]] = []
    start = 0
    for k, seg in enumerate(segments, start=1):
        shape = [seg.tag, *seg.elements]
        if seg.tag == "UNH":
            current, start = [shape], k
        elif current:
            current.append(shape)
            if seg.tag == "UNT":
                s009 = shape_of(current[0][2])
                block = Block(start, current, [s[0] for s in current], Delimiters(), True)
                out.append(SimpleNamespace(number=len(out) + 1, type=s009[0],
                                           version=tuple(s009),
                                           interchange=SimpleNamespace(version=""),
                                           block=block, error=None))
                current = []
    return out


def shape_of(element: Any) -> list[str]:
    return element if isinstance(element, list) else [element]


def verdicts(path: Path) -> list[tuple[str, dict[str, int], str]] | str:
    try:
        stream = SegmentStream(path)
        messages = list(iter_messages(stream, isolate=True))
    except RejectError:
        try:
            messages = pydifact_messages(path.read_text(encoding="latin-1"))
        except ValueError as exc:  # pydifact cannot split it either
            return f"not split into messages: {exc}"
    validator = StructureValidator()
    out: list[tuple[str, dict[str, int], str]] = []
    for msg in messages:
        result = validator.check(msg)
        if result.skipped:
            return result.skipped.split(";")[0]
        rules = dict(Counter(v.rule for v in result.violations))
        first = result.violations[0].place if result.violations else ""
        out.append((result.directory, rules, first))
    return out


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the corpus is not at {CORPUS}")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_has_its_expected_verdict(name: str) -> None:
    assert verdicts(CORPUS / name) == EXPECTED[name]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the corpus is not at {CORPUS}")
def test_every_corpus_file_has_a_verdict() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)
