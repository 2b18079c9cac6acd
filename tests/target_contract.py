"""The contract every ``Target`` keeps, as one test suite run against each implementation.

A subclass provides ``target_spec(tmp_path)`` (the route's ``target:`` block), ``settings``
(``tradelane.yaml`` options, e.g. connections) and ``seen(tmp_path)``: what the consumer
downstream can see now, as ``{name: bytes}`` (files in the folder, requests the API
processed). The records come from a real CSV through the real reader and checks, so the
suite does not depend on how a ``Document`` holds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradelane.abc import DeliveryContext, Target
from tradelane.checking import Checked, checked_batches
from tradelane.errors import InvalidRecords
from tradelane.formats import reader_for
from tradelane.models import Document, Issue
from tradelane.spec import RouteSpec, Settings
from tradelane.staging import Staged
from tradelane.targets import target_for

CSV = b"order,qty\nA1,3\nA2,5\n"


class TargetContract:
    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def settings(self, tmp_path: Path) -> dict[str, Any]:
        return {}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    def route(self, tmp_path: Path) -> RouteSpec:
        return RouteSpec.model_validate({
            "name": "contract",
            "source": {"folder": str(tmp_path / "inbox")},
            "format": {"type": "csv"},
            "fields": {"order": {"required": True}, "qty": {"type": "integer"}},
            "target": self.target_spec(tmp_path),
        })

    def target(self, tmp_path: Path) -> Target:
        return target_for(self.route(tmp_path),
                          Settings.model_validate({**self.settings(tmp_path), "root": tmp_path}))

    def batches(self, tmp_path: Path, data: bytes = CSV) -> Iterator[Document]:
        route = self.route(tmp_path)
        return checked_batches(reader_for(route).read(Staged(size=len(data), data=data),
                                                      route), route, Checked(), limit=100)

    ledger: Any = None  # for targets that keep an outbox in the ledger
    file_id = 7

    def ctx(self) -> DeliveryContext:
        return DeliveryContext(file_id=self.file_id, route="contract",
                               original_name="ORD 0412.csv", sha256="ab" * 32,
                               received_at=datetime(2026, 4, 12, tzinfo=UTC), ledger=self.ledger)

    def deliver(self, tmp_path: Path, target: Target | None = None,
                batches: Iterator[Document] | None = None) -> Any:
        own = target is None
        target = target or self.target(tmp_path)
        try:
            return target.deliver(batches or self.batches(tmp_path), self.ctx())
        finally:
            if own:
                target.close()

    # -- the contract ------------------------------------------------------------------------

    def test_a_delivery_is_visible_whole(self, tmp_path: Path) -> None:
        delivery = self.deliver(tmp_path)
        assert delivery.records == 2
        [data] = self.seen(tmp_path).values()
        assert b"A1" in data and b"A2" in data

    def test_a_failed_delivery_leaves_nothing_visible(self, tmp_path: Path) -> None:
        def good_then_invalid() -> Iterator[Document]:
            yield from self.batches(tmp_path)
            raise InvalidRecords([Issue("row 3", "qty", "x", "type", "qty: not a number")],
                                 error_count=1)

        with pytest.raises(InvalidRecords):
            self.deliver(tmp_path, batches=good_then_invalid())
        assert self.seen(tmp_path) == {}

    def test_a_retry_gives_the_same_name_and_bytes(self, tmp_path: Path) -> None:
        first = self.deliver(tmp_path)
        before = self.seen(tmp_path)
        again = self.deliver(tmp_path)  # a new target, as after a crash
        assert again.target == first.target and again.records == first.records
        assert self.seen(tmp_path) == before and len(before) == 1

    def test_a_second_delivery_of_the_same_output_is_a_no_op(self, tmp_path: Path) -> None:
        target = self.target(tmp_path)
        try:
            self.deliver(tmp_path, target)
            before = self.seen(tmp_path)
            self.deliver(tmp_path, target)
        finally:
            target.close()
        assert self.seen(tmp_path) == before
