"""Where and how transformed records are delivered: folders, SFTP, HTTP APIs.

``TargetOptions`` are what every kind of target shares (output format, name, layout); each
kind adds where it delivers. The built-in kinds are registered here, beside their specs.
"""

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from tradelane.errors import UnknownPlugin
from tradelane.registry import FORMATS, TARGETS, TargetPlugin
from tradelane.spec._base import Duration, Encoding, Strict
from tradelane.spec.formats import FixedField
from tradelane.spec.x12_template import X12Template


class CsvOutput(Strict):
    """How CSV output is written."""

    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    encoding: Encoding = Field("utf-8", description="Text encoding of the output.")
    header: bool = Field(True, description="Write the column names as the first row.")
    decimal: str = Field(".", min_length=1, max_length=1,
                         description="Decimal separator of numbers.")
    neutralise_formulas: bool = Field(
        True,
        description="Prefix cells starting with = + - @ tab or CR with a quote so spreadsheets"
        " do not run them. Numbers are never touched.",
    )


class XmlOutput(Strict):
    """How XML output is written."""

    root: str = Field("records", description="Name of the document's root element.")
    record: str = Field("record", description="Name of the element of each record.")


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
    def _one_kind(self) -> Self:
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
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="HTTP method.")
    batch: int = Field(500, ge=1, le=100_000, description="Records per request (a JSON array).")
    per_record: bool = Field(
        False, description="One request per record, whose body is the record object itself."
    )
    per_document: bool = Field(
        False, description="One request per nested document (the route's nest block), whose"
        " body is the document object itself. Without it, 'batch' documents go per request.")
    headers: dict[str, str | EnvValue] = Field(
        default_factory=dict,
        description="Extra headers; secrets as {env: NAME}, e.g. X-Api-Key: {env: CRM_KEY}.",
    )
    auth: HttpAuth | None = Field(None, description="How to authenticate (secrets from the"
                                  " environment).")
    timeouts: HttpTimeouts = Field(HttpTimeouts(), description="Connect, read, write and pool"
                                   " timeouts.")
    verify: bool = Field(True, description="Verify the server's TLS certificate. Leave it on.")
    ca_bundle: str | None = Field(
        None, description="PEM file of CAs trusted for this target (relative to the project)."
    )
    retry: HttpRetry = Field(HttpRetry(), description="Retries of a failed request.")
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
    def _consistent(self) -> Self:
        if self.ca_bundle and not self.verify:
            raise ValueError("'ca_bundle' needs 'verify: true'")
        if self.auth and any(n.lower() == "authorization" for n in self.headers):
            raise ValueError("give either 'auth' or an Authorization header, not both")
        if self.per_record and "batch" in self.model_fields_set and self.batch != 1:
            raise ValueError("per_record sends one record per request: leave 'batch' out")
        if self.per_document and (self.per_record or "batch" in self.model_fields_set):
            raise ValueError("per_document sends one document per request: leave 'batch'"
                             " and 'per_record' out")
        return self

    @property
    def records_per_request(self) -> int:
        return 1 if self.per_record or self.per_document else self.batch

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
    written by the engine. Templates use ``+`` and ``:`` (and ``*`` between repetitions
    under syntax 4) whatever the output's service characters (``una``) are.
    """

    message: list[str] = Field(..., min_length=4,
                               description="UNH S009, e.g. [INVOIC, D, 96A, UN, EAN008].")
    sender: str | None = Field(
        None, min_length=1, description="UNB sender, e.g. '4012345000009:14'; defaults to our"
        " id in the route's partner (partners/NAME.yaml, edifact.our_id).")
    recipient: str | None = Field(
        None, min_length=1, description="UNB recipient, e.g. 'BUYER:ZZ'; defaults to the"
        " route's partner's id (edifact.id and qualifier).")
    syntax: str = Field("UNOC:3", pattern=r"^UNO[A-Z]:[1-4]$",
                        description="UNB syntax identifier and version.")
    una: str | None = Field(
        None, min_length=6, max_length=6,
        description="The six service characters the output declares in its UNA: component"
        " and element separators, decimal mark, release character, repetition separator"
        " (syntax 4; a space for none) and segment terminator, e.g. \":+,? '\" for decimal"
        " commas. Numbers are written with its decimal mark. Default: \":+.? '\" (with"
        " '*' for repetitions under syntax 4).")
    group_by: str | None = Field(
        None, description="Field whose value starts a new message when it changes (e.g. the"
        " invoice number); without it, each batch of records is one message."
    )
    prepared: str | None = Field(
        None, description="Date (or datetime) field giving the UNB preparation date/time;"
        " without it, the time the ledger first recorded the file, the same for every attempt"
        " (a retry writes the very same file)."
    )
    header: list[str] = Field(default_factory=list, description="Segments once per message.")
    line: list[str] = Field(default_factory=list, description="Segments once per record.")
    summary: list[str] = Field(default_factory=list, description="Segments after the lines.")
    ack_within: Duration | None = Field(
        None, description="The partner's CONTRL (or APERAK) is expected this long after an"
        " interchange is sent, e.g. 2h: 'tradelane status' and 'tradelane acks --waiting'"
        " show the interchanges still waiting past it, and an alert is raised once for each."
        " Without it, sent interchanges are recorded but no acknowledgement is awaited.")

    @model_validator(mode="after")
    def _service_characters(self) -> Self:
        if self.una is not None:
            used = [c for i, c in enumerate(self.una) if not (i in (3, 4) and c == " ")]
            if self.una[2] not in ".,":
                raise ValueError("una: the decimal mark (3rd character) is '.' or ','")
            if len(set(used)) != len(used) or any(c.isalnum() for c in used):
                raise ValueError("una: the service characters must be distinct and not"
                                 " letters or digits")
        return self


class FixedOutput(Strict):
    """Fixed-width output layout (``target.format: fixed``) for non-fixed input."""

    prefix: str = Field("", description="Text each line starts with.")
    fields: dict[str, FixedField] = Field(..., min_length=1, description="name -> columns")
    encoding: Encoding = Field("utf-8", description="Text encoding, e.g. latin-1 or cp037.")


# Built now (their own validators) rather than deferred like the other models: every kind of
# target below (folder, sftp, as2, table...) holds them, and each would generate their schemas
# again inside its own; built, they are reused (an empty run --once: 6.6 M instructions less).
for _template in (EdifactTemplate, FixedOutput, X12Template):
    _template.model_rebuild()


class TargetOptions(Strict):
    """Where and how the transformed records are delivered. The options every kind of target
    shares; each kind adds where it delivers (``folder``, ``sftp`` + ``path``, ``http``)."""

    kind: str = Field(..., description="Kind of target; implied by its own key (folder, sftp,"
                      " http).")
    format: str = Field(
        "json", description="Output format: csv, json, jsonl, xml, edifact, x12 or fixed (any"
        " registered format that can be written).")
    name: str = Field(
        "{stem}.{ext}",
        description="Output file name. Placeholders: {route} {stem} {name} {ext} {sha8}"
        " {file_id} {date} {time}. It must be the same for every retry of one file.",
    )
    csv: CsvOutput = Field(CsvOutput(), description="CSV output options (format: csv).")
    xml: XmlOutput = Field(XmlOutput(), description="XML output options (format: xml).")
    edifact: EdifactTemplate | None = Field(None, description="Message template (edifact).")
    x12: X12Template | None = Field(None, description="Transaction set template (x12).")
    fixed: FixedOutput | None = Field(
        None, description="Layout for fixed output; default: the input's first record type."
    )
    json_indent: int | None = Field(None, ge=0, le=8, description="Indent JSON output by this"
                                    " many spaces; none writes it compactly.")
    allow_outside: bool = Field(
        False, description="Allow a local output folder outside the project folder (by"
        " default `check` refuses one, e.g. '../../etc').")
    decimals: dict[str, Annotated[int, Field(ge=0, le=12)]] = Field(
        default_factory=dict,
        description="Output columns written with a fixed number of decimals, e.g."
        " {amount: 2} gives 225.00 (rounded half to even, exact decimals in every format)."
        " Other numbers keep their shortest exact form.",
    )

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

    @field_validator("format")
    @classmethod
    def _writable(cls, value: str) -> str:
        writable = [p.kind for p in FORMATS if p.writer is not None]
        if value not in writable:
            raise ValueError(str(UnknownPlugin("output format", value, writable)))
        return value

    @model_validator(mode="after")
    def _template_if_edifact(self) -> Self:
        if self.format == "edifact" and self.edifact is None:
            raise ValueError("format edifact needs 'edifact', the message template")
        if self.format == "x12" and self.x12 is None:
            raise ValueError("format x12 needs 'x12', the transaction set template")
        return self

    @property
    def plugin(self) -> TargetPlugin:
        return TARGETS.get(self.kind)


class FolderTarget(TargetOptions):
    """Files written into a local folder: temp name, fsync, rename."""

    kind: Literal["folder"] = "folder"
    folder: str = Field(..., description="Local output folder.")


class SftpTarget(TargetOptions):
    """Files uploaded to an SFTP server: temp name, then rename."""

    kind: Literal["sftp"] = "sftp"
    sftp: str = Field(..., description="Name of an SFTP connection in tradelane.yaml.")
    path: str = Field(..., description="Remote folder to upload into.")


class FtpTarget(TargetOptions):
    """Files uploaded to an FTP or FTPS server: temp name, then rename."""

    kind: Literal["ftp"] = "ftp"
    ftp: str = Field(..., description="Name of an FTP connection in tradelane.yaml.")
    path: str = Field(..., description="Remote folder to upload into.")


class HttpTarget(TargetOptions):
    """Records pushed to an HTTP API as JSON: batched, idempotent, retried."""

    kind: Literal["http"] = "http"
    http: HttpTargetSpec = Field(..., description="Push the records to an HTTP API.")


TARGETS.register(TargetPlugin("folder", FolderTarget, "tradelane.targets.folder:FolderTarget",
                              folder_option="folder"))
TARGETS.register(TargetPlugin("sftp", SftpTarget, "tradelane.targets.sftp:SftpTarget",
                              connection="sftp"))
TARGETS.register(TargetPlugin("ftp", FtpTarget, "tradelane.targets.ftp:FtpTarget",
                              connection="ftp"))
TARGETS.register(TargetPlugin("http", HttpTarget, "tradelane.targets.http:HttpTarget",
                              partial_rejects=True, writes_files=False))

#: A route's ``target:``: validated against the spec model of its kind.
TargetSpec = Annotated[TargetOptions, TARGETS.annotation()]
