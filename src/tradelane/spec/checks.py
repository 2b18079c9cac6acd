"""Checks that need more than one option: tables, hooks, field names, connections, folders and
the field paths of each format.

They run on every route, even one whose schema is wrong: the loader gives them the parts of
the route that did validate (``partial_route``), and each check says which parts it needs,
so ``check`` reports every problem of a file in one pass instead of one kind per round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from tradelane.errors import ConfigError
from tradelane.registry import FORMATS, SOURCES, TARGETS
from tradelane.spec import verdicts
from tradelane.spec.fields import FieldSpec
from tradelane.spec.nest import check_nest
from tradelane.spec.route import RouteSpec
from tradelane.spec.settings import Project, Settings

Check = Callable[[RouteSpec, str, list[str]], None]


def partial_route(data: dict[str, Any], spec_path: Path) -> RouteSpec:
    """The options of a route that validate on their own (a route with a schema error still
    gets its tables, hooks and paths checked). Options that failed are left unset."""
    parts: dict[str, Any] = {}
    for name, info in RouteSpec.model_fields.items():
        key = info.alias or name  # validate: is the field ``validation``
        if key not in data or info.exclude:
            continue
        if name in ("fields", "header") and isinstance(data[name], dict):
            # a field with a wrong rule still exists: the transform may refer to it
            parts[name] = {key: _field_or_blank(value) for key, value in data[name].items()}
            continue
        try:
            kind = Annotated[info.annotation, *info.metadata] if info.metadata \
                else info.annotation
            adapter: TypeAdapter[Any] = TypeAdapter(kind)
            parts[name] = adapter.validate_python(data[key])
        except (ValidationError, ValueError, TypeError):
            continue
    return RouteSpec.model_construct(**parts, spec_path=spec_path, base_dir=spec_path.parent)


def _field_or_blank(value: Any) -> FieldSpec:
    try:
        return FieldSpec.model_validate(value)
    except (ValidationError, ValueError, TypeError):
        source = value.get("source") if isinstance(value, dict) else None
        return FieldSpec.model_construct(source=source if isinstance(source, str) else None)


def has(route: RouteSpec, *names: str) -> bool:
    """The route has these options (a partial route may miss the ones that failed)."""
    return all(name in route.__dict__ for name in names)


def check_route(route: RouteSpec, label: str, problems: list[str],
                settings: Settings | None = None) -> None:
    """Every check a route's parts allow; each problem as ``label: dotted.path: message``."""
    checks: list[tuple[tuple[str, ...], Check]] = [
        (("fields", "header", "transform"), _check_names),
        (("fields", "header", "transform", "target"), _check_outputs),
        (("source", "target", "format"), _check_capabilities),
        (("fields", "header", "format"), check_field_paths),
        (("format",), _check_guide),
        (("format",), _check_x12_rules),
        ((), check_nest),  # takes what the route has: nest, target, transform, format
    ]
    for needs, check in checks:
        if has(route, *needs):
            check(route, label, problems)
    if settings is not None and has(route, "source", "target"):
        _check_connections(route, settings, label, problems)
        _check_folders(route, settings, label, problems)
    if settings is not None and route.__dict__.get("validation"):
        # every schema compiled now, so a broken one is reported before a file is read
        from tradelane.validators.run import compile_all

        problems.extend(f"{label}: {p}" for p in compile_all(route, settings.root))
    owner = route.__dict__.get("owner")
    if settings is not None and owner is not None and owner.email \
            and settings.alerts.smtp is None:
        problems.append(f"{label}: owner.email: mailing {owner.email} needs alerts.smtp in"
                        " tradelane.yaml (the mail server to send through)")


def _check_names(route: RouteSpec, label: str, problems: list[str]) -> None:
    """Tables, hooks and the field names that the transform refers to."""
    known = set(route.fields) | set(route.header)
    for name, spec in {**route.fields, **route.header}.items():
        if spec.codes:
            _check_table(route, spec.codes, [], f"fields.{name}.codes", label, problems)
    t = route.transform
    for i, name in enumerate(t.copy_header):
        if name not in route.header:
            problems.append(f"{label}: transform.copy_header.{i}: {name!r} is not a header field")
    known |= set(t.copy_header) | set(t.constants)
    for i, lookup in enumerate(t.lookups):
        where = f"transform.lookups.{i}"
        if lookup.key not in known:
            problems.append(f"{label}: {where}.key: {lookup.key!r} is not a field")
        _check_table(route, lookup.table, [lookup.key_column, lookup.value_column],
                     f"{where}.table", label, problems)
        known.add(lookup.field)
    for name, derive in t.derive.items():
        for ref in _template_names(derive.template) if derive.template else []:
            if ref not in known:
                problems.append(
                    f"{label}: transform.derive.{name}.template: {ref!r} is not a field")
        if derive.expr:
            for ref in re.findall(r"[A-Za-z_]\w*", derive.expr):
                if ref not in known and ref not in {"and", "or", "not", "abs"}:
                    problems.append(
                        f"{label}: transform.derive.{name}.expr: {ref!r} is not a field")
        known.add(name)
    if t.hook:
        from tradelane.spec.loader import import_hook

        try:
            import_hook(t.hook, route.base_dir)
        except Exception as exc:  # the project's own code: any error is a finding here
            problems.append(f"{label}: transform.hook: cannot load {t.hook!r}: {exc}")
    for old in t.rename:
        if old not in known:
            problems.append(f"{label}: transform.rename.{old}: not a field")


def _output_names(route: RouteSpec) -> set[str]:
    t = route.transform
    known = set(route.fields) | set(route.header) | set(t.copy_header) | set(t.constants)
    known |= {lk.field for lk in t.lookups} | set(t.derive)
    return {t.rename.get(k, k) for k in known}


def _check_outputs(route: RouteSpec, label: str, problems: list[str]) -> None:
    t = route.transform
    if t.hook:
        return  # a hook may add or drop any column
    renamed = _output_names(route)
    for i, name in enumerate(t.output or []):
        if name not in renamed:
            problems.append(f"{label}: transform.output.{i}: {name!r} is not a field")
    for name in route.target.decimals:
        if name not in (t.output or renamed):
            problems.append(f"{label}: target.decimals.{name}: not an output column")


def _check_capabilities(route: RouteSpec, label: str, problems: list[str]) -> None:
    if route.watch and not SOURCES.of(route.source).watchable:
        problems.append(f"{label}: watch: needs a local folder source (source.folder); poll"
                        " remote sources with 'every' or 'schedule'")
    if route.target.format == "fixed" and not route.target.fixed \
            and route.format.type != "fixed":
        problems.append(f"{label}: target.fixed: fixed output of {route.format.type} input"
                        " needs a layout (prefix, fields)")
    if route.on_invalid == "split" and not FORMATS.get(route.format.type).splittable:
        splittable = ", ".join(p.kind for p in FORMATS if p.splittable)
        problems.append(f"{label}: on_invalid: 'split' is not supported for"
                        f" {route.format.type} input yet (only for {splittable})")


# -- field paths --------------------------------------------------------------------------------


def check_field_paths(route: RouteSpec, label: str, problems: list[str]) -> None:
    """Each field's ``source`` is a path its format can follow: an EDIFACT or X12 segment
    path, an XPath with declared prefixes, a dotted JSON path. Found here, not as a reader's
    failure on the first file. A pass is remembered (``verdicts``): the next process spares
    the imports of the engines that compile the paths (lxml, numpy, the EDI readers)."""
    kind = route.format.type
    check = _PATH_CHECKS.get(kind)
    if check is None:
        return
    verdict = verdicts.verdict(route, "paths")
    if verdicts.passed(verdict):
        return
    before = len(problems)
    _check_field_paths(route, check, label, problems)
    if len(problems) == before:
        verdicts.remember(verdict)


def _check_field_paths(route: RouteSpec, check: Callable[[RouteSpec, str, str, str], str | None],
                       label: str, problems: list[str]) -> None:
    if route.format.type == "edifact":
        from tradelane.edi.paths import records_problem

        found = records_problem(route)
        if found:
            problems.append(f"{label}: {found}")
            return
    for part, specs in (("header", route.header), ("fields", route.fields)):
        for name, spec in specs.items():
            where = f"{part}.{name}.source"
            message = check(route, (spec.source or name).strip(), where, part)
            if message:
                problems.append(f"{label}: {message}")


def _edifact_path(route: RouteSpec, source: str, where: str, part: str) -> str | None:
    from tradelane.edi.paths import source_problem  # codes, groups, take: edi/paths.py

    return source_problem(route, source, where, part)


def _check_guide(route: RouteSpec, label: str, problems: list[str]) -> None:
    """An EDIFACT route's implementation guide fits its directory (edi/guides.py); a pass
    is remembered like the field paths' (``verdicts``)."""
    guide = getattr(route.format, "guide", None)
    if guide:
        # its file as edi.guides.resolve finds it (one outside the folder is a problem: never
        # remembered), without importing the EDI engine to know
        verdict = verdicts.verdict(route, "guide", Path(route.base_dir or ".") / guide)
        if verdicts.passed(verdict):
            return
        from tradelane.edi.guides import check_guide

        before = len(problems)
        check_guide(route, label, problems)
        if len(problems) == before:
            verdicts.remember(verdict)


def _check_x12_rules(route: RouteSpec, label: str, problems: list[str]) -> None:
    """An X12 route's own segment rules load, each problem at its place (x12_ruleset.py);
    a pass is remembered like the guide's (inline rules are in the mapping's bytes)."""
    rules = getattr(route.format, "rules", None)
    if not rules or route.format.type != "x12":
        return
    also = [Path(route.base_dir or ".") / rules] if isinstance(rules, str) else []
    verdict = verdicts.verdict(route, "x12_rules", *also)
    if verdicts.passed(verdict):
        return
    from tradelane.formats.x12_ruleset import check_rules

    before = len(problems)
    check_rules(route, label, problems)
    if len(problems) == before:
        verdicts.remember(verdict)


def _x12_path(route: RouteSpec, source: str, where: str, part: str) -> str | None:
    from tradelane.formats.x12_map import compile_x12_path

    try:
        compile_x12_path(source, where)
    except ConfigError as exc:
        return "; ".join(exc.problems)
    return None


def _xpath(route: RouteSpec, source: str, where: str, part: str) -> str | None:
    from lxml import etree

    namespaces = getattr(route.format, "namespaces", {}) or {}
    try:
        # evaluated once on an empty element: an undeclared prefix is found only then
        etree.XPath(source, namespaces=namespaces)(etree.Element("record"))
    except etree.XPathSyntaxError as exc:
        return f"{where}: {source!r} is not an XPath expression ({exc})"
    except etree.XPathEvalError as exc:
        return f"{where}: {source!r}: {exc} (declare it in format.namespaces)"
    return None


def _json_path(route: RouteSpec, source: str, where: str, part: str) -> str | None:
    if any(not piece for piece in source.split(".")):
        return f"{where}: {source!r} is not a dotted path like 'customer.id' (an empty step)"
    return None


_PATH_CHECKS: dict[str, Callable[[RouteSpec, str, str, str], str | None]] = {
    "edifact": _edifact_path, "x12": _x12_path, "xml": _xpath, "json": _json_path,
    "jsonl": _json_path,
}


# -- connections and folders --------------------------------------------------------------------


def _check_connections(route: RouteSpec, settings: Settings, label: str,
                       problems: list[str]) -> None:
    """A source or target that talks to a server names a connection of tradelane.yaml of the
    right kind, under its own key (``sftp: acme``)."""
    for part, spec, plugin in (("source", route.source, SOURCES.of(route.source)),
                               ("target", route.target, TARGETS.of(route.target))):
        if plugin.connection is None:
            continue
        name = getattr(spec, plugin.kind)
        where = f"{part}.{plugin.kind}"
        if not isinstance(name, str):  # a block naming its connection (table: {connection: x})
            name, where = name.connection, f"{where}.connection"
        conn = settings.connections.get(name)
        if conn is None:
            problems.append(f"{label}: {where}: no connection named {name!r} in tradelane.yaml")
        elif conn.kind != plugin.connection:
            problems.append(f"{label}: {where}: connection {name!r} is not an"
                            f" {plugin.connection} connection (it is {conn.kind})")


def _check_folders(route: RouteSpec, settings: Settings, label: str,
                   problems: list[str]) -> None:
    """A local output folder (or a local source's move_to) lies inside the project."""
    option = TARGETS.of(route.target).folder_option
    if option and not route.target.allow_outside:
        folder = getattr(route.target, option)
        inside_project(settings, folder, settings.path(folder), label, f"target.{option}",
                       "target.allow_outside", problems)
    move_to = route.source.move_to
    if SOURCES.of(route.source).local and move_to and not route.target.allow_outside:
        # as the local source resolves it: beside the source folder
        inbox = settings.path(route.source.local_folder or ".")
        inside_project(settings, move_to, inbox.parent / move_to, label, "source.move_to",
                       "target.allow_outside", problems)


def inside_project(settings: Settings, folder: str, path: Path, label: str, where: str,
                   allow: str, problems: list[str]) -> None:
    """Folders the engine writes to stay inside the project unless the spec says otherwise:
    a typo like '../../etc' must not make the engine write where it should not."""
    path = path.resolve()
    if not path.is_relative_to(settings.root.resolve()):
        problems.append(f"{label}: {where}: {folder!r} is outside the project folder"
                        f" ({path}); set {allow}: true if that is intended")


def _check_table(route: RouteSpec, table: str, columns: list[str], where: str, label: str,
                 problems: list[str]) -> None:
    path = route.resolve(table)
    if not path.is_file():
        problems.append(f"{label}: {where}: file {table!r} not found next to the mapping")
        return
    try:
        header = path.read_text(encoding="utf-8-sig").splitlines()[:1]
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{label}: {where}: cannot read {table!r}: {exc}")
        return
    have = header[0].split(",") if header else []
    for column in columns:
        if column not in have:
            problems.append(f"{label}: {where}: column {column!r} not in {table} (has {have})")


def _template_names(template: str) -> list[str]:
    return [m.split(":")[0].split("!")[0] for m in re.findall(r"{([^{}]+)}", template)]


class Advice(str):
    """A finding of ``check`` that does not fail it (a certificate expiring soon): printed
    as a warning. ``verify()`` methods may return these beside their problems."""


def _labelled(prefix: str, finding: str) -> str:
    """``finding`` behind ``prefix``, still advice if it was."""
    return (Advice if isinstance(finding, Advice) else str)(prefix + finding)


def check_far_side(project: Project) -> list[str]:
    """``tradelane check`` only: what a plug-in can look at without writing or sending. A
    target with ``verify()`` (a table's columns and types, an AS2 target's keys), a
    processing step with ``verify()`` (a PGP step's keys in the keyring), and a block of
    tradelane.yaml whose model names a ``far_side_check`` (``"module:function"`` taking the
    block and the settings). Each problem names its route or block; ``Advice`` stays advice.
    """
    from tradelane.registry import STEPS, load_ref

    problems = []
    settings = project.settings
    for field in type(settings).model_fields:
        block = getattr(settings, field, None)
        checker = getattr(block, "far_side_check", None)
        if isinstance(checker, str):
            problems.extend(_labelled("tradelane.yaml: ", p)
                            for p in load_ref(checker)(block, settings))
    for name, route in sorted(project.routes.items()):
        steps = route.__dict__.get("steps")
        for where in ("before_read", "after_write"):
            for index, spec in enumerate(getattr(steps, where, None) or []):
                step_kind = load_ref(STEPS.of(spec).factory)
                if hasattr(step_kind, "verify"):
                    from tradelane.steps import StepContext

                    problems.extend(_labelled(f"{name}: steps.{where}[{index}]: ", p)
                                    for p in step_kind(spec, StepContext.of(settings)).verify())
        kind = load_ref(TARGETS.of(route.target).factory)
        if not hasattr(kind, "verify"):
            continue
        try:
            target = kind(route, project.settings)
        except ConfigError as exc:
            problems.extend(f"{name}: target: {p}" for p in exc.problems)
            continue
        try:
            problems.extend(_labelled(f"{name}: target: ", p) for p in target.verify())
        finally:
            target.close()
    return problems
