"""The files a route's ``validate:`` steps read: each step's schema and everything it pulls
in (XSD import/include/redefine, xsl:import/include, sch:include, ``$ref`` targets). They
are part of the route's mapping version (``spec.loader``), so a changed schema, even one
included two levels down, is a new version of the route.

Finding them parses the schemas (XML ones with lxml). A load of the project with nothing
to do must not pay that, so the list is remembered in the verdict cache (``spec.verdicts``)
under the step and the path, size and mtime of every file in ``schemas/``: editing any
schema file finds them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from tradelane.errors import ConfigError
from tradelane.registry import VALIDATORS
from tradelane.spec.route import RouteSpec
from tradelane.spec.validate import ValidateStep
from tradelane.validators.confine import SchemaFolder


def schema_files(route: RouteSpec, root: Path) -> list[Path]:
    """Every file the route's steps are built from, each once, in the order found. A step
    whose schema cannot be read or reaches outside gives only its own file: ``check``
    reports it."""
    folder = SchemaFolder(root)
    found: list[Path] = []
    stamps = _stamps(folder.root)
    for step in route.validation:
        for path in _remembered(step, folder, stamps):
            if path not in found:
                found.append(path)
    return found


def _step_files(step: ValidateStep, folder: SchemaFolder) -> list[Path]:
    validator = VALIDATORS.of(step).create(step, folder)
    try:
        return list(validator.files())
    except ConfigError:
        path = (folder.project_root / step.schema_file).resolve()
        return [path] if path.is_file() else []


def _remembered(step: ValidateStep, folder: SchemaFolder, stamps: bytes) -> list[Path]:
    from tradelane.spec import verdicts

    where = verdicts.folder()
    if where is None:
        return _step_files(step, folder)
    key = hashlib.sha256(stamps + step.model_dump_json().encode() + _code()).hexdigest()
    memo = where / f"schema-files-{key}"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        paths = [folder.root / line for line in memo.read_text("utf-8").splitlines()]
        if all(p.is_file() for p in paths):
            return paths
    paths = _step_files(step, folder)
    with contextlib.suppress(OSError, ValueError):  # not remembered: found again next time
        text = "".join(f"{p.relative_to(folder.root)}\n" for p in paths)
        memo.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        partial.write_text(text, "utf-8")
        partial.replace(memo)
    return paths


def _stamps(schemas: Path) -> bytes:
    """Path, size and mtime of every file in ``schemas/``."""
    out = []
    for top, dirs, names in os.walk(schemas):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(top, name)
            with contextlib.suppress(OSError):
                info = os.stat(path)
                out.append(f"{path}:{info.st_size}:{info.st_mtime_ns}\n")
    return "".join(out).encode()


def _code() -> bytes:
    """This package's code: how references are found may change with it."""
    here = Path(__file__).parent
    return "".join(f"{p.name}:{p.stat().st_mtime_ns}\n"
                   for p in sorted(here.glob("*.py"))).encode()
