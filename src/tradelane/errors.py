"""The exception tree. What happens to a file is decided by the category of the error.

::

    TradelaneError
    ├── ConfigError               tradelane.yaml or a mapping is wrong: exit 2, nothing processed
    ├── RejectError               the file itself is wrong: quarantine with a reason file
    │   ├── MalformedInput        a reader could not parse the bytes (location = line/byte/segment)
    │   ├── UnsafeFileName        a partner's file name cannot be used safely
    │   ├── EmptyFile             zero bytes
    │   ├── InvalidRecords        validation or transform found bad values (carries every Issue)
    │   ├── DuplicateFile         the same content was already delivered on this route
    │   └── DeliveryRejected      a target refused the data itself (e.g. HTTP 4xx)
    │       └── RecordsRejected   ... only some records, and took the rest (on_invalid: split)
    └── TransientError            the world is temporarily wrong: pending, retried later
        ├── SourceUnavailable     cannot list or fetch from a source
        └── TargetUnavailable     cannot write to a target (full disk, permissions, network)

Errors carry data (route, stage, location, issues) and build their own message. Only
``pipeline.py`` catches ``RejectError`` and ``TransientError``; the CLI catches ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tradelane.models import Delivery, Issue


class TradelaneError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(TradelaneError):
    """One or more configuration problems, each as ``file: dotted.path: message``."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class RejectError(TradelaneError):
    """Terminal: the file is wrong and goes to quarantine.

    ``stage`` is one of read, validate, transform, deliver, duplicate. ``issues`` lists every
    problem found (the reason file caps them; ``error_count`` keeps the true total).
    """

    stage: str = "read"

    def __init__(
        self,
        message: str,
        *,
        issues: Sequence[Issue] = (),
        error_count: int | None = None,
        stage: str | None = None,
    ):
        self.message = message
        self.issues = list(issues)
        self.error_count = error_count if error_count is not None else max(1, len(self.issues))
        if stage is not None:
            self.stage = stage
        super().__init__(message)


class MalformedInput(RejectError):
    """The bytes cannot be parsed as the route's format."""

    def __init__(self, message: str, *, location: str = "", rule: str = "syntax", value: str = ""):
        self.location = location
        where = f" ({location})" if location else ""
        super().__init__(
            f"{message}{where}",
            issues=[Issue(location=location, field="", value=value, rule=rule, message=message)],
        )


class UnsafeFileName(RejectError):
    """A partner's file name contains characters that are never safe as a path."""

    def __init__(self, name: str, why: str):
        self.name = name
        super().__init__(
            f"unsafe file name {name!r}: {why}",
            issues=[Issue(location="file name", field="", value=name, rule="safe_name",
                          message=why)],
        )


class EmptyFile(RejectError):
    """A zero-byte file: there is nothing to deliver, and silence would hide the problem."""

    def __init__(self) -> None:
        super().__init__(
            "the file is empty (0 bytes)",
            issues=[Issue(location="file", field="", value="", rule="non_empty",
                          message="the file has no content")],
        )


class InvalidRecords(RejectError):
    """Validation or transform rules failed; carries every issue found."""

    stage = "validate"

    def __init__(self, issues: Sequence[Issue], *, error_count: int, stage: str = "validate"):
        rules = sorted({f"{i.field}.{i.rule}" if i.field else i.rule for i in issues})
        shown = ", ".join(rules[:5]) + (" …" if len(rules) > 5 else "")
        first = min((i.location for i in issues), key=_natural, default="")
        where = f"; first at {first}" if first else ""
        noun = "problem" if error_count == 1 else "problems"
        super().__init__(
            f"{error_count} {noun} in the data ({shown}){where}",
            issues=issues,
            error_count=error_count,
            stage=stage,
        )


class DuplicateFile(RejectError):
    """The same content (or EDI interchange) was already received on this route."""

    stage = "duplicate"

    def __init__(self, message: str, *, original_id: int | None = None):
        self.original_id = original_id
        super().__init__(message, stage="duplicate")


class DeliveryRejected(RejectError):
    """A target refused the data itself (not a temporary failure)."""

    stage = "deliver"


class RecordsRejected(DeliveryRejected):
    """A target refused some records and delivered all the others (``on_invalid: split``).

    ``records`` are the refused record numbers (``Document.records`` index values, 0-based) and
    ``delivery`` is what was delivered: the pipeline records the file as delivered and
    quarantines only these records, as it does for records that fail validation.
    """

    def __init__(self, message: str, *, records: Sequence[int], delivery: Delivery,
                 issues: Sequence[Issue] = ()):
        self.records = list(records)
        self.delivery = delivery
        super().__init__(message, issues=issues, error_count=max(1, len(self.records)))


class TransientError(TradelaneError):
    """Temporary: the file stays pending and is retried later; never quarantined."""


class SourceUnavailable(TransientError):
    """A source cannot be listed or read right now."""


class TargetUnavailable(TransientError):
    """A target cannot be written right now."""


def _natural(text: str) -> tuple[int, str]:
    digits = "".join(ch for ch in text if ch.isdigit())
    return (int(digits[:18]) if digits else 0, text)
