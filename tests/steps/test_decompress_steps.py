"""decompress (gzip, zip) before reading and compress after writing, through the real
pipeline, and every archive that must be refused: bombs, zip-slip, several members."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from support.project import ProjectDir
from tradelane.spec.steps import CompressStep, DecompressStep
from tradelane.staging import Staged
from tradelane.steps import StepContext, StepFailed
from tradelane.steps.decompress import Compress, Decompress

CSV = b"order,qty\nA1,3\nA2,5\n"


def _route(project: ProjectDir, steps: str, *, name: str = "orders",
           pattern: str = "*", output: str = "{stem}.json") -> None:
    project.route(name, f"""\
        source: {{folder: inbox/{name}, pattern: "{pattern}", min_age: 1s}}
        format: {{type: csv}}
        fields:
          order: {{required: true}}
          qty: {{type: integer}}
        target: {{folder: outbox/{name}, format: json, name: "{output}"}}
        steps:
        {steps}
        """)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _reason(project: ProjectDir, route: str = "orders") -> str:
    [reason] = (project.root / "quarantine" / route).rglob("*.reason.json")
    return json.dumps(json.loads(reason.read_text()))


def _orders(project: ProjectDir, route: str = "orders") -> list[str]:
    [out] = project.outputs(route)
    return [r["order"] for r in json.loads(out.read_text())]


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("ORD1.csv.gz", gzip.compress(CSV), "gzip"),
    ("ORD1.zip", _zip({"ORD1.csv": CSV}), "zip"),
    ("ORD1.gz", gzip.compress(CSV[:12]) + gzip.compress(CSV[12:]), "gzip"),  # two members
    ("ORD1.zip", _zip({"folder/": b"", "folder/ORD1.csv": CSV}), "auto"),
    ("ORD1.csv", CSV, "auto"),  # auto: an uncompressed file is read as it is
])
def test_a_compressed_file_is_read_unpacked(project: ProjectDir, name: str, data: bytes,
                                            kind: str) -> None:
    _route(project, f"  before_read: [{{decompress: {kind}}}]")
    project.drop("orders", name, data)
    [result] = project.run().results
    assert result.outcome.value == "delivered", result.message
    assert _orders(project) == ["A1", "A2"]
    archived = [p for p in (project.root / "archive").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in archived] == [data]  # the file as it was received
    assert not list((project.root / ".tradelane" / "spool").glob("*"))  # no leftovers


@pytest.mark.parametrize(("data", "reason"), [
    (_zip({"a.csv": CSV, "b.csv": CSV}),
     "the zip holds 2 files (a.csv, b.csv); a route reads one file per zip"),
    (_zip({"../../etc/cron.d/evil": CSV}), "'../../etc/cron.d/evil' that would reach outside"),
    (_zip({"/etc/passwd": CSV}), "'/etc/passwd' that would reach outside"),
    (_zip({}), "the zip holds 0 files"),
    (b"PK\x03\x04 this is not really a zip", "not a readable zip"),
    (gzip.compress(CSV)[:-12], "the file is truncated"),
    (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip data is corrupt"),
    (CSV, "the file is not gzip data"),
])
def test_a_bad_archive_is_quarantined_with_the_reason(project: ProjectDir, data: bytes,
                                                      reason: str) -> None:
    kind = "gzip" if reason.startswith(("the file is not gzip", "the file is trunc")) \
        or b"garbage" in data else "zip" if data.startswith(b"PK") else "gzip"
    _route(project, f"  before_read: [{{decompress: {kind}}}]")
    project.drop("orders", "ORD1.bin", data)
    [result] = project.run().results
    assert result.outcome.value == "quarantined"
    assert reason in result.message, result.message
    assert "decompress" in _reason(project)
    assert [p.read_bytes() for p in project.quarantined("orders")] == [data]  # as received
    assert project.outputs("orders") == []


def _reset_peak_rss() -> None:
    """Start the peak over from what is resident now: the test runner's earlier tests may
    have left a higher peak, which would hide this test's growth."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_a_bomb_is_refused_by_its_ratio_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    """200 MB of zeros packs into ~200 KB: refused once 1 MB is out at more than 200:1,
    long before the disk or memory fill."""
    zeros = b"\0" * (200 << 20)
    packed = gzip.compress(zeros, 1) if kind == "gzip" else _zip({"z.csv": zeros})
    del zeros
    _reset_peak_rss()
    before = _peak_rss_mb()
    step = Decompress(DecompressStep(decompress=kind), StepContext(tmp_path, tmp_path))
    with pytest.raises(StepFailed, match=r"more than max_ratio \(200\) times .* zip bomb"):
        step.apply(Staged(size=len(packed), data=packed), tmp_path / "out")
    assert _peak_rss_mb() - before < 50
    assert not (tmp_path / "out").exists()


def test_a_zip_that_declares_a_huge_member_is_refused_before_unpacking(tmp_path: Path) -> None:
    packed = _zip({"big.csv": b"x" * (3 << 20)})
    step = Decompress(DecompressStep(decompress="zip", max_size=1 << 20, max_ratio=10_000),
                      StepContext(tmp_path, tmp_path))
    with pytest.raises(StepFailed, match=r"more than max_size \(1,048,576 bytes\)"):
        step.apply(Staged(size=len(packed), data=packed), tmp_path / "out")


def test_max_size_counts_the_real_bytes_of_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(b"a,b\n" * 100_000)  # 400 kB: ratio below the 1 MB threshold
    step = Decompress(DecompressStep(decompress="gzip", max_size=100_000),
                      StepContext(tmp_path, tmp_path))
    with pytest.raises(StepFailed, match="max_size"):
        step.apply(Staged(size=len(packed), data=packed), tmp_path / "out")
    ok = Decompress(DecompressStep(decompress="gzip"), StepContext(tmp_path, tmp_path))
    assert ok.apply(Staged(size=len(packed), data=packed), tmp_path / "o2").read_bytes() \
        == b"a,b\n" * 100_000


def test_a_large_file_is_unpacked_to_the_spool_not_memory(tmp_path: Path) -> None:
    import os

    data = os.urandom(1 << 20).hex().encode() * 3  # 6 MB, packs about 2:1
    packed = tmp_path / "big.gz"
    packed.write_bytes(gzip.compress(data, 1))
    step = Decompress(DecompressStep(decompress="gzip"), StepContext(tmp_path, tmp_path))
    out = step.apply(Staged.file(packed), tmp_path / "out")
    assert out.data is None and out.path == tmp_path / "out" and out.size == len(data)
    assert out.read_bytes() == data


def test_compress_after_write_gives_the_same_bytes_on_a_retry(project: ProjectDir,
                                                            tmp_path: Path) -> None:
    _route(project, "  after_write: [{compress: gzip}]", output="{stem}.{ext}")
    project.drop("orders", "ORD1.csv", CSV)
    [result] = project.run().results
    assert result.outcome.value == "delivered", result.message
    [out] = project.outputs("orders")
    assert out.name == "ORD1.json.gz"  # {ext} grows by the step's extension
    assert [r["order"] for r in json.loads(gzip.decompress(out.read_bytes()))] == ["A1", "A2"]
    # no name and mtime 0 in the header: the same records give the same bytes on a retry
    step = Compress(CompressStep(compress="gzip"), StepContext(tmp_path, tmp_path))
    plain = gzip.decompress(out.read_bytes())
    again = step.apply(Staged(size=len(plain), data=plain), tmp_path / "again")
    assert again.read_bytes() == out.read_bytes()


def test_steps_in_the_wrong_list_are_refused(project: ProjectDir) -> None:
    from tradelane.errors import ConfigError

    _route(project, "  before_read: [{compress: gzip}]")
    with pytest.raises(ConfigError, match="compress belongs in after_write"):
        project.load()
