"""A route from a partner's SFTP drop to an SFTP target, through the real pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from support.sshd import Sshd
from tradelane.errors import ConfigError
from tradelane.ledger import utcnow
from tradelane.models import FileState
from tradelane.sources.sftp import SftpSource
from tradelane.spec import SftpConnection

CSV = "Order;Qty\nPO-1;5\nPO-2;1\n"
ROUTE = """\
source: {sftp: acme, path: %(inbox)s, pattern: "*.csv", min_age: 1s, after: delete}
format: {type: csv, delimiter: ";"}
fields:
  order_id: {source: Order, required: true}
  qty: {source: Qty, type: integer, min: 1}
target: {sftp: acme, path: %(outbox)s, format: json, name: "{stem}.json"}
"""


def test_sftp_to_sftp_route(project, sshd: Sshd, remote_dir: Path) -> None:
    inbox, outbox = remote_dir / "outbound", remote_dir / "inbound"
    inbox.mkdir()
    outbox.mkdir()
    project.settings(yaml.safe_dump({"connections": {"acme": {"sftp": sshd.connection()}}}))
    project.route("acme_orders", ROUTE % {"inbox": inbox, "outbox": outbox})
    (inbox / "ORD1.csv").write_text(CSV)
    os.utime(inbox / "ORD1.csv", (time.time() - 60, time.time() - 60))
    summary = project.run()
    assert [r.outcome.value for r in summary.results] == ["delivered"], summary.results
    assert [p.name for p in outbox.iterdir()] == ["ORD1.json"]
    assert [r["order_id"] for r in json.loads((outbox / "ORD1.json").read_text())] == [
        "PO-1", "PO-2"]
    assert list(inbox.iterdir()) == []
    assert project.run().results == []  # nothing left, nothing delivered twice


def test_unknown_connection_is_reported_with_its_place(project) -> None:
    project.route("x", ROUTE % {"inbox": "/in", "outbox": "/out"})
    with pytest.raises(ConfigError) as info:
        project.load()
    assert "mappings/x.yaml: source.sftp: no connection named 'acme' in tradelane.yaml" in (
        info.value.problems)
    assert "mappings/x.yaml: target.sftp: no connection named 'acme' in tradelane.yaml" in (
        info.value.problems)


@pytest.mark.parametrize(("options", "message"), [
    ({}, "exactly one of 'known_hosts' or 'fingerprint'"),
    ({"known_hosts": "kh", "fingerprint": "SHA256:" + "A" * 43}, "exactly one of"),
    ({"fingerprint": "MD5:aa:bb"}, "SHA256:"),
    ({"known_hosts": "kh", "key_file": None}, "to log in"),
])
def test_connection_options_are_checked(options: dict, message: str) -> None:
    base = {"host": "h", "user": "u", "key_file": "k", **options}
    with pytest.raises(ValueError, match=message):
        SftpConnection.model_validate(base)


def test_durations_are_written_like_30s() -> None:
    conn = SftpConnection.model_validate({"host": "h", "user": "u", "key_env": "K",
                                          "known_hosts": "kh", "connect_timeout": "3s",
                                          "transfer_deadline": "2h"})
    assert conn.connect_timeout.total_seconds() == 3
    assert conn.transfer_deadline.total_seconds() == 7200


def test_archive_of_a_remote_file_including_one_a_dead_worker_delivered(
        project, sshd: Sshd, remote_dir: Path) -> None:
    """after: archive keeps the snapshot locally, then deletes the remote file. A file that
    a dead worker delivered but did not archive is fetched again for the archive, unless it
    changed since: then it is a new file, processed as one."""
    inbox = remote_dir / "archived"
    inbox.mkdir()
    project.settings(yaml.safe_dump({"connections": {"acme": {"sftp": sshd.connection()}}}))
    project.route("acme", (ROUTE % {"inbox": inbox, "outbox": "unused"}).replace(
        "after: delete", "after: archive").replace(
        "target: {sftp: acme, path: unused,", "target: {folder: outbox/acme,"))

    def drop(name: str, text: str) -> None:
        (inbox / name).write_text(text)
        os.utime(inbox / name, (time.time() - 60, time.time() - 60))

    drop("ORD1.csv", CSV)
    assert [r.outcome.value for r in project.run().results] == ["delivered"]
    [archived] = (project.root / "archive" / "acme").rglob("*ORD1.csv")
    assert archived.read_text() == CSV and list(inbox.iterdir()) == []

    left, changed = CSV.replace("PO-1", "PO-7"), CSV.replace("PO-1", "PO-8")
    drop("ORD2.csv", left)
    drop("ORD3.csv", changed)
    project_spec = project.load()
    with project.ledger() as ledger, SftpSource(project_spec.route("acme"),
                                                project_spec.settings) as source:
        for ref in source.list_ready():
            record = ledger.claim(ref)
            assert record is not None
            sent = left if ref.name == "ORD2.csv" else "what it held when it was delivered"
            ledger.transition(record.id, FileState.CLAIMED, FileState.DELIVERED, "died after",
                              sha256=hashlib.sha256(sent.encode()).hexdigest(),
                              lease_until=utcnow() - timedelta(seconds=1))
    # ORD2 is finished, not delivered again; ORD3 changed since it was delivered, so its
    # original is not taken for the delivered file: it is a new file, delivered as such
    results = project.run().results
    assert [(r.name, r.outcome.value) for r in results] == [("ORD3.csv", "delivered")]
    [archived] = (project.root / "archive" / "acme").rglob("*ORD2.csv")
    assert archived.read_text() == left
    [archived] = (project.root / "archive" / "acme").rglob("*ORD3.csv")
    assert archived.read_text() == changed
    assert list(inbox.iterdir()) == []
    assert sorted(p.name for p in (project.root / "outbox" / "acme").iterdir()) == [
        "ORD1.json", "ORD3.json"]


def test_a_changed_host_key_stops_the_run_as_a_configuration_error(project,
                                                                    own_sshd: Sshd) -> None:
    """Not a server that is down (retried, exit 4): a person must decide to trust the new key."""
    from support.sshd import keygen

    inbox, outbox = own_sshd.root / "out", own_sshd.root / "in"
    inbox.mkdir()
    outbox.mkdir()
    project.settings(yaml.safe_dump({"connections": {"acme": {"sftp": own_sshd.connection()}}}))
    project.route("acme_orders", ROUTE % {"inbox": inbox, "outbox": outbox})
    (inbox / "ORD1.csv").write_text(CSV)
    os.utime(inbox / "ORD1.csv", (time.time() - 60, time.time() - 60))
    keygen(own_sshd.host_key)  # the server is "reinstalled" with a new key
    own_sshd.restart()
    result = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                             str(project.root)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HOST KEY MISMATCH" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert [p.name for p in inbox.iterdir()] == ["ORD1.csv"] and list(outbox.iterdir()) == []
