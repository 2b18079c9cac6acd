"""Mapping EDIFACT messages to records, many messages at a time, column by column.

Records are the instances of a segment group (``records: SG25`` or its trigger ``LIN``). Where
the message's directory is known (the route's ``format.directory``, else the one its UNH
names), each segment is placed in its group instances by the directory's state machine
(``edi.groups``): a record's field is read in its own group instance, then in each enclosing
one, then at message level, and ``take`` says which of several values it takes. Where it is
not, a record runs from its tag to the next one, UNS or UNT, and the first match wins.

The segments of a batch of messages are laid end to end. Each segment gets the number of its
record (and of each enclosing instance) with numpy, and each field path is cut out of the
segments carrying its tag with one regular expression (Arrow compute): no Python object per
segment or per value. Header fields are read once per message.

Blocks that needed the slow tokenizer (data containing Unicode noncharacters) are mapped by the
plain Python path, ``map_slow``, which is also the reference the fast path is tested against.

Numeric fields (``integer``, ``decimal``) take a comma or a full stop as the decimal mark
whatever the UNA says (ISO 9735): ``map`` hands them on with a full stop. ``_interchange``,
``_group`` and ``_message`` give each record its control references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tradelane.edi.groups import GROUP_NAME, GroupPlan, Tier, levels, message_directory, plan_for
from tradelane.edi.paths import directory_layouts, encloses
from tradelane.errors import ConfigError
from tradelane.formats.edi_columns import (
    SegmentTexts,
    extract,
    first_values,
    qualified,
    spread,
)
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
        self.directory = fmt.directory
        self.types = fmt.messages
        if self.record_tag and GROUP_NAME.match(self.record_tag) and not (
                self.directory and self.types):
            raise ConfigError([f"format.records: {self.record_tag} is numbered by a directory:"
                               " name format.directory and format.messages too"])
        layouts = directory_layouts(self.directory, self.types)
        #: name -> link (``_interchange``, ``_group``, ``_message``), header or record field
        self.links: dict[str, str] = {}
        #: name -> (take, separator) of every header and record field
        self.takes: dict[str, tuple[str, str]] = {}
        self.header: dict[str, SegmentPath] = {}
        for name, spec in route.header.items():
            source = (spec.source or name).strip()
            if source in LINKS:
                self.links[name] = source
            else:
                self.header[name] = compile_path(source, where=f"header.{name}.source",
                                                 layouts=layouts)
                self.takes[name] = (spec.take or "first", spec.separator)
        self.fields: dict[str, SegmentPath] = {}
        for name, spec in route.fields.items():
            source = (spec.source or name).strip()
            if source in LINKS:
                self.links[name] = source
                continue
            path = compile_path(source, where=f"fields.{name}.source", layouts=layouts)
            if path.group and path.group != self.record_tag and not encloses(
                    path.group, self.record_tag or "", self.directory, self.types):
                raise ConfigError([f"fields.{name}.source: {path.text!r} names the group"
                                   f" {path.group}, which is neither format.records"
                                   f" ({self.record_tag}) nor a group around it"])
            self.fields[name] = path
            self.takes[name] = (spec.take or "first", spec.separator)
        self.in_header = {name for name in self.links if name in route.header}
        self.numeric = [name for name, spec in (*route.fields.items(), *route.header.items())
                        if spec.type in ("integer", "decimal") and spec.decimal is None
                        and spec.thousands is None]
        #: (directory, message type) -> (record plan, header plan), None: no structure known
        self._plans: dict[tuple[str, str], tuple[GroupPlan, GroupPlan] | None] = {}
        self._tiers: dict[tuple[int, str], list[tuple[Tier, np.ndarray]]] = {}

    def map(self, msgs: Sequence[Message]) -> Mapped:
        mapped = self.map_slow(msgs) if any(m.block.parsed for m in msgs) \
            else self.map_fast(msgs)
        self._link(mapped, msgs)
        for name in self.numeric:  # ISO 9735: a comma or a full stop, whatever UNA says
            for table in (mapped.columns, mapped.header):
                if name in table:
                    table[name] = pc.replace_substring(table[name], ",", ".")
        return mapped

    def plans(self, msg: Message) -> tuple[GroupPlan, GroupPlan] | None:
        """The message's group plans (records, header), or None where tradelane has no
        structure for it (its records then run from tag to tag)."""
        key = (self.directory or message_directory(msg), msg.type)
        found = self._plans.get(key, False)
        if found is False:
            found = None
            try:
                records = plan_for(*key, self.record_tag)
            except ConfigError:
                if self.record_tag and GROUP_NAME.match(self.record_tag):
                    raise
                records = None  # the tag starts no group of this message: tag to tag
            if records is not None:
                found = (records, GroupPlan(records.sm, None, records.shapes, records.runs))
            self._plans[key] = found
        return found

    def map_fast(self, msgs: Sequence[Message]) -> Mapped:
        """Column by column: by segment groups where the structure is known, else flat."""
        # most batches hold one message type of one directory: found once, not per message
        kinds = {(m.type, m.version) for m in msgs} if self.directory is None \
            else {(m.type, ()) for m in msgs}
        if len(kinds) == 1:
            first = self.plans(msgs[0])
            return self.map_flat(msgs) if first is None else self.map_groups(msgs, first)
        plans = [self.plans(m) for m in msgs]
        return self._by_plan(msgs, plans)  # several types or directories in one interchange

    def _by_plan(self, msgs: Sequence[Message],
                 plans: list[tuple[GroupPlan, GroupPlan] | None]) -> Mapped:
        """Each message mapped with its own structure, records back in message order."""
        parts: list[tuple[np.ndarray, Mapped]] = []
        for plan in {id(p): p for p in plans}.values():
            idx = np.array([k for k, p in enumerate(plans) if p is plan], dtype=np.int64)
            sub = [msgs[k] for k in idx]
            part = self.map_flat(sub) if plan is None else self.map_groups(sub, plan)
            parts.append((idx, part))
        owners = np.concatenate([idx[m.owners] for idx, m in parts])
        order = np.argsort(owners, kind="stable")
        take = pa.array(order)

        def joined(tables: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
            return {k: pa.concat_arrays([t[k] for t in tables]).take(take) for k in tables[0]}

        return Mapped(joined([m.columns for _, m in parts]), joined([m.header for _, m in parts]),
                      np.concatenate([m.numbers for _, m in parts])[order], owners[order],
                      np.concatenate([m.starts for _, m in parts])[order])

    def tiers(self, plan: GroupPlan, name: str, path: SegmentPath
              ) -> list[tuple[Tier, np.ndarray]]:
        """Where ``path`` is read for ``plan``'s records, nearest first, each with a table of
        the structure nodes it reads (indexed by node, -1 included)."""
        key = (id(plan), name)
        found = self._tiers.get(key)
        if found is None:
            found = []
            only = None
            if path.group and plan.chain:
                only = plan.level_of(path.group)
                if only is None:
                    raise ConfigError([f"fields.{name}.source: {path.text!r}: {path.group} is"
                                       f" not a group around the records of {plan.sm.message.type}"
                                       f" in {plan.sm.message.directory}"])
            tiers = plan.tiers(path.tag, path.qualifier is not None, only) or [
                Tier(level, (), (), ()) for level in (  # not in the message:
                    range(plan.levels) if only is None else (only,))]
            for tier in tiers:  # only segments the structure has no place for can carry it
                table = np.zeros(len(plan.sm.nodes) + 1, dtype=bool)
                table[list(tier.nodes)] = True
                found.append((tier, table))
            self._tiers[key] = found
        return found

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

    # -- the fast path, by segment groups ---------------------------------------------------

    def map_groups(self, msgs: Sequence[Message],
                   plans: tuple[GroupPlan, GroupPlan]) -> Mapped:
        rplan, hplan = plans
        d = msgs[0].block.delims
        lens = np.fromiter((len(m.block.tags) for m in msgs), dtype=np.int64, count=len(msgs))
        offsets = np.zeros(len(msgs) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        msg_of = np.repeat(np.arange(len(msgs)), lens)
        base = np.fromiter((m.block.start for m in msgs), dtype=np.int64, count=len(msgs))
        nodes = _shapes(rplan, msgs)
        lost = nodes < 0  # no place in the structure: read by tag where they stand
        tags = np.array(list(chain.from_iterable(m.block.tags for m in msgs)),
                        dtype="<U3") if lost.any() else None
        rec_first = np.flatnonzero(rplan.starts[0][nodes]) if rplan.chain else offsets[:-1]
        owners = msg_of[rec_first]
        segments = SegmentTexts(m.block.segs for m in msgs)
        released = any(m.block.restore is not None for m in msgs)
        finish = (lambda values: _unescape(values, d)) if released else None
        n_recs = len(rec_first)

        def read(plan: GroupPlan, name: str, path: SegmentPath, firsts: np.ndarray,
                 size: int) -> pa.Array:
            """The value of each of ``size`` records (whose first segments are ``firsts``),
            nearest level first."""
            take, separator = self.takes[name]
            qualifier = None if path.qualifier is None else _qualifier(path.qualifier, d)
            value = _value_pattern(path, d)
            found: list[pa.Array] = []
            for tier, table in self.tiers(plan, name, path):
                number, member = lv[tier.level] if plan is rplan else hlv[tier.level]
                chosen = table[nodes] & member
                if tags is not None:
                    chosen |= lost & member & (tags == path.tag)
                if not chosen.any():
                    continue
                inst = number[firsts]
                per = _cut(segments, chosen, number, int(inst.max()) + 1 if len(inst) else 0,
                           qualifier=qualifier, value=value, finish=finish, take=take,
                           separator=separator)
                found.append(per.take(pa.array(inst)))
            if not found:
                return pa.nulls(size, pa.string())
            return found[0] if len(found) == 1 else pc.coalesce(*found)

        lv = levels(rplan, nodes, msg_of)
        hlv = lv if not rplan.chain else levels(hplan, nodes, msg_of)
        columns = {name: read(rplan, name, p, rec_first, n_recs)
                   for name, p in self.fields.items()}
        header: dict[str, pa.Array] = {}
        for name, path in self.header.items():
            if path.tag in ("UNB", "UNG"):
                header[name] = _envelope_value(path, msgs[0].interchange, n_recs)
                continue
            header[name] = read(hplan, name, path, offsets[:-1], len(msgs)).take(
                pa.array(owners))
        numbers = np.fromiter((m.number for m in msgs), dtype=np.int64, count=len(msgs))
        starts = base[owners] + (rec_first - offsets[owners])
        return Mapped(columns, header, numbers[owners], owners, starts)

    # -- the fast path, tag to tag (no structure known) ------------------------------------

    def map_flat(self, msgs: Sequence[Message]) -> Mapped:
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

        def cut(name: str, path: SegmentPath, where: np.ndarray, group: np.ndarray,
                size: int) -> pa.Array:
            qualifier = None if path.qualifier is None else _qualifier(path.qualifier, d)
            take, separator = self.takes[name]
            return _cut(segments, (tags == path.tag) & where, group, size,
                        qualifier=qualifier, value=_value_pattern(path, d), finish=finish,
                        take=take, separator=separator)

        n_recs = len(rec_first)
        in_record = rec_of >= 0
        columns = {name: cut(name, p, in_record, rec_of, n_recs)
                   for name, p in self.fields.items()}
        everywhere = np.ones(len(tags), dtype=bool)
        header: dict[str, pa.Array] = {}
        for name, path in self.header.items():
            if path.tag in ("UNB", "UNG") and not (tags == path.tag).any():
                header[name] = _envelope_value(path, msgs[0].interchange, n_recs)
                continue
            per_message = cut(name, path, everywhere, msg_of, len(msgs))
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
            plans = self.plans(msg)
            if plans is None:
                head = {name: self._header_value(msg, path, name)
                        for name, path in self.header.items()}
                spans = self._spans(block.tags)
                records = [{name: _find(block, path, lo, hi, *self.takes[name])
                            for name, path in self.fields.items()} for lo, hi in spans]
                firsts = [lo for lo, _hi in spans]
            else:
                head, records, firsts = self._slow_groups(msg, plans)
            for first, record in zip(firsts, records, strict=True):
                for name in self.fields:
                    columns[name].append(record[name])
                for name in self.header:
                    header[name].append(head[name])
                numbers.append(msg.number)
                owners.append(k)
                starts.append(block.start + first)
        return Mapped({k: pa.array(v, pa.string()) for k, v in columns.items()},
                      {k: pa.array(v, pa.string()) for k, v in header.items()},
                      np.array(numbers, dtype=np.int64), np.array(owners, dtype=np.int64),
                      np.array(starts, dtype=np.int64))

    def _slow_groups(self, msg: Message, plans: tuple[GroupPlan, GroupPlan]
                     ) -> tuple[dict[str, str | None], list[dict[str, str | None]], list[int]]:
        """One message by its groups: (header values, each record's values, each record's
        first segment), segment by segment."""
        rplan, hplan = plans
        block = msg.block
        nodes = rplan.shape(block.tags)
        here = np.zeros(len(nodes), dtype=np.int64)
        rlv, hlv = levels(rplan, nodes, here), levels(hplan, nodes, here)

        def pick(plan: GroupPlan, lv: list[tuple[np.ndarray, np.ndarray]], name: str,
                 path: SegmentPath, first: int) -> str | None:
            take, separator = self.takes[name]
            for tier, _table in self.tiers(plan, name, path):
                number, member = lv[tier.level]
                values = [path.value(block.elements(i)) for i in range(len(nodes))
                          if (nodes[i] in tier.nodes or (nodes[i] < 0
                                                         and block.tags[i] == path.tag))
                          and member[i]
                          and number[i] == number[first] and path.matches(block.elements(i))]
                if values:
                    return values[0] if take == "first" else values[-1] if take == "last" \
                        else separator.join(values)
            return None

        head = {name: self._header_value(msg, path, name) if path.tag in ("UNB", "UNG")
                else pick(hplan, hlv, name, path, 0) for name, path in self.header.items()}
        firsts = [int(i) for i in np.flatnonzero(rplan.starts[0][nodes])] if rplan.chain \
            else [0]
        records = [{name: pick(rplan, rlv, name, path, first)
                    for name, path in self.fields.items()} for first in firsts]
        return head, records, firsts

    def _header_value(self, msg: Message, path: SegmentPath, name: str) -> str | None:
        if path.tag in ("UNB", "UNG") and path.tag not in msg.block.tags:
            unb = list(msg.interchange.elements)
            return path.value(unb) if path.tag == "UNB" and path.matches(unb) else None
        return _find(msg.block, path, 0, len(msg.block), *self.takes[name])

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


def _shapes(plan: GroupPlan, msgs: Sequence[Message]) -> np.ndarray:
    """The structure node of every segment of the batch; each message shape walked once."""
    keys = ["\x1f".join(m.block.tags) for m in msgs]
    known = plan.shapes
    unique = dict.fromkeys(keys)
    for key, m in zip(keys, msgs, strict=True):
        if unique[key] is None:
            unique[key] = known.get(key)
            if unique[key] is None:
                unique[key] = plan.shape(m.block.tags)
    return np.concatenate([unique[k] for k in keys])


def _cut(segments: SegmentTexts, chosen: np.ndarray, group: np.ndarray, size: int, *,
         qualifier: str | None, value: str, finish: Callable[[pa.Array], pa.Array] | None,
         take: str, separator: str) -> pa.Array:
    """For each of ``size`` instances, the value of its ``take`` (first, last, all joined by
    ``separator``) ``chosen`` segment whose text matches ``qualifier``, or null where it has
    none. ``group`` numbers every segment's instance, in increasing order."""
    if take == "first":
        return first_values(segments, chosen, group, size, qualifier=qualifier, value=value,
                            finish=finish)
    idx, texts = qualified(segments, chosen, qualifier)
    if not len(idx):
        return pa.nulls(size, pa.string())
    groups, firsts, counts = np.unique(group[idx], return_index=True, return_counts=True)
    if take == "last":
        texts = texts.take(pa.array(firsts + counts - 1))
    values = extract(texts, value, finish)
    if take == "all":
        bounds = np.append(firsts, len(idx)).astype(np.int32)
        values = pc.binary_join(pa.ListArray.from_arrays(pa.array(bounds), values), separator)
    return spread(values, groups, size)


def _find(block: object, path: SegmentPath, lo: int, hi: int, take: str = "first",
          separator: str = ",") -> str | None:
    tags = block.tags  # type: ignore[attr-defined]
    found: list[str] = []
    for i in range(lo, hi):
        if tags[i] == path.tag:
            el = block.elements(i)  # type: ignore[attr-defined]
            if path.matches(el):
                if take == "first":
                    return path.value(el)
                found.append(path.value(el))
    if not found:
        return None
    return found[-1] if take == "last" else separator.join(found)


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
