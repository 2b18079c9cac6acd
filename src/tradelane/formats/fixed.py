"""Fixed-width text: record types by prefix, fields by column, implied decimals, EBCDIC too.

Field sources name ``TYPE.field`` (a record type of the format and one of its fields). Lines of
a ``header`` record type fill the document header; each line of a ``record`` type is a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from tradelane.errors import ConfigError, EmptyFile, LimitExceeded, MalformedInput
from tradelane.formats.input_checks import refuse_compressed
from tradelane.models import Document, records_table
from tradelane.spec import FixedField, FixedFormat, FixedOutput, FixedRecordType, RouteSpec
from tradelane.staging import Staged


class UnknownRecordType(MalformedInput):
    def __init__(self, line: int, text: str):
        self.line = line
        super().__init__(f"line {line} starts with {text[:10]!r}, which no record type matches",
                         location=f"line {line}", rule="record_type", value=text[:40])


class ShortRecord(MalformedInput):
    def __init__(self, line: int, record_type: str, length: int, needed: int):
        self.line, self.record_type, self.length, self.needed = line, record_type, length, needed
        super().__init__(f"line {line} ({record_type}) has {length} characters, the layout needs"
                         f" {needed}", location=f"line {line}", rule="record_length",
                         value=str(length))


def _end(f: FixedField) -> int:
    return f.end if f.end is not None else f.start + (f.width or 0) - 1


def _value(line: str, f: FixedField) -> str:
    raw = line[f.start - 1 : _end(f)]
    value = raw.strip() if f.strip else raw
    if f.implied_decimals and value:
        sign = ""
        if value[0] in "+-":
            sign, value = value[0], value[1:]
        elif value[-1] in "+-":
            sign, value = value[-1], value[:-1]
        if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit
            d = f.implied_decimals
            digits = value.rjust(d + 1, "0")  # text, not int(): any number of digits
            whole = digits[:-d].lstrip("0") or "0"
            value = ("-" if sign == "-" else "") + f"{whole}.{digits[-d:]}"
        else:
            value = sign + value if sign else value  # not a number: validation will say so
    return value


def _source(name: str, source: str | None, fmt: FixedFormat, where: str) -> tuple[str, str]:
    text = source or name
    kind, _, field = text.partition(".")
    rt = fmt.record_types.get(kind)
    if rt is None or field not in rt.fields:
        raise ConfigError([f"{where}: {text!r} must name TYPE.field of format.record_types"])
    return kind, field


class FixedReader:
    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, FixedFormat)
        header_src = {k: _source(k, s.source, fmt, f"header.{k}.source")
                      for k, s in route.header.items()}
        field_src = {k: _source(k, s.source, fmt, f"fields.{k}.source")
                     for k, s in route.fields.items()}
        types = sorted(fmt.record_types.items(), key=lambda kv: -len(kv[1].prefix))
        needs = {name: rt.min_length or max((_end(f) for f in rt.fields.values()), default=0)
                 for name, rt in fmt.record_types.items()}
        header: dict[str, str | None] = dict.fromkeys(header_src)
        head_lines: list[str] = []  # as the file has them, for split-out files
        columns: dict[str, list[str | None]] = {k: [] for k in field_src}
        lines: list[tuple[int, str]] = []  # (line number, text) of the batch's records
        first_row = 0
        pending: list[tuple[int, str, str]] = []
        most = route.limits.max_record_bytes
        for number, line in _lines(staged, fmt):
            if len(line) > most and len(line.encode(fmt.encoding, "replace")) > most:
                raise LimitExceeded("max_record_bytes", most, len(line.encode(
                    fmt.encoding, "replace")), location=f"line {number}", what="a line")
            kind = _match(types, line)
            if kind is None:
                if fmt.unknown_lines == "skip" or not line.strip():
                    continue
                raise UnknownRecordType(number, line)
            rt: FixedRecordType = fmt.record_types[kind]
            if len(line) < needs[kind]:
                raise ShortRecord(number, kind, len(line), needs[kind])
            if rt.role == "header":
                head_lines.append(line)
                for key, (k, f) in header_src.items():
                    if k == kind and header[key] is None:
                        header[key] = _value(line, rt.fields[f])
            elif rt.role == "record":
                pending.append((number, kind, line))
        if not pending and not any(header.values()):
            raise EmptyFile()
        head = tuple(head_lines) if route.on_invalid == "split" else None
        for number, kind, line in pending:
            rt = fmt.record_types[kind]
            for key, (k, f) in field_src.items():
                columns[key].append(_value(line, rt.fields[f]) if k == kind else None)
            lines.append((number, line))
            if len(lines) >= fmt.chunk_rows:
                yield _document(header, columns, lines, head, first_row)
                first_row += len(lines)
                columns, lines = {k: [] for k in field_src}, []
        if lines or first_row == 0:
            yield _document(header, columns, lines, head, first_row)


@dataclass(frozen=True, slots=True)
class SourceLine:
    """A record line as the file has it, with the file's header lines: what a split-out
    file of rejected records is made of."""

    text: str
    head: tuple[str, ...]


def _document(header: dict, columns: dict[str, list], lines: list[tuple[int, str]],
              head: tuple[str, ...] | None, first: int) -> Document:
    """``head``: the file's header lines, when the route splits out invalid records."""
    table = records_table({k: pa.array(v, pa.string()) for k, v in columns.items()},
                          len(lines))
    numbers = [number for number, _ in lines]
    return Document(header=dict(header), records=table,
                    numbers=np.arange(first, first + len(lines), dtype=np.int64),
                    locate=lambda row: f"line {numbers[row - first]}",
                    source_rows=None if head is None
                    else [SourceLine(text, head) for _, text in lines])


def subset(rows: list[SourceLine], fmt: FixedFormat) -> bytes:
    """A fixed-width file of the header lines and the rejected records, in the input's
    encoding and record layout, so that it can be fixed and run through the same route."""
    lines = [*rows[0].head, *(row.text for row in rows)] if rows else []
    end = "" if fmt.record_length else "\n"
    return "".join(line + end for line in lines).encode(fmt.encoding)


def _match(types: list[tuple[str, FixedRecordType]], line: str) -> str | None:
    for name, rt in types:
        if line.startswith(rt.prefix):
            return name
    return None


def _lines(staged: Staged, fmt: FixedFormat) -> Iterator[tuple[int, str]]:
    data = staged.read_bytes()
    if not data:
        raise EmptyFile()
    refuse_compressed(staged)
    try:
        text = data.decode(fmt.encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedInput(f"byte 0x{data[exc.start]:02X} is not valid {fmt.encoding}",
                             location=f"line {line} (byte {exc.start})",
                             rule="encoding") from None
    if fmt.record_length:
        n = fmt.record_length
        for i in range(0, len(text), n):
            yield i // n + 1, text[i : i + n]
        return
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line


class FixedWriter:
    """Writes the records as fixed-width lines: ``target.fixed``'s layout, or else the first
    ``record`` type of a fixed-width input."""

    extension = "txt"

    def __init__(self, layout: FixedOutput | None = None):
        self.layout = layout

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        layout = self.layout or route.target.fixed
        fmt = route.format
        if layout is not None:
            prefix, fields, encoding = layout.prefix, layout.fields, layout.encoding
        elif isinstance(fmt, FixedFormat):
            rt = next(r for r in fmt.record_types.values() if r.role == "record")
            prefix, fields, encoding = rt.prefix, rt.fields, fmt.encoding
        else:
            raise ValueError("fixed-width output needs a layout (target.fixed)")
        width = max(_end(f) for f in fields.values())
        count = 0
        for doc in batches:
            for row in doc.records.to_pylist():
                line = list(prefix.ljust(width))
                for name, f in fields.items():
                    raw = row.get(name)
                    value = "" if raw is None or raw != raw else str(raw)  # None or NaN
                    size = _end(f) - f.start + 1
                    if f.implied_decimals:
                        value = f"{float(value or 0):.{f.implied_decimals}f}".replace(".", "")
                        value = value.rjust(size, "0")
                    line[f.start - 1 : _end(f)] = list(value[:size].ljust(size))
                out.write(("".join(line) + "\n").encode(encoding))
                count += 1
        return count
