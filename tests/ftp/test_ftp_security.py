"""FTP and FTPS through the real pipeline, and every way a connection must be refused."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml
from ftp_routes import make_route, make_settings, server_for

from support.vsftpd import PASSWORD_ENV, Vsftpd, make_ca
from tradelane.errors import ConfigError, SourceUnavailable, TransientError
from tradelane.ftp_client import CertificateRejected
from tradelane.sources.ftp import FtpSource
from tradelane.spec.settings import FtpConnection

CSV = "Order;Qty\nPO-1;5\nPO-2;1\n"
ROUTE = """\
source: {ftp: acme, path: %(inbox)s, pattern: "*.csv", min_age: 1s, after: %(after)s}
format: {type: csv, delimiter: ";"}
fields:
  order_id: {source: Order, required: true}
  qty: {source: Qty, type: integer, min: 1}
target: {ftp: acme, path: %(outbox)s, format: json, name: "{stem}.json"}
"""


def _drop(folder: Path, name: str, text: str = CSV) -> Path:
    path = folder / name
    path.write_text(text)
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


@pytest.mark.parametrize("after", ["delete", "archive"])
def test_ftp_to_ftp_route(project, ftpd: Vsftpd, remote_dir: Path, after: str) -> None:
    inbox, outbox = remote_dir / "outbound", remote_dir / "inbound"
    inbox.mkdir()
    outbox.mkdir()
    project.settings(yaml.safe_dump({"connections": {"acme": {"ftp": ftpd.connection()}}}))
    project.route("acme_orders", ROUTE % {"inbox": inbox, "outbox": outbox, "after": after})
    _drop(inbox, "ORD1.csv")
    summary = project.run()
    assert [r.outcome.value for r in summary.results] == ["delivered"], summary.results
    assert [p.name for p in outbox.iterdir()] == ["ORD1.json"]  # no temp name left
    assert [r["order_id"] for r in json.loads((outbox / "ORD1.json").read_text())] == [
        "PO-1", "PO-2"]
    assert list(inbox.iterdir()) == []
    archived = [p for p in (project.root / "archive").rglob("*") if p.is_file()]
    assert [p.read_text() for p in archived] == ([CSV] if after == "archive" else [])
    assert project.run().results == []  # nothing left, nothing delivered twice


@pytest.mark.parametrize("mode", ["explicit", "implicit"])
def test_a_certificate_from_another_ca_is_refused_and_nothing_is_fetched(
        tmp_path: Path, mode: str) -> None:
    server = server_for(mode)  # type: ignore[arg-type]
    folder = server.folder()
    try:
        _drop(folder, "ORD1.csv")
        other_ca, _ = make_ca(tmp_path, "other")
        source = FtpSource(make_route(server, folder),
                           make_settings(server, tmp_path, ca_file=str(other_ca)))
        with pytest.raises(CertificateRejected) as info, source:
            source.list_ready()
        assert "certificate" in str(info.value) and "not trusted" in str(info.value)
        assert "nothing was sent or fetched" in str(info.value)
        assert isinstance(info.value, ConfigError)  # a configuration problem: not retried
        assert [p.name for p in folder.iterdir()] == ["ORD1.csv"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_system_cas_do_not_trust_a_private_ca(tmp_path: Path) -> None:
    server = server_for("explicit")
    folder = server.folder()
    try:
        source = FtpSource(make_route(server, folder),
                           make_settings(server, tmp_path, ca_file=None))
        with pytest.raises(CertificateRejected, match="the system's trusted CAs"), source:
            source.list_ready()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_host_name_is_checked(tmp_path: Path) -> None:
    """The certificate names 127.0.0.1; reaching the same server as 'localhost' is refused."""
    server = server_for("explicit")
    folder = server.folder()
    try:
        source = FtpSource(make_route(server, folder),
                           make_settings(server, tmp_path, host="localhost"))
        with pytest.raises(CertificateRejected, match=r"mismatch|not valid for"), source:
            source.list_ready()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_tls_asked_of_a_plain_server_fails_without_sending_the_password(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = server_for("none")
    folder = server.folder()
    os.environ[PASSWORD_ENV] = "s3cret-never-shown"
    caplog.set_level(logging.DEBUG)
    try:
        source = FtpSource(make_route(server, folder),
                           make_settings(server, tmp_path, tls="explicit",
                                         ca_file=str(tmp_path / "none.pem")))
        (tmp_path / "none.pem").write_text("")
        with pytest.raises((TransientError, ConfigError)) as info, source:
            source.list_ready()
        assert "s3cret" not in str(info.value) and "s3cret" not in caplog.text
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_server_that_is_down_leaves_the_files_pending(tmp_path: Path) -> None:
    from support.vsftpd import free_port

    conn = {"host": "127.0.0.1", "port": free_port(), "user": "u", "tls": "none",
            "connect_attempts": 1}
    from tradelane.spec import Settings

    settings = Settings.model_validate({"connections": {"acme": {"ftp": conn}},
                                        "root": tmp_path})
    from tradelane.spec import RouteSpec

    route = RouteSpec.model_validate({
        "name": "r", "source": {"ftp": "acme", "path": "/x"}, "format": {"type": "csv"},
        "fields": {"a": {}}, "target": {"folder": "out"}})
    with pytest.raises(SourceUnavailable, match=r"cannot connect to 127\.0\.0\.1"), \
            FtpSource(route, settings) as src:
        src.list_ready()


def test_connection_options_are_checked() -> None:
    with pytest.raises(ValueError, match="only one of 'password_env' or 'password_file'"):
        FtpConnection.model_validate({"host": "h", "user": "u", "password_env": "A",
                                      "password_file": "p"})
    with pytest.raises(ValueError, match="not an environment variable name"):
        FtpConnection.model_validate({"host": "h", "user": "u", "password_env": "A B"})
    assert FtpConnection.model_validate({"host": "h", "user": "u"}).tls == "explicit"


def test_a_route_naming_an_sftp_connection_as_ftp_is_reported(project, ftpd: Vsftpd) -> None:
    project.settings(yaml.safe_dump({"connections": {"acme": {"sftp": {
        "host": "h", "user": "u", "password_env": "P", "fingerprint": "SHA256:" + "A" * 43}}}}))
    project.route("x", ROUTE % {"inbox": "/in", "outbox": "/out", "after": "delete"})
    with pytest.raises(ConfigError) as info:
        project.load()
    assert any("source.ftp: connection 'acme' is not an ftp connection (it is sftp)" in p
               for p in info.value.problems), info.value.problems
