"""A worker for tests/scaleout/test_lease_renewal.py, in its own process so it can be paused
with SIGSTOP: it claims a file with a 1 s lease and keeps it (``LeaseKeeper``), says so, waits
for "go" on stdin, then asks the keeper whether the claim is still its own and prints it."""

from __future__ import annotations

import sys
from datetime import timedelta

from tradelane.errors import StaleClaim
from tradelane.ledger.lease_keeper import LeaseKeeper
from tradelane.ledger.store import FileRecord, Ledger
from tradelane.models import FileRef


def main(url: str, name: str) -> None:
    ledger = Ledger(url, worker="worker-a", lease=timedelta(seconds=1))
    record = ledger.claim(FileRef("r", "inbox", name, 10, 1))
    assert isinstance(record, FileRecord)
    keeper = LeaseKeeper(ledger)
    keeper.hold([record])
    print(f"claimed {record.id} fence {record.fence}", flush=True)
    sys.stdin.readline()
    try:
        keeper.check(record)
    except StaleClaim as exc:
        print(f"lost StaleClaim: {exc}", flush=True)
    else:
        print("still mine", flush=True)
    keeper.drop([record])
    ledger.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
