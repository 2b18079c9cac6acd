"""The stream between reader and target: a big file is read and checked one batch ahead of
its target in a helper thread, and split never loses records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from support.project import CSV_ROUTE, ProjectDir
from tradelane.checking import Checked, checked_batches, one_ahead
from tradelane.errors import InvalidRecords, MalformedInput
from tradelane.logs import ContextFilter, bind
from tradelane.models import Document, Outcome
from tradelane.pipeline import READ_AHEAD_FROM
from tradelane.spec import RouteSpec


def test_items_arrive_in_order_and_an_error_where_it_was_raised() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise MalformedInput("broken after five", location="row 6")

    seen = []
    with pytest.raises(MalformedInput, match="broken after five"):
        for item in one_ahead(source()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    stream = one_ahead(source())
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()  # the target failed, say
    assert closed.is_set()  # the producer thread has ended, and its source was closed
    assert len(produced) <= 4  # one in hand, one queued, one being made


def test_the_producer_logs_with_the_callers_context(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tradelane.test")
    caplog.handler.addFilter(ContextFilter())

    def source() -> Iterator[int]:
        log.warning("reading ahead")
        yield 1

    with caplog.at_level(logging.WARNING), bind(route="orders", file="big.csv"):
        assert list(one_ahead(source())) == [1]
    [record] = [r for r in caplog.records if r.getMessage() == "reading ahead"]
    assert record.threadName == "read-ahead"
    assert (record.route, record.file) == ("orders", "big.csv")


def test_big_files_are_delivered_or_located_exactly(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    row = "PO-{};5;9,50;01.12.2026;open\n"
    count = READ_AHEAD_FROM // len(row.format(100000)) + 50_000
    good = "Order;Qty;Price;ShipDate;Status\n" + "".join(row.format(i) for i in range(count))
    bad = good + "PO-x;5;9,50;01.12.2026;open\n"
    assert len(good) > READ_AHEAD_FROM
    project.drop("orders", "good.csv", good)
    project.drop("orders", "bad.csv", bad)
    results = {r.name: r for r in project.run().results}
    assert results["good.csv"].outcome == Outcome.DELIVERED
    assert results["good.csv"].records == count
    assert results["bad.csv"].outcome == Outcome.QUARANTINED
    assert f"row {count + 1} (line {count + 2})" in results["bad.csv"].message


def test_split_never_drops_records_it_cannot_write_back() -> None:
    """A reader that gives no source rows: the file is rejected whole, with its issues."""
    route = RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": {"type": "x12"},
        "fields": {"qty": {"type": "integer"}}, "on_invalid": "split",
        "target": {"folder": "out"}})
    records = pa.table({"qty": pa.array(["1", "x"], pa.string())})
    doc = Document(header={}, records=records, locate=lambda row: f"record {row + 1}")
    checked = Checked()
    with pytest.raises(InvalidRecords) as info:
        list(checked_batches([doc], route, checked, limit=10))
    assert info.value.error_count == 1 and info.value.issues[0].location == "record 2"


def test_notes_are_kept_once_and_a_few_of_them_with_a_count_of_the_rest() -> None:
    """A file of many batches, or of thousands of failed messages, keeps a short event."""
    checked = Checked()
    for _ in range(3):  # every batch of a file carries the file's notes again
        checked.note([f"note {i}" for i in range(25)])
    assert checked.notes[:20] == [f"note {i}" for i in range(20)]
    assert checked.notes[20:] == ["… and 5 more notes"]
