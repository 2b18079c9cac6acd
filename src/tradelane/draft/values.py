"""Types of a column from its sample values: integer, decimal, date (with its format),
datetime, boolean or string, and how often it is empty.

A type is only guessed when every non-empty value of the sample has it, as validation will
read it (the same number and date parsers), so the drafted route accepts its own sample. A
type most values have but not all is named in the evidence, with a value that breaks it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from tradelane.draft.model import FieldDraft
from tradelane.iso8601 import parse_iso_datetimes

#: Date formats tried, most common first; a format must read every value to be chosen.
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d-%m-%Y",
                "%Y/%m/%d", "%d-%b-%y", "%d-%b-%Y", "%d %b %Y", "%d.%m.%y", "%y%m%d")
_TRUE = {"true", "yes", "y", "t"}
_FALSE = {"false", "no", "n", "f"}
_DIGITS = re.compile(r"^[+-]?\d+$")
_HAS_TIME = re.compile(r"\d[T ]\d{1,2}(:\d{2})?")


@dataclass(frozen=True)
class Marks:
    """The decimal mark and thousands separator the numbers of a file use."""

    decimal: str = "."
    thousands: str | None = None

    def number(self, value: str) -> str | None:
        """``value`` as validation reads it ('1.234,5' -> '1234.5'), or None if it is not a
        number written with these marks (a thousands mark must group by three)."""
        t, d = re.escape(self.thousands or "\x00"), re.escape(self.decimal)
        grouped = rf"\d{{1,3}}(?:{t}\d{{3}})+" if self.thousands else r"(?!)"
        if not re.fullmatch(rf"[+-]?(?:{grouped}|\d+)(?:{d}\d+)?", value):
            return None
        if self.thousands:
            value = value.replace(self.thousands, "")
        return value.replace(self.decimal, ".")


def guess_marks(values: Sequence[str]) -> tuple[Marks, str]:
    """The decimal mark and thousands separator of a file's numbers, with the evidence.
    Only values no other reading explains count: '12,99' is a decimal comma, '1.250' may be
    a thousand two hundred and fifty or one and a quarter, '200.000.000' groups by three."""
    comma = sum(bool(re.fullmatch(r"[+-]?\d+,(\d{1,2}|\d{4,})", v)) for v in values)
    dot = sum(bool(re.fullmatch(r"[+-]?\d+\.(\d{1,2}|\d{4,})", v)) for v in values)
    dot_groups = sum(bool(re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", v)) for v in values)
    comma_groups = sum(bool(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", v)) for v in values)
    if comma > dot or (not dot and dot_groups and not comma_groups):
        thousands = "." if dot_groups else None
        why = f"{comma} values like '12,99' use a decimal comma"
        if not comma:
            why = f"{dot_groups} values like '200.000.000' group thousands with '.'"
        elif thousands:
            why += f"; {dot_groups} like '1.250' group thousands with '.'"
        return Marks(",", thousands), why
    multi = sum(bool(re.fullmatch(r"[+-]?\d{1,3}(,\d{3}){2,}(\.\d+)?", v)) for v in values)
    if comma_groups and (multi or dot) and not comma:
        return Marks(".", ","), (f"{dot} values use a decimal point; {comma_groups} group"
                                 " thousands with ','")
    if dot:
        return Marks("."), f"{dot} values like '3.49' use a decimal point"
    return Marks("."), "no value shows a decimal mark: the default"


def dates_match(values: list[str], fmt: str) -> list[bool]:
    """Which values read as dates in ``fmt``, both as Python and as Arrow (validation) read
    them: Python refuses 31.11, Arrow refuses what its own parser does not know."""
    parsed = pc.strptime(pa.array(values, pa.string()), format=fmt, unit="us",
                         error_is_null=True).to_pylist()
    out = []
    for value, arrow in zip(values, parsed, strict=True):
        try:
            ok = arrow is not None and datetime.strptime(value, fmt).date() == arrow.date()
        except ValueError:
            ok = False
        out.append(ok)
    return out


def _share(hits: int, total: int) -> str:
    return f"{hits * 100 // total}%" if hits != total else "100%"


def profile(name: str, source: str, values: Sequence[str | None], marks: Marks,
            *, numbers: bool = True) -> FieldDraft:
    """The field for one column; ``numbers=False`` keeps digits as text (identifiers whose
    definition says alphanumeric)."""
    total = len(values)
    present = [v.strip() for v in values if v is not None and v.strip() != ""]
    empty = total - len(present)
    nulls = f"{empty} of {total} empty ({empty * 100 // total}%)" if empty \
        else f"never empty in {total}"
    field = FieldDraft(name=name, source=source, required=bool(present) and not empty)
    if not present:
        field.why = f"always empty in {total} records: type unknown"
        return field
    n = len(present)
    lower = {v.lower() for v in present}
    if lower <= _TRUE | _FALSE and lower & _TRUE and lower & _FALSE:
        field.type, field.why = "boolean", f"only {'/'.join(sorted(lower))}; {nulls}"
        return field
    if all(_DIGITS.match(v) for v in present):
        if all(len(v) == 8 for v in present) and all(dates_match(present, "%Y%m%d")):
            field.type, field.format = "date", "%Y%m%d"
            field.why = f"100% of {n} values match %Y%m%d; {nulls}"
            return field
        zeros = [v for v in present if len(v.lstrip("+-")) > 1 and v.lstrip("+-")[0] == "0"]
        if zeros or not numbers or min(len(v.lstrip("+-")) for v in present) >= 10:
            why = (f"leading zeros (e.g. {zeros[0]!r}) are kept" if zeros else
                   "10 digits or more, an identifier (GLN, GTIN, account)" if numbers
                   else "alphanumeric by definition")
            field.why = f"digits only, kept as text: {why}; {nulls}"
            return field
        field.type, field.why = "integer", f"100% of {n} values are whole numbers; {nulls}"
        return field
    read = [marks.number(v) for v in present] if numbers else [None] * n
    hits = sum(r is not None for r in read)
    if hits == n:
        whole = all("." not in r for r in read if r)
        field.type = "integer" if whole else "decimal"
        mark = f"decimal '{marks.decimal}'" + (f", thousands '{marks.thousands}'"
                                               if marks.thousands else "")
        field.why = f"100% of {n} values are numbers ({mark}); {nulls}"
        return field
    best: tuple[int, str, str | None] = (hits, "are numbers", next(
        (v for v, r in zip(present, read, strict=True) if r is None), None))
    for fmt in DATE_FORMATS:
        ok = dates_match(present, fmt)
        good = sum(ok)
        if good == n:
            others = [f for f in DATE_FORMATS if f != fmt and all(dates_match(present, f))]
            also = f" (also {', '.join(others)}: check which one)" if others else ""
            field.type, field.format = "date", fmt
            field.why = f"100% of {n} values match {fmt}{also}; {nulls}"
            return field
        if good > best[0]:
            bad = next(v for v, o in zip(present, ok, strict=True) if not o)
            best = (good, f"match {fmt}", bad)
    if any(_HAS_TIME.search(v) for v in present):
        iso = parse_iso_datetimes(pa.array(present, pa.string())).to_pylist()
        good = sum(v is not None for v in iso)
        if good == n:
            field.type = "datetime"
            field.why = f"100% of {n} values are ISO 8601 date-times; {nulls}"
            return field
        if good > best[0]:
            bad = next(v for v, p in zip(present, iso, strict=True) if p is None)
            best = (good, "are ISO 8601 date-times", bad)
    hits, what, bad = best
    if hits and hits * 2 >= n:
        field.why = (f"{_share(hits, n)} of {n} values {what}, but not {bad!r}: kept"
                     f" as string; {nulls}")
    else:
        field.why = f"text; {nulls}"
    return field


def field_name(text: str, taken: set[str]) -> str:
    """A field name from a column name or path: lower case, words joined by '_', unique."""
    name = re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")[:40].strip("_")
    if not name or not name[0].isalpha():
        name = f"f_{name}" if name else "field"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
