"""Readers turn every malformed input into a reject with a location; never a crash."""

from __future__ import annotations

import contextlib
import random
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from support.project import DATA
from tradelane.errors import InvalidRecords, LimitExceeded, MalformedInput, RejectError
from tradelane.formats import reader_for
from tradelane.formats.csv import SMALL_BLOCKS_FROM
from tradelane.spec import RouteSpec
from tradelane.staging import Staged
from tradelane.validate import validate


def route(fmt: dict, fields: dict, header: dict | None = None) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": fmt, "fields": fields,
        "header": header or {}, "target": {"folder": "out"}})


def read(path: Path, spec: RouteSpec):
    return list(reader_for(spec).read(Staged.file(path), spec))


def records(path: Path, spec: RouteSpec) -> list[dict]:
    out = []
    for doc in read(path, spec):
        out.extend(doc.records.to_pylist())
    return out


def write(tmp_path: Path, content: str | bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


CSV = {"type": "csv"}
ABC = {"a": {}, "b": {}, "c": {}}


# -- CSV --------------------------------------------------------------------------------------

def test_csv_wrong_encoding_names_the_byte_and_line(tmp_path: Path) -> None:
    spec = route(CSV, ABC)
    with pytest.raises(MalformedInput) as info:
        read(DATA / "csv" / "csvkit__test_latin1.csv", spec)
    assert "0xa9" in info.value.message and "utf-8" in info.value.message
    assert info.value.location == "line 3, byte 16"


def test_csv_latin1_declared_reads_the_copyright_sign() -> None:
    spec = route({**CSV, "encoding": "latin-1"}, ABC)
    assert records(DATA / "csv" / "csvkit__test_latin1.csv", spec)[-1] == \
        {"a": "4", "b": "5", "c": "©"}


def test_csv_bom_is_dropped_and_padded_headers_match() -> None:
    spec = route(CSV, {"date": {"source": "Date"}, "open": {"source": "Open",
                                                            "type": "decimal"}})
    rows = records(DATA / "csv" / "commons-csv__bom.csv", spec)
    assert len(rows) == 251  # 252 lines in commons-csv's bom.csv, one of them the header
    assert rows[0] == {"date": "14-Mar-14", "open": "223.80"}


def test_csv_ragged_rows_are_each_reported(tmp_path: Path) -> None:
    spec = route(CSV, {"column_a": {}, "column_b": {}, "column_c": {}})
    with pytest.raises(InvalidRecords) as info:
        read(DATA / "csv" / "csvkit__bad.csv", spec)
    # csvkit's csvclean reports the same two rows: one too long, one too short
    assert info.value.error_count == 2
    assert [(i.location, i.rule) for i in info.value.issues] == [("row 1", "columns"),
                                                                 ("row 2", "columns")]
    assert "4 columns" in info.value.issues[0].message


def test_csv_cr_only_newlines_and_quoted_newline(tmp_path: Path) -> None:
    rows = records(DATA / "csv" / "csvkit__mac_newlines.csv", route(CSV, ABC))
    assert rows == [{"a": "1", "b": "2", "c": "3"}, {"a": "Once upon\ra time", "b": "5",
                                                      "c": "6"}]


def test_csv_german_locale_numbers_match_csvkit_expected_output() -> None:
    spec = route({**CSV, "decimal": ",", "thousands": "."},
                 {"a": {"type": "decimal"}, "b": {"type": "integer"}, "c": {}})
    [doc] = read(DATA / "csv" / "csvkit__test_locale.csv", spec)
    typed = list(validate(doc, spec).document.records.to_pylist()[0].values())
    # csvkit's examples/test_locale_converted.csv: 1.7,200000000,
    assert typed[0] == 1.7 and typed[1] == 200_000_000 and typed[2] is None


def test_csv_backslash_escapes_and_quoted_newline_univocity() -> None:
    spec = route({**CSV, "delimiter": ";", "escape": "\\", "decimal": ","},
                 {"model": {"source": "Model"}, "description": {"source": "Description"},
                  "price": {"source": "Price", "type": "decimal"}})
    rows = records(DATA / "csv" / "univocity__european.csv", spec)
    assert rows[1]["model"] == 'Venture "Extended Edition"'
    assert rows[2]["description"] == "MUST SELL!\nair; moon roof; loaded"
    assert len(rows) == 5


def test_csv_missing_required_column_lists_what_is_there(tmp_path: Path) -> None:
    spec = route(CSV, {"a": {"required": True}, "zz": {"required": True}, "opt": {}})
    with pytest.raises(InvalidRecords) as info:
        read(write(tmp_path, "a,b\n1,2\n"), spec)
    [issue] = info.value.issues
    assert issue.field == "zz" and issue.rule == "missing_column" and "a, b" in issue.message


def test_csv_unknown_extra_column_is_reported_or_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,surprise\n1,2,3\n")
    [doc] = read(path, route(CSV, {"a": {}, "b": {}}))
    assert any("surprise" in note for note in doc.notes)
    with pytest.raises(InvalidRecords, match="1 problem"):
        read(path, route({**CSV, "strict_columns": True}, {"a": {}, "b": {}}))


def test_csv_nul_byte_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="NUL"):
        read(write(tmp_path, b"a,b\n1,\x002\n"), route(CSV, {"a": {}, "b": {}}))


def test_csv_leading_zeros_and_odd_values_survive_as_text(tmp_path: Path) -> None:
    rows = records(write(tmp_path, "a,b\n007,1e5\n"), route(CSV, {"a": {}, "b": {}}))
    assert rows == [{"a": "007", "b": "1e5"}]


# -- JSON -------------------------------------------------------------------------------------

JSON = {"type": "json", "records": "items"}


def test_json_malformed_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput) as info:
        read(write(tmp_path, '{"items": [\n  {"a": 1},\n  {"a": }\n]}'), route(JSON, {"a": {}}))
    assert info.value.location == "line 3, column 9"


def test_json_nested_100k_deep_is_rejected_not_a_crash(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MalformedInput, match="nested too deeply"):
        read(write(tmp_path, deep), route({"type": "json"}, {"a": {}}))


def test_json_100k_digit_number_is_a_clear_validation_error(tmp_path: Path) -> None:
    path = write(tmp_path, '{"items": [{"a": ' + "9" * 100_000 + "}]}")
    spec = route(JSON, {"a": {"type": "integer"}})
    [doc] = read(path, spec)
    result = validate(doc, spec)
    assert result.error_count == 1 and result.issues[0].rule == "type"
    assert result.issues[0].location == "$.items[0]"


def test_json_exact_decimal_text_and_nested_paths(tmp_path: Path) -> None:
    path = write(tmp_path, '{"batch": {"id": "B1"}, "items": [{"p": 19.990, "c": {"id": 7},'
                           ' "ok": true, "n": null}]}')
    spec = route(JSON, {"p": {}, "cid": {"source": "c.id"}, "ok": {}, "n": {}},
                 header={"batch": {"source": "batch.id"}})
    [doc] = read(path, spec)
    assert doc.header == {"batch": "B1"}
    assert records(path, spec) == [{"p": "19.990", "cid": "7", "ok": "true", "n": None}]


def test_json_object_where_a_value_belongs_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '{"items": [{"a": {"x": 1}}]}')
    with pytest.raises(InvalidRecords) as info:
        read(path, route(JSON, {"a": {}}))
    assert info.value.issues[0].location == "$.items[0].a"


def test_json_records_path_that_is_not_an_array(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="expected an array"):
        read(write(tmp_path, '{"items": {"a": 1}}'), route(JSON, {"a": {}}))


def test_jsonl_reports_the_bad_line(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput) as info:
        read(write(tmp_path, '{"a": 1}\n{"a": 2}\n{"a": \n'), route({"type": "jsonl"},
                                                                      {"a": {}}))
    assert info.value.location == "line 3"


# -- XML --------------------------------------------------------------------------------------

UBL_NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def xml_route(records: str = "cac:InvoiceLine", fields: dict | None = None,
              header: dict | None = None) -> RouteSpec:
    return route({"type": "xml", "records": records, "namespaces": UBL_NS},
                 fields or {"id": {"source": "cbc:ID"}}, header)


XXE = textwrap.dedent("""\
    <?xml version="1.0"?>
    <!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
    <r><cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    >&x;</cbc:ID></r>""")

BOMB = "<?xml version='1.0'?>\n<!DOCTYPE lolz [<!ENTITY lol 'lol'>" + "".join(
    f"<!ENTITY lol{i} '{('&lol' + str(i - 1) + ';') * 10 if i else '&lol;' * 10}'>"
    for i in range(10)) + "]>\n<lolz>&lol9;</lolz>"


@pytest.mark.parametrize("content", [XXE, BOMB], ids=["external-entity", "entity-bomb"])
def test_xml_doctype_and_entities_are_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(MalformedInput) as info:
        read(write(tmp_path, content), xml_route("r"))
    assert info.value.issues[0].rule == "doctype" and info.value.location == "line 2"


def test_xml_doctype_after_a_long_comment_is_still_refused(tmp_path: Path) -> None:
    content = "<?xml version='1.0'?><!--" + "x" * 70_000 + "-->" + XXE.split("\n", 1)[1]
    with pytest.raises(MalformedInput, match="DOCTYPE"):
        read(write(tmp_path, content), xml_route("r"))


def test_xml_not_well_formed_has_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput) as info:
        read(write(tmp_path, "<a>\n  <b>\n</a>"), xml_route("b"))
    assert info.value.location.startswith("line 3")


def test_xml_ubl_invoice_lines_and_header() -> None:
    spec = xml_route(fields={"id": {"source": "cbc:ID"},
                             "qty": {"source": "cbc:InvoicedQuantity"},
                             "unit": {"source": "cbc:InvoicedQuantity/@unitCode"},
                             "item": {"source": "cac:Item/cbc:Name"}},
                     header={"invoice": {"source": "cbc:ID"},
                             "currency": {"source": "cbc:DocumentCurrencyCode"}})
    path = DATA / "xml" / "ubl__UBL-Invoice-2.1-Example.xml"
    [doc] = read(path, spec)
    rows = records(path, spec)
    assert doc.header == {"invoice": "TOSL108", "currency": "EUR"}
    assert len(rows) == 5
    assert rows[0] == {"id": "1", "qty": "1", "unit": "C62", "item": "Labtop computer"}
    assert doc.locate(0).startswith("line ")


def test_reader_errors_are_all_reject_errors(tmp_path: Path) -> None:
    """Whatever the bytes, a reader raises RejectError or returns documents."""
    junk = bytes(range(256)) * 10
    for spec in (route(CSV, ABC), route(JSON, {"a": {}}), xml_route("r")):
        with contextlib.suppress(RejectError):
            read(write(tmp_path, junk), spec)


@pytest.mark.parametrize("seed", range(40))
def test_csv_small_plain_files_split_in_python_match_arrows_reader(seed: int) -> None:
    """Differential: the Python split for small plain files against Arrow's reader."""
    from tradelane.formats.csv import _open, _plain
    from tradelane.spec import CsvFormat
    from tradelane.spec.limits import LimitsSpec

    rng = random.Random(seed)
    delimiter = rng.choice([",", ";", "|", "\t"])
    alphabet = ["a", "Z", "7", " ", "é", "€", "😀", ".", "-", "=", "\t", ",", ";", "|"]
    alphabet = [c for c in alphabet if c != delimiter]
    width = rng.randint(1, 5)
    columns = [f"c{i}" for i in range(width)]
    fmt = (CsvFormat(type="csv", delimiter=delimiter) if rng.random() < 0.7
           else CsvFormat(type="csv", delimiter=delimiter, header=False, columns=columns))
    lines = [delimiter.join(columns)] if fmt.header else []
    for _ in range(rng.randint(1, 30)):
        if rng.random() < 0.1:
            lines.append("")  # empty lines are skipped by both
        fields = width + (rng.choice([-1, 1]) if rng.random() < 0.05 else 0)
        lines.append(delimiter.join("".join(rng.choices(alphabet, k=rng.randint(0, 6)))
                                    for _ in range(max(fields, 1))))
    text = "\n".join(lines) + ("\n" if rng.random() < 0.7 else "")

    ragged: list[object] = []
    def skip(row: object) -> str:
        ragged.append(row)
        return "skip"

    data = text.encode()
    staged = Staged(size=len(data), data=data)
    arrow = pa.Table.from_batches(list(_open(staged, fmt, LimitsSpec(), columns, skip)))
    plain = _plain(text, fmt, columns)
    if ragged or arrow.num_rows == 0:
        assert plain is None  # Arrow reads (and reports) what is not simple
    else:
        assert plain is not None
        assert pa.Table.from_batches(plain).equals(arrow), (text, arrow, plain)


@pytest.mark.parametrize("text", ['a,b\n"1",2\n', "a,b\r\n1,2\r\n", "a,b\r1,2\r", "a,b\n"])
def test_csv_quotes_crs_or_no_records_go_to_arrows_reader(text: str) -> None:
    from tradelane.formats.csv import _plain
    from tradelane.spec import CsvFormat

    assert _plain(text, CsvFormat(type="csv"), ["a", "b"]) is None


# -- a big file is parsed in small blocks; a longer row sends it back to big ones -------------

def _big_csv(tmp_path: Path, long_at: int, long_bytes: int, *, ragged_at: int | None = None,
             rows: int = 700_000) -> tuple[Path, list[str]]:
    """About 9 MB of ``n,name`` rows, one of them with a quoted value of ``long_bytes`` that
    spans lines, and maybe a ragged row."""
    long_value = ("word " * (long_bytes // 5))[:long_bytes].replace("word word", "word\nword")
    names = [f"N{i}" for i in range(rows)]
    names[long_at] = long_value
    lines = ["n,name"]
    for i, name in enumerate(names):
        lines.append(f'{i},"{name}"' if i == long_at else f"{i},{name}")
        if i == ragged_at:
            lines.append("x,y,z")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > SMALL_BLOCKS_FROM
    return path, names


def _rows(docs: list) -> tuple[list[int], list[str], list[int]]:
    numbers = [int(n) for doc in docs for n in doc.numbers]
    return ([int(v) for doc in docs for v in doc.records.column("n").to_pylist()],
            [v for doc in docs for v in doc.records.column("name").to_pylist()], numbers)


@pytest.mark.parametrize("long_at", [1, 400_000, 699_999])  # first block, a later one, last
def test_a_row_longer_than_a_small_block_but_within_the_limit_is_read_once(
        tmp_path: Path, long_at: int) -> None:
    # Arrow refuses a row that spans more than two blocks: 5 MB does in 2 MB blocks
    path, names = _big_csv(tmp_path, long_at, 5 << 20)
    docs = read(path, route(CSV, {"n": {}, "name": {}}))
    ids, got, numbers = _rows(docs)
    assert ids == numbers == list(range(len(names)))  # every record once, in order
    assert got == names and "\n" in got[long_at]
    for doc in docs:  # the raw rows a split writes back stay beside their records
        assert doc.source_rows.num_rows == doc.records.num_rows
        assert doc.source_rows.column(0).to_pylist() == \
            [str(n) for n in doc.numbers.tolist()]


def test_a_row_longer_than_the_limit_is_still_refused_where_it_starts(tmp_path: Path) -> None:
    path, _ = _big_csv(tmp_path, 400_000, 7 << 20)  # more than two blocks of the limit
    limited = RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": CSV,
        "fields": {"n": {}, "name": {}}, "target": {"folder": "out"},
        "limits": {"max_record_bytes": 3 << 20}})
    with pytest.raises(LimitExceeded) as info:
        read(path, limited)
    assert info.value.limit == "max_record_bytes" and "or later" in info.value.location


def test_a_ragged_row_before_a_long_one_is_reported_once(tmp_path: Path) -> None:
    path, _ = _big_csv(tmp_path, 500_000, 5 << 20, ragged_at=10)
    with pytest.raises(InvalidRecords) as info:
        read(path, route(CSV, {"n": {}, "name": {}}))
    assert [(i.location, i.rule) for i in info.value.issues] == [("row 12", "columns")]
    assert info.value.error_count == 1
