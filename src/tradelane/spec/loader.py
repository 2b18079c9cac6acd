"""Loading: every problem in every file at once, as ``file: dotted.path: message``."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from tradelane.errors import ConfigError
from tradelane.spec.checks import check_route, inside_project, partial_route
from tradelane.spec.route import RouteSpec
from tradelane.spec.settings import Project, Settings

# libyaml's parser when PyYAML was built with it: the same documents, read 8x faster (the
# demo's nine mappings: 27 ms of CPU in pure Python, 3 ms)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_project(root: Path | str = ".", config: Path | str | None = None, *,
                 isolate: bool = False) -> Project:
    """Load ``tradelane.yaml`` and every route; raise one ConfigError listing every problem.

    ``isolate``: a route whose mapping has problems is left out and listed in
    ``Project.invalid`` instead, so that one bad mapping never stops the other routes (a
    problem in ``tradelane.yaml`` or a missing mappings folder still raises)."""
    root = Path(root).resolve()
    config_path = Path(config) if config else root / "tradelane.yaml"
    if config and not config_path.is_absolute():
        config_path = (Path.cwd() / config_path).resolve()
    if config:
        root = config_path.parent
    problems: list[str] = []
    settings = _load_settings(config_path, root, problems)
    routes: dict[str, RouteSpec] = {}
    invalid: dict[str, list[str]] = {}
    mappings_dir = settings.path(settings.mappings) if settings else root / "mappings"
    if not mappings_dir.is_dir():
        problems.append(f"{_rel(mappings_dir, root)}: the mappings folder does not exist")
    else:
        checks = settings or _settings_for_checks(config_path, root)
        for spec_path in sorted(mappings_dir.glob("*.yaml")) + sorted(mappings_dir.glob("*.yml")):
            found: list[str] = []
            route = load_route(spec_path, root, found, checks)
            if route is not None and route.name in routes:
                found.append(
                    f"{_rel(spec_path, root)}: name: route {route.name!r} is also defined in"
                    f" {_rel(routes[route.name].spec_path, root)}"
                )
            if found:
                invalid.setdefault(route.name if route else spec_path.stem, []).extend(found)
                continue
            assert route is not None
            routes[route.name] = route
    # partners/ beside mappings/: a route naming a partner takes its identifiers from it
    from tradelane.partners import apply_partner, load_partners

    partners = load_partners(mappings_dir.parent / "partners", root,
                             settings or _settings_for_checks(config_path, root), problems)
    for name, route in list(routes.items()):
        found = []
        routes[name] = apply_partner(route, partners, _rel(route.spec_path, root), found)
        if found:
            invalid.setdefault(name, []).extend(found)
            del routes[name]
    every = problems + [p for found in invalid.values() for p in found]
    if problems or (every and not isolate):
        raise ConfigError(every)
    assert settings is not None
    return Project(settings=settings, routes=routes, invalid=invalid, partners=partners)


def _settings_for_checks(path: Path, root: Path) -> Settings | None:
    """Settings without the options that failed, to check routes against (their connections
    and folders) while tradelane.yaml itself is reported as wrong."""
    data = _read_yaml(path, root, []) if path.exists() else {}
    if not isinstance(data, dict):
        return None
    data = dict(data)
    for _ in range(3):  # each round drops the options (or connections) that failed
        try:
            return Settings.model_validate({**data, "root": root})
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"]
                if loc and loc[0] == "connections" and len(loc) > 1 \
                        and isinstance(data.get("connections"), dict):
                    data["connections"] = {k: v for k, v in data["connections"].items()
                                           if k != loc[1]}
                elif loc:
                    data.pop(str(loc[0]), None)
    return None


def _load_settings(path: Path, root: Path, problems: list[str]) -> Settings | None:
    data: Any = {}
    if path.exists():
        data = _read_yaml(path, root, problems)
        if data is None:
            return None
    try:
        settings = Settings.model_validate({**(data or {}), "root": root})
    except ValidationError as exc:
        from tradelane.spec.reference import SETTINGS_SECTION

        problems.extend(_format_errors(exc, _rel(path, root), SETTINGS_SECTION, data))
        return None
    folders = settings.folders
    if not folders.allow_outside:
        for option in ("archive", "quarantine", "spool"):
            folder = getattr(folders, option)
            inside_project(settings, folder, settings.path(folder), _rel(path, root),
                           f"folders.{option}", "folders.allow_outside", problems)
    return settings


def load_route(spec_path: Path, root: Path, problems: list[str],
               settings: Settings | None = None) -> RouteSpec | None:
    """Load and check one route spec; append its problems (all of them, schema and
    cross-references at once) to ``problems``."""
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
        from tradelane.spec.reference import ROUTE_SECTION

        problems.extend(_format_errors(exc, label, ROUTE_SECTION, data))
        # the parts that are right are checked too: one round finds everything
        check_route(partial_route(data, spec_path), label, problems, settings)
        return None
    before = len(problems)
    check_route(route, label, problems, settings)
    if len(problems) > before:
        return None
    return route.model_copy(update={"version": _version(route, root)})


def _read_yaml(path: Path, root: Path, problems: list[str]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader) or {}  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problems.append(f"{_rel(path, root)}: {where}: {getattr(exc, 'problem', exc)}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{_rel(path, root)}: cannot read: {exc}")
    return None


def _format_errors(exc: ValidationError, label: str, section: str, data: Any) -> list[str]:
    # the option reference (every model's options) is for a project with errors only
    from tradelane.spec.reference import known_keys, unknown_option

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


def _version(route: RouteSpec, root: Path) -> str:
    """Hash of the spec file and every table, guide and schema it uses: recorded with each
    file processed."""
    digest = hashlib.sha256()
    if route.spec_path:
        digest.update(route.spec_path.read_bytes())
    tables = [lk.table for lk in route.transform.lookups]
    tables += [f.codes for f in {**route.fields, **route.header}.values() if f.codes]
    for table in sorted(tables):
        digest.update(route.resolve(table).read_bytes())
    # an implementation guide or segment rules file changes what the route accepts
    for name in ("guide", "rules"):
        companion = getattr(route.format, name, None)
        if isinstance(companion, str):
            with contextlib.suppress(OSError):  # a missing file is check's to report
                digest.update(route.resolve(companion).read_bytes())
    if route.validation:  # each step's schema and the files it imports, includes, $refs
        from tradelane.validators.depends import schema_files

        for path in schema_files(route, root):
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
