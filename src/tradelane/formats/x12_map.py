"""Mapping X12 transaction sets to records, many sets at a time, column by column.

Paths: ``N1[ST].2`` (segment ID, qualifier matched against element 01, 1-based element as in
N102), ``PO1.2``, ``SEG.2.1`` (a component), ``PER.3[2]`` or ``PER.3[2].1`` (a repetition,
1-based; without an index the first), ``ISA.6`` / ``GS.2`` (the envelope), and the control
numbers ``_interchange`` (ISA13), ``_group`` (GS06) and ``_message`` (ST02).

As for EDIFACT, the segments of a batch are laid end to end, each gets the number of the record
it belongs to with numpy, and each path is cut out of the segments with its ID by one regular
expression (Arrow compute): no Python object per segment or per value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pyarrow as pa

from tradelane.errors import ConfigError
from tradelane.formats.edi_columns import SegmentTexts, first_values
from tradelane.formats.x12_envelope import Transaction
from tradelane.formats.x12_syntax import X12Delimiters, element_value
from tradelane.spec import RouteSpec, X12Format

_ENDS = ("ST", "CTT", "SE")  # close a record
#: record-link fields: the control number of the interchange, group and transaction set
LINKS = {"_interchange": "ISA13", "_group": "GS06", "_message": "ST02"}
_PATH = re.compile(r"^(?:[A-Z0-9]{2,3}/)?([A-Z0-9]{2,3})(?:\[([^\]]*)\])?\.(\d{1,2})"
                   r"(?:\[(\d{1,3})\])?(?:\.(\d{1,2}))?$")


@dataclass(frozen=True)
class X12Path:
    text: str
    tag: str
    qualifier: str | None
    element: int  # 1-based, as in N102 (0 is the segment ID)
    repetition: int = 0  # 0-based
    component: int = 0  # 0-based
    link: str | None = None  # one of LINKS

    def value(self, elements: Sequence[str], d: X12Delimiters) -> str:
        """This path's value in a segment split into elements ('' where it is absent)."""
        if self.element >= len(elements):
            return ""
        if self.element == 0:
            return elements[0]
        return element_value(elements[self.element], d, self.repetition, self.component)

    @property
    def envelope(self) -> bool:
        """Read from the interchange or group the set is in, not from its segments."""
        return self.link is not None or self.tag in ("ISA", "GS")


def compile_x12_path(text: str, where: str) -> X12Path:
    key = text.strip()
    if key in LINKS:
        return X12Path(key, "", None, 0, link=key)
    m = _PATH.match(key)
    if not m or (m[4] is not None and int(m[4]) < 1) or (m[5] is not None and int(m[5]) < 1):
        raise ConfigError([f"{where}: {text!r} is not an X12 path like 'N1[ST].2', 'PO1.2',"
                           f" 'PER.3[2].1' or one of {', '.join(LINKS)}"])
    rep = int(m[4]) - 1 if m[4] else 0
    comp = int(m[5]) - 1 if m[5] else 0
    return X12Path(text, m[1], m[2], int(m[3]), rep, comp)


@dataclass
class Mapped:
    """The records of a batch: string columns, per-record header values, and where each record
    starts (transaction number, owner index in the batch, absolute segment number)."""

    columns: dict[str, pa.Array]
    header: dict[str, pa.Array]
    numbers: np.ndarray
    owners: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray  # byte offset of each record's first segment

    def __len__(self) -> int:
        return len(self.starts)


class TransactionPlan:
    """The route's paths, compiled once."""

    def __init__(self, route: RouteSpec):
        fmt = route.format
        assert isinstance(fmt, X12Format)
        self.record_tag = fmt.records
        self.header = {k: compile_x12_path(s.source or k, f"header.{k}.source")
                       for k, s in route.header.items()}
        self.fields = {k: compile_x12_path(s.source or k, f"fields.{k}.source")
                       for k, s in route.fields.items()}

    def map(self, txs: Sequence[Transaction]) -> Mapped:
        d = txs[0].block.delims
        tags = np.array(list(chain.from_iterable(t.block.tags for t in txs)), dtype="<U3")
        lens = np.fromiter((len(t.block) for t in txs), np.int64, len(txs))
        first = np.zeros(len(txs) + 1, np.int64)
        np.cumsum(lens, out=first[1:])
        tx_of = np.repeat(np.arange(len(txs)), lens)
        rec_of, rec_first = self._records(tags, tx_of, first)
        owners = tx_of[rec_first]
        segments = SegmentTexts(t.block.segs for t in txs)

        def cut(path: X12Path, where: np.ndarray, group: np.ndarray, size: int) -> pa.Array:
            qualifier = None if path.qualifier is None else _qualifier(path.qualifier, d)
            return first_values(segments, (tags == path.tag) & where, group, size,
                                qualifier=qualifier, value=_value_pattern(path, d))

        def envelope(path: X12Path) -> pa.Array:
            return pa.array([_envelope(path, t, d) for t in txs], pa.string())

        n_recs = len(rec_first)
        take = pa.array(owners)
        columns = {k: envelope(p).take(take) if p.envelope else cut(p, rec_of >= 0, rec_of,
                                                                   n_recs)
                   for k, p in self.fields.items()}
        everywhere = np.ones(len(tags), bool)
        header = {k: (envelope(p) if p.envelope else cut(p, everywhere, tx_of, len(txs))
                      ).take(take) for k, p in self.header.items()}
        numbers = np.fromiter((t.number for t in txs), np.int64, len(txs))
        base = np.fromiter((t.block.start for t in txs), np.int64, len(txs))
        offsets = np.concatenate([t.block.offsets for t in txs])[rec_first] if n_recs else \
            np.zeros(0, np.int64)
        return Mapped(columns, header, numbers[owners], owners,
                      base[owners] + (rec_first - first[owners]), offsets)

    def _records(self, tags: np.ndarray, tx_of: np.ndarray,
                 first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record number of every segment (-1 outside records) and each record's first
        segment, as indices into the batch."""
        if not self.record_tag:  # one record per transaction set, ST to SE
            return tx_of, first[:-1]
        opens = tags == self.record_tag
        marker = opens | np.isin(tags, _ENDS)
        pos = np.arange(len(tags))
        last = np.maximum.accumulate(np.where(marker, pos, -1))
        number = np.cumsum(opens) - 1
        safe = np.maximum(last, 0)
        inside = (last >= 0) & opens[safe]
        return np.where(inside, number[safe], -1), np.flatnonzero(opens)


def _envelope(path: X12Path, tx: Transaction, d: X12Delimiters) -> str | None:
    if path.link == "_interchange":
        return tx.interchange.control
    if path.link == "_group":
        return tx.group.control
    if path.link == "_message":
        return tx.control
    elements = tx.interchange.elements if path.tag == "ISA" else tx.group.elements
    if path.qualifier is not None and (len(elements) < 2 or element_value(
            elements[1], d) != path.qualifier):
        return None
    return path.value(elements, d)


def _qualifier(qualifier: str, d: X12Delimiters) -> str:
    e = re.escape(d.element)
    stops = re.escape(d.element + d.component + (d.repetition or ""))
    tail = "|$" if qualifier == "" else ""
    return f"^[^{e}]*(?:{e}{re.escape(qualifier)}(?:[{stops}]|$){tail})"


def _value_pattern(path: X12Path, d: X12Delimiters) -> str:
    """Element ``path.element`` (the ID is element 0), then its repetition and component."""
    e, c = re.escape(d.element), re.escape(d.component)
    r = re.escape(d.repetition) if d.repetition else ""
    if path.element == 0:
        return f"^(?P<v>[^{e}]*)"
    if path.repetition and not r:
        return "(?P<v>$.)"  # no repetition separator: only the first repetition exists
    skip = f"(?:{e}[^{e}]*){{{path.element - 1}}}" if path.element > 1 else ""
    reps = f"(?:[^{r}{e}]*{r}){{{path.repetition}}}" if path.repetition else ""
    comps = f"(?:[^{c}{r}{e}]*{c}){{{path.component}}}" if path.component else ""
    return f"^[^{e}]*{skip}{e}{reps}{comps}(?P<v>[^{c}{r}{e}]*)"
