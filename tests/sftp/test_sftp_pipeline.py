"""A route from a partner's SFTP drop to an SFTP target, through the real pipeline."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from support.sshd import Sshd
from tradelane.errors import ConfigError
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
