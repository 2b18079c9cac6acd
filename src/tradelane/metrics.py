"""Prometheus metrics, read from the ledger at each scrape.

A custom collector, not counters kept in memory: every process (each ``tradelane serve``, the
console) answers from the same database, so any of them can be scraped and they agree, and a
restart loses nothing. Each scrape runs a handful of aggregate queries (a few milliseconds on
a ledger of 100,000 files, measured in tests/web/test_metrics.py); nothing is cached.

Served by ``tradelane serve`` on its health port (``/metrics``, no login: it listens on
127.0.0.1) and by the console (a bearer token or a login).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Connection, case, func, literal, select
from sqlalchemy.exc import SQLAlchemyError

from tradelane.errors import LedgerUnavailable, TradelaneError
from tradelane.ledger.alerts import alerts
from tradelane.ledger.store import Ledger, utcnow
from tradelane.ledger.tables import events, files, runs
from tradelane.models import FileState

log = logging.getLogger("tradelane.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds from pickup to delivery: a blink, a large batch, a retry later, a fix next day.
DELIVERY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

def _seconds(dialect: str, end: Any, start: Any) -> ColumnElement[Any]:
    """``end - start`` in seconds, in SQL (the dialects disagree on date arithmetic)."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _epoch(dialect: str, value: Any) -> ColumnElement[Any]:
    """A stored UTC time as Unix seconds, in SQL."""
    if dialect == "sqlite":
        return (func.julianday(value) - 2440587.5) * 86400.0
    return func.extract("epoch", value)


#: A transition, not a note added to a file in the state it is in (same from and to state).
_moved = events.c.from_state.is_distinct_from(events.c.to_state)


#: Events older than this are final: no transaction of the ledger stays open that long, so
#: no row with a smaller id can still appear (ids are not committed in order on PostgreSQL).
SETTLED = timedelta(minutes=5)
_COUNTED = (FileState.DELIVERED.value, FileState.QUARANTINED.value)
Tally = dict[tuple[str, str], list[float]]  # (route, to_state) -> count, sum, bucket counts


class Transitions:
    """Deliveries and quarantines counted from the events table, which only grows.

    The first scrape counts every event; later ones only the events after the last settled
    one, plus the few of the last ``SETTLED`` minutes, counted afresh each time. So a scrape
    stays cheap on a ledger of millions of events, and each process still arrives at the
    same numbers (they are the table's, not this process's).
    """

    def __init__(self) -> None:
        self.upto = 0  # events up to this id are in ``settled``
        self.settled: Tally = {}
        self._lock = threading.Lock()  # scrapes may run in parallel threads

    def read(self, conn: Connection, dialect: str) -> Tally:
        with self._lock:
            cutoff = utcnow() - SETTLED
            first_fresh, last = conn.execute(
                select(func.min(case((events.c.at >= cutoff, events.c.id))),
                       func.max(events.c.id)).where(events.c.id > self.upto)).one()
            settle_to = first_fresh - 1 if first_fresh is not None else last
            if settle_to is not None and settle_to > self.upto:
                _add(self.settled, self._count(conn, dialect, self.upto, settle_to))
                self.upto = settle_to
            tally = {key: list(values) for key, values in self.settled.items()}
            _add(tally, self._count(conn, dialect, self.upto, None))
        return tally

    @staticmethod
    def _count(conn: Connection, dialect: str, after: int, upto: int | None) -> Tally:
        took = _seconds(dialect, events.c.at, files.c.received_at)
        buckets = [func.sum(case((took <= le, 1), else_=0)) for le in DELIVERY_BUCKETS]
        query = (select(files.c.route, events.c.to_state, func.count(), func.sum(took), *buckets)
                 .select_from(events.join(files, events.c.file_id == files.c.id))
                 .where(events.c.id > after, events.c.to_state.in_(_COUNTED), _moved)
                 .group_by(files.c.route, events.c.to_state))
        if upto is not None:
            query = query.where(events.c.id <= upto)
        return {(route, state): [float(v or 0) for v in values]
                for route, state, *values in conn.execute(query)}


def _add(into: Tally, more: Tally) -> None:
    for key, values in more.items():
        have = into.setdefault(key, [0.0] * len(values))
        for i, value in enumerate(values):
            have[i] += value


class LedgerCollector(Collector):
    """What the ledger says about routes, files, runs and alerts, as Prometheus metrics."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.scrape_errors = 0  # scrapes that could not read the ledger (this process)
        self.transitions = Transitions()

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        try:
            families = list(self._from_ledger())
            up = 1
        except (SQLAlchemyError, TradelaneError) as exc:
            # the scrape still answers: ledger_up 0 is what an alert rule looks for
            self.scrape_errors += 1
            log.error("metrics: the ledger cannot be read: %s",
                      exc.where if isinstance(exc, LedgerUnavailable) else type(exc).__name__)
            families, up = [], 0
        yield from families
        yield GaugeMetricFamily("tradelane_ledger_up", "1 when the ledger could be read for"
                                " this scrape, 0 when not.", value=up)
        yield CounterMetricFamily("tradelane_ledger_errors", "Scrapes of this process that"
                                  " could not read the ledger.", value=self.scrape_errors)
        yield GaugeMetricFamily("tradelane_scrape_duration_seconds", "How long reading these"
                                " metrics from the ledger took.",
                                value=time.monotonic() - started)

    def _from_ledger(self) -> Iterator[Metric]:
        dialect = self.ledger.engine.dialect.name
        with self.ledger.engine.connect() as conn:
            by_state = conn.execute(select(files.c.route, files.c.state, func.count())
                                    .group_by(files.c.route, files.c.state)).all()
            now_epoch = time.time()
            oldest = conn.execute(
                select(files.c.route, func.min(_epoch(dialect, files.c.received_at)))
                .where(files.c.state == FileState.PENDING.value)
                .group_by(files.c.route)).all()
            moved = self.transitions.read(conn, dialect)
            finished = runs.c.finished_at.is_not(None)
            success = conn.execute(
                select(runs.c.route, func.max(_epoch(dialect, runs.c.finished_at)))
                .where(finished, runs.c.error.is_(None)).group_by(runs.c.route)).all()
            latest = select(func.max(runs.c.id)).where(finished).group_by(runs.c.route)
            last_pass = conn.execute(select(runs.c.route, runs.c.error.is_(None))
                                     .where(runs.c.id.in_(latest))).all()
            open_alerts = conn.execute(
                select(alerts.c.kind, func.coalesce(alerts.c.route, literal("")), func.count())
                .where(alerts.c.resolved_at.is_(None))
                .group_by(alerts.c.kind, alerts.c.route)).all()

        gauge = GaugeMetricFamily("tradelane_files", "Files in the ledger, by route and state.",
                                  labels=["route", "state"])
        for route, state, count in by_state:
            gauge.add_metric([route, state], count)
        yield gauge

        delivered = CounterMetricFamily("tradelane_deliveries", "Files delivered (a file"
                                        " reprocessed and delivered again counts again), by"
                                        " route.", labels=["route"])
        histogram = HistogramMetricFamily(
            "tradelane_processing_seconds", "From a file's pickup to its delivery (a file"
            " fixed in quarantine counts its time there), by route.", labels=["route"])
        quarantined = CounterMetricFamily(
            "tradelane_quarantines", "Times a file was put in quarantine (a reprocess that"
            " fails again counts again), by route.", labels=["route"])
        for (route, state), (count, total, *counts) in sorted(moved.items()):
            if state == FileState.QUARANTINED.value:
                quarantined.add_metric([route], count)
                continue
            delivered.add_metric([route], count)
            points = [(str(le), int(n)) for le, n in zip(DELIVERY_BUCKETS, counts, strict=True)]
            histogram.add_metric([route], [*points, ("+Inf", int(count))], sum_value=total)
        yield delivered
        yield histogram
        yield quarantined

        age = GaugeMetricFamily("tradelane_oldest_pending_age_seconds", "Age of the oldest"
                                " file waiting for a retry after a temporary problem.",
                                labels=["route"])
        for route, received in oldest:
            age.add_metric([route], max(0.0, now_epoch - float(received)))
        yield age

        last = GaugeMetricFamily("tradelane_last_success_timestamp_seconds", "When the last"
                                 " pass over a route finished without a source error (Unix"
                                 " time).", labels=["route"])
        for route, at in success:
            last.add_metric([route], float(at))
        yield last

        source = GaugeMetricFamily("tradelane_source_up", "1 when the last pass over a route"
                                   " reached its source, 0 when it could not list or fetch"
                                   " (a source error).", labels=["route"])
        for route, reached in last_pass:
            source.add_metric([route], 1 if reached else 0)
        yield source

        by_kind: dict[str, int] = {}
        overdue = GaugeMetricFamily("tradelane_route_overdue", "1 for each route whose"
                                    " expected file has not come (an open overdue alert).",
                                    labels=["route"])
        for kind, route, count in open_alerts:
            by_kind[kind] = by_kind.get(kind, 0) + count
            if kind == "overdue" and route:
                overdue.add_metric([route], 1)
        opened = GaugeMetricFamily("tradelane_open_alerts", "Open alerts, by kind.",
                                   labels=["kind"])
        for kind, count in sorted(by_kind.items()):
            opened.add_metric([kind], count)
        yield opened
        yield overdue
        yield GaugeMetricFamily("tradelane_overdue_routes", "Routes whose expected file has"
                                " not come.", value=len(overdue.samples))


class Metrics:
    """The exposition of one process: one collector over its ledger, in its own registry
    (never the global one, so tests and several apps in one process do not collide)."""

    def __init__(self, ledger: Ledger):
        self.collector = LedgerCollector(ledger)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    def exposition(self) -> bytes:
        """The Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "DELIVERY_BUCKETS", "LedgerCollector", "Metrics"]
