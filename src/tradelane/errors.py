"""The exception tree. What happens to a file is decided by the category of the error.

::

    TradelaneError
    ├── ConfigError               tradelane.yaml, a mapping or a connection is wrong: exit 2
    │   ├── HostKeyRejected       an SFTP server's host key is unknown or changed
    │   ├── AuthenticationRefused a server refused our credentials
    │   ├── UnknownPlugin         a kind no plug-in registered (with "did you mean")
    │   └── InvalidRoute          one route's mapping is wrong: that route alone is disabled
    ├── RejectError               the file itself is wrong: quarantine with a reason file
    │   ├── MalformedInput        a reader could not parse the bytes (location = line/byte/segment)
    │   │   └── LimitExceeded     ... a safety limit (columns, field or segment bytes) was passed
    │   ├── UnsafeFileName        a partner's file name cannot be used safely
    │   ├── EmptyFile             zero bytes
    │   ├── InvalidRecords        validation or transform found bad values (carries every Issue)
    │   ├── HookError             the route's own Python hook (or derive expression) failed
    │   ├── DuplicateFile         the same content was already delivered on this route
    │   └── DeliveryRejected      a target refused the data itself (e.g. HTTP 4xx)
    │       └── RecordsRejected   ... only some records, and took the rest (on_invalid: split)
    ├── TransientError            the world is temporarily wrong: pending, retried later
    │   ├── SourceUnavailable     cannot list or fetch from a source
    │   │   └── FileNotReady      the file changed, vanished or is not a regular file any more
    │   ├── TargetUnavailable     cannot write to a target (full disk, permissions, network)
    │   ├── LedgerUnavailable     the ledger database cannot be read or written right now
    │   └── NotifyFailed          an alert channel (webhook, mail) is down
    └── RequestError              an ops request that cannot be done; nothing was changed
        ├── NotFound              no such file (or user, route) in the ledger
        ├── NotInQuarantine       show or discard asked of a file that is not in quarantine
        ├── Conflict              the file is not in a state that allows it (someone was first)
        │   └── StaleClaim        ... a worker's claim was taken over (its fencing token is old)
        └── NotAuthenticated      the console needs a login first

Errors carry data (route, stage, location, issues) and build their own message; every one
survives pickling (worker processes send them to their parent). Only ``pipeline.py`` catches
``RejectError`` and ``TransientError``; ``exit_status`` turns what happened into the exit
code of every command.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from tradelane.models import Delivery, Issue, Outcome

#: Exit codes of every command (the README's table): 0 done, 1 a bug, 2 a configuration or
#: usage problem, 3 something quarantined, 4 something left pending, 5 not found (a file id,
#: a route, a connection), 6 refused (not in a state that allows it), 7 partial (a command
#: on several ids did some and refused or did not find others).
EXIT_OK, EXIT_BUG, EXIT_CONFIG, EXIT_QUARANTINED, EXIT_PENDING = 0, 1, 2, 3, 4
EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_PARTIAL = 5, 6, 7
EXIT_REFUSED = EXIT_CONFLICT


def _rebuild(cls: type[BaseException], args: tuple[Any, ...],
             state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class TradelaneError(Exception):
    """Base of every error the engine raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword arguments that ``args`` does not hold: rebuild from the
        # instance's data instead of calling ``__init__`` again.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


# -- configuration ----------------------------------------------------------------------------


class ConfigError(TradelaneError):
    """One or more configuration problems, each as ``file: dotted.path: message``."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class HostKeyRejected(ConfigError):
    """The server's host key is unknown, or differs from the one we trust."""

    def __init__(self, connection: str, host: str, port: int, key_type: str, offered: str,
                 expected: list[str], checked_against: str):
        self.connection = connection
        self.host, self.port = host, port
        self.key_type, self.offered = key_type, offered
        self.expected, self.checked_against = expected, checked_against
        where = f"{host}:{port}"
        if expected:
            message = (
                f"sftp {connection}: HOST KEY MISMATCH for {where}: the server offered"
                f" {key_type} {offered}, but {checked_against} expects {', '.join(expected)}."
                " Refusing to connect: the server was reinstalled, or someone is in between."
                " Check with the partner before trusting the new key."
            )
        else:
            message = (
                f"sftp {connection}: unknown host key for {where}: the server offered"
                f" {key_type} {offered}, which is not in {checked_against}. Refusing to connect."
                f" If the partner confirms this fingerprint, run `tradelane sftp trust"
                f" {connection}`."
            )
        super().__init__(message)


class AuthenticationRefused(ConfigError):
    """The server did not accept our key or password."""

    def __init__(self, connection: str, user: str, host: str, port: int, detail: str,
                 protocol: str = "sftp"):
        self.connection, self.user, self.host, self.port = connection, user, host, port
        self.detail = detail
        hint = (" Check the user name and that the partner installed our public key."
                if protocol == "sftp" else " Check the user name and the password.")
        super().__init__(
            f"{protocol} {connection}: the server {host}:{port} refused the login of {user!r}"
            f" ({detail}).{hint}"
        )


class UnknownPlugin(ConfigError):
    """A spec names a kind of source, target, format or transport that nobody registered."""

    def __init__(self, family: str, kind: str, known: Iterable[str]):
        self.family, self.kind, self.known = family, kind, sorted(known)
        close = difflib.get_close_matches(kind, self.known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(f"no {family} kind {kind!r} (known: {', '.join(self.known)}){hint}")


class InvalidRoute(ConfigError):
    """One route's mapping has problems: that route is disabled, the others run. Under
    ``serve`` a route that was valid when loaded keeps running that version (``running``)."""

    def __init__(self, route: str, problems: Sequence[str], running: bool = False):
        self.route, self.running = route, running
        self.problems = list(problems)
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        first = self.problems[0] if self.problems else "?"
        state = "still runs the version loaded before its mapping became invalid" if running \
            else "is disabled: its mapping is invalid"
        self.summary = f"route {route} {state}: {first}{more}; see tradelane check"
        TradelaneError.__init__(self, self.summary)


# -- the file is wrong --------------------------------------------------------------------------


class RejectError(TradelaneError):
    """Terminal: the file is wrong and goes to quarantine.

    ``stage`` is one of read, validate, transform, deliver, duplicate. ``issues`` lists every
    problem found (the reason file caps them; ``error_count`` keeps the true total).
    ``segment_index`` is the 1-based segment of an EDI file the error is in, when known (an
    acknowledgement then answers the interchange holding it).
    """

    stage: str = "read"
    segment_index: int | None = None

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


class LimitExceeded(MalformedInput):
    """A safety limit of the route (``limits:``) was passed: the file is refused whole rather
    than read into unbounded memory."""

    def __init__(self, limit: str, allowed: int, found: int | None = None, *,
                 location: str = "", what: str = ""):
        self.limit, self.allowed, self.found = limit, allowed, found
        seen = f" ({found:,})" if found is not None else ""
        thing = what or limit.replace("_", " ")
        super().__init__(
            f"{thing}{seen} is over the limit of {allowed:,} (limits.{limit} in the mapping);"
            " the file is refused to keep memory bounded",
            location=location, rule=f"limits.{limit}", value=str(found or ""))


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


class HookError(RejectError):
    """The route's own code failed on this file: a transform hook that raised, or a derived
    field whose expression cannot be computed. The file is quarantined with the hook's
    message and where in the hook it failed; fixing the hook (or the file) and reprocessing
    is the remedy, so it never reads "please report it"."""

    stage = "transform"

    def __init__(self, hook: str, error: BaseException, *, where: str = ""):
        self.hook = hook
        self.error_type = type(error).__name__
        self.detail = str(error)
        self.where = where  # "hooks.py:12 in enrich", the innermost frame of the route's code
        at = f" at {where}" if where else ""
        message = f"{hook} failed{at}: {self.error_type}: {self.detail}"
        super().__init__(message, issues=[Issue(
            location=where or hook, field="", value=self.error_type, rule="hook",
            message=message)])


class DuplicateFile(RejectError):
    """The same content (or EDI interchange) was already delivered on this route."""

    stage = "duplicate"

    def __init__(self, message: str, *, original_id: int | None = None):
        self.original_id = original_id
        super().__init__(message, stage="duplicate")


class DeliveryRejected(RejectError):
    """A target refused the data itself (not a temporary failure)."""

    stage = "deliver"


class RecordsRejected(DeliveryRejected):
    """A target refused some records and delivered all the others (``on_invalid: split``).

    ``records`` are the refused record numbers (0-based, in the whole file) and ``delivery``
    is what was delivered: the pipeline records the file as delivered and quarantines only
    these records, as it does for records that fail validation.
    """

    def __init__(self, message: str, *, records: Sequence[int], delivery: Delivery,
                 issues: Sequence[Issue] = ()):
        self.records = list(records)
        self.delivery = delivery
        super().__init__(message, issues=issues, error_count=max(1, len(self.records)))


# -- the world is temporarily wrong --------------------------------------------------------------


class TransientError(TradelaneError):
    """Temporary: the file stays pending and is retried later; never quarantined.

    ``retry_after`` (seconds) is how long the other side asked us to wait, if it did;
    ``backoff`` False means look again on the very next poll (nothing is wrong with the
    world, only the listing was out of date).
    """

    retry_after: float | None = None
    backoff: bool = True


class SourceUnavailable(TransientError):
    """A source cannot be listed or read right now."""


class FileNotReady(SourceUnavailable):
    """The listed file is not what was listed any more: it grew, shrank, vanished, or was
    swapped for a symlink, a FIFO or a device. It is read again on a later poll, never
    followed."""

    backoff = False

    def __init__(self, name: str, why: str):
        self.name, self.why = name, why
        super().__init__(f"{name}: {why}; it will be looked at again on the next poll")


class TargetUnavailable(TransientError):
    """A target cannot be written right now."""


class LedgerUnavailable(TransientError):
    """The ledger database cannot be opened, read or written (locked, read-only, full,
    corrupt, or the server is down)."""

    def __init__(self, where: str, cause: str):
        self.where, self.cause = where, cause
        super().__init__(f"the ledger ({where}) cannot be used: {cause}")


class NotifyFailed(TransientError):
    """An alert channel could not deliver an alert; it is tried again on the next check."""

    def __init__(self, channel: str, reason: str):
        self.channel, self.reason = channel, reason
        super().__init__(f"alert channel {channel}: {reason}")


# -- ops requests -------------------------------------------------------------------------------


class RequestError(TradelaneError):
    """An ops request (CLI or console) that cannot be done as asked; nothing was changed."""

    exit_code = EXIT_CONFLICT


class NotFound(RequestError):
    """No such file (or user, route) in the ledger."""

    exit_code = EXIT_NOT_FOUND

    def __init__(self, key: object, what: str = "file", known: Sequence[str] | None = None):
        self.key, self.what = key, what
        self.known = list(known) if known is not None else None
        if self.known is None:
            super().__init__(f"no {what} {key!r} in the ledger")
            return
        close = difflib.get_close_matches(str(key), self.known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(f"no {what} named {key!r} ({what}s: {', '.join(self.known) or 'none'})"
                         f"{hint}")


class NotInQuarantine(RequestError):
    """Asked to show or discard a file that is not in quarantine (refused: exit 6)."""

    def __init__(self, file_id: int, state: str):
        self.file_id, self.state = file_id, state
        super().__init__(f"file {file_id} is not in quarantine (it is {state})")


class Conflict(RequestError):
    """A guarded transition did not match: the file is not (or no longer) in a state that
    allows the request, usually because another worker or operator moved it first."""

    def __init__(self, file_id: int, expected: Sequence[str], to_state: str,
                 found: str | None = None, hint: str = ""):
        self.file_id, self.expected, self.to_state = file_id, list(expected), to_state
        self.found, self.hint = found, hint
        now = f" (it is {found})" if found else ""
        more = f"; {hint}" if hint else ""
        super().__init__(
            f"file {file_id}: cannot move to {to_state}, it is not"
            f" {'/'.join(self.expected)}{now}{more}")


class StaleClaim(Conflict):
    """A worker recorded a step for a file under a claim that is no longer its own: its lease
    ran out (the worker stalled) and another worker claimed the file again, which raised the
    file's fencing token. The ledger refuses the step; the worker drops the file untouched."""

    def __init__(self, file_id: int, mine: int, current: int):
        self.mine, self.current = mine, current
        super().__init__(file_id, ["claimed by this worker"], "its next step",
                         found=f"claimed again since: fencing token {current}, this worker"
                               f" holds {mine}",
                         hint="this worker stalled past its lease; the other worker owns it")


class NotAuthenticated(RequestError):
    """The console needs a login (or a role the user does not have) for this page."""

    def __init__(self, next_path: str = "/"):
        self.next_path = next_path
        super().__init__(f"login required for {next_path}")


# -- what happened, as an exit code -----------------------------------------------------------


def exit_status(outcomes: Iterable[Outcome] = (), *, config_errors: bool = False,
                source_errors: bool = False, internal_errors: bool = False,
                error: BaseException | None = None) -> int:
    """The exit code of any command, from the outcomes of the files it handled and the error
    that stopped it, if any: 1 a bug, 2 configuration, 4 something left pending, 3 something
    quarantined, 5 not found, 6 refused (conflict), else 0. The most urgent wins, in that
    order; a request error only counts when nothing else happened."""
    seen = set(outcomes)
    if Outcome.FAILED in seen or internal_errors or (
            error is not None and not isinstance(error, TradelaneError)):
        return EXIT_BUG
    if config_errors or isinstance(error, ConfigError):
        return EXIT_CONFIG
    if Outcome.PENDING in seen or source_errors or isinstance(error, TransientError):
        return EXIT_PENDING
    if seen & {Outcome.QUARANTINED, Outcome.DUPLICATE, Outcome.LOST} \
            or isinstance(error, RejectError):
        return EXIT_QUARANTINED
    if isinstance(error, RequestError):
        return error.exit_code
    return EXIT_OK


def bulk_status(outcomes: Iterable[Outcome], refused: Sequence[BaseException],
                done: int | None = None) -> int:
    """The exit code of a command on several ids (reprocess, discard): what happened to the
    files done comes first (1, 2, 4, 3); then 7 when some ids were done (``done``, else the
    outcomes' count) and others refused or not found; 5 or 6 when every id was (5 only if
    none was found at all)."""
    results = list(outcomes)
    code = exit_status(results)
    if code != EXIT_OK or not refused:
        return code
    if done if done is not None else results:
        return EXIT_PARTIAL
    if all(isinstance(e, NotFound) for e in refused):
        return EXIT_NOT_FOUND
    return exit_status(error=next((e for e in refused if not isinstance(e, NotFound)),
                                  refused[0]))


def _natural(text: str) -> tuple[int, str]:
    digits = "".join(ch for ch in text if ch.isdigit())
    return (int(digits[:18]) if digits else 0, text)
