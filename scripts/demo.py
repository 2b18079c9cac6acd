"""`make demo`: a nightly batch on the sample partner files in examples/.

Starts from a clean slate (runtime folders and ledger of this checkout), copies every sample
into inbox/<route>/, runs `tradelane run --once`, then shows what was delivered, what was
quarantined and why. Some samples are bad on purpose: quarantining them is the point.
Then the partner exchange (scripts/demo_exchange.py, demo/): an AS2 message to a second
tradelane project on loopback, and a PGP-encrypted file fetched over SFTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRADELANE = [str(Path(sys.executable).parent / "tradelane"), "--project", str(ROOT)]


def main() -> int:
    reset()
    copied = copy_samples()
    print(f"Copied {copied} sample files from examples/ into inbox/.")
    database = copy_for_database()
    events = setup_events()
    print()
    print("$ tradelane run --once")
    run = subprocess.run([*TRADELANE[:1], "run", "--once", *TRADELANE[1:]], check=False,
                         env={**os.environ, "TRADELANE_DEMO_RABBITMQ_PASSWORD": "guest"})
    print(f"(exit status {run.returncode}: 0 = all delivered, 3 = some quarantined)\n")
    if run.returncode not in (0, 3):
        print("The demo run did not behave as designed.")
        return 1
    delivered = sorted(p.relative_to(ROOT) for p in (ROOT / "outbox").rglob("*")
                       if p.is_file() and p.name != ".gitkeep")
    print("Delivered:")
    for path in delivered:
        print(f"  {path}")
    if database:
        print(f"  PostgreSQL table erp_items: {count_rows()} rows (route erp_items_to_db)")
    if events:
        print("\n\"delivered\" events on RabbitMQ ($ .venv/bin/python scripts/print_events.py"
              " --drain):")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "print_events.py"), "--drain"],
                       check=False)
    listing = subprocess.run([*TRADELANE[:1], "quarantine", "list", "--json", *TRADELANE[1:]],
                             capture_output=True, text=True, check=True)
    rejects = json.loads(listing.stdout)
    print("\nQuarantined (each with a .reason.json beside it):")
    for item in rejects:
        print(f"  [{item['id']}] {item['route']}/{item['name']}: {item['message']}")
    if rejects:
        first = rejects[0]["id"]
        print(f"\nInspect a rejection:   .venv/bin/tradelane quarantine show {first}")
        print(f"Fix it, then:          .venv/bin/tradelane quarantine reprocess {first}")
        print("Full trail of a file:  .venv/bin/tradelane history 1")
    ok = bool(delivered) and bool(rejects) and run.returncode == 3
    ok = partner_exchange() and ok
    return 0 if ok else 1


def partner_exchange() -> bool:
    """Two tradelane projects on loopback (scripts/demo_exchange.py): AS2 with a signed MDN,
    and a PGP-encrypted SFTP drop. Its peers are stopped before this returns."""
    from demo_exchange import Exchange, exchange_ok, print_report

    print("\nPartner exchange (demo/): our transports project sends an INVOIC over AS2 to the"
          " retailer's own\ntradelane and fetches the retailer's PGP-encrypted orders from its"
          " SFTP server.")
    print("$ tradelane run --once -C .tradelane/demo/transports")
    try:
        report = Exchange(ROOT / ".tradelane" / "demo", TRADELANE[0]).run()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:  # DemoError too
        print(f"The partner exchange did not behave as designed: {exc}")
        return False
    print_report(report, ROOT)
    if not exchange_ok(report):
        print("The partner exchange did not behave as designed (see above).")
        return False
    return True


def reset() -> None:
    shutil.rmtree(ROOT / ".tradelane", ignore_errors=True)
    for folder in ("inbox", "outbox", "archive", "quarantine"):
        for child in (ROOT / folder).glob("*"):
            if child.name == ".gitkeep":
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def copy_samples() -> int:
    count = 0
    an_hour_ago = time.time() - 3600  # older than every route's min_age: ready at once
    for sample in sorted((ROOT / "examples").glob("*/*")):
        if not sample.is_file():
            continue
        dest = ROOT / "inbox" / sample.parent.name / sample.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, dest)
        os.utime(dest, (an_hour_ago, an_hour_ago))
        count += 1
    return count


def copy_for_database() -> bool:
    """The erp_items_to_db route loads the ERP export into PostgreSQL: its samples are copied
    only if the database answers, so the demo works without one."""
    from tradelane.database import connect
    from tradelane.spec import load_project

    (ROOT / "inbox" / "erp_items_to_db").mkdir(parents=True, exist_ok=True)  # polled anyway
    settings = load_project(ROOT).settings
    try:
        engine = connect(settings, "warehouse")
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any failure to connect: say so, skip the route
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
        print("PostgreSQL (connection 'warehouse' in tradelane.yaml) is not reachable"
              f" ({reason[0] if reason else type(exc).__name__}): the erp_items_to_db route"
              " is skipped.")
        return False
    an_hour_ago = time.time() - 3600
    for sample in sorted((ROOT / "examples" / "erp_items").glob("*.csv")):
        dest = ROOT / "inbox" / "erp_items_to_db" / sample.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, dest)
        os.utime(dest, (an_hour_ago, an_hour_ago))
    print("PostgreSQL is reachable: the erp_items_to_db route loads the ERP export into the"
          " table erp_items.")
    return True


def setup_events() -> bool:
    """tradelane.yaml publishes "delivered" events to RabbitMQ (amq.topic): the demo's
    consumer queue is declared first, so none is dropped. Without RabbitMQ the demo says so
    and goes on; the events wait in the ledger's outbox."""
    setup = subprocess.run([sys.executable, str(ROOT / "scripts" / "print_events.py"),
                            "--setup"], capture_output=True, text=True, check=False)
    if setup.returncode != 0:
        print(f"{setup.stdout.strip()}: the \"delivered\" events wait in the ledger's outbox"
              " and are published once it answers.")
        return False
    print("RabbitMQ is reachable: each delivery publishes an event (scripts/print_events.py"
          " prints them).")
    return True


def count_rows() -> int:
    from sqlalchemy import text

    from tradelane.database import connect
    from tradelane.spec import load_project

    engine = connect(load_project(ROOT).settings, "warehouse")
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM erp_items")).scalar_one())
    engine.dispose()
    return count


if __name__ == "__main__":
    sys.exit(main())
