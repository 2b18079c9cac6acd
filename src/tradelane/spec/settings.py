"""``tradelane.yaml``: engine-wide settings, connections, alerts, serve, console."""

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tradelane.errors import InvalidRoute, NotFound
from tradelane.registry import TRANSPORTS, TransportPlugin
from tradelane.spec._base import Duration, Strict
from tradelane.spec.as2 import As2Settings
from tradelane.spec.events import EventsSpec
from tradelane.spec.partners import PartnerSpec
from tradelane.spec.route import RetentionSpec, RouteSpec, _check_timezone
from tradelane.spec.targets import EnvValue, _env_name


class FoldersSpec(Strict):
    """The engine's own folders, relative to the project (or absolute)."""

    inbox: str = Field("inbox", description="Where the demo and examples drop partner files;"
                       " routes name their own source folders.")
    outbox: str = Field("outbox", description="Default output folder; acknowledgements go to"
                        " its acks/ subfolder.")
    archive: str = Field("archive", description="Where delivered originals are kept.")
    quarantine: str = Field("quarantine", description="Rejected files and their reasons.")
    spool: str = Field(".tradelane/spool", description="Snapshots of big files in hand.")
    allow_outside: bool = Field(
        False, description="Allow archive, quarantine and spool outside the project folder"
        " (by default `check` refuses them).")


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
    def _host_key_and_login(self) -> Self:
        if bool(self.known_hosts) == bool(self.fingerprint):
            raise ValueError("give exactly one of 'known_hosts' or 'fingerprint': the server's"
                             " host key is always verified")
        if self.key_file and self.key_env:
            raise ValueError("give only one of 'key_file' or 'key_env'")
        if not (self.key_file or self.key_env or self.password_env):
            raise ValueError("give 'key_file' or 'key_env' (or 'password_env') to log in")
        return self


class FtpConnection(Strict):
    """An FTP or FTPS server. The password is never written here: only the variable or file
    holding it. With TLS the server's certificate and host name are always verified."""

    host: str = Field(..., min_length=1, description="Server name or address.")
    port: int | None = Field(
        None, gt=0, lt=65536, description="TCP port; default 21, or 990 for tls: implicit.")
    user: str = Field(..., min_length=1, description="Login name.")
    password_env: str | None = Field(
        None, description="Environment variable holding the password.")
    password_file: str | None = Field(
        None, description="File holding the password (relative to the project root).")
    tls: Literal["explicit", "implicit", "none"] = Field(
        "explicit",
        description="explicit: AUTH TLS on the plain port (FTPES); implicit: TLS from the first"
        " byte (port 990); none: plain FTP, passwords and files readable on the network.",
    )
    ca_file: str | None = Field(
        None, description="PEM bundle of the CAs trusted for this server (relative to the"
        " project); default: the system's CAs. The host name is always checked.")
    connect_timeout: Duration = Field(
        timedelta(seconds=10), description="Give up opening the connection after this.")
    timeout: Duration = Field(
        timedelta(seconds=30), description="A command or a data transfer that gets no answer"
        " for this long fails, and the file stays pending.")
    transfer_deadline: Duration = Field(
        timedelta(hours=1), description="Hard limit for one file's download or upload; past"
        " it the partial copy is removed and the file is retried later (never resumed).")
    connect_attempts: int = Field(
        3, ge=1, le=10, description="Tries to connect before the poll gives up.")
    retry_backoff: Duration = Field(
        timedelta(seconds=1), description="Wait before the second connection attempt; doubles.")

    _env = field_validator("password_env")(classmethod(lambda cls, v: _env_name(v)))

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if self.password_env and self.password_file:
            raise ValueError("give only one of 'password_env' or 'password_file'")
        return self


class ConnectionOptions(Strict):
    """A named connection to a remote system, referred to by routes; its kind is its own key
    (``sftp: {host: …}``)."""

    kind: str = Field(..., description="Kind of connection; implied by its own key (sftp).")


class SftpConnectionEntry(ConnectionOptions):
    kind: Literal["sftp"] = "sftp"
    sftp: SftpConnection = Field(..., description="An SFTP server.")


TRANSPORTS.register(TransportPlugin("sftp", SftpConnectionEntry,
                                    "tradelane.sftp_client:SftpSession"))

class FtpConnectionEntry(ConnectionOptions):
    kind: Literal["ftp"] = "ftp"
    ftp: FtpConnection = Field(..., description="An FTP or FTPS server.")


TRANSPORTS.register(TransportPlugin("ftp", FtpConnectionEntry,
                                    "tradelane.ftp_client:FtpSession"))

#: A connection of ``tradelane.yaml``: validated against the spec model of its kind.
Connection = Annotated[ConnectionOptions, TRANSPORTS.annotation()]


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
    def _one_url(self) -> Self:
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
    metrics_token_env: str = Field(
        "TRADELANE_METRICS_TOKEN", description="Environment variable holding the bearer token"
        " Prometheus sends to scrape the console's /metrics (logged-in users need none). Unset:"
        " /metrics needs a login; scrape `tradelane serve`'s health port instead."
    )
    metrics_token_file: str | None = Field(
        None, description="File holding the metrics bearer token instead (first line)."
    )
    edit_max_size: int = Field(
        1_000_000, gt=0, description="Largest quarantined file, in bytes, that ops may edit"
        " and resubmit (the console's Edit button, tradelane quarantine edit)."
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
    folders: FoldersSpec = Field(FoldersSpec(), description="The engine's own folders.")
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
    retry_max_backoff: Duration = Field(
        timedelta(hours=1), description="Longest wait between two retries of a pending file.")
    connections: dict[str, Connection] = Field(
        default_factory=dict,
        description="Named remote systems (SFTP, FTP servers) that routes refer to by name.",
    )
    worker: str = Field(
        default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}",
        json_schema_extra={"default_text": "<host name>:<process id>"},
        description="Name of this worker in the ledger's events.",
    )
    timezone: str = Field(
        "UTC", description="Default time zone of routes' schedule and expect, e.g. Europe/Berlin."
    )
    alerts: AlertsSpec = Field(AlertsSpec(), description="Alert channels and thresholds.")
    health: HealthSpec = Field(HealthSpec(), description="Health endpoint and heartbeat.")
    as2: As2Settings | None = Field(
        None, description="The AS2 endpoint of serve (partners send us messages and MDNs).")
    serve: ServeSpec = Field(ServeSpec(), description="Workers, polling and shutdown of serve.")
    console: ConsoleSpec = Field(ConsoleSpec(), description="The ops web console.")
    retention: RetentionSpec = Field(
        RetentionSpec(), description="How long runs, history (events), archived and"
        " quarantined files are kept, e.g. {runs: 90d, events: 365d, archive: 30d}; routes may"
        " override it. Applied by tradelane prune and daily by serve's leader.")
    events: EventsSpec | None = Field(
        None, description="Events about files' outcomes, for every route without its own"
        " events: (see the route option).")
    gnupg: str = Field(
        "gnupg", description="The project's OpenPGP keyring (a GnuPG home folder, created with"
        " mode 0700) used by the decrypt, verify, sign and encrypt steps; relative to the"
        " project. Import keys with `gpg --homedir gnupg --import KEYFILE`.")
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

    # defer_build: built at the end of the first load, from the settings', routes' and
    # partners' validators made by then; built at import it made them all a first time, and
    # their own first use a second (about a third of the start's validator building)
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, defer_build=True)

    settings: Settings
    routes: dict[str, RouteSpec]
    #: Routes disabled because their mapping has problems (name -> the problems), when the
    #: project was loaded with ``isolate=True``: the other routes run.
    invalid: dict[str, list[str]] = {}
    #: Trading partners (``partners/*.yaml``) by name.
    partners: dict[str, PartnerSpec] = {}

    def route(self, name: str) -> RouteSpec:
        try:
            return self.routes[name]
        except KeyError:
            if name in self.invalid:
                raise InvalidRoute(name, self.invalid[name]) from None
            raise NotFound(name, "route", sorted(self.routes)) from None
