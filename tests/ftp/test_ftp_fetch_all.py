"""FtpSource.fetch_all: many files after one listing, each checked as fetch checks it."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from ftp_routes import make_route, make_settings

from support.vsftpd import Vsftpd
from tradelane.errors import FileNotReady, SourceUnavailable
from tradelane.sources.ftp import FtpSource
from tradelane.staging import Staged


def _drop(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def test_fetch_all_gives_each_file_or_its_own_error(ftpd: Vsftpd, remote_dir: Path,
                                                    tmp_path: Path) -> None:
    for i in range(5):
        _drop(remote_dir, f"ORD{i}.csv", f"order,qty\nA{i},1\n".encode())
    source = FtpSource(make_route(ftpd, remote_dir, order="name"),
                       make_settings(ftpd, tmp_path))
    with source:
        refs = source.list_ready()
        assert [r.name for r in refs] == [f"ORD{i}.csv" for i in range(5)]
        (remote_dir / "ORD1.csv").unlink()  # vanished
        (remote_dir / "ORD2.csv").unlink()
        (remote_dir / "ORD2.csv").symlink_to(tmp_path / "elsewhere")  # swapped for a link
        with open(remote_dir / "ORD3.csv", "ab") as out:  # grew
            out.write(b"A9,9\n")
        results = source.fetch_all([(ref, tmp_path / f"{i}.staged")
                                    for i, ref in enumerate(refs)])
    assert isinstance(results[0], Staged) and isinstance(results[4], Staged)
    assert results[4].sha256 == hashlib.sha256(b"order,qty\nA4,1\n").hexdigest()
    assert isinstance(results[1], FileNotReady) and "disappeared" in str(results[1])
    assert isinstance(results[2], FileNotReady) and "not a regular file" in str(results[2])
    assert isinstance(results[3], FileNotReady) and "changed since" in str(results[3])


def test_fetch_all_stops_at_the_deadline_after_the_first(ftpd: Vsftpd, remote_dir: Path,
                                                         tmp_path: Path) -> None:
    for i in range(3):
        _drop(remote_dir, f"ORD{i}.csv", b"order,qty\nA1,1\n")
    source = FtpSource(make_route(ftpd, remote_dir, order="name"),
                       make_settings(ftpd, tmp_path))
    with source:
        refs = source.list_ready()
        results = source.fetch_all([(ref, tmp_path / ref.name) for ref in refs],
                                   deadline=time.monotonic() - 1)
    assert isinstance(results[0], Staged) and results[1:] == [None, None]


def test_a_large_file_is_spooled_whole_with_its_sha256(ftpd: Vsftpd, remote_dir: Path,
                                                       tmp_path: Path) -> None:
    """Past 4 MB a helper thread writes the blocks, from 8 reused buffers (9 MB reuses them)."""
    data = os.urandom(9 << 20) + b"tail"
    _drop(remote_dir, "big.bin", data)
    source = FtpSource(make_route(ftpd, remote_dir), make_settings(ftpd, tmp_path))
    with source:
        [ref] = source.list_ready()
        staged = source.fetch(ref, tmp_path / "big.staged")
    assert staged.path == tmp_path / "big.staged" and staged.data is None
    assert staged.size == len(data) and staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.read_bytes() == data



def test_a_large_download_past_its_deadline_leaves_nothing_and_the_next_one_works(
        ftpd: Vsftpd, remote_dir: Path, tmp_path: Path) -> None:
    """The deadline is checked per block on the receiving thread; the transfer is ended at
    once, the part written is removed, and the source reconnects for the next file."""
    data = os.urandom(9 << 20)
    _drop(remote_dir, "big.bin", data)
    ticks = iter([0.0] * 100)
    source = FtpSource(make_route(ftpd, remote_dir), make_settings(ftpd, tmp_path),
                       clock=lambda: next(ticks, 1e9))
    with source:
        [ref] = source.list_ready()
        ticks = iter([0.0] * 4)  # the deadline's start, then three blocks in time
        with pytest.raises(SourceUnavailable, match=r"did not finish within.*of 9437184 bytes"):
            source.fetch(ref, tmp_path / "big.staged")
        assert not (tmp_path / "big.staged").exists()
        ticks = iter([0.0] * 100)
        staged = source.fetch(ref, tmp_path / "again.staged")
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
