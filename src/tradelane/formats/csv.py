"""Delimited text, read in bounded-memory blocks with Arrow's streaming CSV reader.

Every value is read as a string (leading zeros and odd formats survive); typing is
validation's job. Encoding errors, ragged rows and missing columns become rejects with the
row or byte where they happen.
"""

from __future__ import annotations

import codecs
import csv as pycsv
import io
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tradelane.errors import InvalidRecords, LimitExceeded, MalformedInput
from tradelane.formats.input_checks import clip, listed, refuse_compressed
from tradelane.models import Document, Issue, records_table
from tradelane.spec import CsvFormat, RouteSpec
from tradelane.spec.limits import LimitsSpec
from tradelane.staging import Staged

BLOCK_SIZE = 8 << 20
#: Up to this size, a file with no quotes, escapes or CRs is split in Python (see _plain).
PLAIN_SPLIT_BYTES = 4 << 10  # measured: Arrow is faster from about 8 KB on
#: Files bigger than this (read a batch ahead of their target, see pipeline.READ_AHEAD_FROM)
#: are parsed in blocks of SMALL_BLOCK rather than max_record_bytes: the target starts on the
#: first batch sooner and a block's columns stay in the L2 cache while they are checked. The
#: 47 MB file of bench/csv_route.py: 0.946 s whole with 8 MB blocks, 0.895 s with 4 MB, 0.882 s
#: with 2 MB (medians of 10 alternated runs). A row longer than a small block but within
#: max_record_bytes sends the file back to blocks of that size (``_LongRow``).
SMALL_BLOCKS_FROM = 8 << 20
SMALL_BLOCK = 2 << 20
#: From this size on, Arrow parses the next blocks on its threads while a block is checked:
#: a 283 MB file read 2.35-2.58 s instead of 2.81-3.27 s (wall clock, loaded 2 cores).
THREADED_BYTES = 64 << 20
_FORMULA_START = r"^([=+\-@\t\r])"
#: Rows Arrow formats per write (its default: 1,024): 1-2 MB a write instead of 50 KB, so
#: fewer calls into the target's stream; 1M rows wrote in 0.16-0.17 s CPU instead of 0.19-0.20.
WRITE_ROWS = 32_768


class CsvReader:
    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, CsvFormat)
        limits = route.limits
        # A small file is read once; its three passes (encoding, header, records) use the
        # bytes in memory instead of opening it three times.
        if staged.data is None and staged.size <= BLOCK_SIZE:
            staged = Staged(size=staged.size, data=staged.read_bytes())
        refuse_compressed(staged)
        text = _check_encoding(staged, fmt.encoding)
        columns = _header(staged, fmt, limits)
        _refuse_duplicates(columns)
        wanted = {name: (spec.source or name) for name, spec in route.fields.items()}
        by_clean = {c.strip(): c for c in columns}
        missing = [(f, src) for f, src in wanted.items() if src.strip() not in by_clean]
        required_missing = [(f, s) for f, s in missing if route.fields[f].required]
        most = limits.max_notes_items
        if required_missing:
            there = f"{len(columns):,} columns: {listed(columns, most)}"
            raise InvalidRecords(
                [Issue("header row", f, "", "missing_column",
                       f"required column {s!r} is not in the file ({there})")
                 for f, s in required_missing],
                error_count=len(required_missing), stage="read")
        known = {src.strip() for src in wanted.values()}
        extra = [c for c in columns if c.strip() not in known]
        notes = []
        if extra:
            if fmt.strict_columns:
                raise InvalidRecords(
                    [Issue("header row", clip(c), clip(c), "unknown_column",
                           f"column {clip(c)!r} is not in the mapping") for c in extra],
                    error_count=len(extra), stage="read")
            were = "column not in the mapping was" if len(extra) == 1 \
                else "columns not in the mapping were"
            notes.append(f"{len(extra):,} {were} ignored: {listed(extra, most)}")
        notes += [f"optional column {s!r} is not in the file; {f} is left empty"
                  for f, s in missing]
        plain = _plain(text, fmt, columns) if text is not None \
            and staged.size <= PLAIN_SPLIT_BYTES else None
        yield from _blocks(staged, plain, fmt, limits, columns, wanted, by_clean, tuple(notes))


def _refuse_duplicates(columns: list[str]) -> None:
    """Two columns of one name: which one a field means would be a guess."""
    first: dict[str, int] = {}
    issues = []
    for position, name in enumerate(columns, start=1):
        clean = name.strip()
        if not clean:  # unnamed columns (a trailing delimiter) can never be mapped
            continue
        if clean in first:
            issues.append(Issue("header row", clip(clean), clip(clean), "duplicate_column",
                                f"column {clip(clean)!r} appears twice: columns"
                                f" {first[clean]} and {position}"))
        else:
            first[clean] = position
    if issues:
        raise InvalidRecords(issues, error_count=len(issues), stage="read")


class _Unlocated(MalformedInput):
    """A threaded read met a ragged row or a parse error it cannot number: caught by
    ``_blocks``, which reads the file again in order to say where."""

    def __init__(self) -> None:
        super().__init__("a row Arrow's threaded reader refused", location="unknown")


def _blocks(staged: Staged, plain: list[pa.RecordBatch] | None, fmt: CsvFormat,
            limits: LimitsSpec, columns: list[str], wanted: dict[str, str],
            by_clean: dict[str, str], notes: tuple[str, ...]) -> Iterator[Document]:
    """The file's records in blocks; a big file is parsed by Arrow's threads.

    Threads do not number rows, so a threaded read that meets a bad row stops before the
    block holding it and the file is read again in order, only to raise the located error.
    """
    args = (staged, plain, fmt, limits, columns, wanted, by_clean, notes)
    if plain is not None or staged.data is not None or staged.size < THREADED_BYTES:
        if staged.size <= SMALL_BLOCKS_FROM or limits.max_record_bytes <= SMALL_BLOCK:
            yield from _read_blocks(*args, threads=False)
            return
        given = 0
        try:
            for doc in _read_blocks(*args, threads=False, block=SMALL_BLOCK):
                given += doc.records.num_rows
                yield doc
        except _LongRow:  # within max_record_bytes: read again in blocks that hold it
            yield from _after(_read_blocks(*args, threads=False), given)
        return
    try:
        yield from _read_blocks(*args, threads=True)
    except _Unlocated:
        for _ in _read_blocks(*args, threads=False):
            pass  # raises where the bad row is
        raise MalformedInput("the file is not valid CSV (a row Arrow's threaded reader"
                             " refused was read without error in order)",
                             location="unknown") from None


class _LongRow(LimitExceeded):
    """A row longer than the block Arrow was given, though maybe not than the limit: caught
    by ``_blocks``, which reads the file again in blocks of ``max_record_bytes``."""

    def __init__(self, block: int) -> None:
        super().__init__("max_record_bytes", block, location="unknown",
                         what="a row (for a small block)")


def _after(docs: Iterator[Document], given: int) -> Iterator[Document]:
    """``docs`` without their first ``given`` records (already handed out)."""
    for doc in docs:
        rows = doc.records.num_rows
        if given >= rows:
            given -= rows
            continue
        if given:
            assert doc.numbers is not None and doc.source_rows is not None
            doc = replace(doc, records=doc.records.slice(given),
                          source_rows=doc.source_rows.slice(given),
                          numbers=doc.numbers[given:])
            given = 0
        yield doc


def _read_blocks(staged: Staged, plain: list[pa.RecordBatch] | None, fmt: CsvFormat,
                 limits: LimitsSpec, columns: list[str], wanted: dict[str, str],
                 by_clean: dict[str, str], notes: tuple[str, ...], *, threads: bool,
                 block: int | None = None) -> Iterator[Document]:
    """The records in Arrow's blocks of ``block`` bytes (``max_record_bytes`` by default: a
    longer row straddles two blocks and is refused)."""
    ragged: list[Issue] = []
    skipped_rows: list[int] = []  # data-row numbers (1-based) that were ragged
    unlocated: list[bool] = []  # threaded: a ragged row was met (Arrow gives no number)
    header_rows = 1 if fmt.header else 0

    def on_invalid_row(row: Any) -> str:
        if threads:
            unlocated.append(True)
            return "skip"
        data_row = (row.number or 0) - header_rows - fmt.skip_rows
        skipped_rows.append(data_row)
        if len(ragged) < 1000:
            ragged.append(Issue(
                location=f"row {data_row}", field="", value=clip(row.text or "", 100),
                rule="columns",
                message=f"row has {row.actual_columns} columns, the header has "
                        f"{row.expected_columns}"))
        return "skip"

    block = block or limits.max_record_bytes
    reader = plain if plain is not None else _open(staged, fmt, limits, columns,
                                                   on_invalid_row, threads=threads,
                                                   block=block)
    locator = _Locator(staged, fmt, skipped_rows)
    start = 0
    try:
        for batch in reader:
            if unlocated:  # before the batch that holds the row is given out
                raise _Unlocated
            _check_field_sizes(batch, start, limits.max_field_bytes, locator)
            arrays = {}
            for field, src in wanted.items():
                column = by_clean.get(src.strip())
                arrays[field] = (batch.column(column) if column is not None
                                 else pa.nulls(batch.num_rows, pa.string()))
            table = records_table(arrays, batch.num_rows)
            numbers = np.arange(start, start + batch.num_rows, dtype=np.int64)
            start += batch.num_rows
            if ragged:
                continue  # the file is rejected below; keep reading to report every bad row
            yield Document(header={}, records=table, locate=locator, notes=notes,
                           source_rows=batch, numbers=numbers)
    except pa.ArrowInvalid as exc:
        if threads:
            raise _Unlocated from None
        if "straddles two block boundaries" in str(exc):  # a row longer than a block
            if block < limits.max_record_bytes:
                raise _LongRow(block) from None
            raise LimitExceeded("max_record_bytes", limits.max_record_bytes,
                                location=f"row {start + len(skipped_rows) + 1} or later",
                                what="a row") from None
        raise MalformedInput(f"the file is not valid CSV: {_arrow_reason(exc)}",
                             location=_arrow_location(exc)
                             or f"row {start + len(skipped_rows) + 1} or later") from None
    if unlocated:
        raise _Unlocated
    if ragged:
        raise InvalidRecords(ragged, error_count=len(skipped_rows), stage="read")


def _check_field_sizes(batch: pa.RecordBatch, start: int, most: int, locator: _Locator) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if column.nbytes <= most:  # all its values together are within the limit
            continue
        lengths = pc.binary_length(column)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > most:
            row = int(pc.index(lengths, longest).as_py())
            raise LimitExceeded("max_field_bytes", most, longest,
                                location=f"{locator(start + row)}, column {clip(name, 80)}",
                                what="a value")


def _open(staged: Staged, fmt: CsvFormat, limits: LimitsSpec, columns: list[str],
          handler: Any, *, threads: bool = False, block: int | None = None) -> Any:
    names = _unique(columns)
    block = block or limits.max_record_bytes
    read = pacsv.ReadOptions(
        encoding=_arrow_encoding(fmt.encoding), use_threads=threads,
        block_size=block,  # a longer row straddles two blocks: refused
        skip_rows=fmt.skip_rows + (1 if fmt.header else 0), column_names=names)
    parse = pacsv.ParseOptions(
        delimiter=fmt.delimiter, quote_char=fmt.quote, double_quote=fmt.doublequote,
        escape_char=fmt.escape or False, newlines_in_values=True, ignore_empty_lines=True,
        invalid_row_handler=handler)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
        quoted_strings_can_be_null=False)
    try:
        return pacsv.open_csv(pa.BufferReader(staged.data) if staged.data is not None
                              else staged.path,
                              read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Could not skip initial" in str(exc):
            if staged.size > block and block < limits.max_record_bytes:
                raise _LongRow(block) from None  # the lines before the records: a bigger block?
            if staged.size > block:  # the header is longer than a block
                raise LimitExceeded("max_record_bytes", limits.max_record_bytes,
                                    location=f"line {fmt.skip_rows + 1}",
                                    what="the header row") from None
            # the file ends in its header row: no records (Arrow wants a line after it)
            return [pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names],
                                               names=names)]
        raise MalformedInput(f"the file is not valid CSV: {_arrow_reason(exc)}",
                             location=_arrow_location(exc) or "line 1") from None


def _plain(text: str, fmt: CsvFormat, columns: list[str]) -> list[pa.RecordBatch] | None:
    """The records of a small file that has no quotes, escapes or CRs, split in Python.

    Such a file means the same to every CSV parser: lines split at "\\n" (empty ones
    ignored, as Arrow does), fields at the delimiter. Setting up Arrow's reader costs about
    0.15 ms, ten times this for a one-kilobyte file. None when the file is not that simple
    or has a row of the wrong width: Arrow's reader then reads it and reports the rows.
    """
    if fmt.skip_rows or fmt.quote in text or "\r" in text or (fmt.escape and fmt.escape in text):
        return None
    lines = text.split("\n")
    if fmt.header:
        del lines[0]
    elif text.startswith("\ufeff"):
        return None  # a byte-order mark on the first record: Arrow drops it
    rows = [line.split(fmt.delimiter) for line in lines if line]
    width = len(columns)
    if not rows or any(len(row) != width for row in rows):
        return None
    arrays = [pa.array(values, pa.string()) for values in zip(*rows, strict=True)]
    return [pa.RecordBatch.from_arrays(arrays, names=_unique(columns))]


def _header(staged: Staged, fmt: CsvFormat, limits: LimitsSpec) -> list[str]:
    """The header row, read from at most ``limits.max_header_bytes`` of the file (after the
    skipped banner lines), so that a file without a line break is never read whole."""
    if not fmt.header:
        assert fmt.columns
        return list(fmt.columns)
    most = limits.max_header_bytes
    encoding = "utf-8-sig" if fmt.encoding.lower().replace("_", "-") in ("utf-8", "utf8") \
        else fmt.encoding
    with staged.open() as fh:
        for number in range(1, fmt.skip_rows + 1):
            line = fh.readline(most + 1)
            if len(line) > most and not line.endswith(b"\n"):
                raise LimitExceeded("max_header_bytes", most, location=f"line {number}",
                                    what="a line before the header")
        head = fh.read(most + 1)
    at = f"line {fmt.skip_rows + 1}"
    # the cut may fall inside a character: decode what is whole, the encoding is checked
    text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(head, final=False)
    buffer = io.StringIO(text, newline="")
    reader = pycsv.reader(buffer, delimiter=fmt.delimiter, quotechar=fmt.quote,
                          escapechar=fmt.escape, doublequote=fmt.doublequote)
    try:
        row = next(reader)
    except StopIteration:
        raise MalformedInput("the file has no header row", location="line 1") from None
    except pycsv.Error as exc:
        if len(head) > most:
            raise LimitExceeded("max_header_bytes", most, location=at,
                                what="the header row") from None
        raise MalformedInput(f"the header row is not valid CSV: {clip(str(exc))}",
                             location=at) from None
    if len(head) > most and buffer.tell() >= len(text):  # the row did not end in the limit
        raise LimitExceeded("max_header_bytes", most, location=at, what="the header row")
    if len(row) > limits.max_columns:
        raise LimitExceeded("max_columns", limits.max_columns, len(row), location=at,
                            what="the header's columns")
    if not any(cell.strip() for cell in row):
        raise MalformedInput("the header row is empty", location=at)
    if row and row[0].startswith("\ufeff"):
        row[0] = row[0][1:]
    return row


def _check_encoding(staged: Staged, encoding: str) -> str | None:
    """Decode the whole file once, in blocks, to report the first bad byte precisely; return
    the text when the file is held in memory."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    # an ASCII block of a file on disk is valid UTF-8 as it is: decoding it costs 28 ms per
    # 47 MB for a text nobody reads (0.6 ms to see it is ASCII)
    ascii_compatible = _arrow_encoding(encoding) == "utf8" and staged.data is None
    if ascii_compatible and staged.ascii:  # staging saw it: no pass over the file again
        return None
    offset = 0
    text = ""
    with staged.open() as fh:
        while block := fh.read(BLOCK_SIZE):
            if b"\x00" in block:
                at = offset + block.index(b"\x00")
                try:  # a byte that is not text in this block is reported first
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    _bad_byte(staged, encoding, offset, block, exc)
                raise MalformedInput("the file contains a NUL byte: it is binary, not text",
                                     location=f"byte {at}", rule="encoding", value="0x00")
            if ascii_compatible and block.isascii() and not decoder.getstate()[0]:
                offset += len(block)
                continue
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                _bad_byte(staged, encoding, offset, block, exc)
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise MalformedInput(f"the file ends in the middle of a {encoding} character",
                                 location=f"byte {offset}", rule="encoding") from None
    return text if staged.data is not None else None  # in memory: one block, read whole


def _bad_byte(staged: Staged, encoding: str, offset: int, block: bytes,
              exc: UnicodeDecodeError) -> NoReturn:
    bad_at = offset + exc.start
    line = 1 + block[: exc.start].count(b"\n")
    with staged.open() as fh:  # the lines before this block, counted only now
        done = 0
        while done < offset and (chunk := fh.read(min(BLOCK_SIZE, offset - done))):
            line += chunk.count(b"\n")
            done += len(chunk)
    byte = block[exc.start: exc.start + 1]
    raise MalformedInput(
        f"byte 0x{byte.hex()} is not valid {encoding} text; the file is probably in"
        " another encoding (set format.encoding in the mapping)",
        location=f"line {line}, byte {bad_at}", rule="encoding",
        value=f"0x{byte.hex()}") from None


class _Locator:
    """Record number -> "row N (line L)", computed lazily with Python's csv module."""

    def __init__(self, staged: Staged, fmt: CsvFormat, skipped: list[int]):
        self.staged, self.fmt, self.skipped = staged, fmt, skipped
        self._lines: list[int] = []  # physical start line of each data row

    def __call__(self, record: int) -> str:
        row = self._data_row(record)
        line = self._line_of(row)
        return f"row {row} (line {line})" if line else f"row {row}"

    def _data_row(self, record: int) -> int:
        row = record + 1
        for skipped in sorted(self.skipped):  # ragged rows are not records but are rows
            if skipped <= row:
                row += 1
        return row

    def _line_of(self, row: int) -> int | None:
        if row > len(self._lines):
            self._scan(row)
        return self._lines[row - 1] if row <= len(self._lines) else None

    def _scan(self, upto: int) -> None:
        fmt = self.fmt
        encoding = "utf-8-sig" if fmt.encoding.lower() in ("utf-8", "utf8") else fmt.encoding
        self._lines = []
        with io.TextIOWrapper(self.staged.open(), encoding=encoding, newline="",
                              errors="replace") as fh:
            for _ in range(fmt.skip_rows):
                fh.readline()
            reader = pycsv.reader(fh, delimiter=fmt.delimiter, quotechar=fmt.quote,
                                  escapechar=fmt.escape, doublequote=fmt.doublequote)
            start = fmt.skip_rows + 1
            try:
                if fmt.header:
                    next(reader, None)
                    start = fmt.skip_rows + reader.line_num + 1
                for row in reader:
                    if row:
                        self._lines.append(start)
                    start = fmt.skip_rows + reader.line_num + 1
                    if len(self._lines) >= upto:
                        break
            except pycsv.Error:  # e.g. a value over the csv module's size limit: rows only
                pass


class CsvWriter:
    extension = "csv"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        opts = route.target.csv
        count = 0
        header = opts.header
        reencode = opts.encoding.lower().replace("_", "-") not in ("utf-8", "utf8")
        writer: pacsv.CSVWriter | None = None  # one Arrow writer for every batch of a schema
        schema: pa.Schema | None = None
        for doc in batches:
            table = _to_text_table(doc, route)
            if opts.neutralise_formulas:
                table = _neutralise(table, doc)
            options = pacsv.WriteOptions(include_header=header, delimiter=opts.delimiter,
                                         quoting_style="needed", batch_size=WRITE_ROWS)
            if reencode:
                sink = io.BytesIO()
                pacsv.write_csv(table, sink, options)
                try:
                    out.write(sink.getvalue().decode("utf-8").encode(opts.encoding))
                except UnicodeEncodeError as exc:
                    raise InvalidRecords([Issue(
                        "output", "", exc.object[exc.start:exc.end], "encoding",
                        f"{exc.object[exc.start:exc.end]!r} cannot be written in {opts.encoding}")],
                        error_count=1, stage="transform") from None
            else:
                if writer is not None and schema != table.schema:
                    writer.close()  # a hook changed a type: a new writer, no second header
                    writer = None
                if writer is None:
                    writer = pacsv.CSVWriter(out, table.schema, write_options=options)
                    schema = table.schema
                writer.write_table(table)
            header = False
            count += table.num_rows
        if writer is not None:
            writer.close()  # flushes; the output file stays open for the target
        if header:  # no records at all: still write the header row
            names = list(route.transform.output or [])
            if names:
                out.write((opts.delimiter.join(names) + "\n").encode(opts.encoding))
        return count


def _to_text_table(doc: Document, route: RouteSpec) -> pa.Table:
    """Arrow table of the output, dates formatted, decimal commas applied."""
    opts = route.target.csv
    arrays, names = [], []
    formats = route.output_formats()
    for column, arr in zip(doc.records.column_names, doc.records.columns, strict=True):
        if pa.types.is_date(arr.type) and column not in formats:
            arr = pc.cast(arr, pa.string())  # ISO, and much faster than strftime
        elif pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
            default = "%Y-%m-%d" if pa.types.is_date(arr.type) else "%Y-%m-%dT%H:%M:%S"
            if getattr(arr.type, "tz", None):
                default += "Z"  # ISO input is normalised to UTC
            # whole seconds: Arrow's %S would otherwise print microseconds
            seconds = pc.cast(arr, pa.timestamp("s"), safe=False)
            arr = pc.strftime(seconds, format=formats.get(column, default))
        elif (pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type)) \
                and opts.decimal != ".":
            arr = pc.replace_substring(pc.cast(arr, pa.string()), ".", opts.decimal)
        elif pa.types.is_boolean(arr.type):
            arr = pc.if_else(arr, "true", "false")
        arrays.append(arr)
        names.append(str(column))
    return pa.Table.from_arrays(arrays, names=names)


def _neutralise(table: pa.Table, doc: Document) -> pa.Table:
    """Prefix spreadsheet formulas with a quote. Numbers (typed columns) stay as they are."""
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        source_type = doc.records.schema.field(i).type
        # most columns hold no formula: finding none is twice as fast as replacing
        if _text(column.type) and not _numeric(source_type) and _may_start_formula(column) \
                and pc.any(pc.match_substring_regex(column, _FORMULA_START)).as_py():
            table = table.set_column(i, name, pc.replace_substring_regex(
                column, _FORMULA_START, "'\\1"))
    return table


_FORMULA_BYTES = np.frombuffer(b"=+-@\t\r", dtype=np.uint8)


def _may_start_formula(column: pa.ChunkedArray) -> bool:
    """Whether a value may start with a formula character, from the byte where each value
    starts (1.5 ms per 1M values against 21 ms for the pattern): False is sure, True is
    checked by the pattern. An empty value shows the next value's first byte, and a null's
    slot may hold bytes: either only makes the answer True more often."""
    for chunk in column.chunks:
        offsets, data = chunk.buffers()[1:3]
        if data is None or offsets is None or not len(chunk) or not data.size:
            continue
        wide = pa.types.is_large_string(chunk.type)
        starts = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32,
                               count=len(chunk), offset=chunk.offset * (8 if wide else 4))
        firsts = np.take(np.frombuffer(data, dtype=np.uint8), starts, mode="clip")
        if np.isin(firsts, _FORMULA_BYTES).any():
            return True
    return False


def _text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


def _arrow_encoding(encoding: str) -> str:
    enc = encoding.lower().replace("_", "-")
    return "utf8" if enc in ("utf-8", "utf8", "utf-8-sig") else encoding


def _arrow_reason(exc: Exception) -> str:
    return clip(str(exc).split("\n")[0].removeprefix("CSV parse error: "))


def _arrow_location(exc: Exception) -> str:
    import re

    match = re.search(r"row (\d+)", str(exc))
    return f"row {match.group(1)}" if match else ""


__all__ = ["CsvReader", "CsvWriter"]
