"""A route's ``validate:`` steps, run on a file before its fields are mapped: the one entry
the pipeline and ``tradelane validate`` share (``against_schemas``), and ``check``'s
compile of every schema (``compile_all``).

Compiled schemas are kept per route and step in this process and rebuilt when a file they
were built from changes (its path, size or mtime), so a fixed schema is picked up without a
restart and an unchanged one is never compiled twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelane.errors import ConfigError, InvalidRecords
from tradelane.models import Document, Issue
from tradelane.registry import VALIDATORS
from tradelane.spec import RouteSpec
from tradelane.spec.validate import ValidateStep
from tradelane.staging import Staged
from tradelane.validators.confine import SchemaFolder

if TYPE_CHECKING:
    from tradelane.abc import Validator
    from tradelane.checking import Checked

#: Notes a warn step adds to a file's history, beyond which they are counted.
MAX_WARNINGS = 5


@dataclass(frozen=True)
class _Compiled:
    validator: Validator
    stamps: tuple[tuple[str, int, int], ...]


_cache: dict[tuple[str, str, int, str, int], _Compiled] = {}
_lock = threading.Lock()


def _stamps(files: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in files:
        try:
            info = path.stat()
        except OSError:
            return ()  # gone: rebuild (and report it)
        out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(out)


def _validator(route: str, root: Path, index: int, step: ValidateStep) -> Validator:
    # the pid: a worker process compiles its own (Saxon's runtime does not survive a fork)
    key = (route, str(root), index, step.model_dump_json(), os.getpid())
    with _lock:
        entry = _cache.get(key)
        if entry is None or _stamps(Path(p) for p, _, _ in entry.stamps) != entry.stamps:
            validator = VALIDATORS.of(step).create(step, SchemaFolder(root))
            entry = _Compiled(validator, _stamps(validator.compile()))
            _cache[key] = entry
        return entry.validator


def compiled(route: RouteSpec, root: Path) -> list[tuple[ValidateStep, Validator]]:
    """Each step of the route with its compiled validator, from the cache when none of its
    files changed. Raises ``ConfigError`` for a schema that does not compile."""
    return [(step, _validator(route.name, root, index, step))
            for index, step in enumerate(route.validation)]


def compile_all(route: RouteSpec, root: Path) -> list[str]:
    """``check`` (and every load of the project): every step's schema compiled, each broken
    one with its own message. What compiles stays in the cache for the files."""
    from tradelane.spec import verdicts

    # a pass is remembered across processes (spec/verdicts.py), keyed by the mapping, every
    # file in schemas/ and this package's code: an empty run then loads no XML library
    verdict = verdicts.verdict(route, "validate", *_inputs(root))
    if verdicts.passed(verdict):
        return []
    problems = []
    name = str(route.__dict__.get("name", ""))
    fmt = getattr(route.__dict__.get("format"), "type", None)
    for index, step in enumerate(route.validation):
        plugin = VALIDATORS.of(step)
        if plugin.formats and fmt is not None and fmt not in plugin.formats:
            problems.append(f"validate.{index}: a {step.kind} step checks"
                            f" {'/'.join(sorted(plugin.formats))} input, not {fmt}")
            continue
        try:
            _validator(name, root, index, step)
        except ConfigError as exc:
            problems.extend(f"validate.{index}: {p}" for p in exc.problems)
    if not problems:
        verdicts.remember(verdict)
    return problems


def _inputs(root: Path) -> list[Path]:
    """What a schema check depends on besides the mapping: every file of the schemas
    folder, and the validators' own code."""
    schemas = SchemaFolder(root).root
    files = sorted(p for p in schemas.rglob("*") if p.is_file()) if schemas.is_dir() else []
    return files + sorted(Path(__file__).parent.glob("*.py"))


def against_schemas(docs: Iterable[Document], staged: Staged, route: RouteSpec,
                    checked: Checked, *, root: Path, limit: int) -> Iterable[Document]:
    """Check the file against every ``validate:`` step now, before any record is mapped.

    A ``reject`` step's errors quarantine the file (``InvalidRecords``, stage validate),
    except JSON Lines records under ``on_invalid: split``: those records are left out of
    ``docs`` and split out with the other rejects. A ``warn`` step's errors, and rules
    flagged as warnings, become notes in the file's history.
    """
    if not route.validation:
        return docs
    import numpy as np

    issues: list[Issue] = []
    whole = split = 0
    bad: list[Any] = []
    for step, validator in compiled(route, root):
        found = validator.validate(staged, route, limit=limit)
        shown = f"{step.kind} {step.schema_file}"
        checked.note(_warnings(shown, found.warnings or [], len(found.warnings or [])))
        if not found.count:
            continue
        if step.severity == "warn":
            checked.note(_warnings(shown, found.issues, found.count))
            continue
        issues.extend(found.issues[: max(0, limit - len(issues))])
        if found.records is not None and route.on_invalid == "split":
            split += found.count
            bad.append(found.records)
        else:
            whole += found.count
    if whole:
        raise InvalidRecords(issues, error_count=whole + split, stage="validate")
    if not split:
        return docs
    checked.issues.extend(issues[: max(0, limit - len(checked.issues))])
    checked.error_count += split
    checked.stage = "validate"
    return _without(docs, np.unique(np.concatenate(bad)), checked)


def _without(docs: Iterable[Document], bad: Any, checked: Checked) -> Iterator[Document]:
    """The batches without the records a schema refused; those go to the rejects."""
    import numpy as np

    from tradelane.formats.split import pick

    for doc in docs:
        mask = np.isin(doc.numbers, bad)
        if mask.any():
            if doc.source_rows is None:  # cannot be written back: never drop them silently
                raise InvalidRecords(checked.issues, error_count=checked.error_count,
                                     stage="validate")
            checked.rejected_rows.extend(pick(doc.source_rows, mask))
            doc = replace(doc.filter(~mask), source_rows=pick(doc.source_rows, ~mask))
        yield doc


def _warnings(shown: str, issues: list[Issue], count: int) -> list[str]:
    notes = [f"{shown}: {i.location}: {i.rule}: {i.message}" for i in issues[:MAX_WARNINGS]]
    if count > len(notes):
        notes.append(f"{shown}: … and {count - len(notes)} more")
    return notes
