"""X12 envelopes: ISA/IEA interchanges, GS/GE groups and ST/SE transaction sets, checked as
the blocks stream by.

``iter_envelope`` yields each ``Transaction`` (ST..SE, its segments as a ``Block``) and each
TA1 met at interchange level (``InterchangeAck``). Service segments are checked against their
rules (``x12_rules``), trailers against what was received, and control references against
repeats within the file: ISA13 within the file, GS06 within its interchange, ST02 within its
group. Only service segments are split into elements: counting needs segment boundaries only.

With ``isolate``, a transaction set whose own envelope is wrong (its SE, its ST, a repeated
ST02) or that sits in a repeated group or interchange is yielded with ``error`` set instead of
stopping the file; errors of the interchange and group structure always stop it.
"""

from __future__ import annotations

import bisect
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
)
from tradelane.formats.x12_codes import coded
from tradelane.formats.x12_rules import check, check_isa, isa_elements, quick
from tradelane.formats.x12_syntax import Block, SegmentStream, X12Delimiters, join

SERVICE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
#: Optional interchange-level segments, between the ISA and the groups (X12.5, X12.56).
INTERCHANGE_LEVEL = frozenset({"ISB", "ISE", "TA1", "TA3"})


@dataclass(frozen=True)
class Interchange:
    number: int  # 1-based, in the file
    elements: tuple[str, ...]  # "ISA", ISA01..ISA16, exactly as received
    segment: int
    delims: X12Delimiters
    duplicate: EdiSyntaxError | None = None  # ISA13 repeats an earlier interchange's

    @property
    def control(self) -> str:
        return self.elements[13]

    @property
    def key(self) -> tuple[str, str, str]:
        """(sender, receiver, ISA13): the ledger's duplicate key."""
        return (self.elements[6].strip(), self.elements[8].strip(), self.elements[13])

    @property
    def version(self) -> str:
        return self.elements[12]


@dataclass(frozen=True)
class Group:
    elements: tuple[str, ...]  # "GS", GS01..GS08
    segment: int
    duplicate: EdiSyntaxError | None = None  # GS06 repeats one of its interchange

    @property
    def functional_id(self) -> str:
        return self.elements[1]

    @property
    def control(self) -> str:
        return self.elements[6]

    @property
    def version(self) -> str:
        return self.elements[8] if len(self.elements) > 8 else ""


@dataclass
class Transaction:
    """One ST..SE transaction set: ``block`` holds its segments (ST first, SE last)."""

    number: int  # 1-based, in the file
    interchange: Interchange
    group: Group
    code: str  # ST01
    control: str  # ST02
    block: Block
    error: EdiSyntaxError | None = None  # set only with isolate=True

    @property
    def first_segment(self) -> int:
        return self.block.start

    @property
    def reference(self) -> str:  # the name isolation and acks share with EDIFACT messages
        return self.control


@dataclass(frozen=True)
class InterchangeAck:
    """A TA1 received: it answers the interchange ``answers`` (TA101) that we sent."""

    interchange: Interchange  # the one that carried it
    elements: tuple[str, ...]
    segment: int

    def note(self) -> str:
        el = [*self.elements, "", "", "", "", ""]
        status = {"A": "accepted", "E": "accepted with errors", "R": "rejected"}.get(el[4], el[4])
        return (f"TA1 (segment {self.segment}) acknowledges interchange {el[1]!r} of"
                f" {el[2]} {el[3]}: {status}, note code {el[5]}")


@dataclass
class _State:
    interchange: Interchange | None = None
    group: Group | None = None
    groups: int = 0
    sets: int = 0
    transactions: int = 0
    interchanges: int = 0
    seen_isa: dict[str, int] = field(default_factory=dict)  # ISA13 -> segment, in the file
    seen_gs: dict[str, int] = field(default_factory=dict)  # GS06 -> segment, in the ISA
    seen_st: dict[str, int] = field(default_factory=dict)  # ST02 -> segment, in the GS


def iter_envelope(stream: SegmentStream, *, isolate: bool = False,
                  ) -> Iterator[Transaction | InterchangeAck]:
    """Every transaction set and interchange-level TA1 of the file, in order; raises the
    first error that stops the file."""
    st = _State()
    pending: list[Block] = []  # a transaction set whose SE has not come yet
    for block in stream:
        tags = block.tags
        n = len(tags)
        bad = block.first_bad_tag()
        # Only service segments (and a bad ID) need a look; the segments of a transaction set
        # are passed over as a whole.
        stops = [k for k, t in enumerate(tags) if t in SERVICE]
        if bad is not None:
            bisect.insort(stops, bad)
        p = cursor = 0
        if pending:
            if not stops:
                pending.append(block)
                continue
            k = stops[0]
            pending.append(block.slice(0, k + 1))
            whole = join(pending)
            pending = []
            yield _transaction(st, whole, len(whole) - 1, isolate, _within(bad, 0, k, whole, n))
            cursor, p = k + 1, 1
        while cursor < n:
            nxt = stops[p] if p < len(stops) else n
            for i in range(cursor, nxt):  # outside any transaction set: ISB, TA1, ... or junk
                ack = _service(st, block, i)
                if ack is not None:
                    yield ack
            if nxt == n:
                break
            i = nxt
            if i == bad:
                raise _bad_tag(block, i, inside=False)
            if tags[i] == "ST":
                if p + 1 >= len(stops):
                    _open_transaction(st, block, i)
                    pending = [block.slice(i, n)]
                    break
                k = stops[p + 1]
                tx = block.slice(i, k + 1)
                yield _transaction(st, tx, k - i, isolate, _within(bad, i, k, tx, 0))
                cursor, p = k + 1, p + 2
                continue
            ack = _service(st, block, i)
            if ack is not None:
                yield ack
            cursor, p = i + 1, p + 1
    if pending:
        whole = join(pending)
        raise coded(MissingTrailer("SE", "ST", _at(whole.elements(0), 2), **whole.where(0)),
                    ak5="2")
    if st.group is not None:
        raise coded(MissingTrailer("GE", "GS", st.group.control, segment_index=st.group.segment,
                                   byte_offset=None), ak9="3")
    if st.interchange is not None:
        ic = st.interchange
        raise coded(MissingTrailer("IEA", "ISA", ic.control, segment_index=ic.segment,
                                   byte_offset=None), ta1="023")


def _at(el: list[str], k: int) -> str:
    return el[k] if k < len(el) else ""


def _within(bad: int | None, lo: int, hi: int, tx: Block, before: int) -> int | None:
    """Where a bad segment ID in ``lo..hi`` of the block sits in the set ``tx`` (which holds
    ``before`` more segments ahead of the block's)."""
    if bad is None or not lo <= bad <= hi:
        return None
    return len(tx) - (hi - bad) - 1 if before else bad - lo


def _open_transaction(st: _State, block: Block, i: int) -> None:
    if st.group is None:
        raise coded(UnexpectedSegment("ST", "outside a GS functional group", **block.where(i)),
                    ta1="024")


def _bad_tag(block: Block, i: int, *, inside: bool) -> EdiSyntaxError:
    tag = block.tags[i]
    error = UnexpectedSegment(tag[:12] or "(empty)", "a segment ID is 2 or 3 upper-case letters"
                              " or digits", **block.where(i))
    if inside:
        return coded(error, ak5="5", segment="1", tag=tag[:3])
    return coded(error, ta1="024")


def _transaction(st: _State, block: Block, k: int, isolate: bool,
                 bad: int | None) -> Transaction:
    """ST at 0 and the segment at ``k`` that ends it (normally SE); ``bad``, a segment with
    a bad ID among them."""
    _open_transaction(st, block, 0)
    assert st.group is not None and st.interchange is not None
    if bad is not None:
        raise _bad_tag(block, bad, inside=True)
    st_el = block.elements(0)
    end_tag = block.tags[k]
    if end_tag != "SE":
        raise coded(MissingTrailer("SE", "ST", _at(st_el, 2), **block.where(k)), ak5="2")
    block = block.slice(0, k + 1)
    st.transactions += 1
    st.sets += 1
    control = _at(st_el, 2)
    tx = Transaction(st.transactions, st.interchange, st.group, _at(st_el, 1), control, block)
    error = _transaction_error(st, block, st_el)
    if error is None:
        error = st.group.duplicate or st.interchange.duplicate
    if error is not None:
        if not isolate:
            raise error
        tx.error = error
    return tx


def _transaction_error(st: _State, block: Block, st_el: list[str]) -> EdiSyntaxError | None:
    """What is wrong with the set's own ST/SE, if anything (the first problem)."""
    size = len(block)
    se_el = block.elements(size - 1)
    control = _at(st_el, 2)
    try:
        if not (quick("ST", block.segs[0], block.delims)
                and quick("SE", block.segs[size - 1], block.delims)):
            check("ST", st_el, block.where(0), version=st.group.version if st.group else "")
            check("SE", se_el, block.where(size - 1))
    except EdiSyntaxError as exc:
        return exc
    if _count(se_el[1]) != size:
        return coded(SegmentCountMismatch(se_el[1], size, "SE", control,
                                          **block.where(size - 1)), ak5="4")
    if se_el[2] != control:
        return coded(ControlReferenceMismatch("SE", control, se_el[2], **block.where(size - 1)),
                     ak5="3")
    seen = st.seen_st.get(control)
    if seen is not None:
        return coded(DuplicateControlReference("ST02", control, seen, **block.where(0)),
                     ak5="23")
    st.seen_st[control] = block.start
    return None


def _service(st: _State, block: Block, i: int) -> InterchangeAck | None:
    tag = block.tags[i]
    where = block.where(i)
    if tag == "ISA":
        if st.interchange is not None:
            raise coded(MissingTrailer("IEA", "ISA", st.interchange.control, **where),
                        ta1="023")
        el = isa_elements(block.segs[i])
        check_isa(el, where)
        st.interchanges += 1
        seen = st.seen_isa.get(el[13])
        dup = None if seen is None else coded(
            DuplicateControlReference("ISA13", el[13], seen, **where), ta1="025")
        st.seen_isa.setdefault(el[13], block.start + i)
        st.interchange = Interchange(st.interchanges, tuple(el), block.start + i, block.delims,
                                     dup)
        st.groups, st.seen_gs = 0, {}
        return None
    ic = st.interchange
    if ic is None:
        raise coded(NotAnInterchange(tag, "ISA", **where), ta1="022")
    el = block.elements(i)
    if tag == "GS":
        if st.group is not None:
            raise coded(MissingTrailer("GE", "GS", st.group.control, **where), ak9="3")
        check("GS", el, where, version=_at(el, 8))
        seen = st.seen_gs.get(el[6])
        dup = None if seen is None else coded(
            DuplicateControlReference("GS06", el[6], seen, **where),
            ak9="19" if ic.version >= "00501" else "6")
        st.seen_gs.setdefault(el[6], block.start + i)
        st.group = Group(tuple(el), block.start + i, dup)
        st.groups += 1
        st.sets, st.seen_st = 0, {}
        return None
    if tag == "GE":
        if st.group is None:
            raise coded(UnexpectedSegment("GE", "no GS group is open", **where), ta1="024")
        check("GE", el, where)
        _trailer("GE", el, st.sets, st.group.control, where, count="5", ref="4", level="ak9")
        if st.group.duplicate is not None and st.sets == 0:
            raise st.group.duplicate  # nothing to isolate: the repeat is the group itself
        st.group = None
        return None
    if tag == "IEA":
        if st.group is not None:
            raise coded(MissingTrailer("GE", "GS", st.group.control, **where), ak9="3")
        check("IEA", el, where)
        _trailer("IEA", el, st.groups, ic.control, where, count="021", ref="001", level="ta1")
        if ic.duplicate is not None and not st.groups:
            raise ic.duplicate
        st.interchange = None
        return None
    if tag in INTERCHANGE_LEVEL and st.group is None:
        return InterchangeAck(ic, tuple(el), block.start + i) if tag == "TA1" else None
    if tag in ("SE",):
        raise coded(UnexpectedSegment("SE", "no ST transaction set is open", **where), ta1="024")
    raise coded(UnexpectedSegment(tag, "data segment outside ST..SE", **where), ta1="024")


def _trailer(tag: str, el: list[str], actual: int, reference: str, where: dict[str, int], *,
             count: str, ref: str, level: str) -> None:
    declared = _at(el, 1)
    if _count(declared) != actual:
        raise coded(CountMismatch(tag, declared, actual, reference, **where), **{level: count})
    if _at(el, 2) != reference:
        raise coded(ControlReferenceMismatch(tag, reference, _at(el, 2), **where),
                    **{level: ref})


def _count(declared: str) -> int | None:
    """A count as a trailer declares it ("0014" is 14); None if it is not one."""
    if declared.isascii() and declared.isdigit() and len(declared) <= 18:
        return int(declared)
    return None
