"""Mapping EDIFACT messages to records, many messages at a time, column by column.

The segments of a batch of messages are laid end to end. Each segment gets the number of the
record it belongs to (a record runs from its tag, e.g. LIN, to the next one, UNS or UNT) with
numpy, and each field path is cut out of the segments carrying its tag with one regular
expression (Arrow compute): no Python object per segment or per value. The first match per
record (record fields) or per message (header fields) wins, as in the per-message reading.

Blocks that needed the slow tokenizer (data containing Unicode noncharacters) are mapped by the
plain Python path, ``map_slow``, which is also the reference the fast path is tested against.

Numeric fields (``integer``, ``decimal``) take a comma or a full stop as the decimal mark
whatever the UNA says (ISO 9735): ``map`` hands them on with a full stop. ``_interchange``,
``_group`` and ``_message`` give each record its control references.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tradelane.errors import ConfigError
from tradelane.formats.edi_columns import SegmentTexts, first_values
from tradelane.formats.edifact_envelope import Interchange, Message
from tradelane.formats.edifact_paths import LINKS, SegmentPath, compile_path
from tradelane.formats.edifact_syntax import _PH, Delimiters
from tradelane.spec import EdifactFormat, RouteSpec

_ENDS = ("UNH", "UNS", "UNT")  # close a record


@dataclass
class Mapped:
    """The records of a batch: raw string columns, per-record header values, and where each
    record starts (message number and absolute segment number)."""

    columns: dict[str, pa.Array]
    header: dict[str, pa.Array]
    numbers: np.ndarray  # message number (1-based in the file) per record
    owners: np.ndarray  # index into the batch's messages per record
    starts: np.ndarray  # absolute segment number of each record's first segment

    def __len__(self) -> int:
        return len(self.starts)


class MessagePlan:
    """The route's field paths, compiled once."""

    def __init__(self, route: RouteSpec):
        fmt = route.format
        assert isinstance(fmt, EdifactFormat)
        self.record_tag = fmt.records
        #: name -> link (``_interchange``, ``_group``, ``_message``), header or record field
        self.links: dict[str, str] = {}
        self.header: dict[str, SegmentPath] = {}
        for name, spec in route.header.items():
            source = (spec.source or name).strip()
            if source in LINKS:
                self.links[name] = source
            else:
                self.header[name] = compile_path(source, where=f"header.{name}.source")
        self.fields: dict[str, SegmentPath] = {}
        for name, spec in route.fields.items():
            source = (spec.source or name).strip()
            if source in LINKS:
                self.links[name] = source
                continue
            path = compile_path(source, where=f"fields.{name}.source")
            if path.group and path.group != self.record_tag:
                raise ConfigError([f"fields.{name}.source: {path.text!r} names the group"
                                   f" {path.group} but format.records is {self.record_tag}"])
            self.fields[name] = path
        self.in_header = {name for name in self.links if name in route.header}
        self.numeric = [name for name, spec in (*route.fields.items(), *route.header.items())
                        if spec.type in ("integer", "decimal") and spec.decimal is None
                        and spec.thousands is None]

    def map(self, msgs: Sequence[Message]) -> Mapped:
        mapped = self.map_slow(msgs) if any(m.block.parsed for m in msgs) \
            else self.map_fast(msgs)
        self._link(mapped, msgs)
        for name in self.numeric:  # ISO 9735: a comma or a full stop, whatever UNA says
            for table in (mapped.columns, mapped.header):
                if name in table:
                    table[name] = pc.replace_substring(table[name], ",", ".")
        return mapped

    def _link(self, mapped: Mapped, msgs: Sequence[Message]) -> None:
        """The control references each record came with, where the route maps them."""
        if not self.links:
            return
        owners = pa.array(mapped.owners)
        for name, link in self.links.items():
            if link == "_interchange":
                per_message = [m.interchange.control_ref for m in msgs]
            elif link == "_group":
                per_message = [m.group for m in msgs]
            else:
                per_message = [m.reference for m in msgs]
            values = pa.array(per_message, pa.string()).take(owners)
            (mapped.header if name in self.in_header else mapped.columns)[name] = values

    # -- the fast path ------------------------------------------------------------------------

    def map_fast(self, msgs: Sequence[Message]) -> Mapped:
        d = msgs[0].block.delims
        tags = np.array(list(chain.from_iterable(m.block.tags for m in msgs)), dtype="<U3")
        lens = np.fromiter((len(m.block.tags) for m in msgs), dtype=np.int64, count=len(msgs))
        offsets = np.zeros(len(msgs) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        msg_of = np.repeat(np.arange(len(msgs)), lens)
        base = np.fromiter((m.block.start for m in msgs), dtype=np.int64, count=len(msgs))
        rec_of, rec_first = self._records(tags, msg_of, offsets)
        owners = msg_of[rec_first]
        segments = SegmentTexts(m.block.segs for m in msgs)
        released = any(m.block.restore is not None for m in msgs)
        finish = (lambda values: _unescape(values, d)) if released else None

        def cut(path: SegmentPath, where: np.ndarray, group: np.ndarray,
                size: int) -> pa.Array:
            qualifier = None if path.qualifier is None else _qualifier(path.qualifier, d)
            return first_values(segments, (tags == path.tag) & where, group, size,
                                qualifier=qualifier, value=_value_pattern(path, d),
                                finish=finish)

        n_recs = len(rec_first)
        in_record = rec_of >= 0
        columns = {name: cut(p, in_record, rec_of, n_recs) for name, p in self.fields.items()}
        everywhere = np.ones(len(tags), dtype=bool)
        header: dict[str, pa.Array] = {}
        for name, path in self.header.items():
            if path.tag in ("UNB", "UNG") and not (tags == path.tag).any():
                header[name] = _envelope_value(path, msgs[0].interchange, n_recs)
                continue
            per_message = cut(path, everywhere, msg_of, len(msgs))
            header[name] = per_message.take(pa.array(owners))
        numbers = np.fromiter((m.number for m in msgs), dtype=np.int64, count=len(msgs))
        starts = base[owners] + (rec_first - offsets[owners])
        return Mapped(columns, header, numbers[owners], owners, starts)

    def _records(self, tags: np.ndarray, msg_of: np.ndarray,
                 offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record number of every segment (-1 outside records) and each record's first
        segment, as indices into the batch's segments."""
        if not self.record_tag:  # one record per message, UNH to UNT
            return msg_of, offsets[:-1]
        opens = tags == self.record_tag
        closes = np.isin(tags, _ENDS)
        marker = opens | closes
        pos = np.arange(len(tags))
        last = np.maximum.accumulate(np.where(marker, pos, -1))
        number = np.cumsum(opens) - 1
        inside = (last >= 0) & opens[np.maximum(last, 0)]
        rec_of = np.where(inside, number[np.maximum(last, 0)], -1)
        return rec_of, np.flatnonzero(opens)

    # -- the reference path ----------------------------------------------------------------

    def map_slow(self, msgs: Sequence[Message]) -> Mapped:
        """Segment by segment in Python: for blocks parsed by pydifact, and as the reference."""
        columns: dict[str, list[str | None]] = {name: [] for name in self.fields}
        header: dict[str, list[str | None]] = {name: [] for name in self.header}
        numbers: list[int] = []
        owners: list[int] = []
        starts: list[int] = []
        for k, msg in enumerate(msgs):
            block = msg.block
            head = {name: self._header_value(msg, path) for name, path in self.header.items()}
            for lo, hi in self._spans(block.tags):
                for name, path in self.fields.items():
                    columns[name].append(_find(block, path, lo, hi))
                for name in self.header:
                    header[name].append(head[name])
                numbers.append(msg.number)
                owners.append(k)
                starts.append(block.start + lo)
        return Mapped({k: pa.array(v, pa.string()) for k, v in columns.items()},
                      {k: pa.array(v, pa.string()) for k, v in header.items()},
                      np.array(numbers, dtype=np.int64), np.array(owners, dtype=np.int64),
                      np.array(starts, dtype=np.int64))

    def _header_value(self, msg: Message, path: SegmentPath) -> str | None:
        if path.tag in ("UNB", "UNG") and path.tag not in msg.block.tags:
            unb = list(msg.interchange.elements)
            return path.value(unb) if path.tag == "UNB" and path.matches(unb) else None
        return _find(msg.block, path, 0, len(msg.block))

    def _spans(self, tags: list[str]) -> list[tuple[int, int]]:
        if not self.record_tag:
            return [(0, len(tags))]
        spans: list[tuple[int, int]] = []
        lo = None
        for i, tag in enumerate(tags):
            if tag == self.record_tag or tag in _ENDS:
                if lo is not None:
                    spans.append((lo, i))
                lo = i if tag == self.record_tag else None
        return spans


def _find(block: object, path: SegmentPath, lo: int, hi: int) -> str | None:
    tags = block.tags  # type: ignore[attr-defined]
    for i in range(lo, hi):
        if tags[i] == path.tag:
            el = block.elements(i)  # type: ignore[attr-defined]
            if path.matches(el):
                return path.value(el)
    return None


def _envelope_value(path: SegmentPath, ic: Interchange, size: int) -> pa.Array:
    unb = list(ic.elements)
    value = path.value(unb) if path.tag == "UNB" and path.matches(unb) else None
    return pa.array([value] * size, pa.string())


def _qualifier(qualifier: str, d: Delimiters) -> str:
    e, c = re.escape(d.element), re.escape(d.component)
    r = re.escape(d.repetition) if d.repetition else ""
    tail = "|$" if qualifier == "" else ""
    return f"^[^{e}]*(?:{e}{re.escape(qualifier)}(?:[{c}{e}{r}]|$){tail})"


def _value_pattern(path: SegmentPath, d: Delimiters) -> str:
    """Element ``path.element`` (the tag is element 0), its repetition ``path.repetition``,
    component ``path.component``: repetitions are split before components."""
    e, c = re.escape(d.element), re.escape(d.component)
    r = re.escape(d.repetition) if d.repetition else ""
    if path.repetition and not r:
        return "(?!)(?P<v>)"  # no repetition separator: only the first repetition exists
    skip = f"(?:{e}[^{e}]*){{{path.element - 1}}}" if path.element > 1 else ""
    reps = f"(?:[^{e}{r}]*{r}){{{path.repetition}}}" if path.repetition else ""
    comps = f"(?:[^{c}{e}{r}]*{c}){{{path.component}}}" if path.component else ""
    return f"^[^{e}]*{skip}{e}{reps}{comps}(?P<v>[^{c}{e}{r}]*)"


def _unescape(values: pa.Array, d: Delimiters) -> pa.Array:
    """Released characters back, as ``Block.elements`` restores them."""
    if d.release:
        values = pc.replace_substring(values, d.release, "")
    chars = [d.release, d.segment, d.element, d.component, d.repetition]
    for ph, char in zip(_PH, chars, strict=True):
        if char:
            values = pc.replace_substring(values, ph, char)
    return values
