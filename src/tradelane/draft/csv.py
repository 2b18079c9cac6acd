"""Delimited text: delimiter, quoting and escapes, header row, number marks, column types."""

from __future__ import annotations

import csv as pycsv
import io
import re
from collections import Counter

from tradelane.draft.model import MAX_RECORDS, Draft, Guess
from tradelane.draft.sniff import Sample
from tradelane.draft.values import Marks, field_name, guess_marks, profile

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_LOOK = 200  # rows compared to choose the delimiter


def _rows(text: str, delimiter: str, escape: str | None, limit: int) -> list[list[str]]:
    reader = pycsv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                          escapechar=escape, doublequote=escape is None, strict=False)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:  # a blank line is no record
                rows.append(row)
            if len(rows) >= limit:
                break
    except pycsv.Error:
        pass  # the rows read so far are the evidence
    return rows


def _consistency(rows: list[list[str]]) -> tuple[float, int]:
    counts = Counter(len(r) for r in rows)
    width, seen = counts.most_common(1)[0] if counts else (0, 0)
    return (seen / len(rows) if rows else 0.0), width


def sniff_delimiter(text: str, escape: str | None) -> tuple[str, str] | None:
    """The delimiter that splits the most rows into the same number of fields (2 or more),
    with the evidence; None when no candidate does (not delimited text)."""
    best: tuple[float, int, str] | None = None
    lines = [ln for ln in text.splitlines()[:_LOOK] if ln.strip()]
    for d in DELIMITERS:
        if d not in text:
            continue
        share, width = _consistency(_rows(text, d, escape, _LOOK))
        on_most = sum(d in ln for ln in lines) >= 0.8 * len(lines)  # ragged rows, still CSV
        if width >= 2 and (share >= 0.6 or on_most) and (best is None or (share, width)
                                                          > best[:2]):
            best = (share, width, d)
    if best is None:
        return None
    share, width, d = best
    return d, f"{share:.0%} of the first rows split into {width} fields on {_NAMES[d]}s"


def draft_csv(sample: Sample, delimiter: str, why: str, escape: str | None) -> Draft:
    text = sample.text
    if sample.truncated:  # the last line may be cut in the middle
        text = text[: max(text.rfind("\n"), 0)]
    draft = Draft(kind="csv")
    draft.format.append(Guess("delimiter", delimiter, why))
    draft.format.append(Guess("encoding", sample.encoding, sample.encoding_why))
    quoted = len(re.findall(rf'(?:^|{re.escape(delimiter)})"', text, re.MULTILINE))
    draft.format.append(Guess("quote", '"', f"{quoted} quoted fields" if quoted
                              else "no quoted field in the sample: the default"))
    if escape:
        draft.format.append(Guess("escape", escape, f"quotes inside quoted fields are written"
                                  f" {escape}\" ({text.count(escape + chr(34))} times)"))
        draft.format.append(Guess("doublequote", False, "quotes are escaped, not doubled"))
    rows = _rows(text, delimiter, escape, MAX_RECORDS + 1)
    header = _has_header(rows)
    first, body = (rows[0], rows[1:]) if header[0] else (None, rows)
    width = _consistency(body or rows)[1]
    if first is not None:
        width = len(first)
    draft.format.append(Guess("header", header[0], header[1]))
    names = [c for c in first] if first is not None else [f"column_{i}" for i in
                                                           range(1, width + 1)]
    if first is None:
        draft.format.append(Guess("columns", names, "no header row: name the columns"))
    ragged = [(n, len(r)) for n, r in enumerate(body, start=2 if header[0] else 1)
              if len(r) != width]
    if ragged:
        n, size = ragged[0]
        draft.notes.append(f"{len(ragged)} of {len(body)} rows do not have {width} fields"
                           f" (row {n} has {size}): tradelane rejects such rows; ask the"
                           " partner")
    cells = [c.strip() for r in body for c in r]
    marks, marks_why = guess_marks(cells)
    draft.format.append(Guess("decimal", marks.decimal, marks_why))
    if marks.thousands:
        draft.format.append(Guess("thousands", marks.thousands, marks_why))
    taken: set[str] = set()
    for i, column in enumerate(names):
        values = [r[i] if i < len(r) else None for r in body]
        draft.fields.append(profile(field_name(column, taken), column, values, marks))
    draft.records_seen = len(body)
    draft.truncated = sample.truncated or len(rows) > MAX_RECORDS
    return draft


def _has_header(rows: list[list[str]]) -> tuple[bool, str]:
    if not rows:
        return False, "the sample has no rows"
    first = [c.strip() for c in rows[0]]
    if any(not c for c in first):
        return False, "the first row has an empty cell: data, not column names"
    if len(set(first)) != len(first):
        return False, "the first row repeats a value: data, not column names"
    numeric = [c for c in first if Marks().number(c) is not None or Marks(",").number(c)]
    if numeric:
        return False, f"the first row holds numbers ({numeric[0]!r}): data, not column names"
    return True, f"the first row holds {len(first)} distinct texts: column names"


def escape_of(text: str) -> str | None:
    """A backslash before quotes inside quoted fields (\\" rather than \"\")."""
    return "\\" if re.search(r'[^\\]\\"[^,;\t|\r\n]', text) else None
