"""A throwaway tradelane project folder, driven the way a user drives it."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tradelane.ledger import Ledger
from tradelane.runner import Runner, RunSummary
from tradelane.spec import Project, load_project

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
CORPUS = REPO.parent / "shared" / "corpus"


def copy_partners(root: Path) -> None:
    """The demo's partners/ into a project that copies its mappings: the EANCOM routes name
    ``partner: retailer``, which must be beside them."""
    shutil.copytree(REPO / "partners", root / "partners", dirs_exist_ok=True)


class ProjectDir:
    """A project folder on disk, driven the way a user drives it."""

    def __init__(self, root: Path, ledger_url: str | None = None):
        self.root = root
        self.ledger_url = ledger_url
        (root / "mappings").mkdir(parents=True, exist_ok=True)
        self.settings_text = ""

    def settings(self, text: str) -> ProjectDir:
        (self.root / "tradelane.yaml").write_text(textwrap.dedent(text))
        return self

    def route(self, name: str, spec: str) -> ProjectDir:
        (self.root / "mappings" / f"{name}.yaml").write_text(textwrap.dedent(spec))
        return self

    def file(self, relative: str, content: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def drop(self, route: str, name: str, content: str | bytes, *, age: float = 120) -> Path:
        """A partner file, written ``age`` seconds ago (older than min_age)."""
        path = self.file(f"inbox/{route}/{name}", content)
        then = time.time() - age
        os.utime(path, (then, then))
        return path

    def load(self) -> Project:
        return load_project(self.root)

    def ledger(self, worker: str = "test") -> Ledger:
        settings = self.load().settings  # opened as the CLI opens it
        return Ledger(self.ledger_url or settings.ledger_url, worker=worker,
                      lease=settings.lease)

    def run(self, routes: list[str] | None = None) -> RunSummary:
        project = self.load()
        with self.ledger() as ledger, Runner(project, ledger) as pipeline:
            return pipeline.run_once(routes)

    def outputs(self, route: str) -> list[Path]:
        folder = self.root / "outbox" / route
        return sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []

    def quarantined(self, route: str) -> list[Path]:
        folder = self.root / "quarantine" / route
        return sorted(p for p in folder.rglob("*") if p.is_file()
                      and not p.name.endswith(".reason.json"))

    def inbox(self, route: str) -> list[Path]:
        folder = self.root / "inbox" / route
        return sorted(p for p in folder.glob("*") if p.is_file())


CSV_ROUTE = """\
    source: {folder: inbox/orders, pattern: "*.csv", min_age: 1s}
    format: {type: csv, delimiter: ";", decimal: ","}
    fields:
      order_id: {source: Order, required: true, pattern: "PO-\\\\d+"}
      qty:      {source: Qty, type: integer, required: true, min: 1}
      price:    {source: Price, type: decimal, min: 0}
      ship_on:  {source: ShipDate, type: date, format: "%d.%m.%Y"}
      status:   {source: Status, enum: [open, closed]}
    target: {folder: outbox/orders, format: json, name: "{stem}.json"}
"""

GOOD_CSV = "Order;Qty;Price;ShipDate;Status\nPO-1;5;9,50;01.12.2026;open\nPO-2;1;100;;closed\n"


PG_URL = os.environ.get("TRADELANE_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_schema_url() -> Iterator[str]:
    """A throwaway schema on the real server, so parallel runs never see each other."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc.orig}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
