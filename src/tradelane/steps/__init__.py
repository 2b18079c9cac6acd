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
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tradelane.errors import RejectError, TargetUnavailable
from tradelane.models import Issue
from tradelane.paths import sha256_of
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
    target's stream. The extension grows by each step's (``csv.gz.pgp``).

    Signing and encrypting give new bytes on every run (a time stamp, a fresh session key),
    yet a retry must deliver the very bytes a crashed attempt may have left at the partner
    (targets refuse to replace a file with different content). So each result is kept in
    the spool under a key of the written bytes and the steps, durably before it is handed
    to the target, and a retry that writes the same bytes sends that same result. Results
    older than ``KEEP`` are swept on the next write.
    """

    KEEP = 7 * 86400

    def __init__(self, inner: Writer, steps: Sequence[Step], spool: Path,
                 specs: Sequence[StepOptions] = ()):
        self.inner = inner
        self.steps = list(steps)
        self.spool = spool
        self.config = json.dumps([s.model_dump(mode="json") for s in specs], sort_keys=True)
        self.extension = ".".join([inner.extension, *(s.extension for s in self.steps
                                                      if s.extension)])

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        kept = self.spool / "after_write"
        kept.mkdir(parents=True, exist_ok=True)
        self._sweep(kept)
        with tempfile.TemporaryDirectory(prefix="steps-", dir=self.spool) as folder:
            written = Path(folder) / "written"
            with open(written, "wb") as fh:
                count = self.inner.write(batches, fh, route)
            key = hashlib.sha256(f"{sha256_of(written)} {self.config}".encode()).hexdigest()
            result = kept / key
            if not result.exists():
                made = run_steps(self.steps, Staged(size=written.stat().st_size,
                                                    path=written), Path(folder) / "out")
                made.keep(result)  # durable before any byte reaches the target
            copy_into(Staged.file(result), out)
        return count

    def _sweep(self, kept: Path) -> None:
        cutoff = time.time() - self.KEEP
        for old in kept.iterdir():
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()


def with_output_steps(target: object, route: RouteSpec, settings: Settings) -> None:
    """Route the target's writer through the after_write steps (a target that writes files
    holds its ``writer``; the route's check refuses after_write for one that does not)."""
    if not route.steps.after_write or not hasattr(target, "writer"):
        return
    specs = route.steps.after_write
    target.writer = StepsWriter(target.writer, build(specs, StepContext.of(settings)),
                                settings.path(settings.folders.spool), specs)


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
