"""The contract every ``Reader`` keeps, run against each format's reader on the golden inputs
(tests/cases) read through copies of the demo routes.

A reader is pure: the same bytes give the same records, whether the snapshot is held in
memory or sits in the spool. Whatever the bytes, it gives documents or raises a located
``RejectError``, never another exception. (tests/chaos/test_fuzz_readers.py hammers the same
promise with random and mutated inputs.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.project import REPO
from tradelane.errors import RejectError
from tradelane.formats import reader_for
from tradelane.spec import RouteSpec, load_route
from tradelane.staging import Staged

CASES = REPO / "tests" / "cases"
#: route -> the reader's format; invoic_out reads CSV and writes EDIFACT (a CSV reader case)
READERS = ["edifact_orders", "erp_items", "fixed_items", "shop_orders", "ubl_invoices",
           "x12_850"]


@pytest.fixture(params=READERS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[RouteSpec, bytes]:
    """The route (its mapping copied into a throwaway project) and its golden input."""
    name = request.param
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    problems: list[str] = []
    route = load_route(tmp_path / "mappings" / f"{name}.yaml", tmp_path, problems)
    assert route is not None, problems
    [sample] = (CASES / name).glob("input.*")
    return route, sample.read_bytes()


def _read(route: RouteSpec, staged: Staged) -> list[tuple[int, list[str]]]:
    """(records, column names) of each batch."""
    out = []
    for doc in reader_for(route).read(staged, route):
        columns = list(getattr(doc.records, "column_names", None) or doc.records.columns)
        out.append((len(doc.records), columns))
    return out


def test_a_good_file_gives_records_for_every_field(case: tuple[RouteSpec, bytes]) -> None:
    route, data = case
    batches = _read(route, Staged(size=len(data), data=data))
    assert sum(n for n, _ in batches) > 0
    assert all(set(route.fields) <= set(columns) for _, columns in batches)


def test_reading_is_pure_in_memory_or_from_the_spool(case: tuple[RouteSpec, bytes],
                                                     tmp_path: Path) -> None:
    route, data = case
    spooled = tmp_path / "spool.staged"
    spooled.write_bytes(data)
    in_memory = _read(route, Staged(size=len(data), data=data))
    assert _read(route, Staged(size=len(data), data=data)) == in_memory
    assert _read(route, Staged(size=len(data), path=spooled, in_spool=True)) == in_memory


@pytest.mark.parametrize("damage", ["garbage", "truncated", "binary"])
def test_damaged_bytes_give_records_or_a_located_reject(case: tuple[RouteSpec, bytes],
                                                        damage: str) -> None:
    route, data = case
    bad = {"garbage": b"<<<%%%>>>\n;;;\n", "truncated": data[: len(data) // 2],
           "binary": b"\x00\x1f\x8b\x08" + bytes(range(256))}[damage]
    try:
        _read(route, Staged(size=len(bad), data=bad))
    except RejectError as exc:
        assert exc.message and exc.issues, exc
        assert any(i.location for i in exc.issues), f"no location in {exc.issues}"
