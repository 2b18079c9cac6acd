"""A route: source -> format -> fields -> transform -> target, and its schedule."""

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from tradelane.spec._base import ROUTE_NAME, Duration, Strict
from tradelane.spec.events import EventsSpec
from tradelane.spec.fields import FieldSpec, TransformSpec
from tradelane.spec.formats import FormatSpec
from tradelane.spec.limits import LimitsSpec
from tradelane.spec.nest import NestSpec
from tradelane.spec.sources import SourceSpec
from tradelane.spec.steps import StepsSpec
from tradelane.spec.targets import TargetSpec
from tradelane.spec.validate import ValidateSpec

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


class OwnerSpec(Strict):
    """Who answers for a route. Its alerts go to them as well as to the global channels."""

    name: str = Field(..., min_length=1,
                      description="Person or team, e.g. 'ERP team (Anna Berg)'.")
    email: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+$", examples=["erp-team@example.com"],
        description="Address the route's alerts are mailed to, through the mail server of"
        " alerts.smtp in tradelane.yaml.")
    webhook: str | None = Field(
        None, examples=["https://chat.example.com/hooks/erp"],
        description="URL the route's alerts are POSTed to as JSON (Slack-compatible).")
    webhook_env: str | None = Field(
        None, examples=["ERP_TEAM_WEBHOOK"],
        description="Variable holding that URL instead, when it carries a token.")

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if not (self.email or self.webhook or self.webhook_env):
            raise ValueError("give 'email', 'webhook' or 'webhook_env': how to reach"
                             f" {self.name}")
        if self.webhook and self.webhook_env:
            raise ValueError("give only one of 'webhook' or 'webhook_env'")
        return self

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


class RetentionSpec(Strict):
    """How long the ledger keeps history and the engine keeps files (``tradelane prune``;
    serve's leader prunes daily). Unset: kept for ever. A route's value overrides the global
    one, key by key."""

    runs: Duration | None = Field(
        None, description="Forget the record of polls (tradelane status' last runs) older than"
        " this, e.g. 90d.")
    events: Duration | None = Field(
        None, description="Forget the history (events) of finished files older than this; the"
        " file's own row, its outcome and duplicate checks stay.")
    archive: Duration | None = Field(
        None, description="Delete archived originals this long after they were archived.")
    quarantine: Duration | None = Field(
        None, description="Delete quarantined files (and their reason files) this long after"
        " they were quarantined; the file becomes discarded.")


class RouteSpec(Strict):
    """One partner feed: source -> format -> fields -> transform -> target."""

    name: str = Field(..., description="Route name; defaults to the YAML file's stem.")
    description: str = Field("", description="What this feed is, in a sentence: shown by"
                             " status and in alerts.")
    partner: str | None = Field(
        None, description="The trading partner of this route (partners/NAME.yaml): its"
        " identifiers fill in the EDIFACT target's sender and recipient, its owner, expect"
        " and ack_within apply where the route gives none, and its control-number sequences"
        " number what is written to it.")
    owner: OwnerSpec | None = Field(
        None, description="Who answers for this route, e.g. {name: ERP team, email:"
        " erp@example.com}; its alerts go to them too. check --owners lists routes without.")
    source: SourceSpec = Field(..., description="Where the files come from; the kind is its"
                               " own key (folder: …, sftp: …).")
    format: FormatSpec = Field(..., description="How the input is read; the kind is its type"
                               " (csv, json, xml, edifact, x12, fixed).")
    header: dict[str, FieldSpec] = Field(
        default_factory=dict,
        description="Fields read once per document (XML/JSON/EDI paths from the root).",
    )
    fields: dict[str, FieldSpec] = Field(
        ..., min_length=1, description="The fields of each record, by name, with where each"
        " comes from and the rules its value must follow.")
    validation: list[ValidateSpec] = Field(
        default_factory=list, alias="validate",
        description="Schemas the input must meet before its fields are mapped, in order, e.g."
        " [{xsd: schemas/UBL-Invoice-2.1.xsd}, {schematron: schemas/EN16931-UBL.xslt,"
        " severity: warn}] or [{json_schema: schemas/order.schema.json}]. Every error is"
        " located (line and column, or JSON path) in the reason file.")
    transform: TransformSpec = Field(
        TransformSpec(), description="Declarative mapping applied to the valid records.")
    drift: Literal["off", "warn", "reject"] = Field(
        "off",
        description="Schema drift: pin the shape of the first file (CSV columns, JSON keys,"
        " XML record elements, EDIFACT/X12 segments per message type) and compare each later"
        " file with it before reading its records. warn: an alert naming what changed, the"
        " file goes on; reject: the file is quarantined too. tradelane drift accept ROUTE"
        " pins the new shape.",
    )
    on_invalid: Literal["reject", "split"] = Field(
        "reject",
        description="reject: quarantine the whole file if any record is bad. split: deliver the"
        " valid records and quarantine the bad ones as a separate file with its reason.",
    )
    target: TargetSpec = Field(..., description="Where the records are delivered; the kind is"
                               " its own key (folder: …, sftp: …, http: …).")
    steps: StepsSpec = Field(
        StepsSpec(), description="Processing of the file itself: before_read (decrypt, verify,"
        " decompress) and after_write (compress, sign, encrypt), each a list run in order.")
    nest: NestSpec | None = Field(
        None, description="Write one nested document per key instead of flat rows, e.g."
        " {by: _message, fields: [order_number], children: {lines: {by: line_no, fields:"
        " [line_no, gtin]}}}: json, jsonl, xml and HTTP targets.")
    limits: LimitsSpec = Field(LimitsSpec(), description="Safety limits of the input.")
    workers: int = Field(
        1, ge=1, le=32,
        description="Files of this route processed at once. 1 keeps the source's order"
        " strictly (oldest first, or by name); more trades order for throughput on many"
        " small files: a poll of 64 files or more is shared with N - 1 worker processes"
        " (one per core is the useful most), a smaller one uses N threads.",
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
    events: EventsSpec | None = Field(
        None, description="Publish an event for each file's outcome to a broker, e.g. {nats:"
        " 'nats://127.0.0.1:4222', subject: 'tradelane.{route}.{outcome}', outcomes:"
        " [delivered]} or {rabbitmq: 'amqp://127.0.0.1:5672/', routing_key: …} or {mqtt: …,"
        " topic: …}."
        " Sent through an outbox in the ledger: never lost, retried while the broker is"
        " down. Defaults to events: of tradelane.yaml.")
    retention: RetentionSpec | None = Field(
        None, description="How long this route's runs, history, archived and quarantined"
        " files are kept, e.g. {archive: 30d, quarantine: 90d}; overrides retention: of"
        " tradelane.yaml key by key.")
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

    @model_validator(mode="after")
    def _output_steps_need_a_file(self) -> Self:
        if self.steps.after_write and not self.target.plugin.writes_files:
            raise ValueError(f"steps.after_write: a {self.target.kind} target writes no file"
                             " to compress, sign or encrypt")
        return self

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not ROUTE_NAME.match(value):
            raise ValueError("use lower-case letters, digits, '_' and '-' (at most 64)")
        return value

    def output_formats(self) -> dict[str, str]:
        """Output column (after rename) -> strftime format, for fields with output_format."""
        rename = self.transform.rename
        return {rename.get(name, name): spec.output_format
                for name, spec in {**self.header, **self.fields}.items() if spec.output_format}

    def resolve(self, relative: str) -> Path:
        """A path from the spec, relative to the mappings folder."""
        path = Path(relative)
        return path if path.is_absolute() else (self.base_dir or Path.cwd()) / path
