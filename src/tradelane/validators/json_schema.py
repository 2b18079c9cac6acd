"""``json_schema:`` steps: JSON Schema through ``jsonschema`` (draft 2020-12 and older, from
the schema's ``$schema``).

JSON Lines are checked line by line, in bounded memory, and the records at fault are named
by number so ``on_invalid: split`` can set them apart; a JSON document is checked whole.
``$ref`` is served by a ``referencing`` registry that only reads files in the project's
``schemas/`` folder: a reference to anything else (a URL, an absolute path) is refused by
``check``, and again if it is ever asked for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

from tradelane.abc import Findings
from tradelane.errors import ConfigError
from tradelane.models import Issue
from tradelane.spec import RouteSpec
from tradelane.spec.validate import JsonSchemaStep
from tradelane.staging import Staged
from tradelane.validators.confine import OutsideSchemas, SchemaFolder

#: Values shown in a reason file are cut to this many characters.
MAX_VALUE = 200


class JsonSchemaValidator:
    def __init__(self, step: JsonSchemaStep, folder: SchemaFolder):
        self.step, self.folder = step, folder
        self.validator: Any = None
        self.base = ""  # the root schema's URI: its $id, else its file

    def compile(self) -> list[Path]:
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for
        from referencing import Registry, Resource
        from referencing.exceptions import NoSuchResource

        shown = self.step.json_schema
        path = self.folder.step_file(shown)
        schema = self._load(path)
        self.base = (schema.get("$id") if isinstance(schema, dict) else None) or path.as_uri()
        files = [path]
        loaded: dict[str, Any] = {}  # every schema a $ref reaches, by the URI it is asked as
        self._walk_refs(schema, path, files, loaded)
        cls = validator_for(schema, default=_default())
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "the root"
            raise ConfigError(f"{shown}: not a valid {cls.__name__.removesuffix('Validator')}"
                              f" JSON Schema at {where}: {exc.message}") from None

        @functools.lru_cache(maxsize=256)  # a registry never keeps what it retrieves
        def retrieve(uri: str) -> Resource[Any]:
            try:
                target = self._local(uri, path)
            except ConfigError as exc:
                raise NoSuchResource(ref=uri) from exc
            return Resource.from_contents(self._load(target), default_specification=_spec(cls))

        spec = _spec(cls)
        resources = [(self.base, Resource.from_contents(schema, default_specification=spec))]
        resources += [(uri, Resource.from_contents(found, default_specification=spec))
                      for uri, found in loaded.items()]
        # loaded up front: a $ref is then a dictionary lookup, not a file read per record
        registry: Registry[Any] = Registry(retrieve=retrieve).with_resources(  # type: ignore[call-arg]
            resources)
        self.validator = cls(_inlined(schema, registry.resolver(base_uri=self.base)),
                             registry=registry)
        return files

    def files(self) -> list[Path]:
        """The schema and every file its ``$ref`` reach, without compiling it."""
        path = self.folder.step_file(self.step.json_schema)
        files = [path]
        self._walk_refs(self._load(path), path, files, {})
        return files

    def _load(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            shown = self.step.json_schema
            which = "" if self.folder.name(path) == shown else f" {self.folder.name(path)}"
            raise ConfigError(f"{shown}:{which} not readable JSON: {exc}") from None

    def _local(self, uri: str, main: Path) -> Path:
        """The file inside ``schemas/`` a ``$ref`` target names: relative to the schema it
        is in, or under the root schema's own ``$id`` (a schema published with an https id
        and kept beside its definitions)."""
        uri = urldefrag(uri).url
        base = urldefrag(self.base).url
        if uri.startswith("file:") or ("://" not in uri and not uri.startswith("urn:")):
            return self.folder.reference(uri, main, self.step.json_schema)
        folder = base.rsplit("/", 1)[0] + "/"
        if "://" in base and uri.startswith(folder):
            relative = str(PurePosixPath(uri[len(folder):]))
            return self.folder.reference(relative, main, self.step.json_schema)
        raise OutsideSchemas(self.step.json_schema, uri, "a network address")

    def _walk_refs(self, schema: Any, path: Path, files: list[Path],
                   loaded: dict[str, Any]) -> None:
        """Check now (``check``) that every ``$ref`` stays inside ``schemas/``, and load
        what they reach, keyed by the URI a ``$ref`` resolves to (and each one's own $id)."""
        here = (schema.get("$id") if isinstance(schema, dict) else None) or path.as_uri()
        for ref in _refs(schema):
            target = urldefrag(ref).url
            if not target:
                continue  # "#/$defs/…": inside this schema
            local = (self._local(target, path) if urlparse(target).scheme
                     else self.folder.reference(target, path, self.step.json_schema))
            if local not in files:
                files.append(local)
                found = self._load(local)
                loaded[urljoin(here, target)] = found
                if isinstance(found, dict) and isinstance(found.get("$id"), str):
                    loaded[urldefrag(found["$id"]).url] = found
                self._walk_refs(found, local, files, loaded)

    def validate(self, staged: Staged, route: RouteSpec, *, limit: int) -> Findings:
        assert self.validator is not None
        fmt = route.format
        encoding = getattr(fmt, "encoding", "utf-8") or "utf-8"
        if encoding.lower() in ("utf-8", "utf8"):
            encoding = "utf-8-sig"
        if getattr(fmt, "type", "") == "jsonl":
            return self._lines(staged, route, encoding, limit)
        try:
            document = json.loads(staged.read_bytes().decode(encoding))
        except (ValueError, UnicodeDecodeError):
            return Findings([])  # not JSON: the reader says where
        errors = list(self.validator.iter_errors(document))
        issues = [_issue(e, "") for e in errors[:limit]]
        return Findings(issues, count=len(errors))

    def _lines(self, staged: Staged, route: RouteSpec, encoding: str, limit: int) -> Findings:
        import numpy as np

        issues: list[Issue] = []
        bad: list[int] = []
        count = 0
        iter_errors = self.validator.iter_errors
        for number, line, record in _records(staged, encoding, route.limits.max_record_bytes):
            errors = list(iter_errors(record))
            if errors:
                bad.append(number)
                count += len(errors)
                if len(issues) < limit:
                    issues.extend(_issue(e, f"line {line}") for e in errors[:limit - len(issues)])
        return Findings(issues, count=count, records=np.array(bad, dtype=np.int64))


def _records(staged: Staged, encoding: str, most: int) -> Iterator[tuple[int, int, Any]]:
    """(record number, line, parsed record) of each non-blank line, numbered as the JSON
    Lines reader numbers them; a line that does not parse is left to the reader."""
    number = 0
    with staged.open() as fh:
        for line, raw in enumerate(iter(lambda: fh.readline(most + 1), b""), start=1):
            if len(raw) > most and not raw.endswith(b"\n"):
                return  # over max_record_bytes: the reader refuses the file, saying so
            if not raw.strip():
                continue
            number += 1
            try:
                yield number - 1, line, json.loads(raw.decode(encoding))
            except (ValueError, UnicodeDecodeError):
                continue


def _issue(error: Any, where: str) -> Issue:
    path = error.json_path
    try:
        value = json.dumps(error.instance, ensure_ascii=False)
    except (TypeError, ValueError):
        value = repr(error.instance)
    if len(value) > MAX_VALUE:
        value = value[:MAX_VALUE] + "…"
    return Issue(location=f"{where} ({path})" if where else path, field="", value=value,
                 rule=f"json_schema:{error.validator}", message=error.message)


#: Keywords that make a subschema depend on where it sits (its base URI, its anchors): a
#: subschema holding one is never moved.
_PLACED = frozenset({"$ref", "$dynamicRef", "$recursiveRef", "$id", "$anchor",
                     "$dynamicAnchor", "$recursiveAnchor", "id"})


def _inlined(schema: Any, resolver: Any, passes: int = 8) -> Any:
    """The schema with each ``{"$ref": …}`` that stands alone replaced by the subschema it
    names, when that subschema does not depend on its place: the same rules and the same
    errors (keyword and JSON path), without a registry lookup per record (2.4 times faster
    on the order schema of the tests). Recursive and placed references are kept."""
    from referencing.exceptions import Unresolvable

    def walk(node: Any, top: bool) -> Any:
        if isinstance(node, list):
            return [walk(item, False) for item in node]
        if not isinstance(node, dict):
            return node
        if not top and "$id" in node:
            return node  # another document's base URI starts here
        ref = node.get("$ref")
        if isinstance(ref, str) and set(node) <= {"$ref", "$comment", "description", "title"}:
            try:
                target = resolver.lookup(ref).contents
            except Unresolvable:
                return node
            if isinstance(target, dict) and not _placed(target):
                return target
            if isinstance(target, bool):
                return target
            return node
        return {key: walk(value, False) if key not in ("const", "enum", "default",
                                                        "examples") else value
                for key, value in node.items()}

    for _ in range(passes):  # a chain of references resolves one link per pass
        done = walk(schema, True)
        if done == schema:
            break
        schema = done
    return schema


def _placed(node: Any) -> bool:
    if isinstance(node, dict):
        return any(k in _PLACED for k in node) or any(_placed(v) for v in node.values())
    if isinstance(node, list):
        return any(_placed(v) for v in node)
    return False


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _default() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator


def _spec(cls: Any) -> Any:
    from referencing.jsonschema import specification_with

    return specification_with(cls.META_SCHEMA.get("$schema", ""))
