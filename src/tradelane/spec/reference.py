"""The option reference, generated from the spec models and the plug-in registry.

Every option is declared once (``Field(description=…)``); this module walks those
declarations, so ``tradelane spec``, ``docs/reference.md`` and "did you mean" in load errors
all come from the same source and cannot drift apart.

Sections: ``tradelane.yaml`` (engine settings), ``route`` (a mapping file), and one per
plug-in kind: ``source.folder``, ``target.http``, ``format.csv``, ``connection.sftp``.
Options inside maps and lists are written ``fields.*.pattern`` and ``lookups[].table``.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from dataclasses import asdict, dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tradelane.registry import FORMATS, SOURCES, TARGETS, TRANSPORTS, Registry, _Dispatch

SETTINGS_SECTION = "tradelane.yaml"
ROUTE_SECTION = "route"
#: Section prefix -> the registry whose kinds each get a section of their own.
FAMILIES: dict[str, Registry[Any]] = {
    "source": SOURCES, "target": TARGETS, "format": FORMATS, "connection": TRANSPORTS}


@dataclass(frozen=True)
class Option:
    """One documented option."""

    section: str
    path: str  # dotted, within its section
    type: str
    default: str  # as written in YAML; "" when the option is required
    required: bool
    description: str
    example: str  # a YAML line that sets it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _models() -> dict[str, type[BaseModel]]:
    # imported here: the spec package imports this module's registry users first
    from tradelane.spec.route import RouteSpec
    from tradelane.spec.settings import Settings

    sections: dict[str, type[BaseModel]] = {SETTINGS_SECTION: Settings, ROUTE_SECTION: RouteSpec}
    for family, registry in FAMILIES.items():
        for kind in registry.kinds():
            sections[f"{family}.{kind}"] = registry.get(kind).spec
    return sections


def sections() -> list[str]:
    return list(_models())


def reference(path: str = "") -> list[Option]:
    """Every option under ``path``: a section (``format.csv``), an option or a prefix of one
    (``route.expect``, ``format.csv.delimiter``), or nothing for all. Raises ``KeyError``
    with suggestions when nothing matches."""
    models = _models()
    path = path.strip().strip(".")
    if path in ("", "all"):
        chosen = list(models)
        prefix = ""
    else:
        if path in ("settings", "tradelane", "config"):
            path = SETTINGS_SECTION
        chosen = [s for s in models if path == s or path.startswith(s + ".")]
        chosen = chosen[-1:]  # the longest section that the path starts with
        if not chosen:
            # ``format`` alone: every format
            chosen = [s for s in models if s.startswith(path + ".")]
        prefix = path[len(chosen[0]) + 1:] if chosen and path.startswith(chosen[0] + ".") else ""
    options = [o for s in chosen for o in _walk(s, models[s], "")]
    if prefix:
        options = [o for o in options if o.path == prefix or o.path.startswith(prefix + ".")
                   or o.path.startswith(prefix + "[]") or o.path.startswith(prefix + ".*")]
    if not options:
        known = list(models) + [f"{o.section}.{o.path}" for s in models
                                for o in _walk(s, models[s], "")]
        raise KeyError(_did_you_mean(f"nothing documented under {path!r}", path, known))
    return options


def _walk(section: str, model: type[BaseModel], prefix: str) -> list[Option]:
    out: list[Option] = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue  # filled in by the loader, never written in YAML
        path = f"{prefix}{name}"
        annotation = info.annotation
        out.append(Option(
            section=section, path=path, type=_type_name(annotation, info),
            default=_default(info), required=info.is_required(),
            description=describe(model, name), example=_example(section, name, info)))
        for suffix, nested in _nested_models(annotation, info):
            out.extend(_walk(section, nested, f"{path}{suffix}"))
    return out


def describe(model: type[BaseModel], name: str) -> str:
    """A field's description; a kind's field that only narrows its type (``kind:
    Literal["folder"]``) keeps the description of the field it overrides."""
    for klass in model.__mro__:
        fields = getattr(klass, "model_fields", {})
        if name in fields and fields[name].description:
            return " ".join(str(fields[name].description).split())
    return ""


def _nested_models(annotation: Any, info: FieldInfo) -> list[tuple[str, type[BaseModel]]]:
    """The spec models an option holds, with the path suffix that reaches into them."""
    if _dispatch(info) is not None:
        return []  # documented in the kind's own section
    found: list[tuple[str, type[BaseModel]]] = []
    for arg in _flatten(annotation):
        origin = get_origin(arg)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append((".", arg))
        elif origin in (list, tuple):
            found += [("[].", m) for m in get_args(arg) if _is_model(m)]
        elif origin is dict:
            args = get_args(arg)
            if args and _is_model(args[-1]):
                found.append((".*.", args[-1]))
    return found


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for arg in get_args(annotation) for a in _flatten(arg)]
    if get_origin(annotation) is typing.Annotated:
        return _flatten(get_args(annotation)[0])
    return [annotation]


def _dispatch(info: FieldInfo) -> Registry[Any] | None:
    for meta in info.metadata:
        if isinstance(meta, _Dispatch):
            return meta.registry
    for arg in _flatten(info.annotation):
        if get_origin(arg) is dict:
            value = get_args(arg)[-1]
            if get_origin(value) is typing.Annotated:
                for meta in get_args(value)[1:]:
                    if isinstance(meta, _Dispatch):
                        return meta.registry
    return None


def _family(registry: Registry[Any]) -> str:
    return next(f for f, r in FAMILIES.items() if r is registry)


def _type_name(annotation: Any, info: FieldInfo | None = None) -> str:
    registry = _dispatch(info) if info is not None else None
    if registry is not None:
        kinds = " | ".join(f"{_family(registry)}.{k}" for k in registry.kinds())
        single = f"one of {kinds}"
        if any(get_origin(a) is dict for a in _flatten(annotation)):
            return f"map of name -> ({single})"
        return single
    names = []
    for arg in _flatten(annotation):
        names.append(_one_type(arg))
    names = [n for n in names if n != "none"] + (["none"] if "none" in names else [])
    return " | ".join(dict.fromkeys(names))


def _one_type(arg: Any) -> str:
    origin = get_origin(arg)
    if arg is type(None):
        return "none"
    if origin is Literal:
        return " | ".join(str(v) for v in get_args(arg))
    if origin in (list, tuple):
        inner = get_args(arg)
        return f"list of {_type_name(inner[0]) if inner else 'any'}"
    if origin is dict:
        inner = get_args(arg)
        return f"map of text -> {_type_name(inner[-1]) if inner else 'any'}"
    if origin is typing.Annotated:
        return _type_name(get_args(arg)[0])
    if _is_model(arg):
        return "mapping"
    simple = {str: "text", int: "integer", float: "number", bool: "boolean",
              timedelta: "duration", time: "time (HH:MM)", Path: "path"}
    return simple.get(arg, getattr(arg, "__name__", str(arg)))


def _default(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return str(extra["default_text"])  # e.g. a value computed on the host
    if info.is_required():
        return ""
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return ""
    return yaml_text(value)


def yaml_text(value: Any) -> str:
    """A value as it is written in YAML (flow style, one line)."""
    if isinstance(value, BaseModel):
        return "(see its options)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, time):
        return f'"{value:%H:%M}"'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


#: "e.g. 'ORD*.csv'" or "e.g. {by: '06:00'}" in a description: its first example value.
_EXAMPLE_IN_TEXT = re.compile(r"e\.g\.,?\s+(?:'([^']+)'|\"([^\"]+)\"|(\{))")


def _example(section: str, name: str, info: FieldInfo) -> str:
    """``examples=[…]`` of the declaration, else the description's "e.g.", else a value its
    type accepts; "" when nothing better than a placeholder could be said."""
    if info.examples:
        return f"{name}: {yaml_text(info.examples[0])}"
    family, _, kind = section.partition(".")
    registry = FAMILIES.get(family)
    if kind and registry is not None and name in (registry.tag, "kind"):
        return f"{name}: {kind}"
    typename = _type_name(info.annotation, info)
    quoted = _EXAMPLE_IN_TEXT.search(info.description or "")
    if quoted and ("text" in typename or "map" in typename or "mapping" in typename):
        if quoted.group(3):
            flow = _balanced(info.description or "", quoted.start(3))
            return f"{name}: {flow}" if flow else ""
        return f"{name}: {yaml_text(quoted.group(1) or quoted.group(2))}"
    dispatch = _dispatch(info)
    if dispatch is not None:
        return ""  # see the kinds' own sections
    for arg in _flatten(info.annotation):
        if get_origin(arg) is Literal:
            choices = get_args(arg)
            default = None if info.is_required() else info.default
            value = next((c for c in choices if c != default), choices[0])
            return f"{name}: {yaml_text(value)}"
    if not info.is_required() and info.default_factory is None \
            and info.default not in (None, "", PydanticUndefined) \
            and not isinstance(info.default, BaseModel):
        return f"{name}: {yaml_text(info.default)}"
    sample = {"integer": "1", "number": "1.5", "boolean": "true", "duration": "30s",
              "time (HH:MM)": '"06:00"'}
    first = typename.split(" | ")[0]
    return f"{name}: {sample[first]}" if first in sample else ""


def _balanced(text: str, start: int) -> str:
    """The ``{…}`` flow mapping starting at ``start``, nested braces included."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    return ""


# -- unknown keys -------------------------------------------------------------------------------


def known_keys(section: str, loc: tuple[str | int, ...], data: Any) -> list[str]:
    """The options allowed where an unknown key ``loc[-1]`` was found, so that a load error
    can say "did you mean". ``data`` is the raw YAML of the section (to tell the kind of a
    ``source:``, ``target:``, ``format:`` or connection)."""
    model: type[BaseModel] | None = _models().get(section)
    by_kind: Registry[Any] | None = None  # the next value's model is chosen by its kind
    element: type[BaseModel] | None = None  # the next part is a map key or a list index
    for part in loc[:-1]:
        data = data[part] if _indexable(data, part) else None
        if by_kind is not None:
            model, by_kind = _kind_model(by_kind, data), None
            continue
        if element is not None:
            model, element = element, None
            continue
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        info = model.model_fields[part]
        registry = _dispatch(info)
        if registry is not None:
            if any(get_origin(a) is dict for a in _flatten(info.annotation)):
                model, by_kind = None, registry
            else:
                model = _kind_model(registry, data)
            continue
        nested = _nested_models(info.annotation, info)
        if not nested:
            return []
        suffix, found = nested[0]
        model, element = (found, None) if suffix == "." else (None, found)
    if model is None or by_kind is not None or element is not None:
        return []
    return list(model.model_fields)


def _kind_model(registry: Registry[Any], data: Any) -> type[BaseModel] | None:
    kinds = registry.kinds_in(data) if data is not None else []
    if len(kinds) != 1 or kinds[0] not in registry.kinds():
        return None
    return registry.get(kinds[0]).spec


def _indexable(data: Any, part: str | int) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def _did_you_mean(message: str, word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return message + (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "")


def unknown_option(key: str, known: list[str]) -> str:
    """The message for an unknown key, with the closest known options."""
    return _did_you_mean("unknown option", key, [k for k in known if k != "kind"])
