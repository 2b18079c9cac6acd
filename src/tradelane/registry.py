"""Plug-ins register here: sources, targets, formats, transports (connections), the
validation steps of a route (``validate:``) and its processing steps (``steps:``).

A plug-in declares its **kind** (the YAML key that selects it: ``folder``, ``sftp``, ``http``,
``csv``…), its **spec model** (a pydantic model: the route's ``source:``/``target:`` block, a
``format:`` block or a connection of ``tradelane.yaml`` is validated against the model of its
kind), its **capabilities**, and a **lazy constructor** (``"module:Class"``), so that importing
the engine imports no plug-in's libraries: paramiko is loaded by the first SFTP route, httpx
by the first HTTP target.

A new plug-in is one module that defines its spec model and its class and registers both::

    from tradelane.registry import SOURCES, SourcePlugin

    SOURCES.register(SourcePlugin("dropbox", DropboxSourceSpec, "mypkg.dropbox:DropboxSource",
                                  connection="dropbox"))

Its module is imported by ``import``, or named in the ``tradelane.plugins`` entry point group
of an installed package (loaded the first time a spec names a kind nobody registered yet).
The built-in plug-ins are registered beside their spec models in ``tradelane.spec``.

In YAML a block names its kind with ``kind:`` or, as every built-in one does, by carrying the
kind's own key (``folder: inbox/acme``, ``sftp: acme``, ``http: {url: …}``); formats use
``type:``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticCustomError, core_schema

from tradelane.errors import UnknownPlugin

ENTRY_POINTS = "tradelane.plugins"


def load_ref(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """``"package.module:Name"`` -> the object (imported now); a callable is returned as is."""
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Plugin:
    """What every plug-in declares: its kind, its spec model and a lazy constructor."""

    kind: str
    spec: type[BaseModel]
    factory: str | Callable[..., Any]

    def create(self, *args: Any, **kwargs: Any) -> Any:
        return load_ref(self.factory)(*args, **kwargs)


@dataclass(frozen=True)
class SourcePlugin(Plugin):
    """A place files are listed and fetched from (``abc.Source``).

    ``local``: the files are on this host, so the original is archived by a rename and a
    folder watcher can wake polls (``watchable``); a remote source archives the engine's
    snapshot and then deletes (or moves) the original. ``connection``: the kind of connection
    of ``tradelane.yaml`` its spec names (``sftp: acme``). ``after``: the post-actions it
    supports.
    """

    local: bool = False
    watchable: bool = False
    connection: str | None = None
    after: frozenset[str] = frozenset({"archive", "delete", "leave", "move"})


@dataclass(frozen=True)
class TargetPlugin(Plugin):
    """Where records are delivered (``abc.Target``).

    ``folder_option``: the spec option naming a local folder it writes into (checked to lie
    inside the project). ``partial_rejects``: it may refuse single records after taking the
    others (an API answering per batch), so ``on_invalid: split`` keeps the source rows.
    ``writes_files``: it writes files in a format (``target.format``); an API or a table does
    not need one.
    """

    connection: str | None = None
    folder_option: str | None = None
    partial_rejects: bool = False
    writes_files: bool = True


@dataclass(frozen=True)
class FormatPlugin(Plugin):
    """A file format: a reader (``abc.Reader``, the ``factory``) and, if the format can be
    written, a writer (``abc.Writer``). ``splittable``: rejected records can be written back in
    the format (``on_invalid: split``). ``edi``: interchanges with envelopes and
    acknowledgements."""

    writer: str | Callable[..., Any] | None = None
    splittable: bool = False
    edi: bool = False

    def create_writer(self, *args: Any) -> Any:
        if self.writer is None:
            raise UnknownPlugin("output format", self.kind, [])
        return load_ref(self.writer)(*args)


@dataclass(frozen=True)
class TransportPlugin(Plugin):
    """A kind of connection declared in ``tradelane.yaml`` (``connections: {acme: {sftp: …}}``)
    that sources and targets refer to by name."""


@dataclass(frozen=True)
class ValidatorPlugin(Plugin):
    """A step of a route's ``validate:`` list (``abc.Validator``): a schema the input must
    meet before its fields are mapped. ``formats``: the input formats it can check."""

    formats: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StepPlugin(Plugin):
    """A processing step on the file itself (``abc.Step``), in a route's ``steps:``.
    ``direction``: input steps run before the file is read (decrypt, decompress), output
    steps on the written file before delivery (compress, sign, encrypt)."""

    direction: str = "input"


P = TypeVar("P", bound=Plugin)


@dataclass
class Registry(Generic[P]):
    """The plug-ins of one family, by kind."""

    family: str
    tag: str = "kind"  # the key that names the kind explicitly ("type" for formats)
    _plugins: dict[str, P] = field(default_factory=dict)
    _entry_points_loaded: bool = False

    def register(self, plugin: P) -> P:
        """Add (or replace) a plug-in; returns it, so it can be kept in a module variable."""
        self._plugins[plugin.kind] = plugin
        return plugin

    def unregister(self, kind: str) -> None:
        self._plugins.pop(kind, None)

    def get(self, kind: str) -> P:
        """The plug-in of ``kind``; raises ``UnknownPlugin`` (a configuration error)."""
        plugin = self._plugins.get(kind)
        if plugin is None and self._load_entry_points():
            plugin = self._plugins.get(kind)
        if plugin is None:
            raise UnknownPlugin(self.family, kind, self._plugins)
        return plugin

    def of(self, spec: BaseModel) -> P:
        """The plug-in a validated spec belongs to."""
        return self.get(getattr(spec, self.tag))

    def kinds(self) -> list[str]:
        return sorted(self._plugins)

    def __iter__(self) -> Iterator[P]:
        return iter(list(self._plugins.values()))

    def kinds_in(self, value: Any) -> list[str]:
        """The kinds a YAML block names: its tag, else every registered kind whose own key it
        carries (more than one is an error the caller reports)."""
        if isinstance(value, BaseModel):
            return [getattr(value, self.tag)]
        if not isinstance(value, dict):
            return []
        if self.tag in value:
            return [str(value[self.tag])]
        found = [kind for kind in self._plugins if kind in value]
        if not found and self._load_entry_points():
            found = [kind for kind in self._plugins if kind in value]
        return found

    def validate(self, value: Any) -> BaseModel:
        """Validate a YAML block against the spec model of its kind."""
        if isinstance(value, BaseModel) and type(value) in {p.spec for p in self}:
            return value
        kinds = self.kinds_in(value)
        if len(kinds) != 1:
            keys = _either(f"'{k}'" for k in self._plugins)
            found = f" (found {_either(repr(k) for k in kinds)})" if kinds else ""
            raise PydanticCustomError(
                "plugin_kind", f"give exactly one of {keys}{found}, to say which kind of"
                f" {self.family} this is")
        try:
            plugin = self.get(kinds[0])
        except UnknownPlugin as exc:
            raise PydanticCustomError("plugin_kind", str(exc)) from None
        data = dict(value) if isinstance(value, dict) else value
        if isinstance(data, dict) and self.tag != "type":
            data.setdefault(self.tag, kinds[0])
        return plugin.spec.model_validate(data)

    def annotation(self) -> Any:
        """For a spec field: ``source: Annotated[SourceOptions, SOURCES.annotation()]``."""
        return _Dispatch(self)

    def _load_entry_points(self) -> bool:
        """Import the modules installed packages name in ``tradelane.plugins`` (once)."""
        if self._entry_points_loaded:
            return False
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        loaded = False
        for point in entry_points(group=ENTRY_POINTS):
            importlib.import_module(point.value.partition(":")[0])
            loaded = True
        return loaded


def _either(items: Iterator[str] | Any) -> str:
    words = list(items)
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else "".join(words)


@dataclass(frozen=True)
class _Dispatch:
    """Pydantic hook: validate a field with the spec model of the kind it names. Nested
    errors keep their locations (``source.path: Field required``)."""

    registry: Registry[Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.no_info_plain_validator_function(
            self.registry.validate,
            json_schema_input_schema=core_schema.dict_schema())


SOURCES: Registry[SourcePlugin] = Registry("source")
TARGETS: Registry[TargetPlugin] = Registry("target")
FORMATS: Registry[FormatPlugin] = Registry("format", tag="type")
TRANSPORTS: Registry[TransportPlugin] = Registry("connection")
VALIDATORS: Registry[ValidatorPlugin] = Registry("validator")
STEPS: Registry[StepPlugin] = Registry("processing step")
