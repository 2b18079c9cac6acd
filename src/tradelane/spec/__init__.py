"""Route specs (``mappings/*.yaml``) and engine settings (``tradelane.yaml``).

Every option is declared once, with its description; that declaration both documents and
validates the YAML. ``load_project()`` reports every problem in every file at once, each as
``file: dotted.path: message``, by raising one ``ConfigError``.

Modules: ``sources``, ``formats``, ``fields`` (and transform), ``targets``, ``route``,
``settings``; ``loader`` reads and checks the files.
"""

from __future__ import annotations

# the database connection kind and the table target and source register themselves
from tradelane.spec import database as _database  # noqa: F401
from tradelane.spec._base import (
    ROUTE_NAME,
    Duration,
    Encoding,
    Strict,
    parse_duration,
)
from tradelane.spec.fields import (
    DeriveSpec,
    FieldSpec,
    FieldType,
    LookupSpec,
    TransformSpec,
)
from tradelane.spec.formats import (
    AckSpec,
    CsvFormat,
    EdifactFormat,
    FixedField,
    FixedFormat,
    FixedRecordType,
    FormatSpec,
    JsonFormat,
    X12Format,
    XmlFormat,
)
from tradelane.spec.loader import (
    import_hook,
    load_project,
    load_route,
)
from tradelane.spec.route import (
    WEEKDAYS,
    ExpectSpec,
    OwnerSpec,
    RouteSpec,
)
from tradelane.spec.settings import (
    AlertsSpec,
    Connection,
    ConnectionOptions,
    ConsoleSpec,
    FoldersSpec,
    HealthSpec,
    Project,
    ServeSpec,
    Settings,
    SftpConnection,
    SmtpSpec,
    WebhookSpec,
)
from tradelane.spec.sources import (
    FolderSource,
    SftpSource,
    SourceOptions,
    SourceSpec,
)
from tradelane.spec.targets import (
    ENVELOPE_NAMES,
    CsvOutput,
    EdifactTemplate,
    EnvValue,
    FixedOutput,
    FolderTarget,
    HttpAuth,
    HttpRetry,
    HttpTarget,
    HttpTargetSpec,
    HttpTimeouts,
    SftpTarget,
    TargetOptions,
    TargetSpec,
    XmlOutput,
)
from tradelane.spec.x12_template import X12Template

__all__ = [
    "ENVELOPE_NAMES",
    "ROUTE_NAME",
    "WEEKDAYS",
    "AckSpec",
    "AlertsSpec",
    "Connection",
    "ConnectionOptions",
    "ConsoleSpec",
    "CsvFormat",
    "CsvOutput",
    "DeriveSpec",
    "Duration",
    "EdifactFormat",
    "EdifactTemplate",
    "Encoding",
    "EnvValue",
    "ExpectSpec",
    "FieldSpec",
    "FieldType",
    "FixedField",
    "FixedFormat",
    "FixedOutput",
    "FixedRecordType",
    "FolderSource",
    "FolderTarget",
    "FoldersSpec",
    "FormatSpec",
    "HealthSpec",
    "HttpAuth",
    "HttpRetry",
    "HttpTarget",
    "HttpTargetSpec",
    "HttpTimeouts",
    "JsonFormat",
    "LookupSpec",
    "OwnerSpec",
    "Project",
    "RouteSpec",
    "ServeSpec",
    "Settings",
    "SftpConnection",
    "SftpSource",
    "SftpTarget",
    "SmtpSpec",
    "SourceOptions",
    "SourceSpec",
    "Strict",
    "TargetOptions",
    "TargetSpec",
    "TransformSpec",
    "WebhookSpec",
    "X12Format",
    "X12Template",
    "XmlFormat",
    "XmlOutput",
    "import_hook",
    "load_project",
    "load_route",
    "parse_duration",
]
