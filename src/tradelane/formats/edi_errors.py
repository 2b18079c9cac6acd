"""Rejects raised by the EDI readers (EDIFACT and X12); each carries data and builds its message.

::

    MalformedInput
    └── EdiSyntaxError                 location = "segment N (byte B)"
        ├── NotAnInterchange           junk before UNA/UNB/ISA, or no header at all
        ├── BadServiceStringAdvice     short or inconsistent UNA, short ISA
        ├── UnknownSyntaxIdentifier    UNB syntax id / version we cannot decode
        ├── CharsetViolation           bytes outside the declared character set
        ├── NulByte                    a NUL byte anywhere
        ├── DanglingRelease            the file ends with a release character
        ├── SegmentTooLong             one segment over max_segment_bytes
        ├── UnexpectedSegment          a segment where the envelope does not allow it
        ├── MissingTrailer             truncated: UNT/UNE/UNZ (SE/GE/IEA) never came
        ├── CountMismatch              UNT/UNE/UNZ (SE/GE/IEA) count differs from the actual one
        ├── ControlReferenceMismatch   trailer reference differs from the header's
        ├── DuplicateControlReference  a control reference repeated within one file
        │   └── RepeatedInterchange    an interchange twice in one file, seen after reading
        └── ServiceElementError        a service segment element missing, too long or malformed
            └── EdifactServiceError    the same in UNB..UNZ, with its 0085 code (edifact_service)
"""

from __future__ import annotations

from tradelane.errors import MalformedInput


def location(segment_index: int | None, byte_offset: int | None) -> str:
    """``segment 58 (byte 1193)``; segments count from 1, bytes from 0, as in the file."""
    if segment_index is None:
        return "" if byte_offset is None else f"byte {byte_offset}"
    where = f"segment {segment_index}"
    return where if byte_offset is None else f"{where} (byte {byte_offset})"


class EdiSyntaxError(MalformedInput):
    """Base of every EDI envelope or syntax reject."""

    rule = "edi_syntax"

    def __init__(self, message: str, *, segment_index: int | None = None,
                 byte_offset: int | None = None, value: str = ""):
        self.segment_index = segment_index
        self.byte_offset = byte_offset
        super().__init__(message, location=location(segment_index, byte_offset), rule=self.rule,
                         value=value)


class NotAnInterchange(EdiSyntaxError):
    rule = "interchange_header"

    def __init__(self, found: str, expected: str = "UNA or UNB", **where: int | None):
        self.found = found
        self.expected = expected
        shown = found[:20] + ("…" if len(found) > 20 else "")
        super().__init__(f"expected {expected} but found {shown!r}", value=found[:40], **where)


class BadServiceStringAdvice(EdiSyntaxError):
    rule = "service_string_advice"

    def __init__(self, header: str, why: str, **where: int | None):
        self.header = header
        self.why = why
        super().__init__(f"bad {header} header: {why}", value=header, **where)


class UnknownSyntaxIdentifier(EdiSyntaxError):
    rule = "syntax_identifier"

    def __init__(self, identifier: str, version: str = "", **where: int | None):
        self.identifier = identifier
        self.version = version
        what = f"{identifier}:{version}" if version else identifier
        super().__init__(
            f"unknown syntax identifier {what!r} in UNB (known: UNOA..UNOY, IATA; set the"
            " route's 'encoding' option for a partner that uses its own)",
            value=what, **where,
        )


class CharsetViolation(EdiSyntaxError):
    rule = "charset"

    def __init__(self, charset: str, codec: str, byte: int, **where: int | None):
        self.charset = charset
        self.codec = codec
        self.byte = byte
        super().__init__(
            f"byte 0x{byte:02X} is not valid in the declared character set {charset} ({codec})",
            value=f"0x{byte:02X}", **where,
        )


class NulByte(EdiSyntaxError):
    rule = "nul_byte"

    def __init__(self, **where: int | None):
        super().__init__("NUL byte (0x00) in the interchange", value="0x00", **where)


class DanglingRelease(EdiSyntaxError):
    rule = "release_at_end"

    def __init__(self, release: str, **where: int | None):
        self.release = release
        super().__init__(f"the file ends with the release character {release!r}",
                         value=release, **where)


class SegmentTooLong(EdiSyntaxError):
    rule = "segment_length"

    def __init__(self, limit: int, length: int, **where: int | None):
        self.limit = limit
        self.length = length
        super().__init__(
            f"segment longer than {limit} bytes (at least {length} bytes without a terminator)",
            value=str(length), **where,
        )


class UnexpectedSegment(EdiSyntaxError):
    rule = "envelope"

    def __init__(self, tag: str, why: str, **where: int | None):
        self.tag = tag
        self.why = why
        super().__init__(f"unexpected {tag} segment: {why}", value=tag, **where)


class MissingTrailer(EdiSyntaxError):
    rule = "truncated"

    def __init__(self, trailer: str, header: str, reference: str = "", **where: int | None):
        self.trailer = trailer
        self.header = header
        self.reference = reference
        ref = f" {reference!r}" if reference else ""
        super().__init__(f"truncated: {header}{ref} has no {trailer} trailer", value=reference,
                         **where)


class CountMismatch(EdiSyntaxError):
    rule = "control_count"
    #: what the trailer counts, by trailer tag
    COUNTED = {"UNT": "segments", "UNE": "messages", "UNZ": "messages or groups",
               "SE": "segments", "GE": "transaction sets", "IEA": "functional groups"}

    def __init__(self, trailer: str, declared: str, actual: int, reference: str = "",
                 **where: int | None):
        self.trailer = trailer
        self.declared = declared
        self.actual = actual
        self.reference = reference
        ref = f" of {reference!r}" if reference else ""
        counted = self.COUNTED.get(trailer, "items")
        super().__init__(f"{trailer}{ref} declares {declared} {counted} but there are {actual}",
                         value=declared, **where)


class SegmentCountMismatch(CountMismatch):
    """UNT (or SE) segment count differs from the segments actually in the message."""

    def __init__(self, declared: str, actual: int, trailer: str = "UNT", reference: str = "",
                 **where: int | None):
        super().__init__(trailer, declared, actual, reference, **where)


class ControlReferenceMismatch(EdiSyntaxError):
    rule = "control_reference"

    def __init__(self, trailer: str, header_ref: str, trailer_ref: str, **where: int | None):
        self.trailer = trailer
        self.header_ref = header_ref
        self.trailer_ref = trailer_ref
        super().__init__(
            f"{trailer} control reference {trailer_ref!r} does not match the header's"
            f" {header_ref!r}",
            value=trailer_ref, **where,
        )


class DuplicateControlReference(EdiSyntaxError):
    """The same control reference twice where it must be unique: an interchange repeated in
    one file, a group repeated in its interchange, a message repeated in its group."""

    rule = "duplicate_control_reference"

    def __init__(self, element: str, reference: str, first_segment: int | None,
                 **where: int | None):
        self.element = element  # where the reference is: ISA13, GS06, ST02, UNB 0020, ...
        self.reference = reference
        self.first_segment = first_segment
        first = f" at segment {first_segment}" if first_segment is not None else ""
        super().__init__(f"{element} {reference!r} repeats the one{first}; a control reference"
                         " is delivered once", value=reference, **where)


class ServiceElementError(EdiSyntaxError):
    """An element of a service segment (ISA, GS, ST, UNB, ...) breaks the syntax rules:
    missing, too short or long, or not of its representation (digits, a date, a code)."""

    rule = "service_element"

    def __init__(self, element: str, why: str, value: str = "", **where: int | None):
        self.element = element  # ISA09, GS04, ST02, or a segment tag for element counts
        self.why = why
        super().__init__(f"{element} {value!r} {why}" if value else f"{element} {why}",
                         value=value, **where)


class RepeatedInterchange(DuplicateControlReference):
    """An interchange (sender, recipient, control reference) that came earlier in the same
    file, met after reading (``checking``): a reader that does not refuse repeats itself
    never gets one delivered twice."""

    def __init__(self, key: tuple[str, str, str], first_segment: int | None,
                 **where: int | None):
        self.key = key
        sender, recipient, ref = key
        super().__init__(f"interchange from {sender} to {recipient}", ref, first_segment,
                         **where)
