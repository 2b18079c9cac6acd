"""How files come down from an SFTP server: a large file through the pipelined reader, many
small files over several channels at once, and a connection dropped in the middle."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml
from paramiko.buffered_pipe import PipeTimeout

from support.sftp_routes import make_route, make_settings
from support.sshd import Sshd
from tradelane.errors import FileNotReady
from tradelane.sftp_client import ChunkPipe
from tradelane.sources.sftp import SftpSource
from tradelane.staging import Staged

ROUTE = """\
source: {sftp: acme, path: %(inbox)s, pattern: "*.csv", min_age: 1s, after: delete}
format: {type: csv, delimiter: ";"}
fields:
  order_id: {source: Order, required: true}
  qty: {source: Qty, type: integer, min: 1}
target: {folder: outbox/acme, format: json, name: "{stem}.json"}
"""


def aged(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def orders(first: int, count: int) -> bytes:
    return b"Order;Qty\n" + b"".join(b"PO-%d;%d\n" % (n, n % 9 + 1)
                                     for n in range(first, first + count))


def sftp_sessions(server: Sshd) -> int:
    """SFTP channels the server opened, from its own log."""
    return (server.base / "sshd.log").read_text(errors="replace").count("subsystem 'sftp'")


def project_for(project, server: Sshd, inbox: Path, **settings: object) -> None:
    project.settings(yaml.safe_dump({
        "connections": {"acme": {"sftp": server.connection(channel_timeout="5s",
                                                           retry_backoff="0.2s")}},
        **settings}))
    project.route("acme", ROUTE % {"inbox": inbox})


def test_large_download_is_byte_exact(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    # not a multiple of the 255 KiB requests, and big enough for the spool writer thread
    content = os.urandom((24 << 20) + 12345)
    aged(remote_dir / "big.bin", content)
    spool = tmp_path / "spool"
    with SftpSource(make_route(remote_dir), make_settings(sshd, tmp_path)) as src:
        [ref] = src.list_ready()
        staged = src.fetch(ref, spool)
    assert staged.path == spool and staged.size == len(content)
    assert staged.sha256 == hashlib.sha256(content).hexdigest()
    assert spool.read_bytes() == content


def test_a_file_cut_short_after_listing_is_not_taken(sshd: Sshd, remote_dir: Path,
                                                     tmp_path: Path) -> None:
    """The size that was listed is the size that must arrive: a file cut short is left for a
    later poll, with no spool copy."""
    big = aged(remote_dir / "big.bin", os.urandom(8 << 20))
    spool = tmp_path / "spool"
    with SftpSource(make_route(remote_dir), make_settings(sshd, tmp_path)) as src:
        [ref] = src.list_ready()
        os.truncate(big, 5 << 20)
        with pytest.raises(FileNotReady, match=r"big\.bin"):
            src.fetch(ref, spool)
    assert not spool.exists()


def test_fetching_together_gives_each_file_its_own_result(sshd: Sshd, remote_dir: Path,
                                                         tmp_path: Path) -> None:
    contents = {f"F{i:02d}.csv": os.urandom(2000 + i) for i in range(12)}
    for name, content in contents.items():
        aged(remote_dir / name, content)
    with SftpSource(make_route(remote_dir), make_settings(sshd, tmp_path)) as src:
        refs = src.list_ready()
        (remote_dir / "F05.csv").unlink()  # gone between the listing and the download
        results = src.fetch_all([(ref, tmp_path / ref.name) for ref in refs])
    assert [ref.name for ref in refs] == sorted(contents)
    for ref, result in zip(refs, results, strict=True):
        if ref.name == "F05.csv":
            assert isinstance(result, FileNotReady) and "disappeared" in str(result)
        else:
            assert isinstance(result, Staged), (ref.name, result)
            assert result.read_bytes() == contents[ref.name]
            assert result.sha256 == hashlib.sha256(contents[ref.name]).hexdigest()


def test_many_small_files_keep_their_own_outcomes(project, sshd: Sshd,
                                                  remote_dir: Path) -> None:
    """40 files fetched over several channels at once: each file's outcome, output and
    quarantine reason are its own."""
    inbox = remote_dir / "outbound"
    inbox.mkdir()
    for i in range(40):
        aged(inbox / f"ORD{i:02d}.csv", orders(i * 10, 3))
    aged(inbox / "ORD07.csv", b"Order;Qty\nPO-70;1\nPO-71;x\n")
    aged(inbox / "ORD13.csv", b"")
    aged(inbox / "ORD29.csv", orders(30, 3))  # the content of ORD03
    project_for(project, sshd, inbox)
    sessions = sftp_sessions(sshd)

    results = {r.name: r for r in project.run().results}

    assert sftp_sessions(sshd) - sessions > 1  # the files did come over several channels
    outcomes = {name: r.outcome.value for name, r in results.items()}
    special = {"ORD07.csv": "quarantined", "ORD13.csv": "quarantined",
               "ORD29.csv": "duplicate"}
    assert outcomes == {f"ORD{i:02d}.csv": special.get(f"ORD{i:02d}.csv", "delivered")
                        for i in range(40)}
    assert "line 3" in results["ORD07.csv"].message and "qty" in results["ORD07.csv"].message
    assert "empty" in results["ORD13.csv"].message
    assert "ORD03.csv" in results["ORD29.csv"].message
    for i in range(40):
        if f"ORD{i:02d}.csv" in special:
            continue
        out = project.root / "outbox" / "acme" / f"ORD{i:02d}.json"
        assert [r["order_id"] for r in json.loads(out.read_text())] == [
            f"PO-{n}" for n in range(i * 10, i * 10 + 3)]
    quarantined = {p.name.split("-", 1)[-1]: p.read_bytes() for p in project.quarantined("acme")}
    assert quarantined == {"ORD07.csv": b"Order;Qty\nPO-70;1\nPO-71;x\n", "ORD13.csv": b"",
                           "ORD29.csv": orders(30, 3)}
    assert list(inbox.iterdir()) == []


def test_connection_dropped_mid_download_delivers_nothing_half_and_retries(
        project, own_sshd: Sshd) -> None:
    """The server's session dies while a large file and many small ones come down: nothing
    half-fetched is delivered, no spool copy stays, and the next run delivers the rest,
    every file once."""
    inbox = own_sshd.root / "outbound"
    inbox.mkdir()
    big = orders(1000, 1_000_000)  # about 14 MB
    aged(inbox / "BIG.csv", big)
    for i in range(30):
        aged(inbox / f"ORD{i:02d}.csv", orders(i * 10, 3))
    project_for(project, own_sshd, inbox, retry_backoff="0s")
    spool = project.root / ".tradelane" / "spool"
    killed = threading.Event()

    def kill_sessions_when_started() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            copies = list(spool.glob("*.staged")) if spool.exists() else []
            if any(p.stat().st_size > (2 << 20) for p in copies if p.exists()):
                assert own_sshd.proc is not None
                for child in psutil.Process(own_sshd.proc.pid).children(recursive=True):
                    child.kill()  # the session, not the listener: reconnecting works
                killed.set()
                return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_sessions_when_started)
    killer.start()
    first = project.run().results
    killer.join()
    assert killed.is_set()
    outcomes = {r.name: r.outcome.value for r in first}
    assert outcomes["BIG.csv"] == "pending", first
    assert "BIG.json" not in {p.name for p in project.outputs("acme")}
    assert set(outcomes.values()) <= {"delivered", "pending"}

    second = project.run().results
    assert {r.name: r.outcome.value for r in second} == {
        name: "delivered" for name, outcome in outcomes.items() if outcome == "pending"}
    outputs = {p.name for p in project.outputs("acme")}
    assert outputs == {"BIG.json"} | {f"ORD{i:02d}.json" for i in range(30)}
    delivered = json.loads((project.root / "outbox" / "acme" / "BIG.json").read_text())
    assert len(delivered) == 1_000_000 and delivered[-1]["order_id"] == "PO-1000999"
    assert list(inbox.iterdir()) == []
    assert list(spool.glob("*")) == []
    assert project.run().results == []


def test_chunk_pipe_reads_like_paramikos_buffer() -> None:
    """The channel buffer installed on our SFTP channels: reads of any size across the chunks
    as they arrived, in order; a timeout when nothing comes; end of data once closed."""
    pipe = ChunkPipe()
    event = threading.Event()
    pipe.set_event(event)
    assert not event.is_set() and not pipe.read_ready() and len(pipe) == 0
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.01)
    for chunk in (b"abc", b"defgh", b"", b"ijklmnop"):
        pipe.feed(chunk)
    assert event.is_set() and pipe.read_ready() and len(pipe) == 16
    assert pipe.read(2) == b"ab"  # part of a chunk
    assert pipe.read(7) == b"cdefghi"  # across three chunks
    assert pipe.read(100) == b"jklmnop"  # less than asked: what there is
    assert not event.is_set() and len(pipe) == 0
    pipe.feed(b"qr")
    assert pipe.empty() == b"qr" and pipe.empty() == b""
    arrived = threading.Timer(0.05, pipe.feed, [b"late"])
    arrived.start()
    assert pipe.read(10, timeout=5) == b"late"  # a read waits for data from the transport
    pipe.feed(b"st")
    pipe.close()
    assert pipe.read(10) == b"st" and pipe.read(10) == b""  # then the end, at once
    assert event.is_set()
