"""How a route's input is read: one model per format, tagged by ``type``."""

from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from tradelane.edi.options import DirectoryName, Severity, StructureValidation
from tradelane.registry import FORMATS, FormatPlugin
from tradelane.spec._base import Encoding, Strict


class CsvFormat(Strict):
    """Delimited text: CSV, semicolon exports, TSV."""

    type: Literal["csv"] = Field(..., description="Selects this format.")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    quote: str = Field('"', min_length=1, max_length=1, description="Quote character.")
    escape: str | None = Field(
        None, min_length=1, max_length=1,
        description="Escape character inside quotes (e.g. a backslash), if the export uses one.",
    )
    doublequote: bool = Field(True, description='A doubled quote ("") inside quotes is a quote.')
    encoding: Encoding = Field(
        "utf-8", description="Text encoding; a UTF-8 BOM is always accepted.")
    header: bool = Field(True, description="The first row holds the column names.")
    columns: list[str] | None = Field(
        None, description="Column names when the file has no header row."
    )
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header (banners).")
    decimal: str = Field(".", min_length=1, max_length=1, description="Decimal separator.")
    thousands: str | None = Field(
        None, min_length=1, max_length=1, description="Thousands separator, e.g. '.' or ' '."
    )
    strict_columns: bool = Field(
        False, description="Reject files with columns the mapping does not know (else reported)."
    )
    chunk_rows: int = Field(
        200_000, gt=0, description="Rows per batch: bounds memory on large files."
    )

    @model_validator(mode="after")
    def _columns_if_no_header(self) -> Self:
        if not self.header and not self.columns:
            raise ValueError("header: false needs 'columns', the list of column names")
        if self.thousands and self.thousands == self.decimal:
            raise ValueError("thousands and decimal separators must differ")
        return self


class JsonFormat(Strict):
    """A JSON document holding an array of records, or JSON Lines (one record per line)."""

    type: Literal["json", "jsonl"] = Field(..., description="json: one document; jsonl: one"
                                           " record per line.")
    records: str = Field(
        "",
        description="Dotted path to the array of records ('orders', 'data.items');"
        " empty when the document itself is the array. Ignored for jsonl.",
    )
    encoding: Encoding = Field("utf-8", description="Text encoding; a UTF-8 BOM is always"
                               " accepted.")
    max_depth: int = Field(64, gt=0, description="Reject documents nested deeper than this.")
    duplicate_keys: Literal["reject", "first", "last"] = Field(
        "reject", description="An object with the same key twice: reject the file (naming the"
        " key's JSON path), or keep the first or the last value.")


class XmlFormat(Strict):
    """XML: each element named ``records`` is one record. Parsed with entities and DTDs off."""

    type: Literal["xml"] = Field(..., description="Selects this format.")
    records: str = Field(
        ..., description="Qualified name of the record element, e.g. 'cac:OrderLine'."
    )
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="Prefixes used in 'records' and field paths."
    )

    @model_validator(mode="after")
    def _prefix_declared(self) -> Self:
        prefix = self.records.split(":", 1)[0] if ":" in self.records else None
        if prefix and prefix not in self.namespaces:
            raise ValueError(f"namespace prefix {prefix!r} in 'records' is not in 'namespaces'")
        return self


class AckSpec(Strict):
    """Acknowledgements sent back for every interchange received, accepted or rejected."""

    folder: str = Field(
        ..., min_length=1, description="Folder (relative to the project) the acknowledgements"
        " are written to, e.g. outbox/acks: a CONTRL per EDIFACT interchange, a 997 per X12"
        " functional group, named '<file id>-CONTRL_<sender>_<reference>.edi' or"
        " '<file id>-997_<sender>_<ISA13>_<GS06>.x12'. Rejected files are acknowledged with"
        " their error, split-out messages with a UCM (CONTRL) or AK5*R (997) of their own."
    )


class EdifactAckSpec(AckSpec):
    """EDIFACT acknowledgements: a CONTRL per interchange, and optionally an APERAK."""

    aperak: bool = Field(
        False, description="Also answer application errors (records that fail the route's"
        " field rules) with an APERAK (D96A) per interchange: one message per failing message,"
        " referring to it (RFF+ACW its UNH reference, its document number) with an ERC and FTX"
        " per error naming the segment and element, named"
        " '<file id>-APERAK_<sender>_<reference>.edi' beside the CONTRL.")


class EdifactFormat(Strict):
    """UN/EDIFACT interchanges, read as batches of messages (UNH..UNT) of one interchange.

    Field sources are paths like ``NAD[BY].C082.3039`` (tag, qualifier, composite, component)
    or ``NAD[BY].2.1`` (1-based element, component). Header fields are read once per message;
    record fields within each record group (``LIN/QTY[21].C186.6060`` or ``QTY[21].C186.6060``).
    A repeated element (syntax 4, or a UNA that declares a repetition separator) is addressed
    by a 1-based index, ``ATT.C956[2].9019`` or ``ATT.3[2].1``; without one, the first.
    ``_interchange``, ``_group`` and ``_message`` are the record's UNB 0020, UNG 0048 and UNH
    0062. Integer and decimal fields take a comma or a full stop as the decimal mark, whatever
    the UNA says (ISO 9735). A file may hold several interchanges, each with its own UNA or
    none; the service segments are checked against the rules of their syntax version, and a
    control reference repeated in the file (UNB 0020 for the same partners, UNG 0048 or UNH
    0062 in an interchange) is refused, or split out under ``isolate_messages``.
    """

    type: Literal["edifact"] = Field(..., description="Selects this format.")
    records: str | None = Field(
        None,
        pattern=r"^(?:[A-Z0-9]{3}|SG\d{1,3})$",
        description="The segment group whose instances are the records: its name as the"
        " message's directory numbers it (SG25) or its trigger segment (LIN). Each record's"
        " field is read in its own group instance, then in each enclosing group's (a DESADV"
        " line's packaging level), then at message level. A group name needs"
        " format.directory and format.messages. Without it, each message is one record.",
    )
    messages: list[str] | None = Field(
        None, description="Accepted message types (UNH S009/0065), e.g. [ORDERS]; others are"
        " rejected."
    )
    max_segment_bytes: int = Field(
        1 << 20, gt=0, description="Reject a segment longer than this (default 1 MB): a"
        " missing terminator must not fill the memory."
    )
    isolate_messages: bool = Field(
        False, description="A message whose own UNH or UNT is wrong, or that repeats a control"
        " reference of the file (its UNH 0062 in its interchange, or sits in a repeated group"
        " or interchange), is split out (quarantined as an interchange of its own, with a fresh"
        " UNB/UNZ, reprocessable) while the other messages are delivered. Other envelope errors"
        " still reject the file. Under on_invalid: split, a message with an invalid record is"
        " split out whole too."
    )
    encoding: Encoding | None = Field(
        None, description="Decode with this codec instead of the one the UNB syntax identifier"
        " declares: for partners that declare UNOA but send latin-1, or use their own identifier."
    )
    ack: EdifactAckSpec | None = Field(
        None, description="Send a CONTRL for every interchange (and an APERAK for application"
        " errors, with aperak: true).")
    directory: DirectoryName | None = Field(
        None, description="UN/EDIFACT directory (D93A..D10B) or EANCOM subset (EAN94, EAN97,"
        " EAN02, EAN02S4) every message is validated against; without it, the one each UNH"
        " names (0052 + 0054, the EANCOM subset when 0057 says EAN...)."
    )
    validate_structure: StructureValidation = Field(
        default_factory=StructureValidation, description="Check each message against its"
        " directory: segment order and groups, mandatory segments, repeats, elements,"
        " representation, lengths and code lists; a severity per rule (reject, warn, off)."
    )
    guide: str | None = Field(
        None, min_length=1, description="Implementation guide, a YAML file"
        " relative to the mapping file and inside the mappings folder (e.g."
        " guides/partner_invoic.yaml): narrows one message type of the directory (mandatory or"
        " forbidden segments, groups and elements, lower repeat limits, fewer codes, lengths)."
        " Checked against the directory by tradelane check; messages of its type are validated"
        " against its directory (an EANCOM subset too) as it narrows it. Its violations have"
        " rules guide_<rule> and the guide's own severity (default reject)."
    )


class X12AckSpec(AckSpec):
    """X12 acknowledgements: a 997 or 999 per functional group, a TA1 per interchange."""

    type: Literal["auto", "997", "999"] = Field(
        "auto", description="997 (functional acknowledgement) or 999 (implementation"
        " acknowledgement, with IK3/IK4 segment and element errors); auto answers groups of"
        " version 005010 and later with a 999, older ones with a 997."
    )
    ta1: Literal["requested", "always", "never"] = Field(
        "requested", description="TA1 interchange acknowledgements, named"
        " '<file id>-TA1_<sender>_<ISA13>.x12': when the partner asks for one (ISA14 = 1),"
        " for every interchange, or never."
    )


class X12Format(Strict):
    """ANSI ASC X12 interchanges (ISA/IEA, GS/GE, ST/SE), read as batches of transaction sets
    of one interchange.

    Field sources are ``N1[ST].2`` (segment, qualifier matched against element 01, 1-based
    element position as in ``N102``) or ``PO1.2``; ``SEG.2.1`` picks a component, ``PER.3[2]``
    a repetition (1-based; ISA11 declares the separator from version 00402). ``ISA.6`` and
    ``GS.2`` read the envelope; ``_interchange``, ``_group`` and ``_message`` are the ISA13,
    GS06 and ST02 control numbers of the record's transaction set.
    """

    type: Literal["x12"] = Field(..., description="Selects this format.")
    records: str | None = Field(
        None, pattern=r"^[A-Z0-9]{2,3}$",
        description="Segment tag that starts each record (e.g. PO1); a record runs to the next"
        " such tag, CTT or the end of the transaction set.",
    )
    transactions: list[str] | None = Field(
        None, description="Accepted transaction set codes (ST01), e.g. ['850']."
    )
    max_segment_bytes: int = Field(1 << 20, gt=0, description="Reject longer segments.")
    encoding: Encoding = Field("latin-1", description="Text encoding of the data.")
    isolate_messages: bool = Field(
        False, description="A transaction set whose own ST/SE is wrong, or that repeats a"
        " control number of the file (ST02 in its group, or sits in a repeated GS06 or ISA13),"
        " is split out (quarantined as an X12 file of its own, reprocessable) while the others"
        " are delivered. Interchange and group structure errors still reject the file. Under"
        " on_invalid: split, a set with an invalid record is split out whole too."
    )
    ack: X12AckSpec | None = Field(
        None, description="Send a 997 or 999 for every functional group (and TA1s).")
    hipaa: Severity = Field(
        "off", description="Validate every transaction set of a HIPAA implementation guide"
        " (005010X222A1 837P, 005010X221A1 835, 005010X220A1 834, ...: the guides pyx12 ships,"
        " found by ISA12, GS01 and GS08) against it with pyx12: segments, loops, repeats,"
        " elements, codes and dates. reject quarantines the file with every finding (or splits"
        " out the set under isolate_messages) and the 999 carries them as IK3/IK4/IK5; warn"
        " delivers it with the findings in its history; off skips it. Other transaction sets"
        " (an 850) are only noted: no free definitions exist for them (ASC X12 holds the"
        " rights). true means reject. pyx12 reads about 0.2 MB/s.")
    rules: str | dict[str, Any] | None = Field(
        None, description="The route's own segment rules for a transaction set no free"
        " definitions exist for (an 850), as its partner's implementation guide states them: a"
        " YAML file relative to the mapping file and inside the mappings folder (e.g."
        " rules/partner_850.yaml), or the rules inline. They give the segments in order with"
        " min/max use, loops, each element's type (AN, ID, N0..N9, R, DT, TM), mandatory,"
        " min/max length, code lists of ID elements and syntax notes (P, R, C, E, L), and a"
        " severity per rule (reject, warn, off). Checked by tradelane check; every violation"
        " is located and answered in the 999 with IK3/IK4 codes.")

    @field_validator("hipaa", mode="before")
    @classmethod
    def _hipaa_flag(cls, value: object) -> object:
        # YAML reads a bare off (or no) as false and on as true
        if isinstance(value, bool):
            return "reject" if value else "off"
        return value

    @model_validator(mode="after")
    def _hipaa_sets(self) -> Self:
        if self.hipaa != "off" and self.transactions:
            from tradelane.formats.x12_hipaa import NO_DEFINITIONS, covered_sets

            if not set(self.transactions) & covered_sets():
                raise ValueError(
                    f"hipaa: {self.hipaa} checks none of transactions"
                    f" {', '.join(self.transactions)}: pyx12 has HIPAA guides for"
                    f" {', '.join(sorted(covered_sets()))} only; {NO_DEFINITIONS}")
        return self


class FixedField(Strict):
    """Position of one field in a fixed-width record (1-based columns, like a record layout)."""

    start: int = Field(..., ge=1, description="First column of the field (1-based).")
    width: int | None = Field(None, ge=1, description="Number of columns.")
    end: int | None = Field(None, ge=1, description="Last column (inclusive), instead of width.")
    implied_decimals: int = Field(
        0, ge=0, le=18, description="Digits after an implied decimal point: with 2,"
        " '0001234' is read as '12.34'. A trailing or leading sign (+/-) is kept."
    )
    strip: bool = Field(True, description="Strip surrounding spaces.")

    @model_validator(mode="after")
    def _width_or_end(self) -> Self:
        if (self.width is None) == (self.end is None):
            raise ValueError("give exactly one of 'width' or 'end'")
        if self.end is not None and self.end < self.start:
            raise ValueError("'end' is before 'start'")
        return self


class FixedRecordType(Strict):
    """One kind of line in a fixed-width file, recognised by its prefix."""

    prefix: str = Field("", description="Text the line starts with (e.g. 'H', 'D01').")
    fields: dict[str, FixedField] = Field(default_factory=dict, description="name -> position")
    role: Literal["header", "record", "ignore"] = Field(
        "record", description="header: its fields are the document header (field sources"
        " 'TYPE.name' in the route's header); record: each line is a record; ignore: skipped"
        " (trailers, comments)."
    )
    min_length: int | None = Field(
        None, ge=1, description="Shortest acceptable line; default: the end of the last field."
    )


class FixedFormat(Strict):
    """Fixed-width text (mainframe exports, legacy ERPs), EBCDIC included (encoding: cp037).

    Each line is matched against the record types by prefix (longest first). Field sources
    name ``TYPE.field``. Unknown and short lines are rejected with their line number.
    """

    type: Literal["fixed"] = Field(..., description="Selects this format.")
    encoding: Encoding = Field("utf-8", description="Text encoding, e.g. latin-1 or cp037.")
    record_types: dict[str, FixedRecordType] = Field(
        ..., min_length=1, description="The layouts of the file's lines, by record type.")
    record_length: int | None = Field(
        None, gt=0, description="Fixed record length without line breaks (typical of EBCDIC"
        " files): the file is cut every N bytes instead of at newlines."
    )
    unknown_lines: Literal["reject", "skip"] = Field(
        "reject", description="A line that matches no record type: reject the file or skip it."
    )
    chunk_rows: int = Field(200_000, gt=0, description="Records per batch.")


#: A route's ``format:``: validated against the spec model of its ``type`` (registered below).
FormatSpec = Annotated[Strict, FORMATS.annotation()]

_F = "tradelane.formats"
for _plugin in (
    FormatPlugin("csv", CsvFormat, f"{_F}.csv:CsvReader", writer=f"{_F}.csv:CsvWriter",
                 splittable=True),
    FormatPlugin("json", JsonFormat, f"{_F}.json:JsonReader", writer=f"{_F}.json:JsonWriter",
                 splittable=True),
    FormatPlugin("jsonl", JsonFormat, f"{_F}.json:JsonReader",
                 writer=f"{_F}.json:JsonLinesWriter", splittable=True),
    FormatPlugin("xml", XmlFormat, f"{_F}.xml:XmlReader", writer=f"{_F}.xml:XmlWriter",
                 splittable=True),
    FormatPlugin("edifact", EdifactFormat, f"{_F}.edifact:EdifactReader",
                 writer=f"{_F}.edifact_writer:EdifactWriter", splittable=True, edi=True),
    FormatPlugin("x12", X12Format, f"{_F}.x12:X12Reader", writer=f"{_F}.x12_writer:X12Writer",
                 splittable=True, edi=True),
    FormatPlugin("fixed", FixedFormat, f"{_F}.fixed:FixedReader", writer=f"{_F}.fixed:FixedWriter",
                 splittable=True),
):
    FORMATS.register(_plugin)
