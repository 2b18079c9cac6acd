"""A route's processing steps on the file itself (``steps:`` in the route, see
``spec/steps.py``): ``before_read`` turns the received file into the one the reader parses,
``after_write`` turns what the target's format wrote into the file that is delivered.

Each kind is one module registered in ``tradelane.registry.STEPS`` and keeps ``abc.Step``:
``apply(staged, dest) -> Staged``. A small result is held in memory, a larger one is streamed
to ``dest`` (beside the spool copy of the file), so memory stays bounded. Intermediate
results are removed as soon as the next step has read them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tradelane.errors import RejectError, TargetUnavailable
from tradelane.models import Issue
from tradelane.registry import STEPS
from tradelane.staging import CHUNK, Staged

if TYPE_CHECKING:
    from tradelane.abc import Step, Writer
    from tradelane.models import Document
    from tradelane.spec import RouteSpec, Settings
    from tradelane.spec.steps import StepOptions


class StepFailed(RejectError):
    """A processing step refused the received file (a bomb, a bad signature, not encrypted
    to our key): it is quarantined with the step and the reason."""

    stage = "read"

    def __init__(self, step: str, reason: str, *, value: str = ""):
        self.step, self.reason = step, reason
        super().__init__(f"{step}: {reason}", issues=[Issue(
            location=f"steps.before_read ({step})", field="", value=value,
            rule=f"steps.{step}", message=reason)])


@dataclass(frozen=True)
class StepContext:
    """What steps need from the project: its root and its OpenPGP keyring folder."""

    root: Path
    keyring: Path

    @classmethod
    def of(cls, settings: Settings) -> StepContext:
        return cls(settings.root, settings.path(settings.gnupg))

    def secret(self, env: str | None, file: str | None, what: str) -> str | None:
        """A passphrase from the environment or a file; never logged."""
        if env:
            value = os.environ.get(env)
            if value is None:
                raise TargetUnavailable(f"the environment variable {env} ({what}) is not set")
            return value
        if file:
            path = Path(file) if Path(file).is_absolute() else self.root / file
            try:
                return path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise TargetUnavailable(f"cannot read {what} from {path}:"
                                        f" {exc.strerror}") from None
        return None


def build(specs: Sequence[StepOptions], ctx: StepContext) -> list[Step]:
    return [STEPS.of(spec).create(spec, ctx) for spec in specs]


def run_steps(steps: Sequence[Step], staged: Staged, dest: Path) -> Staged:
    """``staged`` through every step in order; the last result is returned (the caller
    discards it), each intermediate one is discarded once read. ``staged`` itself is kept."""
    current = staged
    for index, step in enumerate(steps):
        try:
            result = step.apply(current, dest.with_name(f"{dest.name}.step{index}"))
        finally:
            if current is not staged:
                current.discard()
        current = result
    return current


def prepared_input(route: RouteSpec, staged: Staged, spool: Path,
                   settings: Settings) -> Staged:
    """The file the reader parses: ``staged`` itself when the route has no before_read."""
    if not route.steps.before_read:
        return staged
    return run_steps(build(route.steps.before_read, StepContext.of(settings)), staged, spool)


def copy_into(staged: Staged, out: BinaryIO) -> None:
    with staged.open() as src:
        shutil.copyfileobj(src, out, CHUNK)


class StepsWriter:
    """A ``Writer`` whose output goes through the route's after_write steps: the format is
    written to a spool file first (bounded memory), the steps run, the result goes to the
    target's stream. The extension grows by each step's (``csv.gz.pgp``)."""

    def __init__(self, inner: Writer, steps: Sequence[Step], spool: Path):
        self.inner = inner
        self.steps = list(steps)
        self.spool = spool
        self.extension = ".".join([inner.extension, *(s.extension for s in self.steps
                                                      if s.extension)])

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        self.spool.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="steps-", dir=self.spool) as folder:
            written = Path(folder) / "written"
            with open(written, "wb") as fh:
                count = self.inner.write(batches, fh, route)
            result = run_steps(self.steps, Staged(size=written.stat().st_size, path=written),
                               Path(folder) / "out")
            try:
                copy_into(result, out)
            finally:
                result.discard()
        return count


def with_output_steps(target: object, route: RouteSpec, settings: Settings) -> None:
    """Route the target's writer through the after_write steps (a target that writes files
    holds its ``writer``; the route's check refuses after_write for one that does not)."""
    if not route.steps.after_write or not hasattr(target, "writer"):
        return
    steps = build(route.steps.after_write, StepContext.of(settings))
    target.writer = StepsWriter(target.writer, steps, settings.path(settings.folders.spool))


@contextlib.contextmanager
def spooled(dest: Path) -> Iterable[BinaryIO]:  # type: ignore[misc]
    """A file at ``dest`` to stream a step's result into; removed if the step fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    out = open(dest, "wb")  # noqa: SIM115 - closed below
    try:
        yield out
    except BaseException:
        out.close()
        dest.unlink(missing_ok=True)
        raise
    out.close()
