"""JSON: the path of the array of records, header values around it, the records' fields.

A document larger than the profiling limit is read from its head: the text is cut after the
last complete value and the open arrays and objects are closed, so the first records are
profiled without reading the rest.
"""

from __future__ import annotations

import json
from typing import Any

from tradelane.draft.errors import UnusableSample
from tradelane.draft.json_schema import FloatText, IntText
from tradelane.draft.model import MAX_RECORDS, Draft, FieldDraft, Guess
from tradelane.draft.sniff import Sample
from tradelane.draft.values import Marks, field_name, profile

_MAX_DEPTH = 6


def _load(sample: Sample) -> Any:
    text = sample.text if not sample.truncated else close_prefix(sample.text)
    try:
        return json.loads(text, parse_int=IntText, parse_float=FloatText)
    except ValueError as exc:
        raise UnusableSample(sample.path, f"it is not valid JSON ({exc})") from None


def close_prefix(text: str) -> str:
    """The head of a JSON document, cut after its last complete array item or object member
    and closed: '{"a": [1, 2, {"b"' -> '{"a": [1, 2]}'."""
    stack: list[str] = []
    cut, cut_stack = 0, ""
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if stack:
                stack.pop()
            cut, cut_stack = i + 1, "".join(reversed(stack))
        elif ch == "," and stack:
            cut, cut_stack = i, "".join(reversed(stack))
    return text[:cut] + cut_stack


def _arrays(node: Any, path: str, depth: int, found: list[tuple[int, str]]) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        objects = sum(isinstance(x, dict) for x in node)
        if objects:
            found.append((objects, path))
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if "." not in key:
                _arrays(value, f"{path}.{key}" if path else key, depth + 1, found)


def _leaves(node: Any, path: str, out: dict[str, list[Any]], skipped: set[str],
            depth: int = 0) -> None:
    """Scalar values by dotted path; arrays and keys with dots are not addressable."""
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        if "." in key or isinstance(value, list) or depth > _MAX_DEPTH:
            skipped.add(where)
        elif isinstance(value, dict):
            _leaves(value, where, out, skipped, depth + 1)
        else:
            out.setdefault(where, [])


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _at(node: Any, path: str) -> Any:
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def draft_json(sample: Sample, kind: str) -> Draft:
    draft = Draft(kind=kind, truncated=sample.truncated)
    draft.format.append(Guess("encoding", sample.encoding, sample.encoding_why))
    if kind == "jsonl":
        lines = [ln for ln in sample.text.splitlines() if ln.strip()]
        if sample.truncated:
            lines = lines[:-1]
        records = []
        for number, line in enumerate(lines[:MAX_RECORDS], start=1):
            try:
                records.append(json.loads(line, parse_int=IntText, parse_float=FloatText))
            except ValueError as exc:
                raise UnusableSample(sample.path, f"line {number} is not JSON ({exc})") from None
        root: Any = None
    else:
        root = _load(sample)
        found: list[tuple[int, str]] = []
        _arrays(root, "", 0, found)
        if not found:
            raise UnusableSample(sample.path, "no array of objects (records) in the document")
        count, path = max(found, key=lambda f: (f[0], -f[1].count(".")))
        where = f"$.{path}" if path else "the document itself"
        others = [p or "$" for _, p in found if p != path][:3]
        also = f"; other arrays: {', '.join(others)}" if others else ""
        draft.format.append(Guess("records", path, f"{where} is the largest array of"
                                  f" objects ({count}){also}"))
        records = (_at(root, path) if path else root)[:MAX_RECORDS]
    records = [r for r in records if isinstance(r, dict)]
    draft.records_seen = len(records)
    draft.json_records, draft.json_document = records, root
    skipped: set[str] = set()
    columns: dict[str, list[Any]] = {}
    for record in records:
        _leaves(record, "", columns, skipped)
    taken: set[str] = set()
    for path in columns:
        values = [_text(_at(r, path)) for r in records]
        draft.fields.append(profile(field_name(path, taken), path, values, Marks()))
    if isinstance(root, dict) and draft.option("records"):
        header: dict[str, list[Any]] = {}
        _leaves(root, "", header, set())
        for path in list(header)[:20]:
            if not path.startswith(f"{draft.option('records')}."):
                field = profile(field_name(path, taken), path, [_text(_at(root, path))],
                                Marks())
                field.why = f"once per document: {field.why.split(';')[0]}"
                draft.header.append(field)
    if skipped:
        shown = ", ".join(sorted(skipped)[:8])
        draft.notes.append(f"not mapped (arrays, or keys with a dot): {shown}")
    if not draft.fields:
        draft.fields.append(FieldDraft("record", "id", why="the records have no scalar values"))
    return draft
