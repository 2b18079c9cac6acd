"""Fixed-width text: record types by their first character, and column boundaries found
where every line of a type has a blank column before text starts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tradelane.draft.model import MAX_RECORDS, Draft, FieldDraft, Guess
from tradelane.draft.sniff import Sample
from tradelane.draft.values import Marks, profile


def _boundaries(lines: list[str], first: int) -> list[tuple[int, int]]:
    """(start, end) of each field, 1-based and inclusive, from column ``first`` on: a field
    starts where some line has text and the column before it is blank on every line."""
    width = max(len(line) for line in lines)
    padded = [line.ljust(width) for line in lines]
    blank = [all(line[i] == " " for line in padded) for i in range(width)]
    starts = [i for i in range(first - 1, width)
              if not blank[i] and (i == first - 1 or blank[i - 1])]
    return [(s + 1, (starts[k + 1] if k + 1 < len(starts) else width)) for k, s in
            enumerate(starts)]


def draft_fixed(sample: Sample) -> Draft:
    text = sample.text
    if sample.truncated:
        text = text[: max(text.rfind("\n"), 0)]
    lines = [ln for ln in text.splitlines() if ln.strip()][:MAX_RECORDS]
    draft = Draft(kind="fixed", records_seen=len(lines), truncated=sample.truncated)
    draft.format.append(Guess("encoding", sample.encoding, sample.encoding_why))
    groups: dict[str, list[int]] = defaultdict(list)
    for n, line in enumerate(lines):
        groups[line[0]].append(n)
    lengths = {k: {len(lines[n]) for n in ns} for k, ns in groups.items()}
    by_prefix = 2 <= len(groups) <= 4 and all(k.isalnum() for k in groups) and len(
        {frozenset(v) for v in lengths.values()}) > 1
    types: dict[str, Any] = {}
    main = max(groups, key=lambda k: len(groups[k])) if by_prefix else ""
    kinds = groups if by_prefix else {"": list(range(len(lines)))}
    for prefix, numbers in kinds.items():
        key = prefix if prefix else "R"
        mine = [lines[n] for n in numbers]
        role, why = _role(prefix, numbers, len(lines), main)
        spec: dict[str, Any] = {"prefix": prefix, "role": role}
        fields: dict[str, Any] = {}
        if role != "ignore":
            bounds = _boundaries(mine, len(prefix) + 1)
            target = draft.header if role == "header" else draft.fields
            for start, end in bounds:
                name = f"col{start}_{end}"
                fields[name] = {"start": start, "end": end}
                values = [ln[start - 1:end] for ln in mine]
                field = profile(name, f"{key}.{name}", values, Marks())
                field.why = f"columns {start}-{end}: {field.why}"
                if field.type == "string" and _padded_number(values):
                    field.type = "integer"
                    field.why = (f"columns {start}-{end}: zero-padded digits (check"
                                 " implied_decimals); never empty")
                if role == "header":
                    field.required = False
                target.append(field)
            shortest = min(len(ln) for ln in mine)
            if bounds and shortest < bounds[-1][1]:
                spec["min_length"] = shortest
            evidence = (f"{len(mine)} line(s); blank columns on every line separate"
                        f" {len(bounds)} field(s)" if len(mine) > 1 else
                        "one line only: its fields cannot be told apart, split it by hand")
            why = f"{why}; {evidence}"
        spec["fields"] = fields
        types[key] = (spec, why)
    draft.format.append(Guess("record_types", types, "by the first character of each line"
                              if by_prefix else "one layout for every line"))
    if not draft.fields:
        draft.fields.append(FieldDraft(name="line", source="R.line", why="no record lines"))
    return draft


def _role(prefix: str, numbers: list[int], total: int, main: str) -> tuple[str, str]:
    if not prefix or prefix == main:
        return "record", f"{len(numbers)} lines: the records"
    if numbers == [0]:
        return "header", "the first line, once: a header"
    if numbers == [total - 1]:
        return "ignore", "the last line, once: a trailer (counts? check them by hand)"
    return "ignore", f"{len(numbers)} other lines: map them if they matter"


def _padded_number(values: list[str]) -> bool:
    stripped = [v.strip() for v in values]
    return all(v.isascii() and v.isdigit() for v in stripped) and any(
        v.startswith("0") for v in stripped)
