"""UN/EDIFACT syntax: the streaming tokenizer. (Service characters and character sets:
``edifact_una``; tokens and the slow tokenizers: ``edifact_tokens``; segment numbers and byte
offsets: ``edifact_locator``. All are re-exported here.)

The fast path never builds an object per segment. Each chunk of the file is decoded, line
breaks are dropped (they are never data in EDIFACT, and wrapped files exist), release sequences
are swapped for Unicode noncharacters, and the text is split on the segment terminator. A
segment is only split into elements when someone asks for it (the envelope asks for a few
service segments, the mapping for the segments it names). Chunks whose data already contain a
noncharacter are tokenized character by character instead (the fallback, ``slow_elements``).

A file may hold several interchanges, each with or without its own UNA: after each UNZ the
service characters are read again (a UNA, or the defaults of the next UNB's syntax version).
A repeated data element (syntax 4's repetition separator) is a ``Repeated`` list, split
before its components.
"""

from __future__ import annotations

import codecs
import functools
import operator
import re
from collections.abc import Iterator
from pathlib import Path

from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    CharsetViolation,
    DanglingRelease,
    MissingTrailer,
    NulByte,
    SegmentTooLong,
    UnexpectedSegment,
)
from tradelane.formats.edifact_locator import Locator
from tradelane.formats.edifact_tokens import Element, Repeated, pydifact_elements, slow_elements
from tradelane.formats.edifact_una import (
    CHARSETS,
    LEVEL_B,
    SYNTAX_VERSIONS,
    Delimiters,
    Syntax,
    read_syntax,
)
from tradelane.staging import Staged

# Re-exported: the syntax's pieces are imported from here by the rest of the package.
__all__ = ["CHARSETS", "LEVEL_B", "SYNTAX_VERSIONS", "Block", "Delimiters", "Element",
           "Locator", "Repeated", "SegmentStream", "Syntax", "pydifact_elements",
           "read_syntax", "slow_elements"]


# Noncharacters: never valid in interchanged text, so safe as placeholders for released chars.
_PH = ("\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3", "\ufdd4")
_LINE_BREAKS = ("\r", "\n")
DEFAULT_CHUNK = 1 << 20


class Block:
    """Consecutive segments of the file, numbered from ``start`` (1-based, UNA included).

    ``segs`` holds each segment's text with released characters swapped for placeholders, or
    (fallback) pydifact's parsed element lists. ``elements(i)`` gives pydifact's shape: the tag,
    then each element as a string or a list of components (trailing empty components dropped).
    """

    __slots__ = ("delims", "parsed", "restore", "segs", "start", "tags")

    def __init__(self, start: int, segs: list, tags: list[str], delims: Delimiters,
                 parsed: bool = False, restore: dict[int, str] | None = None):
        self.start = start
        self.segs = segs
        self.tags = tags
        self.delims = delims
        self.parsed = parsed
        self.restore = restore

    def __len__(self) -> int:
        return len(self.tags)

    def elements(self, i: int) -> list[Element]:
        if self.parsed:
            return self.segs[i]
        d = self.delims
        seg = self.segs[i]
        if d.repetition is not None and d.repetition in seg:
            return self._repeated(seg)
        out: list[Element] = []
        if self.restore is None or (seg.isascii() and d.release not in seg):
            # nothing released in this segment: no value needs restoring
            for part in seg.split(d.element):
                if d.component in part:
                    comps = part.split(d.component)
                    while len(comps) > 1 and comps[-1] == "":
                        comps.pop()
                    out.append(comps if len(comps) > 1 else comps[0])
                else:
                    out.append(part)
            return out
        for part in seg.split(d.element):
            out.append(self._element(part))
        return out

    def _repeated(self, seg: str) -> list[Element]:
        """Elements of a segment holding a repetition separator: repetitions are split before
        components (``s11:AA*s21:BB`` is two repetitions of two components each)."""
        rep = self.delims.repetition
        assert rep is not None
        out: list[Element] = []
        for part in seg.split(self.delims.element):
            if rep not in part:
                out.append(self._element(part))
                continue
            reps = [self._element(p) for p in part.split(rep)]
            while len(reps) > 1 and reps[-1] == "":
                reps.pop()  # trailing empty repetitions carry nothing
            out.append(Repeated(reps) if len(reps) > 1 else reps[0])
        return out

    def _element(self, part: str) -> Element:
        comps = part.split(self.delims.component)
        if len(comps) == 1:
            return self._value(part)
        comps = [self._value(c) for c in comps]
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        return comps if len(comps) > 1 else comps[0]

    def _value(self, text: str) -> str:
        if self.restore is None:
            return text
        if self.delims.release and self.delims.release in text:
            text = text.replace(self.delims.release, "")  # released non-delimiter: keep the char
        return text.translate(self.restore) if not text.isascii() else text

    def slice(self, lo: int, hi: int) -> Block:
        return Block(self.start + lo, self.segs[lo:hi], self.tags[lo:hi], self.delims,
                     self.parsed, self.restore)

    def concat(self, other: Block) -> Block:
        """This block followed by ``other`` (the next segments of the file)."""
        if not len(self):
            return other
        if self.parsed == other.parsed and self.restore == other.restore:
            return Block(self.start, self.segs + other.segs, self.tags + other.tags,
                         self.delims, self.parsed, self.restore)
        mine = [self.elements(i) for i in range(len(self))]
        theirs = [other.elements(i) for i in range(len(other))]
        return Block(self.start, mine + theirs, self.tags + other.tags, self.delims, True)


def _last_terminator(text: str, d: Delimiters) -> int:
    """Index of the last segment terminator that is not released, or -1."""
    pos = len(text)
    while True:
        pos = text.rfind(d.segment, 0, pos)
        if pos <= 0 or not d.release:
            return pos
        run = 0
        while pos - run - 1 >= 0 and text[pos - run - 1] == d.release:
            run += 1
        if run % 2 == 0:
            return pos


class SegmentStream:
    """Reads an interchange file chunk by chunk and yields ``Block``s of complete segments.

    ``syntax`` is what the head of the file declares. A later interchange of a concatenated
    file may declare other service characters: each block carries its own (``delims``), and a
    block never spans two interchanges.
    """

    def __init__(self, source: Staged | Path, *, max_segment_bytes: int = 1 << 20,
                 encoding: str | None = None, chunk_size: int = DEFAULT_CHUNK):
        self.source = source if isinstance(source, Staged) else Staged.file(Path(source))
        self.limit = max_segment_bytes
        self.chunk_size = max(64, min(chunk_size, max_segment_bytes))
        with self.source.open() as fh:
            self.syntax = read_syntax(fh.read(max(self.chunk_size, 4096)), encoding)
        self.locator = Locator(self.source, self.syntax)

    def where(self, *, segment: int | None = None, byte: int | None = None) -> dict:
        if segment is None and byte is not None:
            segment = self.locator.segment_at(byte)
        if byte is None and segment is not None:
            byte = self.locator.byte_of(segment)
        return {"segment_index": segment, "byte_offset": byte}

    def __iter__(self) -> Iterator[Block]:
        syn = self.syntax
        d = syn.delimiters
        strip = not any(c in d.service() for c in _LINE_BREAKS)
        decoder = codecs.getincrementaldecoder(syn.codec)("strict")
        index = 2 if syn.una else 1  # number of the next segment
        carry = ""
        boundary = False  # the text starts a new interchange whose service string is unread
        with self.source.open() as fh:
            fh.seek(syn.lead)
            pos = syn.lead
            first = True
            while True:
                data = fh.read(self.chunk_size)
                final = not data
                if b"\x00" in data:
                    raise NulByte(**self.where(byte=pos + data.index(b"\x00")))
                text = self._decode(decoder, data, final, pos)
                pos += len(data)
                if strip and ("\r" in text or "\n" in text):
                    text = text.replace("\r", "").replace("\n", "")
                if first and syn.una:
                    text = text[9:]
                first = False
                text = carry + text
                carry = ""
                start = 0  # offsets, not slices: a chunk may hold many small interchanges
                while start < len(text):
                    if boundary:
                        found = self._next_syntax(text, start, d, index, final, strip)
                        if found is None:  # too little text to read it yet
                            carry = text[start:]
                            break
                        d, start, unas = found
                        index += unas
                        boundary = False
                        continue
                    end = _interchange_end(text, start, d)
                    if end >= 0:  # after a UNZ the next interchange may declare its own UNA
                        complete, boundary = text[start:end], True
                        start = end
                    else:
                        cut = _last_terminator(text, d)
                        cut = max(cut + 1, start)
                        complete, carry, start = text[start:cut], text[cut:], len(text)
                    block = self._block(complete, index, d) if complete else None
                    n = len(block) if block else 0
                    if block and not block.parsed and n and len(block.segs[0]) > self.limit:
                        raise SegmentTooLong(self.limit, len(block.segs[0]),
                                             **self.where(segment=index))
                    if len(carry) > self.limit:
                        raise SegmentTooLong(self.limit, len(carry),
                                             **self.where(segment=index + n))
                    if block:
                        index += n
                        yield block
                if final:
                    break
        if carry.strip(" "):
            if d.release and carry.endswith(d.release):
                run = len(carry) - len(carry.rstrip(d.release))
                if run % 2:
                    raise DanglingRelease(d.release, **self.where(segment=index))
            raise MissingTrailer("segment terminator", carry[:3], **self.where(segment=index))

    def _next_syntax(self, text: str, start: int, d: Delimiters, index: int, final: bool,
                     strip: bool) -> tuple[Delimiters, int, int] | None:
        """The service characters of the interchange starting at ``text[start:]`` (after a
        UNZ): (delimiters, where its UNB starts, 1 if a UNA came first else 0); None when
        more text is needed. Anything but UNA/UNB is left to the envelope to refuse."""
        body = text[start:].lstrip(" \t\r\n")
        at = len(text) - len(body)
        if not body:
            return d, len(text), 0
        if not final and len(body) < 64:
            return None
        if not body.startswith(("UNA", "UNB")):
            return d, at, 0
        head = body[:4096].encode(self.syntax.codec, errors="replace")
        syn = read_syntax(head, self.syntax.codec,
                          where=lambda n, _byte: self.where(segment=index + n - 1))
        new = syn.delimiters
        if strip == any(c in new.service() for c in _LINE_BREAKS):
            raise BadServiceStringAdvice(
                "UNA", "an interchange of this file uses a line break as a service character"
                " and another does not; split the file", **self.where(segment=index))
        if not syn.una:
            return new, at, 0
        gap = text[at + 9:at + 73]  # read_syntax allows spaces between UNA and UNB
        return new, at + 9 + len(gap) - len(gap.lstrip(" ")), 1

    def _decode(self, decoder: codecs.IncrementalDecoder, data: bytes, final: bool,
                pos: int) -> str:
        buffered = len(decoder.getstate()[0])
        try:
            return decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            offset = pos - buffered + exc.start
            bad = (exc.object[exc.start] if exc.start < len(exc.object) else 0)
            raise CharsetViolation(self.syntax.identifier, self.syntax.codec, bad,
                                   **self.where(byte=offset)) from None

    def _block(self, complete: str, index: int, d: Delimiters) -> Block:
        restore = None
        if d.release and d.release in complete:
            if any(p in complete for p in _PH):
                parsed = slow_elements(complete, d)
                tags = [p[0] for p in parsed]
                for k, tag in enumerate(tags):
                    if not isinstance(tag, str) or not _GOOD_TAG.fullmatch(tag):
                        shown = tag if isinstance(tag, str) else str(tag)
                        raise UnexpectedSegment(shown[:12] or "(empty)", "a segment tag is 3"
                                                " letters or digits",
                                                **self.where(segment=index + k))
                return Block(index, parsed, tags, d, parsed=True)  # type: ignore[arg-type]
            pairs = [(d.release + d.release, _PH[0]), (d.release + d.segment, _PH[1]),
                     (d.release + d.element, _PH[2]), (d.release + d.component, _PH[3])]
            if d.repetition:
                pairs.append((d.release + d.repetition, _PH[4]))
            for seq, ph in pairs:
                complete = complete.replace(seq, ph)
            restore = {ord(ph): seq[1] for seq, ph in pairs}
        segs = complete.split(d.segment)
        segs.pop()
        tags = list(map(_TAG, segs))
        # Every tag is 3 letters/digits followed by an element separator or the terminator.
        # Checked on the distinct tags and 4th characters (a few), not with a regex per segment.
        if not all(map(_GOOD_TAG.fullmatch, set(tags))) \
                or not set(map(_FOURTH, segs)) <= {d.element, ""}:
            bad = _bad_tag(d).search(complete)
            assert bad is not None
            at = bad.end()
            tag = complete[at:].split(d.segment, 1)[0].split(d.element, 1)[0]
            raise UnexpectedSegment(tag[:12] or "(empty)", "a segment tag is 3 letters or digits",
                                    **self.where(segment=index + complete.count(d.segment, 0, at)))
        return Block(index, segs, tags, d, restore=restore)


def _released(text: str, at: int, d: Delimiters) -> bool:
    """Whether the character at ``at`` is released (an odd run of release characters)."""
    if not d.release:
        return False
    run = 0
    while at - run - 1 >= 0 and text[at - run - 1] == d.release:
        run += 1
    return run % 2 == 1


def _interchange_end(text: str, start: int, d: Delimiters) -> int:
    """Index just after the first complete UNZ segment in ``text[start:]``, or -1."""
    key = "UNZ" + d.element
    if text.startswith(key, start):
        at = start
    else:
        at = text.find(d.segment + key, start)
        while at >= 0 and _released(text, at, d):
            at = text.find(d.segment + key, at + 1)
        if at < 0:
            return -1
        at += 1
    end = text.find(d.segment, at)
    while end >= 0 and _released(text, end, d):
        end = text.find(d.segment, end + 1)
    return -1 if end < 0 else end + 1


_TAG = operator.itemgetter(slice(0, 3))
_FOURTH = operator.itemgetter(slice(3, 4))
_GOOD_TAG = re.compile("[A-Z0-9]{3}")


@functools.cache
def _bad_tag(d: Delimiters) -> re.Pattern[str]:
    """Finds a segment whose tag is not 3 letters/digits followed by a delimiter."""
    t, e = re.escape(d.segment), re.escape(d.element)
    return re.compile(f"(?:^|{t})(?=[\\s\\S])(?![A-Z0-9]{{3}}(?:{e}|{t}))")
