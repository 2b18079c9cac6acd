"""The console's file list at volume: a ledger of 100,000 files, the time to render pages of
``/files`` through the app (FastAPI ``TestClient``: routing, session, role, query, template,
security headers), against the same two SQL statements alone through SQLAlchemy (the page's
``COUNT`` and its ``SELECT ... LIMIT``), so the ratio is what the page adds to its queries.

Runs on SQLite, and on PostgreSQL at postgresql+psycopg://postgres@127.0.0.1:5432/test (in
a throwaway schema) when that server answers. Target: every page under 300 ms.

    .venv/bin/python bench/console.py [--files 100000] [--repeat 15] [--no-postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tradelane.ledger import Ledger
from tradelane.ledger.tables import files
from tradelane.web import create_app
from tradelane.web.files import FileFilter, file_page

PG_URL = os.environ.get("TRADELANE_BENCH_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench password, not a secret"
ROUTE = """\
source: {{folder: inbox/{name}, pattern: "*.csv"}}
format: {{type: csv}}
fields: {{id: {{source: id}}}}
target: {{folder: outbox/{name}, format: json}}
"""
ROUTES = ("orders", "invoices", "despatch", "remittance")
STATES = ["archived"] * 15 + ["quarantined", "duplicate", "pending", "discarded", "lost"]
START = datetime(2026, 10, 1, tzinfo=UTC)
#: The pages timed: the first page as it opens, and filtered, sorted or deep ones.
PAGES = {
    "first page (newest 50)": "",
    "route + needs attention + 7 days": "route=orders&state=attention"
                                        "&since=2026-11-01&until=2026-11-07",
    "name contains, 200 per page": "name=_0042&per=200",
    "sha256 prefix": "sha256=ab1",
    "sorted by name, page 100": "sort=name&order=asc&page=100",
}


def seed(url: str, count: int) -> None:
    """``count`` files over 60 days, four routes, every state, written in chunks."""
    with Ledger(url) as ledger:
        step = timedelta(days=60) / count
        for first in range(0, count, 5000):
            rows = []
            for i in range(first, min(first + 5000, count)):
                route = ROUTES[i % len(ROUTES)]
                name = f"{route.upper()}_{i:07d}.csv"
                state = STATES[(i * 7) % len(STATES)]
                at = START + i * step
                rows.append({"route": route, "source": "inbox", "name": name,
                             "size": 1000 + i % 5000, "mtime_ns": i,
                             "sha256": hashlib.sha256(name.encode()).hexdigest(),
                             "state": state, "attempt": 1, "received_at": at,
                             "updated_at": at, "generation": 0,
                             "message": None if state == "archived"
                             else "3 problems in the data (qty.type)"})
            with ledger.engine.begin() as conn:
                conn.execute(files.insert(), rows)
        if ledger.engine.dialect.name == "postgresql":
            with ledger.engine.begin() as conn:
                conn.execute(text("ANALYZE files"))


def project(root: Path, url: str) -> Path:
    root.mkdir(parents=True)
    (root / "mappings").mkdir()
    for name in ROUTES:
        (root / "mappings" / f"{name}.yaml").write_text(ROUTE.format(name=name))
    (root / "tradelane.yaml").write_text(f"ledger: '{url}'\nconsole: {{user: ops}}\n")
    return root


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    call()  # warm: the template compiled, the pages of the database in memory
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(label: str, url: str, root: Path, count: int, repeat: int) -> bool:
    started = time.perf_counter()
    seed(url, count)
    print(f"\n{label}: {count:,} files written in {time.perf_counter() - started:.1f} s")
    os.environ["TRADELANE_CONSOLE_PASSWORD"] = PASSWORD
    app = create_app(project(root, url))
    engine = app.state.console.ledger.engine
    ok = True
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        login = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert token, "no CSRF token on the login page"
        answer = client.post("/login", data={"csrf_token": token.group(1), "username": "ops",
                                             "password": PASSWORD, "next": "/"})
        assert answer.status_code == 303, answer.text[:300]
        print(f"{'page':36} {'app median':>10} {'p90':>7} {'SQL alone':>10} {'ratio':>6}"
              f" {'rows':>5} {'matching':>9}")
        for name, query in PAGES.items():
            f = FileFilter.parse(query)
            page = file_page(engine, f)

            def get(q: str = query) -> None:
                response = client.get("/files?" + q)
                assert response.status_code == 200, response.text[:300]

            app_ms = timed(get, repeat)
            sql_ms = timed(lambda f=f: file_page(engine, f), repeat)
            median, base = statistics.median(app_ms), statistics.median(sql_ms)
            p90 = sorted(app_ms)[int(len(app_ms) * 0.9) - 1]
            ok &= p90 < 300
            print(f"{name:36} {median:8.1f}ms {p90:5.1f}ms {base:8.1f}ms {median / base:5.1f}x"
                  f" {len(page.rows):5} {page.total:9,}")
        # the dashboard: not a list, but it counts every file by route and state
        dash = timed(lambda: client.get("/?pause=1"), repeat)
        print(f"{'dashboard (/), for reference':36} {statistics.median(dash):8.1f}ms"
              f" {sorted(dash)[int(len(dash) * 0.9) - 1]:5.1f}ms")
    return ok


def postgres_url() -> tuple[str, Callable[[], None]] | None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        print(f"\nPostgreSQL: not reachable at {PG_URL} ({exc.orig}); skipped")
        admin.dispose()
        return None

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return f"{PG_URL}?options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="tradelane-bench-console-") as tmp:
        ok &= run("SQLite", f"sqlite:///{tmp}/ledger.db", Path(tmp) / "sqlite", args.files,
                  args.repeat)
        pg = None if args.no_postgres else postgres_url()
        if pg is not None:
            url, drop = pg
            try:
                ok &= run("PostgreSQL", url, Path(tmp) / "postgresql", args.files, args.repeat)
            finally:
                drop()
    print("\nevery page's p90 under 300 ms:", "yes" if ok else "NO")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
