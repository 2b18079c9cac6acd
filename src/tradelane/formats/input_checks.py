"""Checks every reader shares: compressed input named as such, and messages kept short however
much the file holds (a name list is cut, its count is not)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tradelane.errors import LimitExceeded, MalformedInput
from tradelane.formats.edi_errors import SegmentTooLong
from tradelane.staging import Staged

# (magic bytes at offset 0, name); bzip2 also carries its block magic, so that a text file
# that happens to start with "BZh" is not taken for one
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"),
          (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_BZIP2_BLOCK = b"1AY&SY"


def refuse_compressed(staged: Staged | Path) -> None:
    """A compressed file given to a text reader is named, not reported as bad text."""
    with open(staged, "rb") if isinstance(staged, Path) else staged.open() as fh:
        head = fh.read(10)
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is None and head[:3] == b"BZh" and head[3:4].isdigit() and head[4:] == _BZIP2_BLOCK:
        kind = "bzip2"
    if kind is not None:
        raise MalformedInput(f"the file is {kind}-compressed; add a decompress step or send it"
                             " uncompressed", location="byte 0", rule="compressed", value=kind)


@contextlib.contextmanager
def segment_limit(format_limit: int, route_limit: int) -> Iterator[int]:
    """The EDI segment limit in force (the smaller of the format's and ``limits:``'); a segment
    over the route's limit is a ``LimitExceeded`` naming it."""
    try:
        yield min(format_limit, route_limit)
    except SegmentTooLong as exc:
        if route_limit >= format_limit:
            raise
        raise LimitExceeded("max_segment_bytes", route_limit, exc.length,
                            location=exc.location, what="a segment") from None


def listed(names: Sequence[str], most: int) -> str:
    """``a, b, c … and 97 more``: the first ``most`` names, and how many were left out."""
    shown = ", ".join(clip(str(n), 80) for n in names[:most])
    rest = len(names) - most
    return f"{shown} … and {rest:,} more" if rest > 0 else shown


def clip(text: str, size: int = 200) -> str:
    """``text`` cut to ``size`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= size else text[:size] + "…"
