"""UN/EDIFACT syntax: service characters, character sets, and the streaming tokenizer.

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

import bisect
import codecs
import functools
import mmap
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pydifact.control import Characters
from pydifact.parser import Parser
from pydifact.segments import SegmentFactory

from tradelane.errors import EmptyFile
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    CharsetViolation,
    DanglingRelease,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    SegmentTooLong,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.staging import Staged


class Repeated(list):  # type: ignore[type-arg]
    """A data element sent more than once (repetition separator): one entry per repetition,
    each a value or a list of components. Paths without an index read the first."""

    __slots__ = ()


#: pydifact's shape of an element: a value, or its components; or a ``Repeated`` of those.
Element = str | list[str]

#: Syntax identifier (UNB S001/0001) -> Python codec. UNOA/UNOB are ASCII subsets: we accept
#: the whole of ASCII (UNOA's "upper case only" is widely ignored) and nothing beyond it.
CHARSETS = {
    "UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859-2",
    "UNOE": "iso8859-5", "UNOF": "iso8859-7", "UNOG": "iso8859-3", "UNOH": "iso8859-4",
    "UNOI": "iso8859-6", "UNOJ": "iso8859-8", "UNOK": "iso8859-9", "UNOL": "iso8859-15",
    "UNOW": "utf-8", "UNOX": "utf-8", "UNOY": "utf-8",
    "IATA": "ascii", "IATB": "ascii",  # IATA PADIS interchanges (PNRGOV, PAXLST ...)
}
SYNTAX_VERSIONS = {"1", "2", "3", "4"}
# Noncharacters: never valid in interchanged text, so safe as placeholders for released chars.
_PH = ("\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3", "\ufdd4")
_LINE_BREAKS = ("\r", "\n")
_SERVICE_WS = b" \t\r\n"
DEFAULT_CHUNK = 1 << 20


@dataclass(frozen=True)
class Delimiters:
    """Service characters of an interchange (the UNA, or the defaults)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None  # syntax version 4 only
    segment: str = "'"

    @classmethod
    def from_una(cls, chars: str) -> Delimiters:
        comp, elem, dec, rel, rep, seg = chars
        return cls(comp, elem, dec, None if rel == " " else rel, None if rep == " " else rep,
                   seg)

    def una(self) -> str:
        return (f"UNA{self.component}{self.element}{self.decimal}{self.release or ' '}"
                f"{self.repetition or ' '}{self.segment}")

    def service(self) -> list[str]:
        return [c for c in (self.component, self.element, self.release, self.repetition,
                            self.segment) if c]


LEVEL_B = Delimiters("\x1f", "\x1d", ".", None, None, "\x1c")  # UNOB defaults (IS1, IS3, IS4)


@dataclass(frozen=True)
class Syntax:
    """What the head of the file declares: delimiters, character set, syntax version."""

    delimiters: Delimiters
    identifier: str
    version: str
    codec: str
    una: bool
    lead: int  # bytes of BOM/whitespace before the first segment


def read_syntax(head: bytes, encoding: str | None = None, *,
                where: Callable[[int, int | None], dict] | None = None) -> Syntax:
    """Parse UNA and the UNB syntax identifier from the first bytes of an interchange.

    ``where(n, byte)`` places an error at the interchange's n-th segment (1: UNA or UNB), the
    byte offset within ``head`` given when known; by default, in a file that starts here.
    """
    at = where or _head_where
    if not head.strip(_SERVICE_WS + b"\xef\xbb\xbf"):
        raise EmptyFile()
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    stripped = body.lstrip(_SERVICE_WS)
    lead = len(head) - len(stripped)
    clean = stripped.replace(b"\r", b"").replace(b"\n", b"")
    una = clean.startswith(b"UNA")
    if una:
        chars = clean[3:9].decode("latin-1")
        rest = clean[9:]
        if len(chars) == 6 and re.match(rb"[A-Z0-9]{3}" + re.escape(chars[1].encode()), rest) \
                and not rest.startswith(b"UNB"):
            raise NotAnInterchange(rest[:20].decode("latin-1"), "UNB after UNA", **at(2, None))
        if len(chars) < 6 or not rest.lstrip(b" ").startswith(b"UNB"):
            raise BadServiceStringAdvice(
                "UNA", "it must be 'UNA' and 6 service characters, then UNB"
                f" (found {clean[:12].decode('latin-1')!r})", **at(1, lead))
        delims = Delimiters.from_una(chars)
        used = delims.service()
        if len(set(used)) != len(used) or any(c.isalnum() for c in used):
            raise BadServiceStringAdvice("UNA", f"service characters {chars!r} must be distinct"
                                         " and not letters or digits", **at(1, lead))
        unb = rest.lstrip(b" ")
    else:
        if not clean.startswith(b"UNB"):
            raise NotAnInterchange(clean[:20].decode("latin-1"), **at(1, lead))
        delims = LEVEL_B if clean[3:4] == b"\x1d" else Delimiters()
        unb = clean
    m = re.match(rb"UNB.([A-Z]{4})(?:.(\w))?", unb, re.S)
    if not m:
        raise UnknownSyntaxIdentifier(unb[4:8].decode("latin-1", "replace"),
                                      **at(2 if una else 1, None))
    identifier, version = m.group(1).decode(), (m.group(2) or b"").decode()
    if version not in SYNTAX_VERSIONS:
        raise UnknownSyntaxIdentifier(identifier, version, **at(2 if una else 1, None))
    codec = encoding or CHARSETS.get(identifier)
    if codec is None:
        raise UnknownSyntaxIdentifier(identifier, version, **at(2 if una else 1, None))
    if una:  # the service characters must be written in the interchange's own charset
        for char in delims.service():
            try:
                char.encode(codec)
            except UnicodeEncodeError:
                raise BadServiceStringAdvice(
                    "UNA", f"service character {char!r} is not in the character set"
                    f" {identifier} declares", **at(1, lead)) from None
    if version == "4" and not una:
        delims = replace(delims, repetition="*")
    elif version != "4" and delims.repetition:
        delims = replace(delims, repetition=None)
    return Syntax(delims, identifier, version, codecs.lookup(codec).name, una, lead)


def _head_where(segment: int, byte: int | None) -> dict:
    return {"segment_index": segment, "byte_offset": byte}


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


def slow_elements(text: str, d: Delimiters) -> list[list[Element]]:
    """Tokenize complete segments one delimiter at a time: [tag, element, ...] per segment,
    in ``Block.elements``' shape. The fallback for text whose data hold a placeholder."""
    out: list[list[Element]] = []
    seg: list[Element] = []
    rep: list[Element] = []
    comps: list[str] = []
    value: list[str] = []

    def close_element() -> None:
        comps.append("".join(value))
        value.clear()
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        rep.append(list(comps) if len(comps) > 1 else comps[0])
        comps.clear()

    def close_repeated() -> None:
        close_element()
        while len(rep) > 1 and rep[-1] == "":
            rep.pop()
        seg.append(Repeated(rep) if len(rep) > 1 else rep[0])
        rep.clear()

    for m in _slow_pattern(d).finditer(text):
        released, sep, plain = m.group(1), m.group(2), m.group(3)
        if plain is not None:
            value.append(plain)
        elif released is not None:
            value.append(released)
        elif sep == d.component:
            comps.append("".join(value))
            value.clear()
        elif sep == d.repetition:
            close_element()
        elif sep == d.element:
            close_repeated()
        else:  # the segment terminator
            close_repeated()
            out.append(seg)
            seg = []
    return out


@functools.cache
def _slow_pattern(d: Delimiters) -> re.Pattern[str]:
    seps = "".join(re.escape(c) for c in (d.component, d.element, d.repetition, d.segment)
                   if c)
    rel = re.escape(d.release) if d.release else None
    stop = seps + (rel or "")
    released = f"{rel}([\\s\\S])|" if rel else "(?!)()|"
    return re.compile(f"{released}([{seps}])|([^{stop}]+)")


def pydifact_elements(text: str, d: Delimiters) -> list[list[Element]]:
    """Tokenize complete segments with pydifact's parser: [tag, element, ...] per segment.
    The reference of the differential tests (pydifact knows no repetition separator)."""
    chars = Characters(d.component, d.element, d.decimal, d.release or "\ufdd9",
                       d.repetition or " ", d.segment)
    factory = _PlainFactory()
    parser = Parser(factory=factory, characters=chars)
    return [[seg.tag, *seg.elements] for seg in parser.parse(text, chars)]


class _PlainFactory(SegmentFactory):
    """pydifact's segments without its per-directory validation (we only want the tokens)."""

    @staticmethod
    def create_segment(name: str, *elements: Element, validate: bool = True,
                       version: str = "", directory: str = "") -> object:
        from pydifact.segments import Segment

        return Segment(name, *elements)


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
