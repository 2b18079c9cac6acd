"""The drafted route as YAML a human finishes: every guess followed by its evidence as a
comment, notes on top, and TODOs where only a human can decide (description, owner, target).
"""

from __future__ import annotations

import re
import textwrap
from datetime import date
from typing import Any

import yaml

from tradelane.draft.model import MAX_BYTES, MAX_RECORDS, MAX_SEGMENTS, Draft, FieldDraft, Guess
from tradelane.draft.sniff import Sample

_WIDTH = 100  # a line and its comment; longer comments go on the line above
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")


def flow(value: Any) -> str:
    """One YAML value on one line: 'a;b' -> "';'", {'x': 1} -> '{x: 1}'."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          width=1 << 20, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _line(indent: int, text: str, why: str) -> list[str]:
    pad = " " * indent
    why = " ".join(why.split())
    if not why:
        return [f"{pad}{text}"]
    if len(pad) + len(text) + len(why) + 4 <= _WIDTH:
        return [f"{pad}{text}  # {why}"]
    return [f"{pad}# {why}", f"{pad}{text}"]


def source_pattern(name: str) -> str:
    """A glob for the partner's next files: runs of 3 digits or more (dates, times,
    counters) become '*'."""
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    pattern = re.sub(r"\*+", "*", re.sub(r"\d{3,}", "*", stem))
    return f"{pattern}{dot}{ext}" if pattern.strip("*") else name


def render(draft: Draft, name: str, sample: Sample, *, schema: str | None = None) -> str:
    shown = sample.path.name
    head = draft.extent or f"the first {len(sample.data):,} bytes"
    cut = (f"Only {head} were profiled ({draft.records_seen:,} records)" if draft.truncated
           else f"The whole sample was profiled ({draft.records_seen:,} records)")
    out = [
        f"# Drafted by `tradelane draft` from {shown} ({sample.size:,} bytes) on"
        f" {date.today().isoformat()}.",
        f"# {cut}; a draft reads at most {MAX_BYTES >> 20} MB, {MAX_RECORDS:,} records or"
        f" {MAX_SEGMENTS:,} EDI segments of a sample.",
        "# Every guess says why in the comment after it. Check them, rename the fields, add",
        "# rules (pattern, enum, min, max) and the real target, then run:",
        f"#   tradelane check && tradelane validate {shown} --route {name}",
    ]
    for note in draft.notes:
        out.extend(textwrap.wrap(note, _WIDTH - 4, initial_indent="# NOTE: ",
                                 subsequent_indent="#   ", break_on_hyphens=False))
    out += [
        f"description: {flow(f'TODO: what this feed is (drafted from {shown})')}",
        "# owner: {name: TODO, email: TODO@example.com}   # who answers for this route",
        "source:",
        f"  folder: {flow(f'inbox/{name}')}",
        *_line(2, f"pattern: {flow(source_pattern(shown))}", "from the sample's name"),
        "  min_age: 5s",
    ]
    out += [f"# {line}" for line in draft.summary]
    out.append("format:")
    for guess in draft.format:
        out.extend(_guess(guess))
    if schema:
        out += _line(0, "validate:", "each record is checked against the JSON Schema drafted"
                     " from the sample: loosen or tighten it to what the partner publishes")
        out.append(f"  - json_schema: {flow(schema)}")
    if draft.header:
        out.append("header:  # values read once per file")
        out.extend(_fields(draft.header))
    out.append("fields:")
    out.extend(_fields(draft.fields))
    out += [
        "target:  # TODO: where the records go (a folder, sftp or http)",
        f"  folder: {flow(f'outbox/{name}')}",
        "  format: json",
        f"  name: {flow('{stem}.json')}",
    ]
    # a partner's file name or data in a comment must not start a line of its own
    return "\n".join(_CONTROL.sub("?", line) for line in out) + "\n"


def _guess(guess: Guess) -> list[str]:
    if guess.key == "record_types":
        lines = _line(2, "record_types:", guess.why)
        for key, (spec, why) in guess.value.items():
            lines.extend(_line(4, f"{flow(key)}:", why))
            for option, value in spec.items():
                if option == "fields" and not value:
                    lines.append("      fields: {}")
                elif option == "fields":
                    lines.append("      fields:")
                    lines.extend(f"        {flow(n)}: {flow(f)}" for n, f in value.items())
                else:
                    lines.append(f"      {option}: {flow(value)}")
        return lines
    if isinstance(guess.value, dict) and guess.value and guess.key == "namespaces":
        lines = _line(2, f"{guess.key}:", guess.why)
        lines.extend(f"    {flow(k)}: {flow(v)}" for k, v in guess.value.items())
        return lines
    return _line(2, f"{guess.key}: {flow(guess.value)}", guess.why)


def _fields(fields: list[FieldDraft]) -> list[str]:
    lines: list[str] = []
    for field in fields:
        lines.extend(_line(2, f"{flow(field.name)}: {flow(field.spec())}", field.why))
    return lines
