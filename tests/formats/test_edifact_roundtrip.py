"""Read, then write back (issue 13): EDIFACT with repetitions, decimal commas and release
characters gives the same segments, token by token, through a route, and split out."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tradelane.checking import Checked, checked_batches
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_rejects import rejects_interchange
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.formats.edifact_text import render_segments
from tradelane.formats.edifact_writer import EdifactWriter
from tradelane.spec import RouteSpec

MESSAGE = [
    "UNH+1+ORDERS:D:03B:UN",
    "BGM+220+PO?+77?:A+9",
    "CTA+IC+:JOHN?'S DESK",
    "COM+0301?*555:TE*j@x?:y:EM",
    "LIN+1++4006381333931:SRS",
    "QTY+21:24,5",
    "PRI+AAA:3,49",
    "LIN+2++4006381333948:SRS",
    "QTY+21:12",
    "PRI+AAA:5,99",
    "UNS+S",
    "UNT+12+1",
]
HEAD = ["UNA:+,?*", "UNB+UNOC:4+SENDER:14+RECEIVER:14+20261125:0815+IC1"]
TEXT = "'\n".join([*HEAD, *MESSAGE, "UNZ+1+IC1"]) + "'\n"

ROUTE = {
    "name": "orders", "source": {"folder": "in"},
    "format": {"type": "edifact", "records": "LIN", "isolate_messages": True},
    "header": {"order": {"source": "BGM.C106.1004"}, "contact": {"source": "CTA[IC].2.2"},
               "phone": {"source": "COM.C076[1].3148"}, "email": {"source": "COM.C076[2].3148"}},
    "fields": {"gtin": {"source": "LIN.C212.7140"},
               "qty": {"source": "QTY[21].C186.6060", "type": "decimal"},
               "price": {"source": "PRI[AAA].C509.5118", "type": "decimal"}},
    "target": {"folder": "out", "format": "edifact", "edifact": {
        "message": ["ORDERS", "D", "03B", "UN"], "sender": "SENDER:14",
        "recipient": "RECEIVER:14", "syntax": "UNOC:4", "una": ":+,?*'",
        "header": ["BGM+220+{order}+9", "CTA+IC+:{contact}", "COM+{phone}:TE*{email}:EM"],
        "line": ["LIN+{line_no}++{gtin}:SRS", "QTY+21:{qty:g}", "PRI+AAA:{price:.2f}"],
        "summary": ["UNS+S"]}},
}


def write(tmp_path: Path, text: str, name: str = "in.edi") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    return path


def lines(text: str) -> list[str]:
    return [s for s in text.split("'\n") if s]


@pytest.mark.parametrize("fallback", [False, True])
def test_tokens_written_back_are_the_same_segments(tmp_path: Path, fallback: bool) -> None:
    text = TEXT.replace("SRS", "SRS\ufdd0") if fallback else TEXT  # forces the slow path
    path = tmp_path / "in.edi"
    path.write_bytes(text.replace("UNOC", "UNOW").encode("utf-8"))
    blocks = list(SegmentStream(path))
    assert all(b.parsed == fallback for b in blocks)
    segments = [b.elements(i) for b in blocks for i in range(len(b))]
    again = render_segments(segments, blocks[0].delims)
    assert lines(again) == lines(text.replace("UNOC", "UNOW"))


def test_a_route_reads_and_writes_back_the_same_message(tmp_path: Path) -> None:
    route = RouteSpec.model_validate(ROUTE)
    checked = Checked()
    docs = EdifactReader().read(write(tmp_path, TEXT), route)
    out = io.BytesIO()
    assert EdifactWriter().write(checked_batches(docs, route, checked, limit=10), out,
                                 route) == 2
    assert checked.error_count == 0, checked.issues
    written = lines(out.getvalue().decode("latin-1"))
    assert written[0] == "UNA:+,?*"  # the same service characters, the decimal comma
    assert written[1].startswith("UNB+UNOC:4+SENDER:14+RECEIVER:14+")
    assert written[2:-1] == MESSAGE  # repetitions, decimal commas, released characters
    [doc] = EdifactReader().read(write(tmp_path, out.getvalue().decode("latin-1"), "o.edi"),
                                 route)
    assert doc.header["email"].to_pylist() == ["j@x:y", "j@x:y"]
    assert doc.records["qty"].to_pylist() == ["24.5", "12"]


def test_a_split_out_message_keeps_its_segments(tmp_path: Path) -> None:
    bad = "'\n".join(MESSAGE).replace("UNH+1", "UNH+2").replace("UNT+12+1", "UNT+13+2")
    text = TEXT.replace("UNZ+1+IC1", bad + "'\nUNZ+2+IC1")
    route = RouteSpec.model_validate(ROUTE)
    [doc] = EdifactReader().read(write(tmp_path, text), route)
    [failed] = doc.failed
    rejects = rejects_interchange([failed.message]).decode("latin-1")
    assert lines(rejects)[0] == "UNA:+,?*"
    assert lines(rejects)[2:-1] == lines(bad + "'\n")
    fixed = rejects.replace("UNT+13+2", "UNT+12+2")
    [again] = EdifactReader().read(write(tmp_path, fixed, "fixed.edi"), route)
    assert again.header["phone"].to_pylist() == ["0301*555", "0301*555"]


def test_syntax_4_without_una_writes_star_repetitions_and_full_dates(tmp_path: Path) -> None:
    spec = {**ROUTE, "target": {**ROUTE["target"], "edifact": {
        **ROUTE["target"]["edifact"], "una": None, "prepared": "day",
        "header": ["BGM+220+{order}+9", "COM+{phone}:TE*{email}:EM"], "line": [],
        "summary": []}}}
    route = RouteSpec.model_validate(spec)
    doc = next(EdifactReader().read(write(tmp_path, TEXT), route))
    doc = doc.with_records(doc.records.append_column("day", pa.array(
        [date(2026, 11, 25)] * doc.records.num_rows)))
    out = io.BytesIO()
    EdifactWriter().write([doc], out, route)
    written = lines(out.getvalue().decode("latin-1"))
    assert written[0] == "UNA:+.?*"  # syntax 4: the repetition separator is declared
    assert written[1].split("+")[4] == "20261125:0000"  # syntax 4 dates are CCYYMMDD
    assert written[4] == "COM+0301?*555:TE*j@x?:y:EM"
    again = SegmentStream(write(tmp_path, out.getvalue().decode("latin-1"), "o.edi"))
    [com] = [s for b in again for s in (b.elements(i) for i in range(len(b))) if s[0] == "COM"]
    assert com == ["COM", [["0301*555", "TE"], ["j@x:y", "EM"]]]
