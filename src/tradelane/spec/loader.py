"""Loading: every problem in every file at once, as ``file: dotted.path: message``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from tradelane.errors import ConfigError
from tradelane.registry import FORMATS, SOURCES, TARGETS
from tradelane.spec.reference import ROUTE_SECTION, SETTINGS_SECTION, known_keys, unknown_option
from tradelane.spec.route import RouteSpec
from tradelane.spec.settings import Project, Settings


def load_project(root: Path | str = ".", config: Path | str | None = None) -> Project:
    """Load ``tradelane.yaml`` and every route; raise one ConfigError listing every problem."""
    root = Path(root).resolve()
    config_path = Path(config) if config else root / "tradelane.yaml"
    if config and not config_path.is_absolute():
        config_path = (Path.cwd() / config_path).resolve()
    if config:
        root = config_path.parent
    problems: list[str] = []
    settings = _load_settings(config_path, root, problems)
    routes: dict[str, RouteSpec] = {}
    mappings_dir = settings.path(settings.mappings) if settings else root / "mappings"
    if not mappings_dir.is_dir():
        problems.append(f"{_rel(mappings_dir, root)}: the mappings folder does not exist")
    else:
        for spec_path in sorted(mappings_dir.glob("*.yaml")) + sorted(mappings_dir.glob("*.yml")):
            route = load_route(spec_path, root, problems)
            if route is None:
                continue
            if settings is not None:
                _check_connections(route, settings, _rel(spec_path, root), problems)
                _check_folders(route, settings, _rel(spec_path, root), problems)
            if route.name in routes:
                problems.append(
                    f"{_rel(spec_path, root)}: name: route {route.name!r} is also defined in"
                    f" {_rel(routes[route.name].spec_path, root)}"
                )
                continue
            routes[route.name] = route
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return Project(settings=settings, routes=routes)


def _load_settings(path: Path, root: Path, problems: list[str]) -> Settings | None:
    data: Any = {}
    if path.exists():
        data = _read_yaml(path, root, problems)
        if data is None:
            return None
    try:
        settings = Settings.model_validate({**(data or {}), "root": root})
    except ValidationError as exc:
        problems.extend(_format_errors(exc, _rel(path, root), SETTINGS_SECTION, data))
        return None
    folders = settings.folders
    if not folders.allow_outside:
        for option in ("archive", "quarantine", "spool"):
            folder = getattr(folders, option)
            _inside_project(settings, folder, settings.path(folder), _rel(path, root),
                            f"folders.{option}", "folders.allow_outside", problems)
    return settings


def _inside_project(settings: Settings, folder: str, path: Path, label: str, where: str,
                    allow: str, problems: list[str]) -> None:
    """Folders the engine writes to stay inside the project unless the spec says otherwise:
    a typo like '../../etc' must not make the engine write where it should not."""
    path = path.resolve()
    if not path.is_relative_to(settings.root.resolve()):
        problems.append(f"{label}: {where}: {folder!r} is outside the project folder"
                        f" ({path}); set {allow}: true if that is intended")


def load_route(spec_path: Path, root: Path, problems: list[str]) -> RouteSpec | None:
    """Load and check one route spec; append its problems (all of them) to ``problems``."""
    label = _rel(spec_path, root)
    data = _read_yaml(spec_path, root, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(f"{label}: the file must hold a mapping of options")
        return None
    data.setdefault("name", spec_path.stem)
    try:
        route = RouteSpec.model_validate(
            {**data, "spec_path": spec_path, "base_dir": spec_path.parent}
        )
    except ValidationError as exc:
        problems.extend(_format_errors(exc, label, ROUTE_SECTION, data))
        return None
    before = len(problems)
    _check_references(route, label, problems)
    if len(problems) > before:
        return None
    return route.model_copy(update={"version": _version(route)})


def _read_yaml(path: Path, root: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problems.append(f"{_rel(path, root)}: {where}: {getattr(exc, 'problem', exc)}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{_rel(path, root)}: cannot read: {exc}")
    return None


def _format_errors(exc: ValidationError, label: str, section: str, data: Any) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            # "did you mean": the options declared where the unknown key was found
            message = unknown_option(str(err["loc"][-1]),
                                     known_keys(section, tuple(err["loc"]), data))
        out.append(f"{label}: {loc}: {message}")
    return out


def _check_references(route: RouteSpec, label: str, problems: list[str]) -> None:
    """Checks that need more than one option: files, hooks, field names."""
    fields = set(route.fields)
    known = fields | set(route.header)
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
        try:
            import_hook(t.hook, route.base_dir)
        except Exception as exc:
            problems.append(f"{label}: transform.hook: cannot load {t.hook!r}: {exc}")
    for old in t.rename:
        if old not in known:
            problems.append(f"{label}: transform.rename.{old}: not a field")
    renamed = {t.rename.get(k, k) for k in known}
    if t.output and not t.hook:
        for i, name in enumerate(t.output):
            if name not in renamed:
                problems.append(f"{label}: transform.output.{i}: {name!r} is not a field")
    for name in route.target.decimals if not t.hook else ():
        if name not in (t.output or renamed):
            problems.append(f"{label}: target.decimals.{name}: not an output column")
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
        _inside_project(settings, folder, settings.path(folder), label, f"target.{option}",
                        "target.allow_outside", problems)
    move_to = route.source.move_to
    if SOURCES.of(route.source).local and move_to and not route.target.allow_outside:
        # as the local source resolves it: beside the source folder
        inbox = settings.path(route.source.local_folder or ".")
        _inside_project(settings, move_to, inbox.parent / move_to, label, "source.move_to",
                        "target.allow_outside", problems)


def _check_table(route: RouteSpec, table: str, columns: list[str], where: str, label: str,
                 problems: list[str]) -> None:
    path = route.resolve(table)
    if not path.is_file():
        problems.append(f"{label}: {where}: file {table!r} not found next to the mapping")
        return
    header = path.read_text(encoding="utf-8-sig").splitlines()[:1]
    have = header[0].split(",") if header else []
    for column in columns:
        if column not in have:
            problems.append(f"{label}: {where}: column {column!r} not in {table} (has {have})")


def _template_names(template: str) -> list[str]:
    return [m.split(":")[0].split("!")[0] for m in re.findall(r"{([^{}]+)}", template)]


def hook_file(hook: str, base_dir: Path | None) -> Path:
    """The file of a hook's module, which must be the project's own code: a module in the
    mappings folder or in the project's ``hooks/`` folder (``enrich:add_region`` is
    ``mappings/enrich.py`` or ``hooks/enrich.py``). Never a library module such as ``os``."""
    module_name, _, func_name = hook.partition(":")
    if not func_name or not module_name:
        raise ValueError("write it as 'module:function'")
    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        raise ValueError(f"{module_name!r} is not a module name")
    folders = [base_dir, base_dir.parent / "hooks"] if base_dir else []
    for folder in folders:
        for candidate in (folder.joinpath(*parts).with_suffix(".py"),
                          folder.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    raise ValueError(f"{module_name!r} is not a module of this project: a hook must be"
                     " a .py file in the mappings folder or in the project's hooks/ folder")


def import_hook(hook: str, base_dir: Path | None) -> Any:
    """The function ``module:function`` of the project's own hook module (``hook_file``),
    loaded from its file under a name of its own, so it never shadows a library."""
    import importlib.util
    import sys

    path = hook_file(hook, base_dir)
    module_name, _, func_name = hook.partition(":")
    key = f"tradelane_hooks.{module_name}.{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    module = sys.modules.get(key)
    if module is None or getattr(module, "__tradelane_mtime__", None) != path.stat().st_mtime_ns:
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.__tradelane_mtime__ = path.stat().st_mtime_ns  # type: ignore[attr-defined]
        spec.loader.exec_module(module)
        sys.modules[key] = module
    func = getattr(module, func_name, None)
    if func is None:
        raise ValueError(f"{path.name} has no function {func_name!r}")
    if not callable(func):
        raise ValueError(f"{func_name} is not a function")
    return func


def _version(route: RouteSpec) -> str:
    """Hash of the spec file and every table it uses: recorded with each file processed."""
    digest = hashlib.sha256()
    if route.spec_path:
        digest.update(route.spec_path.read_bytes())
    tables = [lk.table for lk in route.transform.lookups]
    tables += [f.codes for f in {**route.fields, **route.header}.values() if f.codes]
    for table in sorted(tables):
        digest.update(route.resolve(table).read_bytes())
    return digest.hexdigest()[:12]


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
