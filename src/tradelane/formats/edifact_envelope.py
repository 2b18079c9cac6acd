"""EDIFACT envelopes: UNB/UNZ interchanges, UNG/UNE groups, UNH/UNT messages, checked as we go.

``iter_messages`` streams one ``Message`` at a time. Counts and control references of every
trailer are compared with what was actually received; a missing trailer (a truncated file) is
a reject. Every service segment is checked against the rules of its syntax version
(``edifact_service``), and a group or message reference repeated within its interchange is
refused (``DuplicateControlReference``). Only the service segments are split into elements:
counting needs segment boundaries only.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tradelane.formats.edi_errors import (
    ControlReferenceMismatch,
    CountMismatch,
    DuplicateControlReference,
    EdiSyntaxError,
    MissingTrailer,
    NotAnInterchange,
    SegmentCountMismatch,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.formats.edifact_service import check, fast
from tradelane.formats.edifact_syntax import CHARSETS, Block, Element, Repeated, SegmentStream

SERVICE = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})


def first(element: Element | None) -> str:
    """The first component of an element ('' when absent)."""
    if element is None:
        return ""
    if isinstance(element, Repeated):
        element = element[0]
    return element[0] if isinstance(element, list) else element


@dataclass(frozen=True)
class Interchange:
    """UNB identity: who sent it, to whom, and its control reference."""

    number: int
    sender: str
    recipient: str
    control_ref: str
    syntax: str
    segment: int  # segment number of the UNB
    elements: tuple[Element, ...] = ()  # the UNB itself, for header fields like UNB.S002.0004
    version: str = "3"  # syntax version (S001 0002)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.sender, self.recipient, self.control_ref)


@dataclass
class Message:
    """One UNH..UNT message: its segments are ``block`` (UNH first, UNT last)."""

    number: int  # 1-based, within the file
    interchange: Interchange
    group: str | None
    reference: str
    type: str
    block: Block
    error: EdiSyntaxError | None = None  # set only with isolate=True
    version: tuple[str, ...] = field(default_factory=tuple)

    @property
    def first_segment(self) -> int:
        return self.block.start

    def segments(self) -> Iterator[list[Element]]:
        for i in range(len(self.block)):
            yield self.block.elements(i)


class _State:
    def __init__(self) -> None:
        self.interchange: Interchange | None = None
        self.units = 0  # messages or groups directly in the interchange
        self.group: tuple[str, int] | None = None  # (reference, segment)
        self.group_messages = 0
        self.group_error: EdiSyntaxError | None = None  # a repeated group (isolate=True)
        self.messages = 0
        self.interchanges = 0
        # references seen in the interchange -> segment of the first: each is delivered once
        self.message_refs = _References()
        self.group_refs: dict[str, int] = {}
        # (sender, recipient, 0020) of every interchange of the file -> segment of its UNB
        self.interchange_keys: dict[tuple[str, str, str], int] = {}
        self.interchange_error: EdiSyntaxError | None = None  # a repeat (isolate=True)
        self.interchange_messages = 0
        # (delimiters, UNH rule, UNT rule) of the interchange in hand
        self.patterns: tuple[object, re.Pattern[str] | None, re.Pattern[str] | None] = (
            None, None, None)


def iter_messages(stream: SegmentStream, *, isolate: bool = False) -> Iterator[Message]:
    """Yield every message of the file in order; raise the first envelope error found.

    With ``isolate``, a message whose own UNH or UNT is wrong, or whose reference repeats
    another's, is yielded with ``error`` set instead of stopping the file (so are the messages
    of a group whose reference repeats another's); other interchange and group errors always
    stop it.
    """
    st = _State()
    pending: Block | None = None  # segments of a message whose UNT has not come yet
    where = stream.where
    for block in stream:
        if pending is not None:
            block = pending.concat(block)
            pending = None
        tags = block.tags
        n = len(tags)
        # Only service segments need a look; the data segments between UNH and UNT are skipped
        # as a whole (one pass over the tags, no work per data segment).
        svc = [k for k, t in enumerate(tags) if t in SERVICE]
        cursor, k = 0, 0  # cursor: first segment not yet accounted for
        while k < len(svc):
            i = svc[k]
            if i > cursor:
                raise UnexpectedSegment(tags[cursor] or "(empty)", "data segment outside a"
                                        " UNH..UNT message", **where(segment=block.start + cursor))
            if tags[i] == "UNH":
                if st.interchange is None:
                    raise NotAnInterchange("UNH", "UNB before UNH",
                                           **where(segment=block.start + i))
                if k + 1 == len(svc):
                    pending = block.slice(i, n)
                    cursor = n
                    break
                j = svc[k + 1]
                if tags[j] != "UNT":
                    raise MissingTrailer("UNT", "UNH", first(_at(block.elements(i), 1)),
                                         **where(segment=block.start + j))
                yield _message(stream, st, block.slice(i, j + 1), isolate)
                cursor, k = j + 1, k + 2
                continue
            _service(stream, st, tags[i], block, i, isolate)
            cursor, k = i + 1, k + 1
        if cursor < n:
            raise UnexpectedSegment(tags[cursor] or "(empty)", "data segment outside a UNH..UNT"
                                    " message", **where(segment=block.start + cursor))
    if pending is not None:
        unh = pending.elements(0)
        raise MissingTrailer("UNT", "UNH", first(_at(unh, 1)), **where(segment=pending.start))
    if st.group is not None:
        raise MissingTrailer("UNE", "UNG", st.group[0], **where(segment=st.group[1]))
    if st.interchange is not None:
        ic = st.interchange
        raise MissingTrailer("UNZ", "UNB", ic.control_ref, **where(segment=ic.segment))


def _at(elements: list[Element], k: int) -> Element | None:
    return elements[k] if k < len(elements) else None


def _firsts(block: Block, i: int) -> tuple[str, list[str], str]:
    """Element 1's first component, element 2's components and first component of a service
    segment (UNH, UNT): split directly when nothing in it was released."""
    d = block.delims
    seg = block.segs[i]
    if block.parsed or (block.restore is not None
                        and (not seg.isascii() or (d.release and d.release in seg))):
        el = block.elements(i)
        two = el[2] if len(el) > 2 else ""
        comps = two if isinstance(two, list) else [two]
        return (first(el[1]) if len(el) > 1 else ""), comps, comps[0]
    parts = seg.split(d.element, 3)
    one = parts[1].split(d.component, 1)[0] if len(parts) > 1 else ""
    comps = parts[2].rstrip(d.component).split(d.component) if len(parts) > 2 else [""]
    return one, comps, comps[0]


def _rules(stream: SegmentStream, block: Block, i: int, tag: str, version: str,
           pattern: re.Pattern[str] | None = None) -> EdiSyntaxError | None:
    """The first fault of service segment ``i`` of ``block`` under its syntax version."""
    if not block.parsed and (pattern or fast(tag, version, block.delims)).fullmatch(
            block.segs[i]):
        return None  # the usual case: one regular expression, no split
    return check(tag, block.elements(i), version, **stream.where(segment=block.start + i))


def _message(stream: SegmentStream, st: _State, block: Block, isolate: bool) -> Message:
    ic = st.interchange
    assert ic is not None
    size = len(block.tags)
    d = block.delims
    if st.patterns[0] is not d:  # once per interchange, not per message
        st.patterns = (d, fast("UNH", ic.version, d), fast("UNT", ic.version, d))
    _, unh_rule, unt_rule = st.patterns
    # a match is a valid segment with nothing released in it: its values are in the match
    head = None if block.parsed else unh_rule.fullmatch(block.segs[0])
    unt_ok = False
    if head is not None:
        ref = head["e1"]
        declared, unt_ref = str(size), ref
        # the usual UNT, with the right count and reference, is valid: a comparison will do
        if size < 10**6 and block.segs[-1] == f"UNT{d.element}{declared}{d.element}{ref}":
            unt_ok = True
        elif tail := unt_rule.fullmatch(block.segs[-1]):
            unt_ok, declared, unt_ref = True, tail["e1"], tail["e2"]
    error: EdiSyntaxError | None = None
    if head is not None and unt_ok:
        version = head["e2"].rstrip(d.component).split(d.component)
    else:
        ref, version, _ = _firsts(block, 0)
        declared, _, unt_ref = _firsts(block, size - 1)
        error = _rules(stream, block, 0, "UNH", ic.version, unh_rule) \
            or _rules(stream, block, size - 1, "UNT", ic.version, unt_rule)
    st.messages += 1
    if st.group is not None:
        st.group_messages += 1
    else:
        st.units += 1
    msg = Message(st.messages, ic, st.group[0] if st.group else None, ref,
                  version[0], block, None, tuple(version))
    unt_index = block.start + size - 1
    if error is None and not (declared == str(size) and unt_ref == ref):
        if declared != str(size) and _count(declared) != size:
            error = SegmentCountMismatch(declared, size, "UNT", ref,
                                         **stream.where(segment=unt_index))
        elif unt_ref != ref:
            error = ControlReferenceMismatch("UNT", ref, unt_ref,
                                             **stream.where(segment=unt_index))
    if st.message_refs.repeats(ref) and error is None:
        error = DuplicateControlReference("UNH 0062", ref, _first_unh(stream, ic, ref, block),
                                          **stream.where(segment=block.start))
    error = error or st.group_error or st.interchange_error
    st.interchange_messages += 1
    if error is not None:
        if not isolate:
            raise error
        msg.error = error
    return msg


class _References:
    """The message references of an interchange, to refuse one sent twice. Increasing numeric
    references, the usual case, are kept as runs (``1`` to ``400000`` is one): a big
    interchange costs a comparison per message and no memory; any other is kept as is."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.others: set[str] = set()

    def repeats(self, ref: str) -> bool:
        """Whether ``ref`` came before; it is remembered either way."""
        if ref.isascii() and ref.isdigit() and (ref[0] != "0" or ref == "0"):
            value = int(ref)  # canonical digits: equal numbers are equal references
            if not self.ends or value > self.ends[-1]:
                if self.ends and value == self.ends[-1] + 1:
                    self.ends[-1] = value
                else:
                    self.starts.append(value)
                    self.ends.append(value)
                return False
            k = bisect.bisect_right(self.starts, value) - 1
            if k >= 0 and value <= self.ends[k]:
                return True
        if ref in self.others:
            return True
        self.others.add(ref)
        return False


def _first_unh(stream: SegmentStream, ic: Interchange, ref: str, repeat: Block) -> int | None:
    """The segment of the first UNH of ``ic`` with ``ref``, read again from the file (only
    when a repeat is found: the references themselves are not kept)."""
    again = SegmentStream(stream.source, max_segment_bytes=stream.limit,
                          encoding=stream.syntax.codec)
    for block in again:
        if block.start >= repeat.start:
            break
        for i, tag in enumerate(block.tags):
            index = block.start + i
            if tag == "UNH" and ic.segment < index < repeat.start \
                    and _firsts(block, i)[0] == ref:
                return index
    return None


def _service(stream: SegmentStream, st: _State, tag: str, block: Block, i: int,
             isolate: bool) -> None:
    where = stream.where
    index = block.start + i
    el = block.elements(i)
    if tag == "UNA":
        if st.interchange is not None:
            raise UnexpectedSegment("UNA", "inside an interchange", **where(segment=index))
        return
    if tag == "UNB":
        if st.interchange is not None:
            ic = st.interchange
            raise MissingTrailer("UNZ", "UNB", ic.control_ref, **where(segment=index))
        s001 = _at(el, 1)
        ident = first(s001)
        version = s001[1] if isinstance(s001, list) and len(s001) > 1 else ""
        declared = stream.syntax.codec
        codec = CHARSETS.get(ident)
        if codec is None and st.interchanges and ident != stream.syntax.identifier:
            raise UnknownSyntaxIdentifier(ident, version, **where(segment=index))
        if codec is not None and codec != declared and ident != stream.syntax.identifier \
                and st.interchanges:
            raise UnexpectedSegment("UNB", f"interchange declares {ident} but the file started"
                                    f" as {stream.syntax.identifier}; split the file",
                                    **where(segment=index))
        error = _rules(stream, block, i, "UNB", version)
        if error is not None:
            raise error
        st.interchanges += 1
        ic = st.interchange = Interchange(st.interchanges, first(_at(el, 2)),
                                          first(_at(el, 3)), first(_at(el, 5)), ident, index,
                                          tuple(el), version)
        st.units = st.interchange_messages = 0
        st.patterns = (None, None, None)
        st.message_refs, st.group_refs = _References(), {}
        st.interchange_error = None
        first_at = st.interchange_keys.setdefault(ic.key, index)
        if first_at != index:  # the same interchange again: delivered once
            repeat = DuplicateControlReference("UNB 0020", ic.control_ref, first_at,
                                               **where(segment=index))
            if not isolate:
                raise repeat
            st.interchange_error = repeat  # its messages are split out
        return
    ic = st.interchange
    if ic is None:
        raise NotAnInterchange(tag, "UNB", **where(segment=index))
    if tag == "UNT":
        raise UnexpectedSegment("UNT", "no UNH message is open", **where(segment=index))
    error = _rules(stream, block, i, tag, ic.version)
    if error is not None:
        raise error
    if tag == "UNG":
        if st.group is not None:
            raise MissingTrailer("UNE", "UNG", st.group[0], **where(segment=index))
        ref = first(_at(el, 5))
        st.group = (ref, index)
        st.group_messages = 0
        st.group_error = None
        st.units += 1
        first_at = st.group_refs.setdefault(ref, index)
        if first_at != index:
            repeat = DuplicateControlReference("UNG 0048", ref, first_at, **where(segment=index))
            if not isolate:
                raise repeat
            st.group_error = repeat  # its messages are split out, the others delivered
    elif tag == "UNE":
        if st.group is None:
            raise UnexpectedSegment("UNE", "no UNG group is open", **where(segment=index))
        _check_trailer(stream, "UNE", el, st.group_messages, st.group[0], index)
        if st.group_error is not None and not st.group_messages:
            raise st.group_error  # nothing to split out: the repeat is the group itself
        st.group = None
        st.group_error = None
    elif tag == "UNZ":
        if st.group is not None:
            raise MissingTrailer("UNE", "UNG", st.group[0], **where(segment=index))
        _check_trailer(stream, "UNZ", el, st.units, ic.control_ref, index)
        if st.interchange_error is not None and not st.interchange_messages:
            raise st.interchange_error  # nothing to split out: the repeat is the envelope
        st.interchange = None
        st.message_refs, st.group_refs = _References(), {}


def _check_trailer(stream: SegmentStream, tag: str, el: list[Element], actual: int, ref: str,
                   index: int) -> None:
    declared, trailer_ref = first(_at(el, 1)), first(_at(el, 2))
    if _count(declared) != actual:
        raise CountMismatch(tag, declared, actual, ref, **stream.where(segment=index))
    if trailer_ref != ref:
        raise ControlReferenceMismatch(tag, ref, trailer_ref, **stream.where(segment=index))


def _count(declared: str) -> int | None:
    """A count as a trailer declares it ("0014" is 14); None if it is not one. ASCII digits
    only ("²" is a digit to str.isdigit), and few enough for int() to take."""
    if declared.isascii() and declared.isdigit() and len(declared) <= 18:
        return int(declared)
    return None
