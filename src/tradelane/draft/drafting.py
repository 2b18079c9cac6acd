"""Drafting a route from a sample: ``draft_route(sample)`` reads a bounded head of the file
(``model.MAX_BYTES``, ``MAX_RECORDS``), finds its kind and encoding (``sniff``), hands it to
the profiler of its format and renders the guesses, each with its evidence, as YAML.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

from tradelane.draft.csv import draft_csv, escape_of, sniff_delimiter
from tradelane.draft.edifact import draft_edifact
from tradelane.draft.errors import DraftExists, UnusableSample
from tradelane.draft.fixed import draft_fixed
from tradelane.draft.json import draft_json
from tradelane.draft.json_schema import propose
from tradelane.draft.model import Draft, Guess
from tradelane.draft.render import render
from tradelane.draft.sniff import Sample, guess_kind, read_sample
from tradelane.draft.x12 import draft_x12
from tradelane.draft.xml import draft_xml

__all__ = ["Draft", "DraftExists", "Drafted", "UnusableSample", "draft", "draft_route",
           "route_name", "schema_file"]


class Drafted(NamedTuple):
    name: str
    text: str  # the route's YAML
    schema: str | None = None  # the JSON Schema's text, for schema_file(name)


def schema_file(name: str) -> str:
    """Where a drafted route's JSON Schema goes, relative to the project root."""
    return f"schemas/{name}.schema.json"


def draft(path: Path) -> tuple[Draft, Sample]:
    """Profile the sample at ``path``: the guesses and the head of the file they rest on."""
    sample = read_sample(path)
    kind, why = guess_kind(sample)
    if kind == "edifact":
        result = draft_edifact(sample)
    elif kind == "x12":
        result = draft_x12(sample)
    elif kind == "xml":
        result = draft_xml(sample)
    elif kind in ("json", "jsonl"):
        result = draft_json(sample, kind)
    else:
        if "\ufffd" in sample.text[:4096] and sample.text[:4096].count("\ufffd") > 64:
            raise UnusableSample(path, "it is not text (a binary or compressed file?)")
        escape = escape_of(sample.text)
        found = sniff_delimiter(sample.text, escape)
        if found is not None:
            result = draft_csv(sample, found[0], found[1], escape)
            kind, why = "csv", "rows split into fields on one delimiter"
        else:
            result = draft_fixed(sample)
            kind, why = "fixed", "no delimiter splits the lines alike: fixed-width"
    result.format.insert(0, Guess("type", result.kind, why))
    return result, sample


def route_name(text: str) -> str:
    """A route name from a file name: lower case, '_' between words, at most 64."""
    name = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")[:64]
    return name if name and name[0].isalnum() else f"route_{name}"[:64]


def draft_route(path: Path, name: str | None = None, *, schema: bool = False) -> Drafted:
    """The route drafted from the sample at ``path``; with ``schema``, also a JSON Schema
    of its records and a ``validate:`` step naming it (JSON and JSON Lines samples only)."""
    result, sample = draft(path)
    name = name or route_name(Path(path).stem)
    if not schema:
        return Drafted(name, render(result, name, sample))
    if result.kind not in ("json", "jsonl"):
        raise UnusableSample(path, f"--schema drafts a JSON Schema, from JSON or JSON Lines"
                             f" samples only; this one is {result.kind}")
    proposed = propose(result.json_records, title=f"{name}: drafted from {sample.path.name}",
                       records_path=result.option("records"),
                       document=result.json_document if result.kind == "json" else None)
    text = json.dumps(proposed, indent=2, ensure_ascii=False) + "\n"
    return Drafted(name, render(result, name, sample, schema=schema_file(name)), text)
