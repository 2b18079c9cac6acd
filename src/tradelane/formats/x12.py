"""ANSI ASC X12: delimiters from the fixed-length ISA, ISA/IEA, GS/GE and ST/SE checks, one
``Document`` per transaction set, and 997 functional acknowledgements.

The element separator is the byte after ``ISA``, the component separator is ISA16, the
repetition separator ISA11 (from version 00402), and the segment terminator is whatever follows
ISA16 up to the GS: ``~``, ``~`` + newline, a bare newline, or a multi-byte terminator.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from tradelane.errors import ConfigError, EmptyFile
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    ControlReferenceMismatch,
    CountMismatch,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    SegmentCountMismatch,
    SegmentTooLong,
    UnexpectedSegment,
)
from tradelane.formats.input_checks import refuse_compressed, segment_limit
from tradelane.models import Document, records_table
from tradelane.spec import RouteSpec, X12Format
from tradelane.staging import Staged

# Positions of the element separator inside the 106-character ISA.
_ISA_SEPARATORS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_ISA_LENGTH = 106


@dataclass(frozen=True)
class X12Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None


class X12File:
    """The segments of one file (several interchanges allowed), with their byte offsets."""

    def __init__(self, data: bytes, encoding: str = "latin-1", limit: int = 1 << 20):
        if not data.strip():
            raise EmptyFile()
        if b"\x00" in data:
            at = data.index(b"\x00")
            raise NulByte(segment_index=None, byte_offset=at)
        self.encoding = encoding
        text = data.decode(encoding, errors="replace")
        lead = len(text) - len(text.lstrip("\ufeff \t\r\n"))
        self.delims = self._delimiters(text[lead:], lead)
        self.segments: list[str] = []
        self.offsets: list[int] = []
        term = self.delims.segment
        pos = lead
        while pos < len(text):
            end = text.find(term, pos)
            if end < 0:
                end = len(text)
            raw = text[pos:end]
            body = raw.strip("\r\n \t")
            if len(body) > limit:
                raise SegmentTooLong(limit, len(body), segment_index=len(self.segments) + 1,
                                     byte_offset=self._byte(text, pos))
            if body:
                if end == len(text) and not text.endswith(term):
                    raise MissingTrailer("segment terminator", body[:3],
                                         segment_index=len(self.segments) + 1,
                                         byte_offset=self._byte(text, pos))
                self.segments.append(body)
                self.offsets.append(self._byte(text, pos + len(raw) - len(raw.lstrip("\r\n \t"))))
            pos = end + len(term)
        self.tags = [s.split(self.delims.element, 1)[0] for s in self.segments]

    def _byte(self, text: str, char: int) -> int:
        if self.encoding.replace("-", "").lower() in {"latin1", "iso88591", "ascii", "cp1252"}:
            return char
        return len(text[:char].encode(self.encoding))

    @staticmethod
    def _delimiters(text: str, lead: int) -> X12Delimiters:
        if not text.startswith("ISA"):
            raise NotAnInterchange(text[:20], "ISA", segment_index=1, byte_offset=lead)
        elem = text[3:4]
        isa = text[:_ISA_LENGTH]
        if len(isa) < _ISA_LENGTH or any(isa[i] != elem for i in _ISA_SEPARATORS):
            raise BadServiceStringAdvice(
                "ISA", f"the ISA must be {_ISA_LENGTH} characters with the element separator"
                " at fixed positions (short or padded wrongly)", segment_index=1,
                byte_offset=lead)
        component = isa[104]
        nxt = text.find("GS" + elem, _ISA_LENGTH - 1)
        tail = text[105:nxt] if nxt > 0 else text[105:106]
        core = tail.strip("\r\n") or tail
        if not core or core.isalnum() or core in (elem, component):
            raise BadServiceStringAdvice("ISA", f"no usable segment terminator after ISA16"
                                         f" ({tail!r})", segment_index=1, byte_offset=lead)
        version = isa[84:89]
        repetition = isa[82] if version >= "00402" and not isa[82].isalnum() else None
        return X12Delimiters(elem, component, core, repetition)

    def elements(self, i: int) -> list[str | list[str]]:
        d = self.delims
        out: list[str | list[str]] = []
        for part in self.segments[i].split(d.element):
            comps = part.split(d.component)
            out.append(comps if len(comps) > 1 else part)
        return out

    def where(self, i: int) -> dict[str, int]:
        return {"segment_index": i + 1, "byte_offset": self.offsets[i]}


@dataclass
class Transaction:
    number: int
    code: str  # ST01
    control: str  # ST02
    lo: int  # index of ST
    hi: int  # index of SE
    group: tuple[str, str]  # (GS01 functional id, GS06 control number)
    interchange: tuple[str, str, str]  # (ISA06, ISA08, ISA13)


def _el(el: list, k: int) -> str:
    if k >= len(el):
        return ""
    v = el[k]
    return v[0] if isinstance(v, list) else v


def iter_transactions(f: X12File) -> Iterator[Transaction]:
    """Every ST..SE in order, after checking each envelope's counts and control numbers."""
    tags = f.tags
    i, n, number = 0, len(tags), 0
    isa: tuple[int, list] | None = None
    gs: tuple[int, list] | None = None
    groups = sets = 0
    while i < n:
        tag = tags[i]
        el = f.elements(i)
        if tag == "ISA":
            if isa is not None:
                raise MissingTrailer("IEA", "ISA", _el(isa[1], 13), **f.where(i))
            isa, groups = (i, el), 0
        elif isa is None:
            raise NotAnInterchange(tag, "ISA", **f.where(i))
        elif tag == "GS":
            if gs is not None:
                raise MissingTrailer("GE", "GS", _el(gs[1], 6), **f.where(i))
            gs, sets = (i, el), 0
            groups += 1
        elif tag == "ST":
            if gs is None:
                raise UnexpectedSegment("ST", "outside a GS functional group", **f.where(i))
            try:
                j = tags.index("SE", i + 1)
            except ValueError:
                raise MissingTrailer("SE", "ST", _el(el, 2), **f.where(i)) from None
            for k in range(i + 1, j):
                if tags[k] in ("ST", "GS", "GE", "ISA", "IEA"):
                    raise MissingTrailer("SE", "ST", _el(el, 2), **f.where(k))
            se = f.elements(j)
            if _el(se, 1) != str(j - i + 1):
                raise SegmentCountMismatch(_el(se, 1), j - i + 1, "SE", _el(el, 2), **f.where(j))
            if _el(se, 2) != _el(el, 2):
                raise ControlReferenceMismatch("SE", _el(el, 2), _el(se, 2), **f.where(j))
            number += 1
            sets += 1
            yield Transaction(number, _el(el, 1), _el(el, 2), i, j,
                              (_el(gs[1], 1), _el(gs[1], 6)),
                              (_el(isa[1], 6).strip(), _el(isa[1], 8).strip(),
                               _el(isa[1], 13)))
            i = j + 1
            continue
        elif tag == "GE":
            if gs is None:
                raise UnexpectedSegment("GE", "no GS group is open", **f.where(i))
            _trailer(f, i, el, sets, _el(gs[1], 6))
            gs = None
        elif tag == "IEA":
            if gs is not None:
                raise MissingTrailer("GE", "GS", _el(gs[1], 6), **f.where(i))
            _trailer(f, i, el, groups, _el(isa[1], 13))
            isa = None
        else:
            raise UnexpectedSegment(tag, "data segment outside ST..SE", **f.where(i))
        i += 1
    if gs is not None:
        raise MissingTrailer("GE", "GS", _el(gs[1], 6), **f.where(gs[0]))
    if isa is not None:
        raise MissingTrailer("IEA", "ISA", _el(isa[1], 13), **f.where(isa[0]))


def _trailer(f: X12File, i: int, el: list, actual: int, ref: str) -> None:
    tag = f.tags[i]
    if _el(el, 1) != str(actual):
        raise CountMismatch(tag, _el(el, 1), actual, ref, **f.where(i))
    if _el(el, 2) != ref:
        raise ControlReferenceMismatch(tag, ref, _el(el, 2), **f.where(i))


@dataclass(frozen=True)
class X12Path:
    text: str
    tag: str
    qualifier: str | None
    element: int
    component: int | None

    def value(self, el: list) -> str | None:
        if self.element >= len(el):
            return ""
        v = el[self.element]
        if isinstance(v, list):
            k = self.component or 0
            return v[k] if k < len(v) else ""
        return v if not self.component else ""


_X12_PATH = re.compile(
    r"^(?:[A-Z0-9]{2,3}/)?([A-Z0-9]{2,3})(?:\[([^\]]*)\])?\.(\d{1,2})(?:\.(\d{1,2}))?$")


def compile_x12_path(text: str, where: str) -> X12Path:
    m = _X12_PATH.match(text.strip())
    if not m:
        raise ConfigError([f"{where}: {text!r} is not an X12 path like 'N1[ST].2' or 'PO1.2'"])
    comp = int(m[4]) - 1 if m[4] else None
    return X12Path(text, m[1], m[2], int(m[3]), comp)


class X12Reader:
    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, X12Format)
        header = {k: compile_x12_path(s.source or k, f"header.{k}.source")
                  for k, s in route.header.items()}
        fields = {k: compile_x12_path(s.source or k, f"fields.{k}.source")
                  for k, s in route.fields.items()}
        refuse_compressed(staged)
        with segment_limit(fmt.max_segment_bytes, route.limits.max_segment_bytes) as limit:
            f = X12File(staged.read_bytes(), fmt.encoding, limit)
        row = 0
        for tx in iter_transactions(f):
            if fmt.transactions and tx.code not in fmt.transactions:
                raise UnexpectedSegment("ST", f"transaction set {tx.code} is not accepted"
                                        f" ({', '.join(fmt.transactions)})", **f.where(tx.lo))
            spans = _records(f.tags, tx, fmt.records)
            find = _Finder(f)
            head = {k: find(p, tx.lo, tx.hi) for k, p in header.items()}
            columns = {k: [find(p, lo, hi) for lo, hi in spans] for k, p in fields.items()}
            table = records_table({k: pa.array(v, pa.string()) for k, v in columns.items()},
                                  len(spans))
            starts = [lo for lo, _ in spans]
            yield Document(header=head, records=table, interchange=tx.interchange,
                           numbers=np.arange(row, row + len(spans), dtype=np.int64),
                           locate=_Locate(tx.number, row, starts, f))
            row += len(spans)


class _Finder:
    """First segment in [lo, hi) with the path's tag and qualifier (element 01)."""

    def __init__(self, f: X12File):
        self.f, self.cache = f, {}

    def __call__(self, p: X12Path, lo: int, hi: int) -> str | None:
        tags = self.f.tags
        for i in range(lo, hi):
            if tags[i] != p.tag:
                continue
            el = self.cache.get(i)
            if el is None:
                el = self.cache[i] = self.f.elements(i)
            if p.qualifier is None or _el(el, 1) == p.qualifier:
                return p.value(el)
        return None


def _records(tags: list[str], tx: Transaction, record: str | None) -> list[tuple[int, int]]:
    if not record:
        return [(tx.lo, tx.hi + 1)]
    starts = [i for i in range(tx.lo, tx.hi) if tags[i] == record]
    ends = [i for i in range(tx.lo, tx.hi) if tags[i] == "CTT"]
    spans = []
    for k, lo in enumerate(starts):
        hi = starts[k + 1] if k + 1 < len(starts) else tx.hi
        j = bisect.bisect_left(ends, lo)
        if j < len(ends) and ends[j] < hi:
            hi = ends[j]
        spans.append((lo, hi))
    return spans


class _Locate:
    def __init__(self, number: int, first_row: int, starts: list[int], f: X12File):
        self.number, self.first_row, self.starts, self.f = number, first_row, starts, f

    def __call__(self, row: int) -> str:
        k = row - self.first_row
        if not 0 <= k < len(self.starts):
            return f"transaction {self.number}"
        i = self.starts[k]
        return f"transaction {self.number}, segment {i + 1} (byte {self.f.offsets[i]})"


def build_997(interchange: tuple[str, str, str], group: tuple[str, str],
              transactions: list[tuple[str, str, bool]], *, control_number: int = 1,
              version: str = "00401", now: datetime | None = None,
              rejected: BaseException | None = None) -> str:
    """A 997 acknowledging one functional group: ``transactions`` lists (ST01, ST02, accepted).

    ``interchange`` is (sender, receiver, ISA13) of the received file; the 997 goes back the
    other way. AK5/AK9 say A (accepted) or R (rejected) per set and for the group;
    ``rejected`` (the error that rejected the file) adds its code to AK5 and AK9.
    """
    sender, receiver, _ = interchange
    when = now or datetime.now(UTC)
    ctl = f"{control_number:09d}"
    isa = ("ISA*00*          *00*          *ZZ*" + f"{receiver:<15.15}" + "*ZZ*"
           + f"{sender:<15.15}" + f"*{when:%y%m%d}*{when:%H%M}*U*{version}*{ctl}*0*P*>")
    body = [f"ST*997*{control_number:04d}", f"AK1*{group[0]}*{group[1]}"]
    for code, control, ok in transactions:
        body += [f"AK2*{code}*{control}", "AK5*A" if ok else f"AK5*R*{_ak5_code(rejected)}"]
    accepted = sum(1 for *_, ok in transactions if ok)
    status = "A" if accepted == len(transactions) else ("P" if accepted else "R")
    ak9 = f"AK9*{status}*{len(transactions)}*{len(transactions)}*{accepted}"
    body.append(ak9 + (f"*{_ak9_code(rejected)}" if status == "R" and _ak9_code(rejected)
                       else ""))
    body.append(f"SE*{len(body) + 1}*{control_number:04d}")
    segments = [isa, f"GS*FA*{receiver}*{sender}*{when:%Y%m%d}*{when:%H%M}*{control_number}*X*"
                f"{version}0", *body, f"GE*1*{control_number}", f"IEA*1*{ctl}"]
    return "~\n".join(segments) + "~\n"


def _ak5_code(error: BaseException | None) -> str:
    """AK502: 4 SE count wrong, 3 SE control number differs, 5 segments in error."""
    if isinstance(error, CountMismatch) and error.trailer == "SE":
        return "4"
    if isinstance(error, ControlReferenceMismatch) and error.trailer == "SE":
        return "3"
    return "5"


def _ak9_code(error: BaseException | None) -> str:
    """AK905: 5 GE count wrong, 4 GE control number differs; nothing otherwise."""
    if isinstance(error, CountMismatch) and error.trailer == "GE":
        return "5"
    if isinstance(error, ControlReferenceMismatch) and error.trailer == "GE":
        return "4"
    return ""
