"""SftpSource against a real OpenSSH sshd: security, failures, and the awkward cases."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from source_contract import record_for
from support.sftp_routes import make_route, make_settings
from support.sshd import Sshd, keygen
from tradelane.errors import (
    AuthenticationRefused,
    ConfigError,
    HostKeyRejected,
    SourceUnavailable,
)
from tradelane.sources.sftp import SftpSource


def old(path: Path, content: bytes = b"order,qty\nA1,3\n") -> Path:
    path.write_bytes(content)
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def source(server: Sshd, folder: Path, tmp_path: Path, conn=None, **spec) -> SftpSource:
    return SftpSource(make_route(folder, **spec), make_settings(server, tmp_path, **(conn or {})))


def test_lists_and_fetches(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    old(remote_dir / "ORD1.csv", b"x" * 5000)
    old(remote_dir / "ORD1.csv.part")
    with source(sshd, remote_dir, tmp_path, min_age="5s") as src:
        refs = src.list_ready()
        assert [r.name for r in refs] == ["ORD1.csv"]
        assert refs[0].uri == f"sftp://acme{remote_dir}/ORD1.csv"
        staged = src.fetch(refs[0], tmp_path / "spool")
    assert staged.sha256 == hashlib.sha256(b"x" * 5000).hexdigest()
    assert staged.read_bytes() == b"x" * 5000
    assert not (tmp_path / "spool").exists()  # a small file is held in memory


def test_undecodable_name_is_listed_with_its_bytes(sshd: Sshd, remote_dir: Path,
                                                   tmp_path: Path) -> None:
    """A Latin-1 name is not skipped: it is listed (escaped, with its raw bytes) and can be
    fetched, so the pipeline can quarantine it under a safe name instead of ignoring it."""
    old(remote_dir / "good.csv")
    raw = os.fsencode(remote_dir) + b"/caf\xe9.csv"
    with open(raw, "wb") as fh:
        fh.write(b"x,y\n")
    os.utime(raw, (time.time() - 60, time.time() - 60))
    with source(sshd, remote_dir, tmp_path) as src:
        refs = src.list_ready()
        assert [(r.name, r.raw_name) for r in refs] == [("caf\\xe9.csv", b"caf\xe9.csv"),
                                                        ("good.csv", None)]
        assert src.fetch(refs[0], tmp_path / "spool").read_bytes() == b"x,y\n"


def test_done_marker(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    old(remote_dir / "a.edi")
    old(remote_dir / "b.edi")
    old(remote_dir / "b.edi.done", b"")
    with source(sshd, remote_dir, tmp_path, done_marker="{name}.done", min_age="1h") as src:
        [ref] = src.list_ready()
        assert ref.name == "b.edi"
        staged = src.fetch(ref, tmp_path / "b")
        src.after_delivery(record_for(ref, staged.sha256), staged, tmp_path / "archive" / "b")
    assert sorted(p.name for p in remote_dir.iterdir()) == ["a.edi"]  # the marker went too


def test_stable_needs_two_listings(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    old(remote_dir / "a.csv")
    src = source(sshd, remote_dir, tmp_path, stable=True, min_age="0.3s")
    with src:
        assert src.list_ready() == []
    time.sleep(0.4)
    with src:  # the next poll: a new connection, the same source object
        assert [r.name for r in src.list_ready()] == ["a.csv"]


def test_finish_move(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    old(remote_dir / "a.csv")
    (remote_dir / "done").mkdir()
    with source(sshd, remote_dir, tmp_path, after="move", move_to=str(remote_dir / "done")) as src:
        [ref] = src.list_ready()
        src.move_to(ref, str(remote_dir / "done"))
    assert (remote_dir / "done" / "a.csv").exists() and not (remote_dir / "a.csv").exists()


def test_unknown_host_key_is_refused_and_shows_the_fingerprint(
    own_sshd: Sshd, tmp_path: Path
) -> None:
    old(own_sshd.root / "a.csv")
    own_sshd.known_hosts.write_text("")
    with pytest.raises(HostKeyRejected) as info, source(own_sshd, own_sshd.root, tmp_path):
        pass
    assert isinstance(info.value, ConfigError) and info.value.expected == []  # never retried
    assert own_sshd.host_fingerprint in str(info.value)
    assert "tradelane sftp trust acme" in str(info.value)


def test_changed_host_key_is_refused_and_nothing_downloaded(own_sshd: Sshd,
                                                            tmp_path: Path) -> None:
    old(own_sshd.root / "a.csv")
    src = source(own_sshd, own_sshd.root, tmp_path)
    with src:
        [ref] = src.list_ready()
    trusted = own_sshd.host_fingerprint
    keygen(own_sshd.host_key)  # the server is "reinstalled" with a new key
    own_sshd.restart()
    with pytest.raises(HostKeyRejected) as info:
        src.fetch(ref, tmp_path / "spool")
    assert not (tmp_path / "spool").exists()
    message = str(info.value)
    assert "HOST KEY MISMATCH" in message
    assert own_sshd.host_fingerprint in message and trusted in message


def test_pinned_fingerprint(own_sshd: Sshd, tmp_path: Path) -> None:
    old(own_sshd.root / "a.csv")
    pinned = {"known_hosts": None, "fingerprint": own_sshd.host_fingerprint}
    with source(own_sshd, own_sshd.root, tmp_path, conn=pinned) as src:
        assert [r.name for r in src.list_ready()] == ["a.csv"]
    wrong = {"known_hosts": None, "fingerprint": "SHA256:" + "A" * 43}
    with pytest.raises(HostKeyRejected, match="pinned fingerprint"):
        source(own_sshd, own_sshd.root, tmp_path, conn=wrong).__enter__()


def test_wrong_client_key_is_refused(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(AuthenticationRefused, match="refused the login"):
        source(sshd, remote_dir, tmp_path, conn={"key_file": str(stranger)}).__enter__()


def test_key_from_environment(sshd: Sshd, remote_dir: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    old(remote_dir / "a.csv")
    monkeypatch.setenv("ACME_SFTP_KEY", sshd.client_key.read_text())
    conn = {"key_file": None, "key_env": "ACME_SFTP_KEY"}
    with source(sshd, remote_dir, tmp_path, conn=conn) as src:
        assert len(src.list_ready()) == 1


def test_no_server_is_unavailable(tmp_path: Path, sshd: Sshd) -> None:
    conn = {"port": 1, "connect_attempts": 2, "retry_backoff": "10ms"}
    with pytest.raises(SourceUnavailable, match="connection refused"):
        source(sshd, "/x", tmp_path, conn=conn).__enter__()


@pytest.fixture
def denied_dir(sshd: Sshd) -> Path:
    """A folder the unprivileged login can read but not change (owned by root, mode 755).

    The tests run as root and root's sessions ignore permissions, so these tests log in as
    an unprivileged user (see support/sshd.py) for whom the server really enforces them.
    """
    if sshd.other_user is None or (sshd.other_user == sshd.user and os.geteuid() == 0):
        pytest.skip("no unprivileged login available for permission tests")
    path = sshd.root / f"denied-{time.time_ns()}"
    path.mkdir()
    old(path / "a.csv")
    (path / "archive").mkdir()
    path.chmod(0o755)
    return path


def test_delete_refused_by_permissions(sshd: Sshd, denied_dir: Path, tmp_path: Path) -> None:
    src = source(sshd, denied_dir, tmp_path, conn={"user": sshd.other_user})
    with src:
        [ref] = src.list_ready()
        assert src.fetch(ref, tmp_path / "a").sha256 == hashlib.sha256(
            (denied_dir / "a.csv").read_bytes()).hexdigest()
        with pytest.raises(SourceUnavailable, match=r"deleting .* permission denied"):
            src.remove(ref)
        with pytest.raises(SourceUnavailable, match=r"moving .* permission denied"):
            src.move_to(ref, str(denied_dir / "archive"))
    assert (denied_dir / "a.csv").exists()
    shutil.rmtree(denied_dir)


def test_transfer_deadline_leaves_nothing(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    old(remote_dir / "big.bin", os.urandom(8 << 20))
    with source(sshd, remote_dir, tmp_path, conn={"transfer_deadline": "1ms"}) as src:
        [ref] = src.list_ready()
        with pytest.raises(SourceUnavailable, match="transfer_deadline"):
            src.fetch(ref, tmp_path / "spool")
        assert not (tmp_path / "spool").exists()


@pytest.mark.slow
def test_server_killed_mid_download_then_recovers(own_sshd: Sshd, tmp_path: Path) -> None:
    big = own_sshd.root / "big.bin"
    with open(big, "wb") as out:
        for _ in range(200):
            out.write(os.urandom(1 << 20))
    os.utime(big, (time.time() - 60, time.time() - 60))
    spool = tmp_path / "spool"
    src = source(own_sshd, own_sshd.root, tmp_path,
                 conn={"channel_timeout": "5s", "connect_attempts": 3, "retry_backoff": "0.2s"})

    def kill_when_started() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if spool.exists() and spool.stat().st_size > (20 << 20):
                own_sshd.stop()
                return
            time.sleep(0.005)

    with src:
        [ref] = src.list_ready()
        killer = threading.Thread(target=kill_when_started)
        killer.start()
        with pytest.raises(SourceUnavailable):
            src.fetch(ref, spool)
        killer.join()
        assert not spool.exists()
        own_sshd.start()
        staged = src.fetch(ref, spool)  # the same poll reconnects
    expected = hashlib.sha256()
    with open(big, "rb") as f:
        while block := f.read(1 << 20):
            expected.update(block)
    assert staged.sha256 == expected.hexdigest() and staged.path == spool
    assert spool.stat().st_size == 200 << 20
