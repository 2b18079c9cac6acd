"""Reading EDI for acknowledgement tracking: the envelope of an interchange tradelane sent, and
the CONTRL, APERAK, 997 and 999 messages partners send back.

Both read the file segment by segment (``SegmentStream``) and keep only what the ledger
records, capped, so a large file costs bounded memory. A reply that cannot be read is not an
error here: the route's reader has already accepted the file, and an unreadable part is
simply not tracked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tradelane.errors import RejectError
from tradelane.formats.edifact_envelope import first
from tradelane.formats.edifact_syntax import Element, SegmentStream
from tradelane.staging import Staged

__all__ = ["ReceivedAck", "SentInterchange", "read_acks", "read_sent", "syntax_error_text"]

#: Documents kept per sent interchange (for matching APERAKs by document number).
MAX_DOCUMENTS = 1000
#: Error sentences kept per acknowledgement.
MAX_ERRORS = 20
ACK_MESSAGES = frozenset({"CONTRL", "APERAK"})
ACK_SETS = frozenset({"997", "999"})

#: Syntax error codes (0085) in words, for ops reading ``tradelane acks``.
SYNTAX_ERRORS = {
    "2": "syntax version or level not supported", "7": "recipient is not the actual recipient",
    "12": "invalid value", "13": "missing", "14": "value not supported in this position",
    "15": "not supported in this position", "16": "too many constituents",
    "17": "no agreement", "18": "unspecified error", "19": "invalid decimal notation",
    "20": "character invalid as service character", "21": "invalid character(s)",
    "22": "invalid service character(s)", "23": "unknown interchange sender",
    "24": "too old", "25": "test indicator not supported", "26": "duplicate detected",
    "28": "references do not match", "29": "control count does not match",
    "30": "groups and messages/packages mixed", "32": "lower level empty",
    "33": "invalid occurrence outside message, package or group", "35": "too many repetitions",
    "36": "too many segment group repetitions", "37": "invalid type of character(s)",
    "39": "data element too long", "40": "data element too short",
}
_VERDICTS = {"4": "rejected", "7": "accepted", "8": "received"}
#: X12 AK9/IK5 acknowledgement codes.
_X12_VERDICTS = {"A": "accepted", "E": "accepted", "P": "partly", "R": "rejected",
                 "M": "rejected", "W": "rejected", "X": "rejected"}


def syntax_error_text(code: str) -> str:
    return f"syntax error {code} ({SYNTAX_ERRORS[code]})" if code in SYNTAX_ERRORS else \
        f"syntax error {code}"


@dataclass
class SentInterchange:
    """An interchange as tradelane sent it: who to, its reference, its messages."""

    standard: str
    sender: str
    recipient: str
    control_ref: str
    messages: int = 0
    #: EDIFACT [UNH 0062, message type, BGM 1004]; X12 [ST02, ST01, document number, GS06]
    documents: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReceivedAck:
    """One acknowledgement a partner sent: what it answers and its verdict."""

    kind: str  # CONTRL | APERAK | 997 | 999
    sender: str  # who acknowledges
    recipient: str
    control_ref: str  # the interchange (CONTRL), group (997/999) or reference (APERAK) answered
    verdict: str = "received"  # accepted | rejected | partly | received
    errors: list[str] = field(default_factory=list)
    #: the original's sender and recipient as the acknowledgement names them (CONTRL UCI)
    original: tuple[str, str] | None = None
    #: other references that may name what it answers (APERAK RFF, DOC)
    references: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReceivedAck:
        data = dict(data)
        if data.get("original") is not None:
            data["original"] = tuple(data["original"])
        return cls(**data)

    def error(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("... (more errors not kept)")


def _stream(source: Staged | Path, encoding: str | None) -> SegmentStream:
    return SegmentStream(source, encoding=encoding)


def read_sent(source: Staged | Path, *, encoding: str | None = None,
              standard: str = "edifact") -> list[SentInterchange]:
    """The interchanges of an EDIFACT or X12 file tradelane wrote (an output of its own
    writer)."""
    if standard == "x12":
        return _x12_sent(source, encoding or "latin-1")
    out: list[SentInterchange] = []
    current: SentInterchange | None = None
    message: list[str] | None = None
    try:
        for block in _stream(source, encoding):
            for i, tag in enumerate(block.tags):
                if tag not in ("UNB", "UNH", "BGM"):
                    continue
                el = block.elements(i) + [""] * 6
                if tag == "UNB":
                    current = SentInterchange("edifact", _party(el[2]), _party(el[3]),
                                              first(el[5]))
                    out.append(current)
                elif tag == "UNH" and current is not None:
                    current.messages += 1
                    message = [first(el[1]), first(el[2]), ""]
                    if len(current.documents) < MAX_DOCUMENTS:
                        current.documents.append(message)
                elif tag == "BGM" and message is not None:
                    message[2] = _document_number(el)
    except (RejectError, OSError):
        pass  # tradelane wrote it: nothing to add beyond what was read
    return out


def _party(element: Element) -> str:
    """A UNB party as ``id:qualifier`` (routing address left out), the way routes write it."""
    if isinstance(element, list):
        return ":".join(c for c in element[:2] if c)
    return first(element)


def _document_number(el: list[Element]) -> str:
    """BGM 1004: element 2 in syntax 3 directories (C106 from D01B on, its first component)."""
    return first(el[2])


#: X12 segments carrying a transaction set's document number, and its element.
X12_DOCUMENT_NUMBERS = {"BIG": 2, "BEG": 3, "BSN": 2, "BAK": 3, "BCH": 3, "W05": 2}


def x12_party(qualifier: str, ident: str) -> str:
    """An ISA party as the ledger keeps it: ``id:qualifier`` (like an EDIFACT party), so that
    acknowledgements and partners match it by id."""
    return f"{ident.strip()}:{qualifier.strip()}"


def _x12_sent(source: Staged | Path, encoding: str) -> list[SentInterchange]:
    from tradelane.formats.x12_syntax import SegmentStream as X12Stream

    out: list[SentInterchange] = []
    current: SentInterchange | None = None
    gs06 = ""
    document: list[str] | None = None
    try:
        for block in X12Stream(source, encoding=encoding):
            for i, tag in enumerate(block.tags):
                el = [*block.elements(i), "", "", "", "", "", ""]
                if tag == "ISA":
                    current = SentInterchange("x12", x12_party(el[5], el[6]),
                                              x12_party(el[7], el[8]), el[13].strip())
                    out.append(current)
                elif tag == "GS":
                    gs06 = el[6]
                elif tag == "ST" and current is not None:
                    current.messages += 1
                    document = [el[2], el[1], "", gs06]
                    if len(current.documents) < MAX_DOCUMENTS:
                        current.documents.append(document)
                elif tag in X12_DOCUMENT_NUMBERS and document is not None and not document[2]:
                    document[2] = el[X12_DOCUMENT_NUMBERS[tag]]
    except (RejectError, OSError):
        pass
    return out


# -- replies -------------------------------------------------------------------------------


def read_acks(source: Staged | Path, *, standard: str, encoding: str | None = None
              ) -> list[ReceivedAck]:
    """Every acknowledgement in a received file (other messages are skipped)."""
    try:
        if standard == "x12":
            return _x12_acks(source, encoding or "latin-1")
        return _edifact_acks(source, encoding)
    except (RejectError, OSError):
        return []


def _edifact_acks(source: Staged | Path, encoding: str | None) -> list[ReceivedAck]:
    out: list[ReceivedAck] = []
    unb: list[Element] = []
    ack: ReceivedAck | None = None
    kind = ""
    where = ""  # the message a CONTRL's UCS/UCD are about
    for block in _stream(source, encoding):
        for i, tag in enumerate(block.tags):
            el = block.elements(i) + [""] * 8
            if tag == "UNB":
                unb = el
            elif tag == "UNH":
                kind = first(el[2])
                ack = None
                if kind in ACK_MESSAGES:
                    ack = ReceivedAck(kind, _party(unb[2]) if unb else "",
                                      _party(unb[3]) if unb else "", "")
                    out.append(ack)
            elif ack is None or tag == "UNT":
                continue
            elif kind == "CONTRL":
                where = _contrl_segment(ack, tag, el, where)
            else:
                _aperak_segment(ack, tag, el)
    for ack in out:
        if ack.kind == "APERAK" and not ack.control_ref and ack.references:
            ack.control_ref = ack.references[0]
    return out


def _contrl_segment(ack: ReceivedAck, tag: str, el: list[Element], where: str) -> str:
    if tag == "UCI":
        ack.control_ref = first(el[1])
        ack.original = (_party(el[2]), _party(el[3]))
        ack.verdict = _VERDICTS.get(first(el[4]), "received")
        if first(el[5]):
            ack.error(f"interchange: {_error(el[5], el[6], el[7])}")
    elif tag in ("UCM", "UCF"):
        # UCM+0062+S009+0083+0085+0013+S011; UCF+0048+S006+S007+0083+0085+0013+S011
        at = 3 if tag == "UCM" else 4
        where = (f"message {first(el[1])} ({first(el[2])})" if tag == "UCM"
                 else f"group {first(el[1])}")
        if first(el[at]) == "4":
            ack.error(f"{where} rejected" + (f": {_error(el[at + 1], el[at + 2], el[at + 3])}"
                                             if first(el[at + 1]) else ""))
            if ack.verdict == "accepted":
                ack.verdict = "partly"
    elif tag == "UCS":
        code = first(el[2])
        ack.error(f"{where}, segment {first(el[1])}"
                  + (f": {syntax_error_text(code)}" if code else ""))
    elif tag == "UCD":
        position = el[2] if isinstance(el[2], list) else [el[2]]
        ack.error(f"{where}, element {':'.join(position)}: {syntax_error_text(first(el[1]))}")
    elif tag == "FTX":
        text = _text(el[4])
        if text:
            ack.error(text)
    return where


def _error(code: Element, tag: Element, position: Element) -> str:
    text = syntax_error_text(first(code))
    if first(tag):
        text += f" in {first(tag)}"
        if first(position):
            parts = position if isinstance(position, list) else [position]
            text += f" element {':'.join(parts)}"
    return text


def _text(element: Element) -> str:
    parts = element if isinstance(element, list) else [element]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _aperak_segment(ack: ReceivedAck, tag: str, el: list[Element]) -> None:
    if tag == "BGM":
        # 1225 message function: 27 not accepted, 29 accepted without amendment
        function = first(el[3])
        ack.verdict = {"27": "rejected", "29": "accepted", "7": "rejected", "6": "accepted"
                       }.get(function, ack.verdict)
    elif tag == "RFF":
        value = el[1][1] if isinstance(el[1], list) and len(el[1]) > 1 else ""
        if value and value not in ack.references:
            ack.references.append(value)
    elif tag == "DOC":
        number = el[2] if not isinstance(el[2], list) else el[2][0]
        if number and number not in ack.references:
            ack.references.append(number)
    elif tag == "ERC":
        ack.error(f"application error {first(el[1])}")
        if ack.verdict == "received":
            ack.verdict = "rejected"
    elif tag == "FTX":
        text = _text(el[4])
        if text:
            if ack.errors and ack.errors[-1].startswith("application error ") \
                    and ":" not in ack.errors[-1]:
                ack.errors[-1] += f": {text}"
            else:
                ack.error(text)


def _x12_acks(source: Staged | Path, encoding: str) -> list[ReceivedAck]:
    from tradelane.formats.x12_syntax import SegmentStream as X12Stream

    out: list[ReceivedAck] = []
    isa: list[str] = []
    ack: ReceivedAck | None = None
    kind = ""
    for block in X12Stream(source, encoding=encoding):
        for i, tag in enumerate(block.tags):
            el = [*block.elements(i), "", "", "", "", "", ""]
            if tag == "ISA":
                isa = [e.strip() for e in el]
            elif tag == "ST":
                kind = el[1]
                ack = None
                if kind in ACK_SETS:
                    ack = ReceivedAck(kind, isa[6] if len(isa) > 6 else "",
                                      isa[8] if len(isa) > 8 else "", "")
                    out.append(ack)
            elif ack is None:
                continue
            elif tag == "AK1":
                ack.control_ref = el[2]
            elif tag in ("AK5", "IK5") and el[1] in ("R", "M", "W", "X"):
                ack.error(f"transaction set rejected ({tag}01 {el[1]}"
                          + (f", code {el[2]}" if el[2] else "") + ")")
            elif tag in ("AK3", "IK3"):
                ack.error(f"segment {el[1]} at position {el[2]}: error {el[4] or '?'}")
            elif tag in ("AK4", "IK4"):
                ack.error(f"element {el[1]}: error {el[3] or '?'}, value {el[4]!r}")
            elif tag == "AK9":
                ack.verdict = _X12_VERDICTS.get(el[1], "received")
    return out
