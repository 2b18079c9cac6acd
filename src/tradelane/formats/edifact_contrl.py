"""CONTRL acknowledgements (D:3:UN): one per interchange of a file, accepted or rejected.

The answer names the interchange exactly as it was received: UCI carries its sender and
recipient composites whole (``4012345000009:14``, routing addresses included), and the
CONTRL's own UNB swaps them. Each error is reported at its level, with its syntax error code
(0085): the interchange (UCI, for UNB/UNZ and what lies outside any group or message), the
group (UCF, UNG/UNE), the message (UCM, UNH/UNT), and within a message the segment (UCS, its
position counted from UNH = 1) and the element (UCD, element:component).

An interchange that repeats an earlier one of the same file is answered on its own (its name
ends ``_2``, ``_3`` ...) and refused as a duplicate (26). The CONTRL is dated with the
interchange it answers and its reference derives from it: a retry writes the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelane.errors import RejectError
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    CharsetViolation,
    ControlReferenceMismatch,
    CountMismatch,
    DanglingRelease,
    DuplicateControlReference,
    EdiSyntaxError,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.formats.edifact_envelope import first
from tradelane.formats.edifact_service import EdifactServiceError
from tradelane.formats.edifact_syntax import (
    CHARSETS,
    Delimiters,
    Element,
    Repeated,
    SegmentStream,
)
from tradelane.formats.edifact_text import render_segments
from tradelane.paths import safe_component
from tradelane.spec import EdifactFormat
from tradelane.staging import Staged

__all__ = ["build_contrl", "contrls", "error_code"]

ACCEPTED, REJECTED = "7", "4"  # action codes (0083)
SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})
# Syntax error codes (data element 0085) of the readers' rejects.
_ERROR_CODES: list[tuple[type[EdiSyntaxError], str]] = [
    (DuplicateControlReference, "26"), (CountMismatch, "29"),
    (ControlReferenceMismatch, "28"), (UnknownSyntaxIdentifier, "2"), (CharsetViolation, "21"),
    (NulByte, "21"), (DanglingRelease, "22"), (BadServiceStringAdvice, "22"),
    (MissingTrailer, "13"), (NotAnInterchange, "14"), (UnexpectedSegment, "33"),
]
#: Where a reference sits in its segment (element position), for S011.
_REFERENCE_AT = {"UNB 0020": 5, "UNG 0048": 5, "UNH 0062": 1}


def error_code(error: BaseException | None) -> str:
    """Syntax error code (0085) of a reject; 26 for a duplicate, 18 (unspecified) otherwise,
    e.g. for data that failed the route's rules."""
    from tradelane.errors import DuplicateFile

    if isinstance(error, EdifactServiceError):
        return error.code
    if isinstance(error, DuplicateFile):
        return "26"
    for kind, code in _ERROR_CODES:
        if isinstance(error, kind):
            return code
    return "18"  # unspecified error


def _tag(error: BaseException | None) -> str | None:
    """The service segment (0013) an error is about, if it is one."""
    for name in ("tag", "trailer", "element"):
        value = getattr(error, name, None)
        if isinstance(value, str) and value[:3] in SERVICE_TAGS:
            return value[:3]
    return None


def _position(error: BaseException | None) -> list[str] | None:
    """S011: the element (and component) at fault, 1-based, when the error knows it."""
    if isinstance(error, EdifactServiceError):
        return [str(error.position)] + ([str(error.component)] if error.component else [])
    if isinstance(error, DuplicateControlReference) and error.element in _REFERENCE_AT:
        return [str(_REFERENCE_AT[error.element])]
    if isinstance(error, CountMismatch):
        return ["1"]
    if isinstance(error, ControlReferenceMismatch):
        return ["2"]
    return None


# -- what the file holds ----------------------------------------------------------------------


@dataclass
class _Message:
    reference: str
    s009: Element
    start: int  # segment of its UNH


@dataclass
class _Group:
    elements: list[Element]
    start: int

    @property
    def reference(self) -> str:
        return first(self.elements[5]) if len(self.elements) > 5 else ""


@dataclass
class _Interchange:
    number: int  # 1-based in the file, as the reader counts them
    elements: list[Element]  # the UNB as received
    start: int
    occurrence: int = 1  # the k-th interchange of the file with this key
    version: str = "3"
    #: where the error of a rejected file lies, when it lies in this interchange
    place: tuple[_Group | None, _Message | None] | None = None
    groups: dict[str, _Group] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        el = self.elements + [""] * 6
        return (first(el[2]), first(el[3]), first(el[5]))


def _scan(staged: Staged, fmt: EdifactFormat, at: int | None,
          encoding: str | None = None) -> list[_Interchange]:
    """The interchanges of the file (as far as it can be read), each with its groups, and
    the group and message around segment ``at``. Bytes outside the declared character set
    do not stop it: the file is then read as latin-1, so that its sender hears of them."""
    out: list[_Interchange] = []
    seen: dict[tuple[str, str, str], int] = {}
    group: _Group | None = None
    message: _Message | None = None
    try:
        stream = SegmentStream(staged, max_segment_bytes=fmt.max_segment_bytes,
                               encoding=encoding or fmt.encoding)
        for block in stream:
            for i, tag in enumerate(block.tags):
                if tag not in SERVICE_TAGS:
                    continue
                index = block.start + i
                if at is not None and out and out[-1].place is None and index > at \
                        and out[-1].start <= at:
                    out[-1].place = (group, message)  # the error lies before this segment
                el = block.elements(i)
                if tag == "UNB":
                    ic = _Interchange(len(out) + 1, el, index)
                    s001 = el[1] if len(el) > 1 else ""
                    ic.version = s001[1] if isinstance(s001, list) and len(s001) > 1 else "3"
                    seen[ic.key] = ic.occurrence = seen.get(ic.key, 0) + 1
                    out.append(ic)
                    group = message = None
                elif tag == "UNG" and out:
                    group = _Group(el, index)
                    out[-1].groups.setdefault(group.reference, group)
                elif tag == "UNE":
                    if at == index and out and out[-1].place is None:
                        out[-1].place = (group, None)
                    group = None
                elif tag == "UNH":
                    message = _Message(first(el[1]) if len(el) > 1 else "",
                                       el[2] if len(el) > 2 else "", index)
                elif tag == "UNT":
                    if at is not None and message is not None and message.start <= at <= index \
                            and out and out[-1].place is None:
                        out[-1].place = (group, message)
                    message = None
    except CharsetViolation:
        if encoding is None:
            return _scan(staged, fmt, at, "latin-1")
    except RejectError:
        pass  # acknowledge the interchanges found before the damage
    if at is not None and out and out[-1].place is None and out[-1].start <= at:
        out[-1].place = (group, message)
    return out


# -- the answers ------------------------------------------------------------------------------


def contrls(staged: Staged, fmt: EdifactFormat, *, error: RejectError | None = None,
            rejected: Sequence[object] = ()) -> list[tuple[str, bytes]]:
    """A CONTRL for every interchange of the file, as (name, bytes).

    ``error`` rejected the whole file: the interchange it lies in carries it, the others are
    refused without an error of their own. ``rejected`` are the messages split out of a
    delivered file (``Message`` objects, with the ``error`` that isolated them or None when
    their records failed the route's rules).
    """
    at = error.segment_index if error is not None else None
    interchanges = _scan(staged, fmt, at)
    culprit = None
    if at is not None:
        before = [ic for ic in interchanges if ic.start <= at]
        culprit = before[-1] if before else None
    out = []
    for ic in interchanges:
        answer = _Answer(ic)
        if error is not None:
            if culprit is None or culprit is ic:
                answer.reject(error, *(ic.place or (None, None)))
            else:
                answer.uci.action = REJECTED
        else:
            for msg in rejected:
                if msg.interchange.number == ic.number:  # type: ignore[attr-defined]
                    answer.reject_message(msg)
        sender, _, ref = ic.key
        suffix = f"_{ic.occurrence}" if ic.occurrence > 1 else ""
        name = f"CONTRL_{safe_component(sender)}_{safe_component(ref)}{suffix}.edi"
        out.append((name, answer.render()))
    return out


@dataclass
class _Level:
    """The answer for one level: action, error code, segment tag, S011; and within a
    message, the segment (UCS) and its element (UCD)."""

    action: str = ACCEPTED
    code: str | None = None
    tag: str | None = None
    position: list[str] | None = None
    segment: int | None = None  # UCS position, within the message

    def elements(self) -> list[Any]:
        out: list[Any] = [self.action]
        if self.code and self.segment is None:
            out += [self.code, self.tag or "", self.position or ""]
        while out and out[-1] in ("", None):
            out.pop()
        return out

    def body(self) -> list[list[Any]]:
        """UCS and UCD under a UCM, for an error inside the message."""
        if self.segment is None:
            return []
        out: list[list[Any]] = [["UCS", str(self.segment), self.code or "18"]]
        if self.position:
            out.append(["UCD", self.code or "18", self.position])
        return out


class _Answer:
    def __init__(self, ic: _Interchange):
        self.ic = ic
        self.uci = _Level()
        self.groups: dict[str, tuple[_Group, _Level]] = {}
        self.messages: dict[tuple[str | None, str, int], tuple[Element, _Level]] = {}

    def reject(self, error: BaseException, group: _Group | None,
               message: _Message | None) -> None:
        """The file was refused for ``error``, which lies in this interchange."""
        self.uci.action = REJECTED
        where = getattr(error, "segment_index", None)
        level = _level_of(error, where, message)
        if message is not None and not _about_interchange(error):
            self._message(group, message.reference, message.s009, message.start, level)
        elif group is not None and _tag(error) in ("UNG", "UNE"):
            self.groups[group.reference] = (group, level)
        else:
            self.uci = level

    def reject_message(self, msg: Any) -> None:
        """A message split out of a delivered file."""
        error = msg.error
        if _about_interchange(error):  # the whole interchange repeats an earlier one
            self.uci = _level_of(error, None, None)
            return
        level = _level_of(error, getattr(error, "segment_index", None),
                          _Message(msg.reference, "", msg.first_segment))
        group = self.ic.groups.get(msg.group) if msg.group is not None else None
        s009: Element = list(msg.version) if len(msg.version) > 1 else msg.type
        self._message(group, msg.reference, s009, msg.first_segment, level)

    def _message(self, group: _Group | None, reference: str, s009: Element, start: int,
                 level: _Level) -> None:
        if group is not None and group.reference not in self.groups:
            self.groups[group.reference] = (group, _Level(ACCEPTED))
        key = (group.reference if group else None, reference, start)
        self.messages[key] = (s009, level)

    def render(self) -> bytes:
        ic = self.ic
        el = [_plain(e) for e in ic.elements] + [""] * 6
        sender, recipient, ref = el[2], el[3], first(el[5])
        body: list[list[Any]] = [["UCI", ref, sender, recipient, *self.uci.elements()]]
        for (group_ref, reference, _), (s009, level) in self.messages.items():
            if group_ref is None:
                body += [["UCM", reference, s009, *level.elements()], *level.body()]
        for group, level in self.groups.values():
            g = group.elements + [""] * 4
            body.append(["UCF", group.reference, g[2], g[3], *level.elements()])
            for (group_ref, reference, _), (s009, mlevel) in self.messages.items():
                if group_ref == group.reference:
                    body += [["UCM", reference, s009, *mlevel.elements()], *mlevel.body()]
        return _interchange(ic, body)


def _about_interchange(error: BaseException | None) -> bool:
    return isinstance(error, DuplicateControlReference) and error.element == "UNB 0020"


def _level_of(error: BaseException | None, where: int | None,
              message: _Message | None) -> _Level:
    level = _Level(REJECTED, error_code(error), _tag(error), _position(error))
    tag = _tag(error)
    if message is not None and where is not None and tag not in ("UNH", "UNT") \
            and where >= message.start:
        level.segment = where - message.start + 1  # inside the message: UCS (and UCD)
    return level


def _interchange(ic: _Interchange, body: list[list[Any]]) -> bytes:
    """The CONTRL interchange answering ``ic``: sender and recipient swapped, in its own
    character set, dated with it."""
    el = [_plain(e) for e in ic.elements] + [""] * 6
    ident = first(el[1])
    if not ident.startswith("UNO") or ident not in CHARSETS:
        ident = "UNOC"
    version = "4" if ic.version == "4" else "3"
    date, time = _when(el[4], version)
    sender, _, ref = ic.key
    suffix = f"#{ic.occurrence}" if ic.occurrence > 1 else ""
    own = hashlib.sha256(f"CONTRL{ref}{sender}{suffix}".encode()).hexdigest()[:14]
    message = [["UNH", "1", ["CONTRL", "D", "3", "UN"]], *body]
    message.append(["UNT", str(len(message) + 1), "1"])
    segments = [["UNB", [ident, version], el[3], el[2], [date, time], own], *message,
                ["UNZ", "1", own]]
    text = render_segments(segments, Delimiters())
    return text.encode(CHARSETS[ident], errors="replace")


def _plain(element: Element) -> Element:
    """An element as it can be echoed: a repeated one (never valid in a UNB) by its first."""
    return element[0] if isinstance(element, Repeated) else element


def _when(s004: Element, version: str) -> tuple[str, str]:
    """The received interchange's date and time, in the form ``version`` wants."""
    date, time = [*s004, "", ""][:2] if isinstance(s004, list) else (s004, "")
    if not (date.isascii() and date.isdigit() and len(date) in (6, 8)):
        date = "000101"
    if not (time.isascii() and time.isdigit() and len(time) == 4):
        time = "0000"
    if version == "4":
        return (date if len(date) == 8 else "20" + date), time
    return date[-6:], time


# -- the building block, also for callers with only a key -------------------------------------


def build_contrl(interchange: tuple[str, str, str], *, errors: Sequence[BaseException] = (),
                 rejected_messages: Mapping[str, tuple[str, BaseException | None]] | None
                 = None, rejected: bool = False, prepared: Any = None) -> str:
    """A CONTRL answering the interchange ``(sender, recipient, control_ref)``, for callers
    that do not have the file: an accepted one (7), one rejected for ``errors[0]`` (4 with its
    code and segment), or messages (reference -> (type, error)) rejected in it."""
    sender, recipient, ref = interchange
    ic = _Interchange(1, ["UNB", ["UNOC", "3"], sender, recipient,
                          [prepared.strftime("%y%m%d"), prepared.strftime("%H%M")]
                          if prepared is not None else ["000101", "0000"], ref], 1)
    answer = _Answer(ic)
    if errors:
        answer.reject(errors[0], None, None)
    elif rejected:
        answer.uci.action = REJECTED
    for msg_ref, (kind, err) in (rejected_messages or {}).items():
        answer._message(None, msg_ref, kind, 0, _level_of(err, None, None))
    return answer.render().decode("latin-1")
