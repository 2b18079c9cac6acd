"""Route specs (``mappings/*.yaml``) and engine settings (``tradelane.yaml``).

Every option is declared once, here, with its description; that declaration both documents
and validates the YAML. ``load_project()`` reports every problem in every file at once, each
as ``file: dotted.path: message``, by raising one ``ConfigError``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tradelane.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``5m``, ``1.5h``, ``2d``, ``250ms`` or a plain number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write it like 30s, 5m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ROUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Strict(BaseModel):
    """Base for every spec model: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# Sources


class SourceSpec(Strict):
    """Where the route's files come from, and when a file counts as completely written."""

    folder: str | None = Field(
        None, description="Local folder to poll, relative to the project root or absolute."
    )
    sftp: str | None = Field(None, description="Name of an SFTP connection in tradelane.yaml.")
    path: str | None = Field(None, description="Remote folder on the SFTP connection.")
    pattern: str = Field("*", description="Glob that file names must match, e.g. 'ORD*.csv'.")
    ignore: list[str] = Field(
        default_factory=list,
        description="Extra globs to skip, on top of *.part, *.tmp, *.filepart and dot-files.",
    )
    min_age: Duration = Field(
        timedelta(seconds=5),
        description="Ignore files modified more recently: they may still be uploading.",
    )
    stable: bool = Field(
        False,
        description="Also require size and mtime unchanged across two listings min_age apart.",
    )
    done_marker: str | None = Field(
        None,
        description="Only take a file once this marker exists, e.g. '{name}.done' or '{stem}.ok'."
        " The marker is removed with the file.",
    )
    after: Literal["archive", "delete", "leave", "move"] = Field(
        "archive",
        description="What happens to the original after delivery: archive (local: into"
        " archive/<route>/<date>/), move (SFTP: into move_to), delete, or leave (the ledger"
        " alone prevents reprocessing).",
    )
    move_to: str | None = Field(None, description="Remote folder for after: move.")
    order: Literal["oldest", "name"] = Field(
        "oldest", description="Processing order within one poll: oldest mtime first, or by name."
    )
    max_size: int | None = Field(
        None, description="Reject files larger than this many bytes.", gt=0
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if bool(self.folder) == bool(self.sftp):
            raise ValueError("give exactly one of 'folder' or 'sftp'")
        if self.sftp and not self.path:
            raise ValueError("an sftp source needs 'path', the remote folder")
        if self.after == "move" and not self.move_to:
            raise ValueError("after: move needs 'move_to', the folder to move files into")
        return self


# ---------------------------------------------------------------------------------------------
# Formats

Encoding = Annotated[str, BeforeValidator(lambda v: _check_encoding(v))]


def _check_encoding(value: Any) -> str:
    import codecs

    try:
        codecs.lookup(str(value))
    except LookupError:
        raise ValueError(
            f"unknown encoding {value!r} (try utf-8, utf-8-sig, cp1252, latin-1)") from None
    return str(value)


class CsvFormat(Strict):
    """Delimited text: CSV, semicolon exports, TSV."""

    type: Literal["csv"]
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
    def _columns_if_no_header(self) -> CsvFormat:
        if not self.header and not self.columns:
            raise ValueError("header: false needs 'columns', the list of column names")
        if self.thousands and self.thousands == self.decimal:
            raise ValueError("thousands and decimal separators must differ")
        return self


class JsonFormat(Strict):
    """A JSON document holding an array of records, or JSON Lines (one record per line)."""

    type: Literal["json", "jsonl"]
    records: str = Field(
        "",
        description="Dotted path to the array of records ('orders', 'data.items');"
        " empty when the document itself is the array. Ignored for jsonl.",
    )
    encoding: Encoding = "utf-8"
    max_depth: int = Field(64, gt=0, description="Reject documents nested deeper than this.")


class XmlFormat(Strict):
    """XML: each element named ``records`` is one record. Parsed with entities and DTDs off."""

    type: Literal["xml"]
    records: str = Field(
        ..., description="Qualified name of the record element, e.g. 'cac:OrderLine'."
    )
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="Prefixes used in 'records' and field paths."
    )

    @model_validator(mode="after")
    def _prefix_declared(self) -> XmlFormat:
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


class EdifactFormat(Strict):
    """UN/EDIFACT interchanges, read as batches of messages (UNH..UNT) of one interchange.

    Field sources are paths like ``NAD[BY].C082.3039`` (tag, qualifier, composite, component)
    or ``NAD[BY].2.1`` (1-based element, component). Header fields are read once per message;
    record fields within each record group (``LIN/QTY[21].C186.6060`` or ``QTY[21].C186.6060``).
    """

    type: Literal["edifact"]
    records: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]{3}$",
        description="Segment tag that starts each record (e.g. LIN); a record runs to the next"
        " such tag, the UNS section control or the end of the message. Without it, each"
        " message is one record.",
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
        False, description="A message whose own UNT is wrong is split out (quarantined as an"
        " interchange of its own, with a fresh UNB/UNZ, reprocessable) while the other messages"
        " are delivered. Envelope errors still reject the file. Under on_invalid: split, a"
        " message with an invalid record is split out whole too."
    )
    encoding: Encoding | None = Field(
        None, description="Decode with this codec instead of the one the UNB syntax identifier"
        " declares: for partners that declare UNOA but send latin-1, or use their own identifier."
    )
    ack: AckSpec | None = Field(None, description="Send a CONTRL for every interchange.")


class X12Format(Strict):
    """ANSI ASC X12 interchanges (ISA/IEA, GS/GE, ST/SE). Each transaction set is one batch.

    Field sources are ``N1[ST].2`` (segment, qualifier matched against element 01, 1-based
    element position as in ``N102``) or ``PO1.2`` ; ``SEG.2.1`` picks a component.
    """

    type: Literal["x12"]
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
    ack: AckSpec | None = Field(None, description="Send a 997 for every functional group.")


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
    def _width_or_end(self) -> FixedField:
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

    type: Literal["fixed"]
    encoding: Encoding = Field("utf-8", description="Text encoding, e.g. latin-1 or cp037.")
    record_types: dict[str, FixedRecordType] = Field(..., min_length=1)
    record_length: int | None = Field(
        None, gt=0, description="Fixed record length without line breaks (typical of EBCDIC"
        " files): the file is cut every N bytes instead of at newlines."
    )
    unknown_lines: Literal["reject", "skip"] = Field(
        "reject", description="A line that matches no record type: reject the file or skip it."
    )
    chunk_rows: int = Field(200_000, gt=0, description="Records per batch.")


FormatSpec = Annotated[
    CsvFormat | JsonFormat | XmlFormat | EdifactFormat | X12Format | FixedFormat,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------------------------
# Fields

FieldType = Literal["string", "integer", "decimal", "date", "datetime", "boolean"]


class FieldSpec(Strict):
    """One field of a record: where it comes from and the rules its value must follow."""

    source: str | None = Field(
        None,
        description="Column name (CSV), dotted path (JSON), relative XPath (XML). Defaults to"
        " the field name.",
    )
    type: FieldType = "string"
    required: bool = Field(False, description="An empty or missing value is an error.")
    default: str | None = Field(None, description="Value used when the input is empty.")
    pattern: str | None = Field(None, description="Regular expression the whole value matches.")
    enum: list[str] | None = Field(None, description="Allowed values.")
    codes: str | None = Field(
        None,
        description="CSV file (relative to mappings/) whose first column lists allowed values.",
    )
    min: float | str | None = Field(None, description="Smallest allowed number or date.")
    max: float | str | None = Field(None, description="Largest allowed number or date.")
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=1)
    format: str | None = Field(
        None, description="strptime format for date/datetime input, e.g. '%d.%m.%Y'."
    )
    output_format: str | None = Field(
        None, description="strftime format for dates in the output; ISO 8601 by default."
    )
    decimal: str | None = Field(None, description="Decimal separator; defaults to the format's.")
    thousands: str | None = Field(
        None, description="Thousands separator; defaults to the format's.")
    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "y", "1", "t"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "n", "0", "f"])
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _rules_fit_type(self) -> FieldSpec:
        numeric = self.type in ("integer", "decimal")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is None:
                continue
            if numeric and not isinstance(value, int | float):
                raise ValueError(f"{bound} must be a number for {self.type} fields")
            if self.type in ("date", "datetime"):
                _iso_bound(value, bound)
            if self.type in ("string", "boolean"):
                raise ValueError(f"{bound} does not apply to a {self.type} field")
        if self.format and self.type not in ("date", "datetime"):
            raise ValueError("format applies only to date and datetime fields")
        return self


def _iso_bound(value: Any, name: str) -> None:
    from datetime import date, datetime

    try:
        datetime.fromisoformat(str(value)) if not isinstance(value, date) else None
    except ValueError:
        raise ValueError(f"{name} must be an ISO date like 2024-01-31") from None


# ---------------------------------------------------------------------------------------------
# Transform


class LookupSpec(Strict):
    """Add a field by looking a key up in a CSV table."""

    field: str = Field(..., description="Name of the new field.")
    key: str = Field(..., description="Existing field whose value is looked up.")
    table: str = Field(..., description="CSV file relative to mappings/.")
    key_column: str = Field(..., description="Column of the table matched against the key.")
    value_column: str = Field(..., description="Column of the table that becomes the new field.")
    on_missing: Literal["reject", "empty", "keep"] = Field(
        "reject",
        description="A key not in the table: reject the record, leave the field empty, or copy"
        " the key itself.",
    )


class DeriveSpec(Strict):
    """A computed field: an arithmetic expression over fields, or a text template."""

    expr: str | None = Field(None, description="Arithmetic over fields, e.g. 'qty * price'.")
    template: str | None = Field(None, description="Text template, e.g. '{order_id}-{line}'.")
    round: int | None = Field(None, description="Round a numeric result to this many decimals.")

    @model_validator(mode="after")
    def _one_kind(self) -> DeriveSpec:
        if bool(self.expr) == bool(self.template):
            raise ValueError("give exactly one of 'expr' or 'template'")
        return self


class TransformSpec(Strict):
    """Declarative mapping, applied in the order of the options below."""

    copy_header: list[str] = Field(
        default_factory=list, description="Header fields copied into every record."
    )
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    lookups: list[LookupSpec] = Field(default_factory=list)
    derive: dict[str, DeriveSpec] = Field(default_factory=dict)
    hook: str | None = Field(
        None,
        description="'package.module:function' taking and returning a pandas DataFrame, for"
        " what YAML cannot say. Called with (records, header).",
    )
    rename: dict[str, str] = Field(default_factory=dict, description="field -> output name")
    output: list[str] | None = Field(
        None, description="Output columns in order (after rename); default: all of them."
    )


# ---------------------------------------------------------------------------------------------
# Targets


class CsvOutput(Strict):
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: Encoding = "utf-8"
    header: bool = True
    decimal: str = Field(".", min_length=1, max_length=1)
    neutralise_formulas: bool = Field(
        True,
        description="Prefix cells starting with = + - @ tab or CR with a quote so spreadsheets"
        " do not run them. Numbers are never touched.",
    )


class XmlOutput(Strict):
    root: str = "records"
    record: str = "record"


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SECRET_HEADER = re.compile(r"auth|key|token|secret|password|cookie|session", re.IGNORECASE)
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
#: Placeholders of an HTTP envelope; {records} is the batch itself (or the record, per_record).
ENVELOPE_NAMES = frozenset({"records", "route", "name", "sha256", "file_id", "batch", "batches",
                            "count"})


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class EnvValue(Strict):
    """A header value read from the environment when the request is made (a secret)."""

    env: str = Field(..., description="Name of the environment variable.")
    prefix: str = Field("", description="Text before the value, e.g. 'Token '.")

    @field_validator("env")
    @classmethod
    def _variable(cls, value: str) -> str | None:
        return _env_name(value)


class HttpAuth(Strict):
    """Credentials for an HTTP target; the secrets themselves stay in the environment."""

    bearer_env: str | None = Field(
        None, description="Variable holding a token sent as 'Authorization: Bearer <token>'."
    )
    basic_user: str | None = Field(None, description="User name for HTTP basic auth.")
    basic_password_env: str | None = Field(
        None, description="Variable holding the password for HTTP basic auth."
    )

    @field_validator("bearer_env", "basic_password_env")
    @classmethod
    def _variable(cls, value: str | None) -> str | None:
        return _env_name(value)

    @model_validator(mode="after")
    def _one_kind(self) -> HttpAuth:
        if bool(self.basic_user) != bool(self.basic_password_env):
            raise ValueError("basic auth needs both 'basic_user' and 'basic_password_env'")
        if bool(self.bearer_env) == bool(self.basic_user):
            raise ValueError("give exactly one of 'bearer_env' or 'basic_user'")
        return self


class HttpTimeouts(Strict):
    """Every request has all four timeouts: a hung server must never hang the engine."""

    connect: Duration = Field(timedelta(seconds=10), description="Opening the connection.")
    read: Duration = Field(timedelta(seconds=60), description="Waiting for each chunk of reply.")
    write: Duration = Field(timedelta(seconds=60), description="Sending each chunk of body.")
    pool: Duration = Field(timedelta(seconds=10), description="Waiting for a free connection.")


class HttpRetry(Strict):
    """Retries of one request after a temporary failure (5xx, timeout, dropped connection)."""

    attempts: int = Field(
        5, ge=1, le=100,
        description="Tries per request, the first included. When they are used up the file stays"
        " pending and an alert is raised; it is never quarantined for this.",
    )
    backoff: Duration = Field(
        timedelta(seconds=1), description="Wait before the first retry; doubles, with jitter."
    )
    max_backoff: Duration = Field(timedelta(seconds=60), description="Longest wait between tries.")
    max_retry_after: Duration = Field(
        timedelta(minutes=2),
        description="Longest Retry-After (429, 503) waited for; a longer one leaves the file"
        " pending until then.",
    )
    status: list[int] = Field(
        [408, 409, 425, 429, 500, 502, 503, 504],
        description="Status codes retried; every other 5xx is retried too. Other 4xx reject the"
        " data (quarantine) unless listed in 'unavailable_status'.",
    )


class HttpTargetSpec(Strict):
    """Push the records to an HTTP API as JSON: batched, idempotent, retried."""

    url: str = Field(..., description="Endpoint, e.g. https://crm.example/api/orders.")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    batch: int = Field(500, ge=1, le=100_000, description="Records per request (a JSON array).")
    per_record: bool = Field(
        False, description="One request per record, whose body is the record object itself."
    )
    headers: dict[str, str | EnvValue] = Field(
        default_factory=dict,
        description="Extra headers; secrets as {env: NAME}, e.g. X-Api-Key: {env: CRM_KEY}.",
    )
    auth: HttpAuth | None = None
    timeouts: HttpTimeouts = HttpTimeouts()
    verify: bool = Field(True, description="Verify the server's TLS certificate. Leave it on.")
    ca_bundle: str | None = Field(
        None, description="PEM file of CAs trusted for this target (relative to the project)."
    )
    retry: HttpRetry = HttpRetry()
    rate_limit: str | None = Field(
        None, description="Most requests per time unit, e.g. '10/s', '600/m', '1000/h'."
    )
    envelope: dict[str, Any] | None = Field(
        None,
        description="JSON body template around each batch, e.g. {orders: '{records}', source:"
        " '{route}'}. Placeholders: {records} (a whole value, exactly once) {route} {name}"
        " {sha256} {file_id} {batch} {batches} {count}. Text is substituted, never evaluated.",
    )
    idempotency_header: str = Field(
        "Idempotency-Key", description="Header carrying each request's idempotency key."
    )
    unavailable_status: list[int] = Field(
        [401, 403, 404, 405, 407],
        description="4xx codes that mean the target is misconfigured, not the data wrong: the"
        " file stays pending and an alert is raised.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("no credentials in the URL: use 'auth' with an environment variable")
        if parts.fragment:
            raise ValueError("the URL may not have a #fragment")
        return value

    @field_validator("headers")
    @classmethod
    def _safe_headers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if isinstance(item, str) and _SECRET_HEADER.search(name):
                raise ValueError(f"header {name!r} looks secret: give it as {{env: VARIABLE}}")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and (not _RATE.match(value) or float(_RATE.match(value)[1]) <= 0):
            raise ValueError(f"{value!r} is not a rate: write it like 10/s, 600/m or 1000/h")
        return value

    @field_validator("envelope")
    @classmethod
    def _envelope(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        strings = list(_strings_in(value))
        if sum(s == "{records}" for s in strings) != 1:
            raise ValueError("the envelope needs '{records}' exactly once, as a whole value")
        for text in strings:
            names = set(re.findall(r"{([^{}]*)}", text))
            if "records" in names and text != "{records}":
                raise ValueError("'{records}' must be a whole value, not part of a text")
            if names - ENVELOPE_NAMES:
                raise ValueError(f"unknown placeholder(s) {sorted(names - ENVELOPE_NAMES)};"
                                 f" known: {sorted(ENVELOPE_NAMES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpTargetSpec:
        if self.ca_bundle and not self.verify:
            raise ValueError("'ca_bundle' needs 'verify: true'")
        if self.auth and any(n.lower() == "authorization" for n in self.headers):
            raise ValueError("give either 'auth' or an Authorization header, not both")
        if self.per_record and "batch" in self.model_fields_set and self.batch != 1:
            raise ValueError("per_record sends one record per request: leave 'batch' out")
        return self

    @property
    def records_per_request(self) -> int:
        return 1 if self.per_record else self.batch

    @property
    def requests_per_second(self) -> float | None:
        match = _RATE.match(self.rate_limit) if self.rate_limit else None
        if not match:
            return None
        return float(match[1]) / {"s": 1, "m": 60, "h": 3600}[match[2]]


def _strings_in(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


class EdifactTemplate(Strict):
    """How to write records as EDIFACT messages (``target.format: edifact``).

    Segments are written ``TAG+a+b:c`` with ``{field}`` placeholders, format specs allowed
    (``{date:%Y%m%d}``, ``{amount:.2f}``). Header and summary segments see the header fields,
    the first record of the message, ``{line_count}``, ``{message_ref}`` and ``{sum_FIELD}``
    (the sum of a numeric field over the message); line segments also see ``{line_no}``.
    Values are escaped with the release character. UNH/UNT/UNB/UNZ and all counts are
    written by the engine.
    """

    message: list[str] = Field(..., min_length=4,
                               description="UNH S009, e.g. [INVOIC, D, 96A, UN, EAN008].")
    sender: str = Field(..., min_length=1, description="UNB sender, e.g. '4012345000009:14'.")
    recipient: str = Field(..., min_length=1, description="UNB recipient, e.g. 'BUYER:ZZ'.")
    syntax: str = Field("UNOC:3", pattern=r"^UNO[A-Z]:[1-4]$",
                        description="UNB syntax identifier and version.")
    group_by: str | None = Field(
        None, description="Field whose value starts a new message when it changes (e.g. the"
        " invoice number); without it, each batch of records is one message."
    )
    prepared: str | None = Field(
        None, description="Date (or datetime) field giving the UNB preparation date/time, so"
        " that a retry writes the very same file; without it, the current UTC time is used."
    )
    header: list[str] = Field(default_factory=list, description="Segments once per message.")
    line: list[str] = Field(default_factory=list, description="Segments once per record.")
    summary: list[str] = Field(default_factory=list, description="Segments after the lines.")


class FixedOutput(Strict):
    """Fixed-width output layout (``target.format: fixed``) for non-fixed input."""

    prefix: str = Field("", description="Text each line starts with.")
    fields: dict[str, FixedField] = Field(..., min_length=1, description="name -> columns")
    encoding: Encoding = Field("utf-8", description="Text encoding, e.g. latin-1 or cp037.")


class TargetSpec(Strict):
    """Where and how the transformed records are delivered."""

    folder: str | None = Field(None, description="Local output folder.")
    sftp: str | None = Field(None, description="Name of an SFTP connection in tradelane.yaml.")
    path: str | None = Field(None, description="Remote folder to upload into (sftp targets).")
    http: HttpTargetSpec | None = Field(None, description="Push the records to an HTTP API.")
    format: Literal["csv", "json", "jsonl", "xml", "edifact", "fixed"] = "json"
    name: str = Field(
        "{stem}.{ext}",
        description="Output file name. Placeholders: {route} {stem} {name} {ext} {sha8}"
        " {file_id} {date} {time}. It must be the same for every retry of one file.",
    )
    csv: CsvOutput = CsvOutput()
    xml: XmlOutput = XmlOutput()
    edifact: EdifactTemplate | None = Field(None, description="Message template (edifact).")
    fixed: FixedOutput | None = Field(
        None, description="Layout for fixed output; default: the input's first record type."
    )
    json_indent: int | None = Field(None, ge=0, le=8)

    @field_validator("name")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        known = {"route", "stem", "name", "ext", "sha8", "file_id", "date", "time"}
        used = set(re.findall(r"{(\w+)[^}]*}", value))
        if used - known:
            raise ValueError(
                f"unknown placeholder(s) {sorted(used - known)}; known: {sorted(known)}")
        if "/" in value or "\\" in value:
            raise ValueError("the name may not contain a path separator")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        if sum(bool(kind) for kind in (self.folder, self.sftp, self.http)) != 1:
            raise ValueError("give exactly one of 'folder', 'sftp' or 'http'")
        if self.sftp and not self.path:
            raise ValueError("an sftp target needs 'path', the remote folder")
        if self.format == "edifact" and self.edifact is None:
            raise ValueError("format edifact needs 'edifact', the message template")
        return self


# ---------------------------------------------------------------------------------------------
# Schedules and expected arrivals (``tradelane serve``)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_cron(value: str | None) -> str | None:
    if value is None:
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron expression (minute hour day month "
                         f"weekday, e.g. '0 2 * * *'): {exc}") from None
    return value


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone, e.g. Europe/Berlin or UTC") from None
    return value


def _clock_time(value: Any) -> Any:
    """``"06:00"``; YAML 1.1 reads an unquoted ``6:00`` as 360 (minutes), so accept that too."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


class ExpectSpec(Strict):
    """A file must arrive on this route by a time of day; serve alerts when it has not."""

    by: Annotated[time, BeforeValidator(_clock_time)] = Field(
        ..., description="Deadline as HH:MM in the route's time zone, e.g. '06:00'."
    )
    every: str | list[str] = Field(
        "daily",
        description="Days a file is expected: daily, weekday (Mon-Fri) or a list like [mon, thu]."
        " A file counts if it arrived after the previous expected deadline.",
    )

    @field_validator("every")
    @classmethod
    def _known_days(cls, value: str | list[str]) -> str | list[str]:
        days = [value] if isinstance(value, str) else value
        allowed = ("daily", "weekday") if isinstance(value, str) else WEEKDAYS
        bad = [d for d in days if d not in allowed]
        if bad or not days:
            raise ValueError(f"{', '.join(map(repr, bad)) or 'an empty list'}: write daily,"
                             f" weekday or a list of {', '.join(WEEKDAYS)}")
        return value

    @property
    def days(self) -> frozenset[int]:
        """Expected weekdays, Monday = 0."""
        if self.every == "daily":
            return frozenset(range(7))
        if self.every == "weekday":
            return frozenset(range(5))
        return frozenset(WEEKDAYS.index(d) for d in self.every)


class RouteSpec(Strict):
    """One partner feed: source -> format -> fields -> transform -> target."""

    name: str = Field(..., description="Route name; defaults to the YAML file's stem.")
    description: str = ""
    source: SourceSpec
    format: FormatSpec
    header: dict[str, FieldSpec] = Field(
        default_factory=dict,
        description="Fields read once per document (XML/JSON/EDI paths from the root).",
    )
    fields: dict[str, FieldSpec] = Field(..., min_length=1)
    transform: TransformSpec = TransformSpec()
    on_invalid: Literal["reject", "split"] = Field(
        "reject",
        description="reject: quarantine the whole file if any record is bad. split: deliver the"
        " valid records and quarantine the bad ones as a separate file with its reason.",
    )
    target: TargetSpec
    workers: int = Field(
        1, ge=1, le=32,
        description="Files of this route processed at once. 1 keeps the source's order"
        " strictly (oldest first, or by name); more trades order for throughput on many"
        " small files.",
    )
    schedule: str | None = Field(
        None, description="When serve polls the route, as cron (minute hour day month weekday),"
        " e.g. '0 2 * * *', in the route's time zone. A run missed while serve was down runs"
        " once at start.",
    )
    every: Duration | None = Field(
        None, description="Poll interval for serve, e.g. 5m. Routes with neither schedule nor"
        " every are polled every serve.poll.",
    )
    watch: bool = Field(
        False, description="Watch the local source folder: a file is processed seconds after"
        " it lands (once older than min_age). A full rescan still runs every 'every'.",
    )
    timezone: str | None = Field(
        None, description="Time zone of schedule and expect, e.g. Europe/Berlin; defaults to"
        " the timezone of tradelane.yaml.",
    )
    expect: ExpectSpec | None = Field(
        None, description="A file must arrive by a time of day, e.g. {by: '06:00', every:"
        " weekday}; otherwise serve raises an 'overdue' alert.",
    )
    # Filled in by the loader, not by the YAML:
    spec_path: Path | None = Field(None, exclude=True)
    version: str = Field("", exclude=True, description="Hash of the spec and its tables.")
    base_dir: Path | None = Field(None, exclude=True)

    _check_schedule = field_validator("schedule")(classmethod(lambda cls, v: _check_cron(v)))
    _check_tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @field_validator("every")
    @classmethod
    def _positive_every(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() <= 0:
            raise ValueError("must be longer than 0s")
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not ROUTE_NAME.match(value):
            raise ValueError("use lower-case letters, digits, '_' and '-' (at most 64)")
        return value

    def resolve(self, relative: str) -> Path:
        """A path from the spec, relative to the mappings folder."""
        path = Path(relative)
        return path if path.is_absolute() else (self.base_dir or Path.cwd()) / path


# ---------------------------------------------------------------------------------------------
# Engine settings


class FoldersSpec(Strict):
    inbox: str = "inbox"
    outbox: str = "outbox"
    archive: str = "archive"
    quarantine: str = "quarantine"
    spool: str = ".tradelane/spool"


_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


class SftpConnection(Strict):
    """An SFTP server. Secrets are never written here: only the file or variable holding them.

    The host key is always verified, against ``known_hosts`` or a pinned ``fingerprint``.
    """

    host: str = Field(..., min_length=1, description="Server name or address.")
    port: int = Field(22, gt=0, lt=65536, description="TCP port.")
    user: str = Field(..., min_length=1, description="Login name.")
    key_file: str | None = Field(
        None, description="Private key file (OpenSSH format), relative to the project root."
    )
    key_env: str | None = Field(
        None, description="Environment variable holding the private key text itself."
    )
    key_passphrase_env: str | None = Field(
        None, description="Environment variable holding the private key's passphrase."
    )
    password_env: str | None = Field(
        None, description="Environment variable holding a password (prefer a key)."
    )
    known_hosts: str | None = Field(
        None,
        description="OpenSSH known_hosts file listing the server's key. `tradelane sftp trust`"
        " appends to it after confirmation.",
    )
    fingerprint: str | None = Field(
        None,
        description="Pinned SHA256 fingerprint of the server's host key, as `ssh-keygen -l`"
        " prints it: 'SHA256:...'.",
    )
    connect_timeout: Duration = Field(
        timedelta(seconds=10), description="Give up opening the TCP connection after this."
    )
    banner_timeout: Duration = Field(
        timedelta(seconds=15), description="Wait this long for the server's SSH banner."
    )
    auth_timeout: Duration = Field(
        timedelta(seconds=15), description="Wait this long for the server to accept the login."
    )
    channel_timeout: Duration = Field(
        timedelta(seconds=30),
        description="A single SFTP request (list, open, read, rename) that gets no answer for"
        " this long fails, and the file stays pending.",
    )
    keepalive: Duration = Field(
        timedelta(seconds=15),
        description="Send an SSH keepalive this often, so idle firewalls keep the connection;"
        " 0 turns it off.",
    )
    transfer_deadline: Duration = Field(
        timedelta(hours=1),
        description="Hard limit for one file's download or upload; past it the partial copy is"
        " removed and the file is retried later.",
    )
    connect_attempts: int = Field(
        3, ge=1, le=10, description="Tries to connect before the poll gives up."
    )
    retry_backoff: Duration = Field(
        timedelta(seconds=1), description="Wait before the second connection attempt; doubles."
    )
    parallel: int = Field(
        4, ge=1, le=16,
        description="SFTP channels (on one connection) used to fetch many small files at once.",
    )

    @field_validator("fingerprint")
    @classmethod
    def _sha256_fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not _FINGERPRINT.match(value):
            raise ValueError("write it as ssh-keygen -l prints it: 'SHA256:' + 43 base64 chars")
        return value

    @model_validator(mode="after")
    def _host_key_and_login(self) -> SftpConnection:
        if bool(self.known_hosts) == bool(self.fingerprint):
            raise ValueError("give exactly one of 'known_hosts' or 'fingerprint': the server's"
                             " host key is always verified")
        if self.key_file and self.key_env:
            raise ValueError("give only one of 'key_file' or 'key_env'")
        if not (self.key_file or self.key_env or self.password_env):
            raise ValueError("give 'key_file' or 'key_env' (or 'password_env') to log in")
        return self


class Connection(Strict):
    """A named connection to a remote system, referred to by routes."""

    sftp: SftpConnection | None = Field(None, description="An SFTP server.")

    @model_validator(mode="after")
    def _one_kind(self) -> Connection:
        if not self.sftp:
            raise ValueError("give the connection's kind, e.g. 'sftp'")
        return self


class WebhookSpec(Strict):
    """Alerts POSTed as JSON to a URL (Slack-compatible: the body carries a 'text' key)."""

    url: str | None = Field(None, description="Endpoint; prefer url_env if it holds a token.")
    url_env: str | None = Field(None, description="Variable holding the URL (a secret).")
    headers: dict[str, EnvValue] = Field(
        default_factory=dict,
        description="Extra headers read from the environment, e.g. {Authorization: {env:"
        " ALERT_TOKEN, prefix: 'Bearer '}}.",
    )
    timeout: Duration = Field(timedelta(seconds=10), description="Per request.")

    _check_env = field_validator("url_env")(classmethod(lambda cls, v: _env_name(v)))

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSpec:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        return self


class SmtpSpec(Strict):
    """Alerts sent as e-mail."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(..., min_length=1, description="Mail server.")
    port: int = Field(25, gt=0, lt=65536, description="25, 587 (starttls) or 465 (ssl).")
    sender: str = Field(..., alias="from", description="From address.")
    to: list[str] = Field(..., min_length=1, description="Recipients.")
    user: str | None = Field(None, description="Login name, if the server needs one.")
    password_env: str | None = Field(None, description="Variable holding the password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(False, description="Connect with TLS from the start (port 465).")
    timeout: Duration = Field(timedelta(seconds=10), description="Per connection.")

    _check_env = field_validator("password_env")(classmethod(lambda cls, v: _env_name(v)))


class AlertsSpec(Strict):
    """Where alerts go (always also to the log) and when a problem becomes an alert.

    Each incident alerts once: a quarantined file, a file pending too long, an expected file
    that is overdue, a source unreachable for several polls in a row.
    """

    webhook: WebhookSpec | None = Field(None, description="POST each alert as JSON.")
    smtp: SmtpSpec | None = Field(None, description="E-mail each alert.")
    pending_after: Duration = Field(
        timedelta(hours=1), description="Alert when a file stays pending this long."
    )
    unreachable_polls: int = Field(
        3, ge=1, description="Alert when a route's source fails this many polls in a row."
    )
    check_every: Duration = Field(
        timedelta(minutes=1), description="How often serve looks for new incidents."
    )


class HealthSpec(Strict):
    """Liveness of ``tradelane serve``."""

    port: int | None = Field(
        None, gt=0, lt=65536, description="Serve GET /healthz on this port (off by default)."
    )
    host: str = Field("127.0.0.1", description="Address the health endpoint binds to.")
    heartbeat: Duration = Field(
        timedelta(seconds=30), description="How often serve writes its heartbeat to the ledger."
    )


class ServeSpec(Strict):
    """How ``tradelane serve`` runs routes."""

    workers: int = Field(2, ge=1, le=64, description="Routes processed in parallel.")
    poll: Duration = Field(
        timedelta(minutes=1),
        description="Poll interval of routes without schedule or every (and watched folders'"
        " rescan).",
    )
    debounce: Duration = Field(
        timedelta(milliseconds=200), description="Folder events closer than this wake one poll."
    )
    stop_timeout: Duration = Field(
        timedelta(seconds=80),
        description="On SIGTERM, how long to wait for the files in hand (keep it below"
        " systemd's TimeoutStopSec, 90s by default).",
    )


class ConsoleSpec(Strict):
    """The ops web console (``tradelane console``). Secrets are never written here."""

    bind: str = Field(
        "127.0.0.1", description="Address to listen on. Loopback only unless set otherwise:"
        " put it behind a TLS reverse proxy before exposing it."
    )
    port: int = Field(8470, gt=0, lt=65536, description="Port to listen on.")
    user: str = Field("ops", min_length=1, description="Name of the single ops user.")
    password_env: str = Field(
        "TRADELANE_CONSOLE_PASSWORD",
        description="Environment variable holding the ops user's password.",
    )
    password_file: str | None = Field(
        None, description="File holding the password (first line), used when the environment"
        " variable is not set."
    )
    secret_env: str = Field(
        "TRADELANE_CONSOLE_SECRET", description="Environment variable holding the key that"
        " signs session cookies. Unset: a random key per start (everyone logs in again)."
    )
    secret_file: str | None = Field(None, description="File holding the session key instead.")
    session_max_age: Duration = Field(
        timedelta(hours=8), description="A login lasts this long."
    )
    secure_cookie: bool = Field(
        False, description="Send the session cookie over HTTPS only (behind a TLS proxy)."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names browsers may use to reach the console"
        " (guards against DNS rebinding). Empty: localhost names when bound to loopback,"
        " any otherwise."
    )


class Settings(Strict):
    """``tradelane.yaml``: engine-wide settings. Every key is optional."""

    ledger: str = Field(
        "sqlite:///.tradelane/ledger.db",
        description="SQLAlchemy URL of the ledger. TRADELANE_LEDGER_URL overrides it.",
    )
    mappings: str = Field("mappings", description="Folder holding the route specs.")
    folders: FoldersSpec = FoldersSpec()
    max_reason_errors: int = Field(
        100, gt=0, description="Errors listed in a reason file; error_count keeps the total."
    )
    lease: Duration = Field(
        timedelta(minutes=15),
        description="How long a claim lasts; a crashed worker's files are retaken after it.",
    )
    retry_backoff: Duration = Field(
        timedelta(seconds=30), description="First wait before retrying a pending file; doubles."
    )
    retry_max_backoff: Duration = Field(timedelta(hours=1))
    connections: dict[str, Connection] = Field(
        default_factory=dict,
        description="Named remote systems (SFTP servers) that routes refer to by name.",
    )
    worker: str = Field(
        default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}",
        description="Name of this worker in the ledger's events.",
    )
    timezone: str = Field(
        "UTC", description="Default time zone of routes' schedule and expect, e.g. Europe/Berlin."
    )
    alerts: AlertsSpec = Field(AlertsSpec(), description="Alert channels and thresholds.")
    health: HealthSpec = Field(HealthSpec(), description="Health endpoint and heartbeat.")
    serve: ServeSpec = Field(ServeSpec(), description="Workers, polling and shutdown of serve.")
    console: ConsoleSpec = Field(ConsoleSpec(), description="The ops web console.")
    root: Path = Field(Path("."), exclude=True)

    _check_tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    def path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.root / path

    @property
    def ledger_url(self) -> str:
        url = os.environ.get("TRADELANE_LEDGER_URL") or self.ledger
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            relative = url.removeprefix("sqlite:///")
            if relative and relative != ":memory:":
                return f"sqlite:///{(self.root / relative).resolve()}"
        return url


class Project(BaseModel):
    """Everything loaded from one project folder."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    settings: Settings
    routes: dict[str, RouteSpec]

    def route(self, name: str) -> RouteSpec:
        try:
            return self.routes[name]
        except KeyError:
            known = ", ".join(sorted(self.routes)) or "none"
            raise ConfigError([f"no route named {name!r} (routes: {known})"]) from None


# ---------------------------------------------------------------------------------------------
# Loading


def load_project(root: Path | str = ".", config: Path | str | None = None) -> Project:
    """Load ``tradelane.yaml`` and every route; raise one ConfigError listing every problem."""
    root = Path(root).resolve()
    config_path = Path(config) if config else root / "tradelane.yaml"
    if config and not config_path.is_absolute():
        config_path = (Path.cwd() / config_path).resolve()
    if config:
        root = config_path.parent
    problems: list[str] = []
    settings = _load_settings(config_path, root, problems)
    routes: dict[str, RouteSpec] = {}
    mappings_dir = settings.path(settings.mappings) if settings else root / "mappings"
    if not mappings_dir.is_dir():
        problems.append(f"{_rel(mappings_dir, root)}: the mappings folder does not exist")
    else:
        for spec_path in sorted(mappings_dir.glob("*.yaml")) + sorted(mappings_dir.glob("*.yml")):
            route = load_route(spec_path, root, problems)
            if route is None:
                continue
            if settings is not None:
                _check_connections(route, settings, _rel(spec_path, root), problems)
            if route.name in routes:
                problems.append(
                    f"{_rel(spec_path, root)}: name: route {route.name!r} is also defined in"
                    f" {_rel(routes[route.name].spec_path, root)}"
                )
                continue
            routes[route.name] = route
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return Project(settings=settings, routes=routes)


def _load_settings(path: Path, root: Path, problems: list[str]) -> Settings | None:
    data: Any = {}
    if path.exists():
        data = _read_yaml(path, root, problems)
        if data is None:
            return None
    try:
        return Settings.model_validate({**(data or {}), "root": root})
    except ValidationError as exc:
        problems.extend(_format_errors(exc, _rel(path, root)))
        return None


def load_route(spec_path: Path, root: Path, problems: list[str]) -> RouteSpec | None:
    """Load and check one route spec; append its problems (all of them) to ``problems``."""
    label = _rel(spec_path, root)
    data = _read_yaml(spec_path, root, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(f"{label}: the file must hold a mapping of options")
        return None
    data.setdefault("name", spec_path.stem)
    try:
        route = RouteSpec.model_validate(
            {**data, "spec_path": spec_path, "base_dir": spec_path.parent}
        )
    except ValidationError as exc:
        problems.extend(_format_errors(exc, label))
        return None
    before = len(problems)
    _check_references(route, label, problems)
    if len(problems) > before:
        return None
    return route.model_copy(update={"version": _version(route)})


def _read_yaml(path: Path, root: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problems.append(f"{_rel(path, root)}: {where}: {getattr(exc, 'problem', exc)}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{_rel(path, root)}: cannot read: {exc}")
    return None


def _format_errors(exc: ValidationError, label: str) -> list[str]:
    out = []
    for err in exc.errors():
        parts = list(err["loc"])
        if len(parts) > 1 and parts[0] == "format" and isinstance(parts[1], str):
            del parts[1]  # the discriminated union's tag ("csv", "xml", ...) is noise here
        loc = ".".join(str(p) for p in parts) or "(top)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown option (check the spelling)"
        out.append(f"{label}: {loc}: {message}")
    return out


def _check_references(route: RouteSpec, label: str, problems: list[str]) -> None:
    """Checks that need more than one option: files, hooks, field names."""
    fields = set(route.fields)
    known = fields | set(route.header)
    for name, spec in {**route.fields, **route.header}.items():
        if spec.codes:
            _check_table(route, spec.codes, [], f"fields.{name}.codes", label, problems)
    t = route.transform
    for i, name in enumerate(t.copy_header):
        if name not in route.header:
            problems.append(f"{label}: transform.copy_header.{i}: {name!r} is not a header field")
    known |= set(t.copy_header) | set(t.constants)
    for i, lookup in enumerate(t.lookups):
        where = f"transform.lookups.{i}"
        if lookup.key not in known:
            problems.append(f"{label}: {where}.key: {lookup.key!r} is not a field")
        _check_table(route, lookup.table, [lookup.key_column, lookup.value_column],
                     f"{where}.table", label, problems)
        known.add(lookup.field)
    for name, derive in t.derive.items():
        for ref in _template_names(derive.template) if derive.template else []:
            if ref not in known:
                problems.append(
                    f"{label}: transform.derive.{name}.template: {ref!r} is not a field")
        if derive.expr:
            for ref in re.findall(r"[A-Za-z_]\w*", derive.expr):
                if ref not in known and ref not in {"and", "or", "not", "abs"}:
                    problems.append(
                        f"{label}: transform.derive.{name}.expr: {ref!r} is not a field")
        known.add(name)
    if t.hook:
        try:
            _import_hook(t.hook, route.base_dir)
        except Exception as exc:
            problems.append(f"{label}: transform.hook: cannot load {t.hook!r}: {exc}")
    for old in t.rename:
        if old not in known:
            problems.append(f"{label}: transform.rename.{old}: not a field")
    if t.output and not t.hook:
        renamed = {t.rename.get(k, k) for k in known}
        for i, name in enumerate(t.output):
            if name not in renamed:
                problems.append(f"{label}: transform.output.{i}: {name!r} is not a field")
    if route.watch and not route.source.folder:
        problems.append(f"{label}: watch: needs a local folder source (source.folder); poll"
                        " remote sources with 'every' or 'schedule'")
    if route.target.format == "fixed" and not route.target.fixed \
            and route.format.type != "fixed":
        problems.append(f"{label}: target.fixed: fixed output of {route.format.type} input"
                        " needs a layout (prefix, fields)")
    if route.on_invalid == "split" and route.format.type == "xml":
        problems.append(f"{label}: on_invalid: 'split' is not supported for xml input yet")


def _check_connections(route: RouteSpec, settings: Settings, label: str,
                       problems: list[str]) -> None:
    """A route's ``sftp: NAME`` must name an SFTP connection of tradelane.yaml."""
    for where, name in (("source.sftp", route.source.sftp), ("target.sftp", route.target.sftp)):
        if name is None:
            continue
        conn = settings.connections.get(name)
        if conn is None:
            problems.append(f"{label}: {where}: no connection named {name!r} in tradelane.yaml")
        elif conn.sftp is None:
            problems.append(f"{label}: {where}: connection {name!r} is not an sftp connection")


def _check_table(route: RouteSpec, table: str, columns: list[str], where: str, label: str,
                 problems: list[str]) -> None:
    path = route.resolve(table)
    if not path.is_file():
        problems.append(f"{label}: {where}: file {table!r} not found next to the mapping")
        return
    header = path.read_text(encoding="utf-8-sig").splitlines()[:1]
    have = header[0].split(",") if header else []
    for column in columns:
        if column not in have:
            problems.append(f"{label}: {where}: column {column!r} not in {table} (has {have})")


def _template_names(template: str) -> list[str]:
    return [m.split(":")[0].split("!")[0] for m in re.findall(r"{([^{}]+)}", template)]


def _import_hook(hook: str, base_dir: Path | None) -> Any:
    """Import ``module:function``; modules next to the mappings folder are importable."""
    import sys

    module_name, _, func_name = hook.partition(":")
    if not func_name:
        raise ValueError("write it as 'module:function'")
    if base_dir and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    func = getattr(importlib.import_module(module_name), func_name)
    if not callable(func):
        raise ValueError(f"{func_name} is not a function")
    return func


def _version(route: RouteSpec) -> str:
    """Hash of the spec file and every table it uses: recorded with each file processed."""
    digest = hashlib.sha256()
    if route.spec_path:
        digest.update(route.spec_path.read_bytes())
    tables = [lk.table for lk in route.transform.lookups]
    tables += [f.codes for f in {**route.fields, **route.header}.values() if f.codes]
    for table in sorted(tables):
        digest.update(route.resolve(table).read_bytes())
    return digest.hexdigest()[:12]


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
