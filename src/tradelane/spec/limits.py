"""Safety limits of a route's input (``limits:``): a file past one is refused whole, quickly and
in bounded memory, with ``LimitExceeded`` naming the limit, the value found and where."""

from pydantic import Field

from tradelane.spec._base import Strict

MB = 1 << 20


class LimitsSpec(Strict):
    """Bounds on what one file may hold. The defaults suit business documents; raise one for a
    partner whose files legitimately need more."""

    max_columns: int = Field(
        10_000, gt=0, description="Most columns a CSV header row may have. A file with more"
        " is refused before any row is read.")
    max_header_bytes: int = Field(
        MB, gt=0, description="Longest CSV header row, in bytes: a header with no line break"
        " (a binary or mangled file) must not be read into memory whole.")
    max_field_bytes: int = Field(
        10 * MB, gt=0, description="Longest single value, in bytes: a CSV cell, a JSON string,"
        " number or key, an XML text or attribute (XML text nodes over 10 MB are refused by"
        " the parser in any case).")
    max_record_bytes: int = Field(
        8 * MB, gt=0, description="Longest record, in bytes: a CSV row (quoted line breaks"
        " included), a JSON Lines line or a fixed-width line. CSV is read in blocks no bigger"
        " than this, so it also bounds the memory a CSV file needs.")
    max_segment_bytes: int = Field(
        MB, gt=0, description="Longest EDIFACT or X12 segment, in bytes (the format's own"
        " max_segment_bytes applies too: the smaller one wins).")
    max_notes_items: int = Field(
        20, gt=0, description="Most names listed in one note or message (e.g. columns not in"
        " the mapping); the rest are counted, not listed.")
