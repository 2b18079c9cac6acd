"""JSON documents (an array of records at a path) and JSON Lines.

Numbers are kept as the exact text the partner sent (``parse_int=str``), so a 100,000-digit
number or a price like 19.990 reaches validation unchanged instead of crashing the parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from tradelane.errors import InvalidRecords, LimitExceeded, MalformedInput
from tradelane.formats.input_checks import clip, refuse_compressed
from tradelane.formats.json_rows import json_rows
from tradelane.models import Document, Issue, records_table
from tradelane.spec import JsonFormat, RouteSpec
from tradelane.spec.limits import LimitsSpec
from tradelane.staging import Staged

_BATCH = 50_000


class JsonNumber(str):
    """A JSON number, kept as its source text."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JsonReader:
    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, JsonFormat)
        refuse_compressed(staged)
        parse = _Parser(fmt, route.limits)
        if fmt.type == "jsonl":
            yield from _read_lines(staged, parse, route)
            return
        data = parse(staged.read_bytes())
        records = _at_path(data, fmt.records)
        where = f"$.{fmt.records}" if fmt.records else "$"
        if not isinstance(records, list):
            raise MalformedInput(f"expected an array of records at {where}, found "
                                 f"{_kind(records)}", location=where, rule="structure")
        header = _header(data, route)
        locate = _JsonPath(where)
        for start in range(0, max(len(records), 1), _BATCH):
            chunk = records[start:start + _BATCH]
            yield _document(chunk, start, route, header, locate)


def _read_lines(staged: Staged, parse: _Parser, route: RouteSpec) -> Iterator[Document]:
    chunk: list[Any] = []
    lines: list[int] = []
    start = 0
    most = route.limits.max_record_bytes
    with staged.open() as fh:
        number = 0
        while raw := fh.readline(most + 1):
            number += 1
            if len(raw) > most and not raw.endswith(b"\n"):  # never read a line whole
                raise LimitExceeded("max_record_bytes", most, location=f"line {number}",
                                    what="a line")
            if not raw.strip():
                continue
            chunk.append(parse(raw, line=number))
            lines.append(number)
            if len(chunk) >= _BATCH:
                yield _document(chunk, start, route, {}, _LineNumbers(lines))
                start += len(chunk)
                chunk = []
    if chunk or start == 0:
        yield _document(chunk, start, route, {}, _LineNumbers(lines))


def _header(data: Any, route: RouteSpec) -> dict[str, str | None]:
    header: dict[str, str | None] = {}
    problems = []
    for name, spec in route.header.items():
        source = spec.source or name
        header[name], bad = _scalar(_at_path(data, source))
        if bad:
            problems.append(Issue(f"$.{source}", name, bad, "structure",
                                  f"{name}: expected a value, found {bad}"))
    if problems:
        raise InvalidRecords(problems, error_count=len(problems), stage="read")
    return header


def _document(chunk: list[Any], start: int, route: RouteSpec, header: dict[str, Any],
              locate: Any) -> Document:
    columns: dict[str, list[str | None]] = {name: [] for name in route.fields}
    problems: list[Issue] = []
    for offset, record in enumerate(chunk):
        if not isinstance(record, dict):
            problems.append(Issue(locate(start + offset), "", _kind(record), "structure",
                                  f"a record must be an object, found {_kind(record)}"))
            for values in columns.values():
                values.append(None)
            continue
        for name, spec in route.fields.items():
            value, bad = _scalar(_at_path(record, spec.source or name))
            if bad:
                problems.append(Issue(f"{locate(start + offset)}.{spec.source or name}", name,
                                      bad, "structure", f"{name}: expected a value, found {bad}"))
            columns[name].append(value)
    if problems:
        raise InvalidRecords(problems[:1000], error_count=len(problems), stage="read")
    table = records_table({k: pa.array(v, pa.string()) for k, v in columns.items()},
                          len(chunk))
    return Document(header=header, records=table, locate=locate, source_rows=chunk,
                    numbers=np.arange(start, start + len(chunk), dtype=np.int64))


class _Parser:
    """``json.loads`` with numbers kept as text, the route's policy for duplicate keys and
    its limit on the size of a key or value."""

    def __init__(self, fmt: JsonFormat, limits: LimitsSpec):
        self.encoding, self.policy, self.most = fmt.encoding, fmt.duplicate_keys, \
            limits.max_field_bytes

    def __call__(self, raw: bytes, line: int | None = None) -> Any:
        """The parsed document; ``line``: its line in a JSON Lines file, for locations."""
        encoding = self.encoding
        try:
            text = raw.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"byte 0x{raw[exc.start:exc.start + 1].hex()} is not valid "
                                 f"{encoding} text", location=f"line {line}" if line
                                 else f"byte {exc.start}", rule="encoding") from None
        found: list[tuple[dict, str, str, int]] = []  # the first problem: object, key, kind
        sized = len(raw) > self.most  # a smaller document cannot hold a value over the limit

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            obj = dict(items) if self.policy != "first" else _first_wins(items)
            if found:
                return obj
            if len(obj) != len(items) and self.policy == "reject":
                found.append((obj, _duplicate(items), "duplicate", 0))
            elif sized:
                for key, value in items:
                    size = max(_size(key), _size(value) if isinstance(value, str) else 0)
                    if size > self.most:
                        found.append((obj, key, "size", size))
                        break
            return obj

        try:
            data = json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber,
                              parse_constant=_reject_constant, object_pairs_hook=pairs)
        except json.JSONDecodeError as exc:
            raise MalformedInput(f"the file is not valid JSON: {exc.msg}",
                                 location=f"line {line}" if line
                                 else f"line {exc.lineno}, column {exc.colno}") from None
        except RecursionError:
            raise MalformedInput("the JSON is nested too deeply to be a business document",
                                 location=f"line {line}" if line else "$",
                                 rule="max_depth") from None
        except ValueError as exc:
            raise MalformedInput(f"the file is not valid JSON: {exc}",
                                 location=f"line {line}" if line else "$") from None
        if found:
            obj, key, kind, size = found[0]
            path = f"{_path_to(data, obj)}.{clip(key, 80)}"
            where = f"line {line}, {path}" if line else path
            if kind == "duplicate":
                raise MalformedInput(f"the key {clip(key, 80)!r} appears twice in one object"
                                     " (format.duplicate_keys: first or last would allow it)",
                                     location=where, rule="duplicate_key", value=clip(key, 80))
            raise LimitExceeded("max_field_bytes", self.most, size, location=where,
                                what="a value")
        return data


def _first_wins(items: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in items:
        obj.setdefault(key, value)
    return obj


def _duplicate(items: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in items:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _size(text: str) -> int:
    """UTF-8 bytes of ``text`` (a lone surrogate, which JSON allows, counts as three)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _path_to(root: Any, target: Any) -> str:
    """The JSON path of ``target`` (an object inside ``root``), like ``$.orders[1]``."""
    stack: list[tuple[Any, str]] = [(root, "$")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{clip(str(k), 80)}") for k, v in node.items()
                         if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node)
                         if isinstance(v, dict | list))
    return "$"


def _at_path(data: Any, path: str) -> Any:
    if not path:
        return data
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _scalar(value: Any) -> tuple[str | None, str]:
    """(text, problem): JSON scalars become text; objects and arrays are a problem."""
    if value is None:
        return None, ""
    if isinstance(value, bool):
        return ("true" if value else "false"), ""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # "\ud800" alone: JSON allows it, Unicode text not
                return None, "text with a lone surrogate (not Unicode)"
        return value, ""
    return None, _kind(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, JsonNumber):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


class _JsonPath:
    def __init__(self, base: str):
        self.base = base

    def __call__(self, row: int) -> str:
        return f"{self.base}[{row}]"


class _LineNumbers:
    def __init__(self, lines: list[int]):
        self.lines = list(lines)
        self.start = 0

    def __call__(self, row: int) -> str:
        return f"line {self.lines[row]}" if row < len(self.lines) else f"record {row + 1}"


# -- writers ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def records_of(doc: Document, formats: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Plain Python records (ISO dates) of a document, for JSON-like outputs."""
    rows = doc.records.to_pylist()
    if formats:
        for row in rows:
            for key, fmt in formats.items():
                if isinstance(row.get(key), date | datetime):
                    row[key] = row[key].strftime(fmt)
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


class JsonWriter:
    extension = "json"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        if route.nest is not None:  # one document per key instead of flat records
            from tradelane.formats.nested import NestedJsonWriter

            return NestedJsonWriter().write(batches, out, route)
        indent = route.target.json_indent
        formats = route.output_formats()
        count = 0
        out.write(b"[")
        for doc in batches:
            rows = json_rows(doc.records, formats, indent)
            if rows:
                out.write(((",\n" if count else "\n") + ",\n".join(rows)).encode())
            count += len(rows)
        out.write(b"\n]\n" if count else b"]\n")
        return count


class JsonLinesWriter:
    extension = "jsonl"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        if route.nest is not None:
            from tradelane.formats.nested import NestedJsonLinesWriter

            return NestedJsonLinesWriter().write(batches, out, route)
        formats = route.output_formats()
        count = 0
        for doc in batches:
            lines = json_rows(doc.records, formats)
            if lines:
                out.write(("\n".join(lines) + "\n").encode())
            count += len(lines)
        return count


def subset(doc_rows: list[Any], fmt: JsonFormat) -> bytes:
    """A file in the input's own shape holding only ``doc_rows`` (rejected records)."""
    def plain(value: Any) -> Any:
        if isinstance(value, JsonNumber):
            return float(value) if any(c in value for c in ".eE") else int(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    rows = [plain(r) for r in doc_rows]
    if fmt.type == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    body: Any = rows
    for part in reversed(fmt.records.split(".") if fmt.records else []):
        body = {part: body}
    return json.dumps(body, ensure_ascii=False, indent=2).encode()
