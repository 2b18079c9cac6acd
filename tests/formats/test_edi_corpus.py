"""Every EDIFACT and X12 file of the conformance corpus has an expected outcome.

Files outside copyleft/ are copied in tests/data (see tests/data/ATTRIBUTION.md); copyleft files
are read in place from ../shared/corpus/copyleft and skipped where that folder is absent.
Where MANIFEST.tsv names another project's test, we check its answers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydifact.parser import Parser
from pydifact.segmentcollection import Interchange

from tradelane.errors import EmptyFile
from tradelane.formats import edi_errors as E
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_service import EdifactServiceError
from tradelane.formats.edifact_syntax import (
    Delimiters,
    Repeated,
    SegmentStream,
    pydifact_elements,
    slow_elements,
)

DATA = Path(__file__).parents[1] / "data"
COPYLEFT = (Path(__file__).parents[2] / "../shared/corpus/copyleft").resolve()

# file -> (number of messages, None) when accepted, or (reject class, attributes to check).
# Issue 13 checks the service segments' own rules; where a file breaks one of them before the
# fault it used to be rejected for, it is now rejected there, in file order (the reason is in
# the comment; the later fault is still in the file, and still tested in test_edifact*.py).
V4_DATE = {"data_element": "0017", "code": "40", "segment_index": 2}  # v4 dates are CCYYMMDD
EDIFACT: dict[str, tuple] = {
    "edifact-rs__d96a_orders_malformed.edi": (E.NotAnInterchange,
                                              {"found": "BGM+E3+ORD-2001+9'UN"}),
    "medcom__CTL01_1_contrl.edi": (1, None),
    "portxchange__VIFTSAI0000001.txt": (E.MissingTrailer, {"trailer": "UNZ"}),
    "pydifact__aperak_rejected.edi": (E.SegmentCountMismatch,
                                      {"declared": "8", "actual": 7, "segment_index": 9}),
    "pydifact__invoice1.edi": (1, None),
    # was MissingTrailer UNZ (the file is also truncated): its UNB says syntax 4 but dates
    # 081012 as YYMMDD, while syntax 4's S004 0017 is n8 (CCYYMMDD)
    "pydifact__order.edi": (EdifactServiceError, V4_DATE),
    "pydifact__patient1.edi": (E.UnknownSyntaxIdentifier, {"identifier": "ANSI"}),
    "smooks__BAD_ORDERS_D.03B_Interchange.txt": (
        E.SegmentCountMismatch, {"declared": "22", "actual": 57, "segment_index": 58}),
    # was the UNT count (36 declared, 35 sent), later in the file: UNOC:4 with a 6-digit date
    "smooks__INVOIC_D.03B_Interchange_with_UNA.txt": (EdifactServiceError, V4_DATE),
    "smooks__ORDERS_D.03B_Interchange.txt": (1, None),
    # was the UNT count (16 declared, 17 sent): UNOA:4 with a 6-digit date, and no UNA
    "smooks__bad-paxlst.txt": (EdifactServiceError, {**V4_DATE, "segment_index": 1}),
    "smooks__recadv.txt": (E.CharsetViolation, {"charset": "UNOA", "segment_index": 11}),
    "smooks__unedifact-msg-02_with_ung.edi": (E.UnexpectedSegment,
                                              {"tag": "BBBB", "segment_index": 5}),
    "staedi__baplie-test.edi": (1, None),
    "staedi__invoic_d93a_una.edi": (E.CharsetViolation, {"charset": "UNOA", "byte": 0xC3}),
    "staedi__invoic_d97b_bad.edi": (1, None),  # bad values, valid envelope: validation's job
    "staedi__invoic_d97b_una.edi": (1, None),
    # was the UNT count (21 declared, 18 sent): before it, UNG S008 has a 4th component
    # (D:96A:EAN008A:IGNORED); S008 has three (0052, 0054, 0057): "too many constituents"
    "staedi__orders-with-group.edi": (EdifactServiceError,
                                      {"tag": "UNG", "code": "16", "position": 7,
                                       "component": 4, "segment_index": 2}),
    "staedi__pnrgov.edi": (1, None),
    "staedi__wrapped_invoic_d97b_una.edi": (1, None),
}
EDIFACT_COPYLEFT: dict[str, tuple] = {
    "bots__0T0000000004_multi_interchange.edi": (3, None),
    "bots__dutchic_desadv1.edi": (8, None),
    "bots__pricat_147.edi": (1, None),
    "edireader__ORDERS-D01B-UNOE.edi": (1, None),
    "en16931__EDIFACT_EXAMPLE1.TXT": (E.ControlReferenceMismatch,
                                      {"trailer": "UNZ", "trailer_ref": "12115118"}),
    "php-edifact__D96ADESADV.edi": (1, None),
    # was the UNT count (10 declared, 7 sent): its UNB time 999 is three digits, n4 wanted
    "php-edifact__example_multiline.edi": (EdifactServiceError,
                                           {"data_element": "0019", "code": "40",
                                            "segment_index": 1}),
    "php-edifact__example_order_error.edi": (1, None),  # data errors only
    "php-edifact__example_release_character.edi": (E.SegmentCountMismatch,
                                                   {"declared": "14", "actual": 23}),
}


def _corpus(table: dict[str, tuple], folder: Path) -> list:
    return [pytest.param(folder / name, *outcome, id=name) for name, outcome in table.items()]


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.parent} is absent (copyleft corpus is read in place only)")


@pytest.mark.parametrize(("path", "expected", "attrs"),
                         _corpus(EDIFACT, DATA / "edifact")
                         + _corpus(EDIFACT_COPYLEFT, COPYLEFT / "edifact"))
def test_edifact_corpus_outcome(path: Path, expected: object, attrs: dict | None) -> None:
    _need(path)
    if isinstance(expected, int):
        messages = list(iter_messages(SegmentStream(path)))
        assert len(messages) == expected
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as info:
        list(iter_messages(SegmentStream(path)))
    for key, value in (attrs or {}).items():
        assert getattr(info.value, key) == value, key
    assert info.value.location.startswith("segment ")


def test_corpus_table_covers_every_file() -> None:
    assert sorted(p.name for p in (DATA / "edifact").iterdir()) == sorted(EDIFACT)
    if (COPYLEFT / "edifact").exists():
        assert sorted(p.name for p in (COPYLEFT / "edifact").iterdir()) == sorted(EDIFACT_COPYLEFT)


# -- answers stated by other projects' tests --------------------------------------------------

def _engine(path: Path, encoding: str | None = None) -> list[list]:
    stream = SegmentStream(path, encoding=encoding)
    return [block.elements(i) for block in stream for i in range(len(block))]


def test_pydifact_invoice_file_values() -> None:
    """pydifact tests/test_input_output.py::test_invoice_file."""
    segs = _engine(DATA / "edifact/pydifact__invoice1.edi")
    first = {s[0]: s for s in reversed(segs)}
    assert first["UNB"] == ["UNB", ["UNOA", "1"], "01010000253001", "O0013000093SCHA-Z59",
                            ["991006", "1902"], "PAYO0012101221"]
    assert first["DTM"] == ["DTM", ["137", "199910060000", "102"]]
    assert first["NAD"] == ["NAD", "BT", ["VAUXHALL MOTORS LTD", "", "91"]]
    assert first["RFF"] == ["RFF", ["VA", "382324067"]]


def test_pydifact_order_file_values() -> None:
    """pydifact test_order_file: 16 segments after UNB, sender and recipient (file has no UNZ)."""
    segs = _engine(DATA / "edifact/pydifact__order.edi")
    assert len(segs) - 1 == 16
    assert segs[0][2] == ["12345678", "8"] and segs[0][3] == ["WBDZDD", "ZZ"]
    assert segs[1] == ["UNH", "1", ["ORDERS", "D", "96A", "UN", "EAN008"]]


def test_patient1_tokenizes_with_an_encoding_override() -> None:
    """pydifact test_patient1_file only asks that it parses. With the route's encoding set to
    latin-1 it tokenizes; its UNB splits date and time into two elements, which the UNB's own
    rules refuse: S004 has no time (0019 missing, code 13). (Before issue 13 the envelope only
    saw the consequence at the UNZ: the control reference one place late.)"""
    path = DATA / "edifact/pydifact__patient1.edi"
    segs = _engine(path, "latin-1")
    texts = [el[3] for el in segs if el[0] == "FTX" and len(el) > 3]
    assert "Dr. Max Musterarzt" in texts  # '?.' released, the line break before ' dropped
    with pytest.raises(EdifactServiceError) as info:
        list(iter_messages(SegmentStream(path, encoding="latin-1")))
    err = info.value
    assert (err.tag, err.data_element, err.code, err.position, err.component) == (
        "UNB", "0019", "13", 4, 2)


def test_staedi_delimiters_and_tag_sequence() -> None:
    """StAEDI testGetDelimitersEDIFACTA and the wrapped twin (issue 128) giving the same stream."""
    stream = SegmentStream(DATA / "edifact/staedi__invoic_d93a_una.edi")
    d = stream.syntax.delimiters
    assert (d.segment, d.element, d.component, d.release, d.decimal) == ("'", "+", ":", "?", ",")
    plain = _engine(DATA / "edifact/staedi__invoic_d97b_una.edi")
    wrapped = _engine(DATA / "edifact/staedi__wrapped_invoic_d97b_una.edi")
    assert plain == wrapped
    assert plain[0][3] == ["006415160", "1"]  # '?4' released a non-delimiter


def test_ung_group_and_separators_of_the_smooks_torture_file() -> None:
    stream = SegmentStream(DATA / "edifact/smooks__unedifact-msg-02_with_ung.edi")
    d = stream.syntax.delimiters
    assert (d.component, d.element, d.segment) == ("*", "@", "#")
    with pytest.raises(E.UnexpectedSegment, match="BBBB"):
        list(stream)


# -- differential: the fast tokenizer against pydifact's parser -------------------------------

DIFF_SKIP = {
    "edifact-rs__d96a_orders_malformed.edi": "no UNB: the engine refuses it before tokenizing",
    "smooks__unedifact-msg-02_with_ung.edi": "4-letter tag BBBB: pydifact raises ValueError,"
    " the engine rejects it as UnexpectedSegment (see the corpus outcome)",
}
# Files whose declared charset is wrong are compared after decoding with what they really use.
DIFF_ENCODING = {"pydifact__patient1.edi": "latin-1", "smooks__recadv.txt": "utf-8",
                 "staedi__invoic_d93a_una.edi": "utf-8"}
# The wrapped file is compared with pydifact's reading of its unwrapped twin: pydifact keeps
# line breaks inside data, which EDIFACT does not allow (StAEDI discards them too).
DIFF_TWIN = {"staedi__wrapped_invoic_d97b_una.edi": "staedi__invoic_d97b_una.edi"}


def _pydifact(path: Path, stream: SegmentStream, encoding: str) -> list[list]:
    text = path.read_bytes().decode(encoding)
    d = stream.syntax.delimiters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segs = pydifact_elements(text[text.index("UNB"):] if stream.syntax.una else text, d)
    return [_normalise(s) for s in segs]


def _no_breaks(value: object) -> object:
    """Drop line breaks from pydifact's values, then its own trailing-empty-component rule."""
    if isinstance(value, list):
        out = [_no_breaks(v) for v in value]
        return out
    return value.replace("\r", "").replace("\n", "") if isinstance(value, str) else value


def _normalise(segment: list) -> list:
    out: list = [segment[0]]
    for element in segment[1:]:
        element = _no_breaks(element)
        if isinstance(element, list):
            while len(element) > 1 and element[-1] == "":
                element.pop()
            element = element if len(element) > 1 else element[0]
        out.append(element)
    return out


def _unrepeated(segment: list, d: Delimiters) -> list:
    """Our segment as pydifact sees it: it knows no repetition separator, so it leaves the
    separator in the values (``s11:AA*s21:BB`` is three components to it)."""
    out: list = [segment[0]]
    for element in segment[1:]:
        if isinstance(element, Repeated):
            assert d.repetition
            text = d.repetition.join(":".join(r) if isinstance(r, list) else r
                                     for r in element)
            comps = text.split(":")
            element = comps if len(comps) > 1 else comps[0]
        out.append(element)
    return out


ALL_FILES = [p.values[0] for p in _corpus(EDIFACT, DATA / "edifact")
             + _corpus(EDIFACT_COPYLEFT, COPYLEFT / "edifact")]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_fast_tokenizer_matches_pydifact(path: Path) -> None:
    _need(path)
    if path.name in DIFF_SKIP:
        pytest.skip(DIFF_SKIP[path.name])
    encoding = DIFF_ENCODING.get(path.name)
    stream = SegmentStream(path, encoding=encoding)
    ours = [_unrepeated(b.elements(i), b.delims) for b in stream for i in range(len(b))]
    twin = path.with_name(DIFF_TWIN.get(path.name, path.name))
    theirs = _pydifact(twin, SegmentStream(twin, encoding=encoding), encoding or
                       stream.syntax.codec)
    assert ours == theirs


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_slow_tokenizer_matches_the_fast_one(path: Path) -> None:
    """The fallback (data holding a placeholder) reads every corpus file as the fast path
    does, repetitions included."""
    _need(path)
    if path.name in DIFF_SKIP:
        pytest.skip(DIFF_SKIP[path.name])
    stream = SegmentStream(path, encoding=DIFF_ENCODING.get(path.name))
    d = stream.syntax.delimiters
    fast = [b.elements(i) for b in stream for i in range(len(b))]
    text = path.read_bytes().decode(stream.syntax.codec)
    if not any(c in d.service() for c in "\r\n"):
        text = text.replace("\r", "").replace("\n", "")
    body = text[text.index("UNB"):]
    assert slow_elements(body, d) == fast


def test_the_slow_fallback_is_used_when_data_holds_a_placeholder(tmp_path: Path) -> None:
    text = "UNB+UNOW:3+S+R+240101:1200+1'UNH+1+X:D:96A:UN'FTX+AAI+++a?+\ufdd0b'UNT+3+1'UNZ+1+1'"
    path = tmp_path / "pua.edi"
    path.write_text(text, encoding="utf-8")
    blocks = list(SegmentStream(path))
    assert blocks[0].parsed
    assert blocks[0].elements(2) == ["FTX", "AAI", "", "", "a+\ufdd0b"]


# -- pydifact's own traps, which the engine catches itself -----------------------------------

TRAPS = {
    # pydifact accepts wrong UNT/UNZ counts silently
    "wrong counts": ("UNB+UNOA:3+A+B+200101:1200+1'UNH+1+ORDERS:D:96A:UN'UNT+9+1'UNZ+5+1'",
                     E.SegmentCountMismatch),
    # an unreleased '?' before the terminator merges two segments; only the count shows it
    "?' merges segments": ("UNB+UNOA:3+A+B+200101:1200+1'UNH+1+ORDERS:D:96A:UN'"
                           "FTX+AAI+++Really?'RFF+ON:1'UNT+4+1'UNZ+1+1'", E.SegmentCountMismatch),
    # pydifact raises a bare StopIteration on an empty file
    "empty file": ("", EmptyFile),
    # pydifact raises ValueError (bad tag) on a short UNA
    "short UNA": ("UNA:+.'UNB+UNOA:3+A+B+200101:1200+1'UNZ+0+1'", E.BadServiceStringAdvice),
}


@pytest.mark.parametrize(("text", "ours"), TRAPS.values(), ids=TRAPS.keys())
def test_engine_catches_what_pydifact_lets_through(tmp_path: Path, text: str,
                                                   ours: type[Exception]) -> None:
    path = tmp_path / "trap.edi"
    path.write_text(text, encoding="ascii")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Interchange.from_str(text)
            pydifact_outcome = "accepted"
        except (StopIteration, ValueError) as exc:
            pydifact_outcome = type(exc).__name__
    assert pydifact_outcome in {"accepted", "StopIteration", "ValueError"}
    with pytest.raises(ours):
        list(iter_messages(SegmentStream(path)))


def test_default_delimiters() -> None:
    assert Delimiters().una() == "UNA:+.? '"
    assert Parser  # pydifact's parser is the reference above
