"""One column of mapped EDI values, cut from a batch's segment texts with Arrow kernels: the
same for EDIFACT and X12, which differ only in the regexes that find a qualifier and a value."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class SegmentTexts:
    """The text of every segment of a batch's units (messages or transaction sets), as one
    Arrow array built on first use: a route that maps only envelope values never builds it."""

    def __init__(self, units: Iterable[Iterable[str]]):
        self._units = units
        self._array: pa.Array | None = None

    def take(self, idx: np.ndarray) -> pa.Array:
        if self._array is None:
            self._array = pa.array(list(chain.from_iterable(self._units)), pa.string())
        return self._array.take(pa.array(idx))


def first_values(segments: SegmentTexts, chosen: np.ndarray, group: np.ndarray, size: int, *,
                 qualifier: str | None, value: str,
                 finish: Callable[[pa.Array], pa.Array] | None = None) -> pa.Array:
    """For each of ``size`` groups, the value (regex ``value``'s first capture; "" where the
    segment lacks it) of the first ``chosen`` segment whose text matches ``qualifier``, or
    null where the group has none. ``group`` numbers every segment of the batch."""
    idx, texts = qualified(segments, chosen, qualifier)
    if not len(idx):
        return pa.nulls(size, pa.string())
    groups, firsts = np.unique(group[idx], return_index=True)
    values = extract(texts.take(pa.array(firsts)), value, finish)
    return spread(values, groups, size)


def qualified(segments: SegmentTexts, chosen: np.ndarray, qualifier: str | None
              ) -> tuple[np.ndarray, pa.Array]:
    """The numbers and texts of the ``chosen`` segments whose text matches ``qualifier``."""
    idx = np.flatnonzero(chosen)
    texts = segments.take(idx) if len(idx) else pa.array([], pa.string())
    if qualifier is not None and len(idx):
        keep = pc.match_substring_regex(texts, qualifier)
        mask = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
        idx, texts = idx[mask], texts.filter(keep)
    return idx, texts


def extract(texts: pa.Array, value: str,
            finish: Callable[[pa.Array], pa.Array] | None = None) -> pa.Array:
    """Regex ``value``'s first capture of each text ("" where the text lacks it)."""
    found = pc.extract_regex(texts, value)
    values = pc.if_else(pc.is_valid(found), pc.struct_field(found, [0]), "")
    return finish(values) if finish is not None else values


def spread(values: pa.Array, groups: np.ndarray, size: int) -> pa.Array:
    """``values`` (one per group in ``groups``, increasing) at their group's place of
    ``size``; null elsewhere."""
    slot = np.full(size, -1, np.int64)
    slot[groups] = np.arange(len(groups))
    return values.take(pa.array(slot, mask=slot < 0))
