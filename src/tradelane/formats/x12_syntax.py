"""ANSI ASC X12 syntax: the delimiters an ISA declares, and the streaming tokenizer.

The ISA is 106 characters with its separators at fixed positions: the element separator is
the character after ``ISA``, ISA11 the repetition separator (control version 00402 and later,
unless it is ``U``), ISA16 the component separator, and the character right after ISA16 the
segment terminator. Nothing else is guessed; every ISA of a file declares its own.

The file is read in chunks. Line breaks that are not the terminator are never data: they are
removed, so CR, LF or CRLF after each terminator and a file wrapped at any width read alike.
Blanks before a segment ID (indentation) are skipped; nothing inside a segment is trimmed.
A ``Block`` holds complete segments as text with each one's byte offset, so that every error
can say where it is; segments are split into elements only when someone asks.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradelane.errors import EmptyFile
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    CharsetViolation,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    SegmentTooLong,
)
from tradelane.formats.x12_codes import coded
from tradelane.staging import Staged

ISA_LENGTH = 106
#: Positions of the element separator inside the ISA.
ISA_SEPARATORS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
DEFAULT_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_BLANKS = " \t\r\n"
_GOOD_TAG = re.compile("[A-Z0-9]{2,3}")
#: Codecs with one byte per character: character offsets are byte offsets.
_NARROW = ("ascii", "latin-1", "iso8859", "cp125", "cp037", "cp437", "cp850", "cp500", "mac-")


@dataclass(frozen=True)
class X12Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None = None

    def chars(self) -> set[str]:
        return {c for c in (self.element, self.component, self.segment, self.repetition) if c}


def read_isa(text: str, *, segment_index: int,
             byte_offset: int) -> tuple[X12Delimiters, str, int]:
    """The delimiters of the ISA that ``text`` starts with, the ISA's text (without its
    terminator), and how many characters of ``text`` it takes up to and including its
    terminator (line breaks of a wrapped file included)."""
    where = {"segment_index": segment_index, "byte_offset": byte_offset}
    head = text[:4096]  # enough for an ISA wrapped at any width
    if "\r" in head[:ISA_LENGTH - 1] or "\n" in head[:ISA_LENGTH - 1]:  # wrapped: drop breaks
        kept = [k for k, ch in enumerate(head) if ch not in "\r\n"]
        isa = "".join(head[k] for k in kept)
        used = kept[ISA_LENGTH - 1] + 1 if len(kept) >= ISA_LENGTH else len(head)
    else:
        isa, used = head, ISA_LENGTH
        if head[ISA_LENGTH - 1:ISA_LENGTH] in ("\r", "\n"):
            # a line break right after ISA16 is the terminator, unless the text goes on with a
            # delimiter (a file wrapped exactly there)
            rest = head[ISA_LENGTH:].lstrip("\r\n")
            if rest and not rest[0].isalnum():
                isa = head[:ISA_LENGTH - 1] + rest[0]
                used = len(head) - len(rest) + 1
    if len(isa) < ISA_LENGTH:
        raise coded(BadServiceStringAdvice("ISA", f"the ISA must be {ISA_LENGTH} characters"
                                           " (it is short)", **where), ta1="022")
    elem = isa[3]
    if elem.isalnum() or elem in _BLANKS or any(isa[i] != elem for i in ISA_SEPARATORS):
        raise coded(BadServiceStringAdvice(
            "ISA", f"the ISA must be {ISA_LENGTH} characters with the element separator"
            " at fixed positions (short or padded wrongly)", **where), ta1="026")
    component, term = isa[104], isa[105]
    if component.isalnum() or component == elem or component in _BLANKS:
        raise coded(BadServiceStringAdvice(
            "ISA", f"ISA16 component separator {component!r} must be a delimiter other than"
            " the element separator", **where), ta1="027")
    if term.isalnum() or term in (elem, component) or term in " \t":
        raise coded(BadServiceStringAdvice(
            "ISA", f"no usable segment terminator after ISA16 ({term!r})", **where), ta1="004")
    version, rep = isa[84:89], isa[82]
    repetition = rep if version >= "00402" and not rep.isalnum() and rep not in _BLANKS else None
    if repetition is not None and repetition in (elem, component, term):
        raise coded(BadServiceStringAdvice(
            "ISA", f"ISA11 repetition separator {rep!r} is already another delimiter", **where),
            ta1="026")
    return X12Delimiters(elem, component, term, repetition), isa[:ISA_LENGTH - 1], used


def _isa_at(text: str, at: int) -> bool:
    return text[at:at + 16].replace("\r", "").replace("\n", "").startswith("ISA")


def _whole_isa(text: str, at: int) -> bool:
    """``text`` holds the whole ISA from ``at`` on (and a little more), line breaks aside."""
    head = text[at:at + 4096]
    return len(head) == 4096 or len(head.replace("\r", "").replace("\n", "")) > ISA_LENGTH + 2


@functools.cache
def _after_terminator(term: str, strip: str) -> re.Pattern[str]:
    return re.compile(re.escape(term) + "[" + re.escape(strip) + "]+")


class Block:
    """Consecutive segments of one interchange, numbered from ``start`` (1-based in the file).

    ``segs`` holds each segment's text without its terminator, ``tags`` its segment ID and
    ``offsets`` the byte offset of its first character in the file.
    """

    __slots__ = ("delims", "offsets", "segs", "start", "tags")

    def __init__(self, start: int, segs: list[str], tags: list[str], offsets: np.ndarray,
                 delims: X12Delimiters):
        self.start, self.segs, self.tags = start, segs, tags
        self.offsets, self.delims = offsets, delims

    def __len__(self) -> int:
        return len(self.tags)

    def elements(self, i: int) -> list[str]:
        """The segment's elements as text (the ID first); see ``element_value``."""
        return self.segs[i].split(self.delims.element)

    def where(self, i: int) -> dict[str, int]:
        return {"segment_index": self.start + i, "byte_offset": int(self.offsets[i])}

    def slice(self, lo: int, hi: int) -> Block:
        return Block(self.start + lo, self.segs[lo:hi], self.tags[lo:hi], self.offsets[lo:hi],
                     self.delims)

    def first_bad_tag(self) -> int | None:
        """Index of the first segment whose ID is not 2-3 upper-case letters or digits."""
        if all(map(_GOOD_TAG.fullmatch, set(self.tags))):
            return None
        return next(k for k, t in enumerate(self.tags) if not _GOOD_TAG.fullmatch(t))


def join(blocks: list[Block]) -> Block:
    """Consecutive blocks of one interchange as one (a transaction set that spans chunks)."""
    if len(blocks) == 1:
        return blocks[0]
    segs: list[str] = []
    tags: list[str] = []
    for b in blocks:
        segs.extend(b.segs)
        tags.extend(b.tags)
    return Block(blocks[0].start, segs, tags, np.concatenate([b.offsets for b in blocks]),
                 blocks[0].delims)


def element_value(raw: str, d: X12Delimiters, repetition: int = 0,
                  component: int = 0) -> str:
    """One value of an element: its ``repetition``-th repetition (0-based; without a
    repetition separator there is only the first) and that one's ``component``-th component."""
    if d.repetition is not None:
        reps = raw.split(d.repetition)
        if repetition >= len(reps):
            return ""
        raw = reps[repetition]
    elif repetition:
        return ""
    comps = raw.split(d.component)
    return comps[component] if component < len(comps) else ""


def parse_segment(text: str, d: X12Delimiters) -> list[list[list[str]]]:
    """A segment as elements -> repetitions -> components (the ID is element 0)."""
    out = []
    for element in text.split(d.element):
        reps = element.split(d.repetition) if d.repetition else [element]
        out.append([rep.split(d.component) for rep in reps])
    return out


def segment_text(elements: list[list[list[str]]] | list, d: X12Delimiters) -> str:
    """``parse_segment`` undone (terminator not included). Plain strings are elements of one
    value; lists of strings, components of one repetition."""
    parts = []
    for element in elements:
        if isinstance(element, str):
            parts.append(element)
            continue
        reps = element if element and isinstance(element[0], list) else [element]
        if len(reps) > 1 and d.repetition is None:
            raise ValueError("repeated element but the interchange has no repetition separator")
        parts.append((d.repetition or "").join(d.component.join(c) for c in reps))
    return d.element.join(parts)


class SegmentStream:
    """Reads an X12 file chunk by chunk and yields ``Block``s of complete segments."""

    def __init__(self, source: Staged | Path, *, max_segment_bytes: int = 1 << 20,
                 encoding: str = "latin-1", chunk_size: int = DEFAULT_CHUNK):
        self.source = source if isinstance(source, Staged) else Staged.file(Path(source))
        self.limit = max_segment_bytes
        self.chunk_size = max(256, min(chunk_size, max(max_segment_bytes, 256)))
        self.codec = codecs.lookup(encoding).name
        self.narrow = self.codec.startswith(_NARROW)
        self.delims: X12Delimiters | None = None  # of the interchange being read

    def __iter__(self) -> Iterator[Block]:
        decoder = codecs.getincrementaldecoder(self.codec)("strict")
        text, base = "", 0  # text not yet made into segments, and the byte offset of text[0]
        index, pos, first = 1, 0, True  # next segment number; file offset of the next read
        with self.source.open() as fh:
            while True:
                data = fh.read(self.chunk_size)
                final = not data
                if first:
                    first = False
                    if data.startswith(_BOM):
                        data, pos, base = data[3:], 3, 3
                if b"\x00" in data:
                    at = pos + data.index(b"\x00")
                    raise coded(NulByte(segment_index=None, byte_offset=at), ta1="024")
                text += self._decode(decoder, data, final, pos)
                pos += len(data)
                while True:
                    if self.delims is None:
                        if not text.strip(_BLANKS):
                            if final and index == 1:
                                raise EmptyFile()
                            break
                        found = self._start(text, base, index, final)
                        if found is None:
                            break  # more text is needed for the ISA
                        self.delims = found
                    block, used, changed = self._tokenize(text, base, index, final)
                    if block is not None:
                        index += len(block)
                        yield block
                    base += self._bytes(text[:used])
                    text = text[used:]
                    if not changed:
                        break
                    self.delims = None  # the next interchange declares other delimiters
                if len(text) > self.limit and self.delims is not None:
                    raise coded(SegmentTooLong(self.limit, len(text), segment_index=index,
                                               byte_offset=base), ta1="024")
                if final:
                    break
        rest = text.lstrip(_BLANKS)
        if rest:
            raise coded(MissingTrailer("segment terminator", rest[:3], segment_index=index,
                                       byte_offset=base + self._bytes(text[:len(text)
                                                                           - len(rest)])),
                        ta1="023")

    def _decode(self, decoder: codecs.IncrementalDecoder, data: bytes, final: bool,
                pos: int) -> str:
        buffered = len(decoder.getstate()[0])
        try:
            return decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start] if exc.start < len(exc.object) else 0
            raise coded(CharsetViolation(self.codec, self.codec, bad, segment_index=None,
                                         byte_offset=pos - buffered + exc.start),
                        ta1="024") from None

    def _bytes(self, text: str) -> int:
        return len(text) if self.narrow or text.isascii() else len(text.encode(self.codec))

    def _start(self, text: str, base: int, index: int, final: bool) -> X12Delimiters | None:
        """The delimiters of the ISA ``text`` starts with (after blanks), or None if more
        text is needed to see it whole."""
        lead = len(text) - len(text.lstrip(_BLANKS))
        if not final and not _whole_isa(text, lead):
            return None
        where = {"segment_index": index, "byte_offset": base + self._bytes(text[:lead])}
        if not _isa_at(text, lead):
            raise coded(NotAnInterchange(text[lead:lead + 20], "ISA", **where), ta1="022")
        return read_isa(text[lead:], **where)[0]

    def _split(self, complete: str, term: str, strip: str,
               start: int) -> tuple[list[str], np.ndarray, list[str]]:
        """``complete`` (whole segments) as segment texts without the blanks before each ID,
        the byte offset of each, and the raw pieces between terminators."""
        raw = complete.split(term)
        raw.pop()
        data = complete.encode(self.codec, "replace") if self.narrow or complete.isascii() \
            else None
        if data is not None and len(term) == 1 and len(data) == len(complete):
            # one byte per character: the offsets straight from the bytes, with numpy
            arr = np.frombuffer(data, np.uint8)
            ends = np.flatnonzero(arr == ord(term)) if ord(term) < 256 else None
            if ends is not None and len(ends) == len(raw):
                offsets = np.zeros(len(raw), np.int64)
                offsets[1:] = ends[:-1] + 1
                if strip and any(c in complete for c in strip):
                    blank = np.zeros(256, bool)
                    blank[[ord(c) for c in strip]] = True
                    while True:  # skip the blanks before each ID (a few rounds at most)
                        more = (offsets < ends) & blank[arr[np.minimum(offsets, len(arr) - 1)]]
                        if not more.any():
                            break
                        offsets[more] += 1
                    segs = _after_terminator(term, strip).sub(term, complete).split(term)
                    segs.pop()
                    if segs and segs[0][:1] in strip:
                        segs[0] = segs[0].lstrip(strip)
                else:
                    segs = raw
                return segs, offsets + start, raw
        segs = [s.lstrip(strip) for s in raw] if any(c in complete for c in strip) else raw
        if complete.isascii() or self.narrow:
            raw_len = np.fromiter(map(len, raw), np.int64, len(raw))
        else:
            raw_len = np.fromiter((len(s.encode(self.codec)) for s in raw), np.int64, len(raw))
        offsets = np.zeros(len(raw), np.int64)
        if len(raw) > 1:
            np.cumsum(raw_len[:-1] + self._bytes(term), out=offsets[1:])
        offsets += start
        if segs is not raw:  # blanks skipped before a segment ID (ASCII: one byte each)
            offsets += np.fromiter(map(len, raw), np.int64, len(raw)) - np.fromiter(
                map(len, segs), np.int64, len(segs))
        return segs, offsets, raw

    def _tokenize(self, text: str, base: int, index: int,
                  final: bool) -> tuple[Block | None, int, bool]:
        """The complete segments at the start of ``text``: (block, characters used, whether
        the next interchange declares other delimiters)."""
        lead = len(text) - len(text.lstrip(_BLANKS))
        head: list[str] = []
        head_at: list[int] = []
        pos0 = 0
        if _isa_at(text, lead):  # an ISA ends at its fixed length, whatever it holds
            if not final and not _whole_isa(text, lead):
                return None, 0, False
            at = base + self._bytes(text[:lead])
            self.delims, isa, used = read_isa(text[lead:], segment_index=index, byte_offset=at)
            head, head_at, pos0 = [isa], [at], lead + used
        d = self.delims
        assert d is not None
        term = d.segment
        body = text[pos0:]
        cut = body.rfind(term)
        complete = body[:cut + len(term)] if cut >= 0 else ""
        start_byte = base + self._bytes(text[:pos0])
        strip = "".join(c for c in _BLANKS if c not in d.chars())
        segs, offsets, raw = self._split(complete, term, strip, start_byte)
        breaks = [c for c in "\r\n" if c != term]
        if any(c in complete for c in breaks):  # a wrapped file: line breaks are never data
            joined = term.join(segs)
            for c in breaks:
                joined = joined.replace(c, "")
            segs = joined.split(term) if segs else []
        if head:
            segs, offsets = head + segs, np.concatenate([np.array(head_at, np.int64), offsets])
        if segs and max(map(len, segs)) > self.limit:
            k = next(k for k, s in enumerate(segs) if len(s) > self.limit)
            raise coded(SegmentTooLong(self.limit, len(segs[k]), segment_index=index + k,
                                       byte_offset=int(offsets[k])), ta1="024")
        tags = [s.partition(d.element)[0] for s in segs]
        used, changed = pos0 + len(complete), False
        k = -1
        while "IEA" in tags[k + 1:]:
            k = tags.index("IEA", k + 1)
            if k + 1 >= len(tags) or not segs[k + 1].startswith("ISA"):
                continue
            # where the next ISA starts in ``body`` (its text was split with our terminator)
            start = sum(len(s) + len(term) for s in raw[:k + 1 - len(head)])
            nxt = body[start:]
            try:
                delims, isa, _ = read_isa(nxt.lstrip(_BLANKS), segment_index=index + k + 1,
                                          byte_offset=int(offsets[k + 1]))
                same = delims == d and isa == segs[k + 1]
            except BadServiceStringAdvice:
                same = False  # reported, with its place, once that ISA is read on its own
            if not same:  # the rest is read again with the next interchange's delimiters
                used, changed = pos0 + start, True
                segs, tags, offsets = segs[:k + 1], tags[:k + 1], offsets[:k + 1]
                break
        if not segs:
            return None, used, changed
        return Block(index, segs, tags, offsets, d), used, changed
