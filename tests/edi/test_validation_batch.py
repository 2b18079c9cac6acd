"""Structure validation in batches (the route's way outside ``isolate_messages``): the batch
screen clears exactly the messages that ``check`` finds nothing wrong with, its pattern never
accepts a segment the element walk refuses, and a route still rejects at the first bad message
with the same error, warnings staying with the document of their message."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tradelane.edi.directory import load
from tradelane.edi.elements import SegmentChecker
from tradelane.edi.errors import StructureInvalid
from tradelane.edi.validation import StructureValidator
from tradelane.formats.edi_errors import SegmentCountMismatch
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import Block, Delimiters, SegmentStream
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

GOOD = ("UNH+{ref}+ORDERS:D:96A:UN'BGM+220+PO{ref}+9'DTM+137:20240101:102'"
        "NAD+BY+5412345000013::9'LIN+1++4000862141404:EN'QTY+21:5,5'UNS+S'UNT+8+{ref}'")

#: GOOD broken one way per rule (and two ways that are valid: a released '+' and '.' decimal)
VARIANTS = {
    "good": GOOD,
    "released": GOOD.replace("PO{ref}", "PO?+{ref}"),
    "point decimal": GOOD.replace("5,5", "5.5"),
    "bad code": GOOD.replace("BGM+220+", "BGM+999+"),
    "decimal mark": GOOD.replace("21:5,5", "21:5,"),
    "too long": GOOD.replace("21:5,5", "21:12345678901234567"),
    "letters in a number": GOOD.replace("21:5,5", "21:5A"),
    "too many elements": GOOD.replace("UNS+S'", "UNS+S+X'"),
    "mandatory element empty": GOOD.replace("DTM+137:20240101:102", "DTM+:20240101:102"),
    "segment missing": GOOD.replace("BGM+220+PO{ref}+9'", "").replace("UNT+8", "UNT+7"),
    "segment out of place": GOOD.replace("UNS+S'", "").replace(
        "UNH+{ref}+ORDERS:D:96A:UN'", "UNH+{ref}+ORDERS:D:96A:UN'UNS+S'"),
    "segment repeated": GOOD.replace("BGM+220+PO{ref}+9'", "BGM+220+PO{ref}+9'" * 2).replace(
        "UNT+8", "UNT+9"),
}


def interchange(*messages: str) -> str:
    return ("UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+240101:1200+REF1'"
            + "".join(m.format(ref=k) for k, m in enumerate(messages, start=1))
            + f"UNZ+{len(messages)}+REF1'")


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", "directory": "D96A", **fmt},
        "fields": {"gtin": {"source": "LIN.3.1"}}})


def read(tmp_path: Path, text: str, batch_segments: int = 100_000, **fmt: object) -> list:
    path = tmp_path / "in.edi"
    path.write_text(text, encoding="latin-1")
    reader = EdifactReader(batch_segments=batch_segments)
    return list(reader.read(Staged.file(path), route(**fmt)))


def test_the_batch_clears_exactly_the_messages_check_finds_nothing_wrong_with(
        tmp_path: Path) -> None:
    names = list(VARIANTS) * 3  # each shape several times: its texts checked as one batch
    path = tmp_path / "in.edi"
    path.write_text(interchange(*(VARIANTS[n] for n in names)), encoding="latin-1")
    msgs = list(iter_messages(SegmentStream(path)))
    doubtful = StructureValidator("D96A").unproven(msgs)
    wrong = [m for m in msgs if StructureValidator("D96A").check(m).violations]
    assert [names[m.number - 1] for m in doubtful] == [names[m.number - 1] for m in wrong]
    assert {names[m.number - 1] for m in wrong} == set(VARIANTS) - {
        "good", "released", "point decimal"}


def _value(rnd: random.Random, element: object) -> str:
    el = element
    n = rnd.randint(0, (el.max_length or 6) + 2)  # type: ignore[attr-defined]
    if el.codes and rnd.random() < 0.6:  # type: ignore[attr-defined]
        return rnd.choice(sorted(el.codes.frozen()))  # type: ignore[attr-defined]
    if el.representation == "n" and rnd.random() < 0.7:  # type: ignore[attr-defined]
        digits = "".join(rnd.choice("0123456789") for _ in range(max(n, 1)))
        if rnd.random() < 0.4:
            k = rnd.randint(0, len(digits))
            digits = digits[:k] + rnd.choice(".,") + digits[k:]
        return ("-" if rnd.random() < 0.1 else "") + digits
    return "".join(rnd.choice("AB12 x") for _ in range(n))


def _segment(rnd: random.Random, tag: str, positions: tuple, e: str, c: str) -> str:
    elements = []
    for pos in positions:
        parts = [pos.element] if pos.element else [p.element for p in pos.composite.components]
        elements.append(c.join(_value(rnd, el) for el in parts[:rnd.randint(0, len(parts))]))
    text = tag + "".join(e + v for v in elements[:rnd.randint(0, len(elements))])
    for _ in range(rnd.randint(0, 2)):  # and a slip or two
        k = rnd.randint(len(tag), len(text))
        text = text[:k] + rnd.choice([e, c, "1", "A", ".", ",", "-", ""]) + text[k + 1:]
    return text


@pytest.mark.parametrize(("directory", "message", "e", "c", "r"), [
    ("D96A", "ORDERS", "+", ":", None), ("D01B", "DESADV", "+", ":", "*"),
    ("EAN97", "INVOIC", "|", "^", None)])
def test_the_batch_pattern_never_accepts_what_the_element_walk_refuses(
        directory: str, message: str, e: str, c: str, r: str | None) -> None:
    rnd = random.Random(14)
    delims = Delimiters(c, e, ".", "?", r, "'")
    msg = load(directory, message)
    for tag in sorted(msg.tags()):
        [segment, *_] = msg.segments(tag)
        texts = [_segment(rnd, tag, segment.positions, e, c) for _ in range(150)]
        refused = set(SegmentChecker(segment, e, c, r).invalid(texts, set()))
        for text in set(texts) - refused:
            faults = list(SegmentChecker(segment, e, c, r).faults(
                Block(1, [text], [tag], delims).elements(0)))
            assert faults == [], (tag, text)
        assert refused, tag  # the slips do break some


def test_a_bad_message_is_the_error_even_when_the_envelope_breaks_later(
        tmp_path: Path) -> None:
    broken_trailer = GOOD.replace("UNT+8+", "UNT+9+")
    text = interchange(GOOD, VARIANTS["bad code"], GOOD, broken_trailer)
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, text, validate_structure={"default": "reject"})
    assert [(i.rule, i.field) for i in caught.value.issues] == [("code_list", "BGM.1.1")]
    assert caught.value.segment_index == 12  # message 2's BGM: UNA, UNB, 8 segments, UNH
    with pytest.raises(SegmentCountMismatch):  # the envelope's own error, when all is valid
        read(tmp_path, interchange(GOOD, broken_trailer),
             validate_structure={"default": "reject"})


def test_a_bad_message_in_a_later_batch_rejects_the_file(tmp_path: Path) -> None:
    text = interchange(*[GOOD] * 5, VARIANTS["too long"], GOOD)
    with pytest.raises(StructureInvalid) as caught:
        read(tmp_path, text, batch_segments=16, validate_structure={"default": "reject"})
    [issue] = caught.value.issues
    assert (issue.rule, issue.field) == ("too_long", "QTY.1.2")
    assert caught.value.segment_index == 2 + 5 * 8 + 6  # message 6's QTY


def test_warnings_stay_with_the_document_of_their_message(tmp_path: Path) -> None:
    text = interchange(GOOD, GOOD, VARIANTS["bad code"], GOOD)
    docs = read(tmp_path, text, batch_segments=8)  # one message per document
    assert [len(d.records) for d in docs] == [1, 1, 1, 1]
    assert [len(d.notes) for d in docs] == [0, 0, 1, 0]
    assert docs[2].notes[0].startswith("ORDERS D96A: message 3, segment 2 (BGM)")
