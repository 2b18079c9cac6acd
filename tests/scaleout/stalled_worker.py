"""A worker for tests/scaleout/test_fencing.py, in its own process so it can be paused with
SIGSTOP: it claims a file, says so, waits for "go" on stdin, then records the delivery under
the claim it got (with an acknowledgement as its follow-up step) and prints what the ledger
said."""

from __future__ import annotations

import sys
from datetime import timedelta

from tradelane.errors import TradelaneError
from tradelane.ledger.store import FileRecord, Followup, Ledger, Move
from tradelane.models import FileRef, FileState


def main(url: str, name: str) -> None:
    ledger = Ledger(url, worker="worker-a", lease=timedelta(seconds=1))
    record = ledger.claim(FileRef("r", "inbox", name, 10, 1))
    assert isinstance(record, FileRecord)
    print(f"claimed {record.id} fence {record.fence}", flush=True)
    sys.stdin.readline()
    result = ledger.apply([Move(record.id, (FileState.CLAIMED,), FileState.DELIVERED,
                                "delivered by worker-a", fence=record.fence,
                                followups=(Followup("ack", {"path": "ack-a"}, b"a"),))])[0]
    if isinstance(result, TradelaneError):
        print(f"refused {type(result).__name__}: {result}", flush=True)
    else:
        print(f"recorded {result.state.value}", flush=True)
    ledger.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
