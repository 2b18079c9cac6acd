"""What the message broker sources (``nats:``, ``rabbitmq:``) share: each poll lands a batch
of messages as one JSON Lines file in ``.tradelane/broker/<route>/``, which is then an
ordinary local file, and the batch's messages are acknowledged to the broker only once the
file's outcome is recorded in the ledger (``after_delivery``/``after_reject``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelane.abc import PostAction
from tradelane.models import Entry
from tradelane.paths import FolderSyncs
from tradelane.sources.local import LocalSource

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord
    from tradelane.spec import RouteSpec, Settings
    from tradelane.staging import Staged


class LandingSource(LocalSource):
    """A broker source: ``_land`` writes this poll's batches into ``self.folder``, ``_ack``
    acknowledges the messages of the batch file ``name``."""

    def __init__(self, route: RouteSpec, settings: Settings):
        landing = settings.path(".tradelane") / "broker" / route.name
        landing.mkdir(parents=True, exist_ok=True)
        super().__init__(route, settings, folder=str(landing))
        self.broker: Any = route.source

    def entries(self) -> list[Entry]:
        self._land()
        return super().entries()

    def after_delivery(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                       syncs: FolderSyncs | None = None) -> PostAction:
        self._ack(record.name)
        return super().after_delivery(record, staged, archive_to, syncs)

    def after_reject(self, record: FileRecord) -> PostAction:
        self._ack(record.name)
        return super().after_reject(record)

    def _land(self) -> None:
        raise NotImplementedError

    def _ack(self, name: str) -> None:
        raise NotImplementedError


def json_line(data: bytes) -> bytes:
    """A message as one JSON Lines line: a JSON object as it came, anything else wrapped."""
    try:
        value = json.loads(data)
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        pass
    return json.dumps({"data": data.decode("utf-8", "replace")},
                      separators=(",", ":")).encode()
