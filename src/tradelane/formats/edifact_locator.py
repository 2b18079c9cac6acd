"""Segment numbers and byte offsets of an EDIFACT file, for describing where things are."""

from __future__ import annotations

import bisect
import mmap
import re

from tradelane.formats.edifact_una import LEVEL_B, Delimiters, Syntax
from tradelane.staging import Staged


class Locator:
    """Maps segment numbers to byte offsets (and back) by rescanning the raw file.

    Only used to describe a location (an error, a record), so it is lazy: offsets are
    found on the first request and cached. Like the stream, it reads the service characters
    of each interchange again after a UNA, or at a UNB that has none.
    """

    def __init__(self, source: Staged, syntax: Syntax):
        self.source = source
        self.codec = syntax.codec
        self._pattern = self._compile(syntax.delimiters)
        self._starts: list[int] = []
        self._pos = syntax.lead
        self._done = False
        self._first = 2 if syntax.una else 1
        if syntax.una:
            self._pos = self._after_una(syntax.lead)
        self._starts.append(self._skip_breaks(self._pos))

    def _compile(self, d: Delimiters) -> re.Pattern[bytes]:
        term = re.escape(d.segment.encode(self.codec))
        rel = re.escape(d.release.encode(self.codec)) if d.release else None
        return re.compile((rel + b"[\\s\\S]|" if rel else b"") + term)

    def _after_una(self, lead: int) -> int:
        with self.source.open() as fh:
            fh.seek(lead)
            head = fh.read(64)
        return lead + _una_length(head)

    def _skip_breaks(self, pos: int) -> int:
        with self.source.open() as fh:
            fh.seek(pos)
            tail = fh.read(64)
        return pos + (len(tail) - len(tail.lstrip(b"\r\n")))

    def _scan(self, until_segment: int | None = None, until_byte: int | None = None) -> None:
        if self._done:
            return
        if self.source.data is not None:
            self._scan_in(self.source.data, until_segment, until_byte)
            return
        with self.source.open() as fh:
            if fh.seek(0, 2) == 0:
                self._done = True
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                self._scan_in(mm, until_segment, until_byte)

    def _scan_in(self, buffer: bytes | mmap.mmap, until_segment: int | None,
                 until_byte: int | None) -> None:
        size = len(buffer)
        pos = self._starts[-1]
        while True:
            match = self._pattern.search(buffer, pos)
            if match is None:
                break
            pos = match.end()
            if pos - match.start() == 2:
                continue  # a release sequence
            nxt = _skip(buffer, pos)
            if nxt >= size:
                break
            self._starts.append(nxt)
            head = buffer[nxt:nxt + 4]
            if head[:3] == b"UNA":  # a later interchange with service characters of its own
                una = buffer[nxt:nxt + 64]
                chars = una[3:].replace(b"\r", b"").replace(b"\n", b"")[:6]
                if len(chars) == 6:
                    self._pattern = self._compile(Delimiters.from_una(chars.decode("latin-1")))
                pos = _skip(buffer, nxt + _una_length(una))
                if pos >= size:
                    break
                self._starts.append(pos)
            elif head[:3] == b"UNB":  # no UNA before it: the defaults again
                self._pattern = self._compile(LEVEL_B if head[3:4] == b"\x1d" else Delimiters())
                pos = nxt
            else:
                pos = nxt
            if until_segment is not None and len(self._starts) >= until_segment:
                return
            if until_byte is not None and pos > until_byte:
                return
        self._done = True

    def byte_of(self, segment: int) -> int | None:
        want = segment - self._first + 1
        if len(self._starts) < want:
            self._scan(until_segment=want)
        return self._starts[want - 1] if 0 < want <= len(self._starts) else None

    def segment_at(self, byte: int) -> int:
        if self._starts[-1] <= byte:
            self._scan(until_byte=byte)
        return max(self._first, bisect.bisect_right(self._starts, byte) + self._first - 1)


def _una_length(head: bytes) -> int:
    """Bytes taken by a UNA at the start of ``head``: 9 characters, line breaks not counted."""
    seen = 0
    for i, b in enumerate(head):
        if b not in (10, 13):
            seen += 1
        if seen == 9:
            return i + 1
    return len(head)


def _skip(buffer: bytes | mmap.mmap, pos: int) -> int:
    """``pos`` moved past line breaks."""
    while pos < len(buffer) and buffer[pos] in (10, 13):
        pos += 1
    return pos
