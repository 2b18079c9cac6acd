"""Fuzzing every reader: whatever the bytes, a reader (and the validation and transform after
it) yields documents or raises a located RejectError: never another exception, never past
5 seconds, never past a memory limit.

Inputs are arbitrary bytes and mutations (byte flips, truncations, insertions, duplicated
runs) of the real files in tests/data/ and tests/cases/, read through the demo routes and
a few plain ones. Each input runs in ``fuzz_worker.py``, a separate process whose address
space is limited with ``RLIMIT_AS`` (see there), so a reader that would need gigabytes fails
there with a MemoryError instead of taking the machine down.

The suite runs a fixed, modest budget (derandomized, so the same inputs every run). For a
longer, random campaign::

    TRADELANE_FUZZ_EXAMPLES=3000 TRADELANE_FUZZ_RANDOM=1 TRADELANE_FUZZ_SAVE=1 \
        .venv/bin/pytest tests/chaos -q -x

Every failure found is kept (``TRADELANE_FUZZ_SAVE=1`` writes it): its input as a file
under ``regressions/<route>/``, read again by ``test_regressions``.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.project import REPO, copy_partners

HERE = Path(__file__).parent
REGRESSIONS = HERE / "regressions"
EXAMPLES = int(os.environ.get("TRADELANE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=not os.environ.get("TRADELANE_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

EXTRA_ROUTES = {
    "plain_csv": """\
        source: {folder: inbox/plain_csv, pattern: "*.csv"}
        format: {type: csv}
        fields: {a: {}, b: {type: integer}, c: {type: date}, Date: {}, Open: {type: decimal}}
        on_invalid: split
        target: {folder: outbox/plain_csv, format: csv}
    """,
    "orders_jsonl": """\
        source: {folder: inbox/orders_jsonl, pattern: "*.jsonl"}
        format: {type: jsonl}
        fields:
          id: {required: true}
          qty: {type: integer}
          unit_price: {type: decimal}
          ordered_at: {type: datetime}
          country: {source: customer.country}
        on_invalid: split
        target: {folder: outbox/orders_jsonl, format: json}
    """,
    "any_xml": """\
        source: {folder: inbox/any_xml, pattern: "*.xml"}
        format:
          type: xml
          records: cac:OrderLine
          namespaces:
            cac: urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2
            cbc: urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2
        header:
          order: {source: "cbc:ID"}
          buyer: {source: "//cac:BuyerCustomerParty//cbc:Name"}
        fields:
          line: {source: "cac:LineItem/cbc:ID"}
          qty: {source: "cac:LineItem/cbc:Quantity", type: decimal}
          unit: {source: "cac:LineItem/cbc:Quantity/@unitCode"}
        on_invalid: split
        target: {folder: outbox/any_xml, format: csv}
    """,
    "any_edifact": """\
        source: {folder: inbox/any_edifact, pattern: "*.edi"}
        format: {type: edifact, isolate_messages: true}
        header: {ref: {source: "BGM.C106.1004"}, sender: {source: "UNB.S002.0004"}}
        fields: {code: {source: "NAD.C082.3039"}, qty: {source: "QTY.C186.6060"}}
        on_invalid: split
        target: {folder: outbox/any_edifact, format: json}
    """,
    "any_x12": """\
        source: {folder: inbox/any_x12, pattern: "*.x12"}
        format: {type: x12}
        header: {ref: {source: "BEG.3"}}
        fields: {first: {source: "ST.1"}, name: {source: "N1.2"}}
        target: {folder: outbox/any_x12, format: json}
    """,
}


def _files(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in REPO.glob(pattern) if p.is_file())


def _jsonl_corpus(tmp: Path) -> list[Path]:
    orders = json.loads((REPO / "tests/cases/shop_orders/input.json").read_text())["orders"]
    path = tmp / "orders.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in orders))
    return [path]


#: route -> the files whose mutations it reads
CORPUS = {
    "erp_items": _files("tests/cases/erp_items/input.csv", "examples/erp_items/*.csv"),
    "plain_csv": _files("tests/data/csv/*.csv"),
    "shop_orders": _files("tests/cases/shop_orders/input.json", "examples/shop_orders/*"),
    "orders_jsonl": [],  # made from the shop orders, see the fixture
    "ubl_invoices": _files("tests/cases/ubl_invoices/input.xml", "tests/data/xml/*Invoice*"),
    "any_xml": _files("tests/data/xml/*Order*"),
    "edifact_orders": _files("tests/cases/edifact_orders/input.edi",
                             "examples/edifact_orders/*.edi"),
    "any_edifact": _files("tests/data/edifact/*"),
    "x12_850": _files("tests/cases/x12_850/input.x12"),
    "any_x12": _files("tests/data/x12/*"),
    "fixed_items": _files("tests/cases/fixed_items/input.txt", "examples/fixed_items/*"),
}


class Worker:
    """The fuzz worker process; started again after an input killed it."""

    def __init__(self, project: Path):
        self.project = project
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(HERE / "fuzz_worker.py"), str(self.project)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self._answer(proc, 60)
        assert ready and ready.get("ready"), ready
        return proc

    @staticmethod
    def _answer(proc: subprocess.Popen[bytes], seconds: float) -> dict[str, Any] | None:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], seconds)
        line = proc.stdout.readline() if readable else b""
        return json.loads(line) if line else None

    def run(self, route: str, data: bytes) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        for part in (route.encode(), data):
            self.proc.stdin.write(struct.pack(">I", len(part)) + part)
        self.proc.stdin.flush()
        answer = self._answer(self.proc, 20)
        if answer is None:  # stuck where no signal reaches Python, or killed
            died = self.proc.poll()
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return {"outcome": "timeout" if died is None else "died", "returncode": died}
        return answer

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    project = tmp_path_factory.mktemp("fuzz")
    shutil.copy(REPO / "tradelane.yaml", project / "tradelane.yaml")
    shutil.copytree(REPO / "mappings", project / "mappings")
    copy_partners(project)
    for name, text in EXTRA_ROUTES.items():
        (project / "mappings" / f"{name}.yaml").write_text(textwrap.dedent(text))
    CORPUS["orders_jsonl"] = _jsonl_corpus(project)
    w = Worker(project)
    yield w
    w.close()


def check(worker: Worker, route: str, data: bytes) -> None:
    answer = worker.run(route, data)
    good = answer["outcome"] == "ok" or (answer["outcome"] == "reject" and answer["located"])
    if not good and os.environ.get("TRADELANE_FUZZ_SAVE"):  # a campaign keeps what it found
        folder = REGRESSIONS / route
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{hashlib.sha256(data).hexdigest()[:12]}.bin").write_bytes(data)
    assert answer["outcome"] in ("ok", "reject"), f"{route}: {answer}"
    assert good, f"{route}: a reject without a location: {answer}"


def mutate(data: bytes, edits: list[tuple[int, float, int, int]]) -> bytes:
    """Byte flips, truncations, insertions and duplicated runs, at relative positions."""
    out = bytearray(data)
    for kind, where, size, byte in edits:
        at = int(where * len(out)) if out else 0
        if kind == 0 and out:  # flip one byte
            out[min(at, len(out) - 1)] ^= byte or 0x80
        elif kind == 1:  # truncate
            del out[at:]
        elif kind == 2:  # insert bytes
            out[at:at] = bytes([byte]) * size
        elif kind == 3:  # duplicate a run
            out[at:at] = out[at:at + size]
        else:  # delete a run
            del out[at:at + size]
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.integers(1, 64),
                           st.integers(0, 255)), min_size=1, max_size=6)
ROUTES = sorted(CORPUS)


@pytest.mark.parametrize("route", ROUTES)
@FUZZ
@given(data=st.data())
def test_mutated_real_files(worker: Worker, route: str, data: st.DataObject) -> None:
    corpus = CORPUS[route]
    assert corpus, f"no corpus for {route}"
    source = data.draw(st.sampled_from(corpus), label="file")
    check(worker, route, mutate(source.read_bytes(), data.draw(EDITS, label="edits")))


@pytest.mark.parametrize("route", ROUTES)
@FUZZ
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes(worker: Worker, route: str, raw: bytes) -> None:
    check(worker, route, raw)


def _regressions() -> list[tuple[str, Path]]:
    if not REGRESSIONS.exists():
        return []
    return [(p.parent.name, p) for p in sorted(REGRESSIONS.glob("*/*")) if p.is_file()]


@pytest.mark.parametrize("route, path", _regressions(),
                         ids=[f"{r}/{p.name}" for r, p in _regressions()])
def test_regressions(worker: Worker, route: str, path: Path) -> None:
    """Every input the fuzzer found a failure with, read again."""
    check(worker, route, path.read_bytes())
