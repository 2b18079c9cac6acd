"""The service string of an EDIFACT interchange: its UNA (or the defaults), and the syntax
identifier, version and character set its UNB declares.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from tradelane.errors import EmptyFile
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    NotAnInterchange,
    UnknownSyntaxIdentifier,
)

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
_SERVICE_WS = b" \t\r\n"


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
