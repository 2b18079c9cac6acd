"""APERAK (D96A) answers to application errors: the records of a message failed the route's
field rules (required, pattern, type ...), which a CONTRL cannot say.

One APERAK interchange per received interchange that has such messages, one APERAK message
per failing message (``format.ack.aperak``)::

    UNH+1+APERAK:D:96A:UN
    BGM+313+<reference>+27             message acknowledgement, not accepted
    DTM+137:<interchange date>:203
    RFF+ACW:<UNH 0062>  RFF+<ON|IV|AAK|DM>:<BGM 1004>      SG1: what it answers
    NAD+MS+<our id>  NAD+MR+<partner id>                   SG2: from and to
    ERC+<12|13>  FTX+AAO+++<field, segment, element, value, rule>   SG3: one per error
    UNT

ERC 9321 is 13 (missing) for a required field, 12 (invalid value) otherwise. The FTX names the
segment (its position from UNH = 1, and its tag) and the element:component the route's field
reads. As with CONTRL, the answer is dated with the interchange it answers and its reference
derives from it, so a retry writes the same bytes. D96A's code list 1001 predates 313, which
later directories (and partners' APERAK guides) use; tradelane writes 313.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelane.errors import ConfigError, RejectError
from tradelane.formats.edifact_envelope import Message, first, iter_messages
from tradelane.formats.edifact_paths import LINKS, SegmentPath, compile_path
from tradelane.formats.edifact_syntax import CHARSETS, Delimiters, SegmentStream
from tradelane.formats.edifact_text import render_segments
from tradelane.models import Issue
from tradelane.paths import safe_component
from tradelane.spec import EdifactFormat, RouteSpec
from tradelane.staging import Staged

__all__ = ["aperaks"]

#: Errors answered per message (D96A allows 999 ERC groups).
MAX_ERRORS = 999
#: RFF qualifier (1153) of the document number, by message type.
_DOCUMENT_QUALIFIER = {"ORDERS": "ON", "ORDRSP": "ON", "ORDCHG": "ON", "INVOIC": "IV",
                       "DESADV": "AAK", "RECADV": "AAK"}
_WHERE = re.compile(r"message (\d+), segment (\d+)")
_FTX_PART = 70  # 4440 is an..70, five of them


@dataclass
class _Error:
    issue: Issue
    segment: int | None  # of the record (file-wide), where the search for the field starts


@dataclass
class _Failing:
    errors: list[_Error] = field(default_factory=list)
    count: int = 0


def aperaks(staged: Staged, route: RouteSpec, *, error: RejectError | None = None,
            rejected: Sequence[object] = ()) -> list[tuple[str, bytes]]:
    """An APERAK per received interchange whose messages failed the route's field rules, as
    (name, bytes); none when no message did."""
    fmt = route.format
    assert isinstance(fmt, EdifactFormat)
    failing: dict[int, _Failing] = {}
    if error is not None and error.stage in ("validate", "transform"):
        for issue in error.issues:
            m = _WHERE.search(issue.location)
            if m is None or not issue.field:
                continue  # not about one message's data: the CONTRL answers it
            entry = failing.setdefault(int(m[1]), _Failing())
            entry.count += 1
            if len(entry.errors) < MAX_ERRORS:
                entry.errors.append(_Error(issue, int(m[2])))
    for msg in rejected:  # split out of a delivered file for failing records
        if getattr(msg, "error", None) is None and isinstance(getattr(msg, "number", None), int):
            failing.setdefault(msg.number, _Failing())  # type: ignore[attr-defined]
    if not failing:
        return []
    paths = _paths(route)
    answers: dict[tuple[str, str, str], _Interchange] = {}
    for msg in _messages(staged, fmt, set(failing)):
        ic = msg.interchange
        answer = answers.setdefault(ic.key, _Interchange(ic.elements, ic.key))
        answer.messages.append(_answer(msg, failing[msg.number], route, paths,
                                       len(answer.messages) + 1, ic.key))
    return [(answer.name, answer.render()) for answer in answers.values()]


def _paths(route: RouteSpec) -> dict[str, SegmentPath]:
    """Route field -> where it is read (fields without a segment path are left out)."""
    out = {}
    for name, spec in {**route.header, **route.fields}.items():
        source = getattr(spec, "source", None)
        if not isinstance(source, str) or source in LINKS:
            continue
        try:
            out[name] = compile_path(source)
        except ConfigError:
            continue
    return out


def _messages(staged: Staged, fmt: EdifactFormat, numbers: set[int]) -> Iterator[Message]:
    """The messages numbered ``numbers``, read again from the file (one at a time)."""
    try:
        stream = SegmentStream(staged, max_segment_bytes=fmt.max_segment_bytes,
                               encoding=fmt.encoding)
        for msg in iter_messages(stream, isolate=True):
            if msg.number in numbers:
                yield msg
            if msg.number >= max(numbers):
                return
    except RejectError:
        return  # answer the messages read before the damage


def _answer(msg: Message, failing: _Failing, route: RouteSpec, paths: dict[str, SegmentPath],
            number: int, key: tuple[str, str, str]) -> list[list[Any]]:
    segments = list(msg.segments())
    document = next((first(s[2]) for s in segments if s[0] == "BGM" and len(s) > 2), "")
    sender, recipient, ref = key
    own = _reference(f"APERAK{ref}{sender}{msg.reference}")
    body: list[list[Any]] = [["BGM", "313", own, "27"]]
    when = _interchange_time(msg)
    if when:
        body.append(["DTM", ["137", when, "203"]])
    body.append(["RFF", ["ACW", msg.reference]])
    if document:
        body.append(["RFF", [_DOCUMENT_QUALIFIER.get(msg.type, "DM"), document]])
    body += [["NAD", "MS", [recipient, "", "9"]], ["NAD", "MR", [sender, "", "9"]]]
    errors = failing.errors
    if not errors:
        body += [["ERC", "12"], _ftx(f"message {msg.reference} ({msg.type}): its records"
                                     " failed the receiver's checks and were not accepted")]
    for err in errors:
        body += [["ERC", "13" if err.issue.rule == "required" else "12"],
                 _ftx(_sentence(err, msg, segments, paths, set(route.header),
                                getattr(route.format, "records", None)))]
    if failing.count > len(errors):
        body.append(["ERC", "12"])
        body.append(_ftx(f"{failing.count - len(errors)} more errors in this message"))
    return [["UNH", str(number), ["APERAK", "D", "96A", "UN"]], *body,
            ["UNT", str(len(body) + 2), str(number)]]


def _sentence(err: _Error, msg: Message, segments: list[list[Any]],
              paths: dict[str, SegmentPath], header: set[str], records: str | None) -> str:
    """``segment 5 (QTY), element 1:2, field qty: 'abc' is not a number``; a missing one:
    ``no QTY[21] (element 1:2) in the LIN group at segment 4, field qty: ...``."""
    issue = err.issue
    path = paths.get(issue.field)
    if path is None:
        return f"field {issue.message}"
    lo, hi = 0, len(segments)
    if issue.field not in header and err.segment is not None and records:
        lo = max(0, err.segment - msg.first_segment)  # the record: its segment group
        hi = next((k for k in range(lo + 1, len(segments))
                   if segments[k][0] in (records, "UNS", "UNT")), len(segments))
    element = f"{path.element}" + (f":{path.component + 1}" if path.component is not None
                                   else "")
    at = next((k for k in range(lo, hi)
               if segments[k][0] == path.tag and path.matches(segments[k])), None)
    name = path.tag + (f"[{path.qualifier}]" if path.qualifier is not None else "")
    if at is not None:
        where = f"segment {at + 1} ({path.tag}), element {element}"
    elif lo > 0:
        where = f"no {name} (element {element}) in the {records} group at segment {lo + 1}"
    else:
        where = f"no {name} (element {element}) in the message"
    return " ".join(f"{where}, field {issue.message}".split())


def _ftx(text: str) -> list[Any]:
    """FTX+AAO with the text in up to five 4440 components of 70, cut between words."""
    parts: list[str] = []
    for word in text.split():
        while len(word) > _FTX_PART:
            parts.append(word[:_FTX_PART])
            word = word[_FTX_PART:]
        if parts and len(parts[-1]) + 1 + len(word) <= _FTX_PART:
            parts[-1] += " " + word
        else:
            parts.append(word)
    parts = parts[:5] or [""]
    return ["FTX", "AAO", "", "", parts if len(parts) > 1 else parts[0]]


def _interchange_time(msg: Message) -> str:
    """The received interchange's date and time as CCYYMMDDHHMM (DTM format 203)."""
    el = list(msg.interchange.elements) + [""] * 6
    s004 = el[4]
    date, time = ([*s004, "", ""][:2] if isinstance(s004, list) else (s004, ""))
    if not (date.isascii() and date.isdigit() and len(date) in (6, 8)):
        return ""
    if not (time.isascii() and time.isdigit() and len(time) == 4):
        time = "0000"
    return (date if len(date) == 8 else "20" + date) + time


def _reference(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:14]


@dataclass
class _Interchange:
    elements: tuple[Any, ...]
    key: tuple[str, str, str]
    messages: list[list[list[Any]]] = field(default_factory=list)

    @property
    def name(self) -> str:
        sender, _, ref = self.key
        return f"APERAK_{safe_component(sender)}_{safe_component(ref)}.edi"

    def render(self) -> bytes:
        el = list(self.elements) + [""] * 6
        ident = first(el[1])
        if not ident.startswith("UNO") or ident not in CHARSETS:
            ident = "UNOC"
        s004 = el[4] if isinstance(el[4], list) else [el[4], ""]
        sender, _, ref = self.key
        own = _reference(f"APERAK-interchange{ref}{sender}")
        segments = [["UNB", [ident, "3"], el[3], el[2], [str(s004[0])[-6:] or "000101",
                                                           str(s004[1]) or "0000"], own],
                    *[seg for message in self.messages for seg in message],
                    ["UNZ", str(len(self.messages)), own]]
        return render_segments(segments, Delimiters()).encode(CHARSETS[ident],
                                                              errors="replace")
