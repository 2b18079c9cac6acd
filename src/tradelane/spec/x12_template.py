"""How records are written as X12 transaction sets (``target.format: x12``): the template the
X12 writer (``formats/x12_writer.py``) follows. It lives beside ``EdifactTemplate``: the same
placeholders, the same ``group_by`` and ``prepared``, X12's own envelope and delimiters."""

import re
import string
from typing import Literal, Self

from pydantic import Field, model_validator

from tradelane.spec._base import Duration, Encoding, Strict

#: Segments the engine writes itself: a template naming one would break the counts.
ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
#: The template's own delimiters, whatever the output uses.
TEMPLATE_ELEMENT, TEMPLATE_COMPONENT, TEMPLATE_REPETITION = "*", ">", "^"
#: GS01 of the common transaction sets (X12.6 functional identifier codes).
FUNCTIONAL_IDS = {
    "204": "SM", "210": "IM", "211": "BL", "214": "QM", "270": "HS", "271": "HB",
    "276": "HR", "277": "HN", "278": "HI", "810": "IN", "812": "CD", "820": "RA",
    "824": "AG", "830": "PS", "832": "SC", "834": "BE", "835": "HP", "837": "HC",
    "846": "IB", "850": "PO", "852": "PD", "855": "PR", "856": "SH", "857": "BS",
    "860": "PC", "861": "RC", "864": "TX", "865": "CA", "867": "PT", "869": "RS",
    "870": "RS", "875": "OG", "880": "GP", "940": "OW", "943": "AR", "944": "RE",
    "945": "SW", "947": "AW", "990": "GF", "997": "FA", "999": "FA",
}
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_PARTY = re.compile(r"^[A-Z0-9]{2}:[^:]{1,15}$")
_PLACEHOLDER = re.compile(r"{[^{}]*}")


class X12Delimiters(Strict):
    """The delimiters the output declares in its ISA. X12 has no release character: a value
    holding one of them cannot be written, and the file is quarantined saying where."""

    element: str = Field("*", min_length=1, max_length=1,
                         description="Element separator (the character after 'ISA').")
    component: str = Field(">", min_length=1, max_length=1,
                           description="Component separator (ISA16), e.g. > or :.")
    segment: str = Field("~", min_length=1, max_length=1, description="Segment terminator.")
    repetition: str = Field(
        "^", min_length=1, max_length=1,
        description="Repetition separator (ISA11) from version 00402 on; before it ISA11 is"
        " 'U' and repetitions cannot be written.")
    line_breaks: bool = Field(
        True, description="Write a line break after each segment terminator (readers skip"
        " it); false writes the interchange as one line.")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        used = [self.element, self.component, self.segment, self.repetition]
        if len(set(used)) != len(used):
            raise ValueError("the element, component, segment and repetition separators"
                             " must be four different characters")
        if any(c.isalnum() or c == " " for c in used):
            raise ValueError("a separator may not be a letter, a digit or a space")
        return self


class X12Template(Strict):
    """How to write records as X12 transaction sets (``target.format: x12``): one interchange
    (ISA/IEA) holding one functional group (GS/GE) per output file.

    Segments are written ``TAG*a*b>c`` with ``{field}`` placeholders, format specs allowed
    (``{date:%Y%m%d}``, ``{amount:.2f}``; ``{amount:N2}`` writes X12's implied decimals, 12.5
    as 1250). Header and summary segments see the header fields, the first record of the
    set, ``{line_count}`` and ``{sum_FIELD}``; line segments also see ``{line_no}``, so
    ``CTT*{line_count}`` counts the lines. ISA/GS/ST/SE/GE/IEA, SE01, GE01 and IEA01 are
    written by the engine. Templates use ``*``, ``>`` and ``^`` whatever the output's
    ``delimiters`` are. ISA13, GS06 and ST02 come from the partner's sequences
    (``x12.control_numbers`` in partners/NAME.yaml) or, without them, from a digest of the
    content.
    """

    transaction: str = Field(..., pattern=r"^\d{3}$",
                             description="Transaction set identifier (ST01), e.g. 810.")
    version: str = Field(
        "004010", pattern=r"^\d{6}[A-Z0-9]{0,6}$",
        description="GS08, e.g. 004010 or 005010; ISA12 is its first five digits.")
    convention: str | None = Field(
        None, max_length=35, description="ST03, the implementation convention reference"
        " (005010 guides), e.g. 005010X222A1.")
    functional_id: str | None = Field(
        None, pattern=r"^[A-Z]{2}$",
        description="GS01; by default the one of the transaction set (810: IN, 850: PO, 856:"
        " SH, ...).")
    sender: str | None = Field(
        None, description="ISA05:ISA06, qualifier and id, e.g. 'ZZ:TRADELANE'; defaults to"
        " our id in the route's partner (x12.our_isa_qualifier, x12.our_isa_id).")
    receiver: str | None = Field(
        None, description="ISA07:ISA08, e.g. '01:123456789'; defaults to the route's"
        " partner's (x12.isa_qualifier, x12.isa_id).")
    gs_sender: str | None = Field(
        None, min_length=2, max_length=15,
        description="GS02; defaults to the partner's x12.our_gs_id, else the ISA06 id.")
    gs_receiver: str | None = Field(
        None, min_length=2, max_length=15,
        description="GS03; defaults to the partner's x12.gs_id, else the ISA08 id.")
    usage: Literal["P", "T"] = Field("P", description="ISA15: P production, T test.")
    ack_requested: bool = Field(False, description="ISA14: ask the partner for a TA1.")
    delimiters: X12Delimiters = Field(X12Delimiters(), description="The output's delimiters.")
    encoding: Encoding = Field(
        "ascii", description="Text encoding of the output; a value it cannot hold is"
        " refused like a value holding a delimiter.")
    group_by: str | None = Field(
        None, description="Field whose value starts a new transaction set when it changes"
        " (e.g. the invoice number); without it, each batch of records is one set.")
    prepared: str | None = Field(
        None, description="Date (or datetime) field giving ISA09/ISA10 and GS04/GS05; without"
        " it, the time the ledger first recorded the file, the same for every attempt (a"
        " retry writes the very same file).")
    ack_within: Duration | None = Field(
        None, description="The partner's 997 (or 999) is expected this long after an"
        " interchange is sent, e.g. 2h: 'tradelane acks --waiting' and 'tradelane partners'"
        " show the interchanges still waiting past it, and an alert is raised once for each."
        " Without it, sent interchanges are recorded but no acknowledgement is awaited.")
    header: list[str] = Field(default_factory=list, description="Segments once per set.")
    line: list[str] = Field(default_factory=list, description="Segments once per record.")
    summary: list[str] = Field(default_factory=list, description="Segments after the lines.")

    @property
    def control_version(self) -> str:
        """ISA12."""
        return self.version[:5]

    @property
    def repeats(self) -> bool:
        """The interchange declares a repetition separator (ISA11, 00402 and later)."""
        return self.control_version >= "00402"

    @model_validator(mode="after")
    def _segments(self) -> Self:
        for name in ("sender", "receiver"):
            value = getattr(self, name)
            if value is not None and not _PARTY.match(value):
                raise ValueError(f"{name}: write it as QUALIFIER:ID, e.g. 'ZZ:TRADELANE' (a"
                                 f" two-character qualifier, an id of 1 to 15 characters)")
        if self.functional_id is None and self.transaction not in FUNCTIONAL_IDS:
            raise ValueError(f"functional_id: GS01 of transaction set {self.transaction} is"
                             " not known here: give it")
        d = self.delimiters
        output = {d.element, d.component, d.segment} | ({d.repetition} if self.repeats else set())
        ids = {"sender": (self.sender or "").partition(":")[2],
               "receiver": (self.receiver or "").partition(":")[2],
               "gs_sender": self.gs_sender or "", "gs_receiver": self.gs_receiver or ""}
        for name, value in ids.items():
            held = sorted(c for c in output if c in value)
            if held:
                raise ValueError(f"{name}: {value!r} holds {held[0]!r}, a delimiter of the"
                                 " output")
        for part in ("header", "line", "summary"):
            for i, text in enumerate(getattr(self, part)):
                where = f"{part}.{i}"
                tag = text.split(TEMPLATE_ELEMENT, 1)[0]
                if not _TAG.fullmatch(tag):
                    raise ValueError(f"{where}: {tag!r} is not an X12 segment id (2 or 3"
                                     " upper-case letters and digits, e.g. IT1)")
                if tag in ENVELOPE:
                    raise ValueError(f"{where}: {tag} is written by the engine, with its"
                                     " counts and control numbers; leave it out")
                try:
                    list(string.Formatter().parse(text))
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc} (placeholders are {{field}} or"
                                     " {field:format})") from None
                literal = _PLACEHOLDER.sub("", text)
                if TEMPLATE_REPETITION in literal and not self.repeats:
                    raise ValueError(f"{where}: '^' separates repetitions, which version"
                                     f" {self.version} cannot write (from 00402 on)")
                for c in sorted(output - {TEMPLATE_ELEMENT, TEMPLATE_COMPONENT,
                                          TEMPLATE_REPETITION}):
                    if c in literal:
                        raise ValueError(f"{where}: the text holds {c!r}, a delimiter of the"
                                         " output (X12 has no release character)")
        return self
