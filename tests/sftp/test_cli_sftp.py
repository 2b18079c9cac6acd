"""``tradelane sftp test`` and ``tradelane sftp trust`` against a real sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from support.sshd import Sshd, keygen
from tradelane.cli.sftp import sftp_app

runner = CliRunner()


def project(tmp_path: Path, server: Sshd, **conn: Any) -> Path:
    (tmp_path / "mappings").mkdir(exist_ok=True)
    options = server.connection(**conn)
    (tmp_path / "tradelane.yaml").write_text(
        yaml.safe_dump({"connections": {"acme": {"sftp": options}}}))
    return tmp_path


def cli(*args: str, input: str | None = None) -> Any:
    return runner.invoke(sftp_app, list(args), input=input)


def test_test_ok(sshd: Sshd, tmp_path: Path) -> None:
    result = cli("test", "acme", "-C", str(project(tmp_path, sshd)))
    assert result.exit_code == 0, result.output
    assert sshd.host_fingerprint in result.output and "OK" in result.output


def test_unknown_connection_is_not_found(sshd: Sshd, tmp_path: Path) -> None:
    result = cli("test", "nope", "-C", str(project(tmp_path, sshd)))
    assert result.exit_code == 5  # not found: the configuration itself is fine
    assert "no sftp connection named 'nope'" in result.output


def test_unknown_host_key_shows_the_offered_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    result = cli("test", "acme", "-C", str(project(tmp_path, sshd, known_hosts=str(empty))))
    assert result.exit_code == 2  # a host key to trust is a configuration decision
    assert "unknown host key" in result.output and sshd.host_fingerprint in result.output


def test_wrong_key_says_login_refused(sshd: Sshd, tmp_path: Path) -> None:
    stranger = keygen(tmp_path / "stranger")
    result = cli("test", "acme", "-C", str(project(tmp_path, sshd, key_file=str(stranger))))
    assert result.exit_code == 2 and "refused the login" in result.output


def test_nothing_listening(sshd: Sshd, tmp_path: Path) -> None:
    result = cli("test", "acme", "-C", str(project(tmp_path, sshd, port=1)))
    assert result.exit_code == 4 and "connection refused" in result.output  # unavailable


def test_missing_key_file_is_a_config_error(sshd: Sshd, tmp_path: Path) -> None:
    result = cli("test", "acme", "-C", str(project(tmp_path, sshd, key_file="nokey")))
    assert result.exit_code == 2 and "key_file" in result.output


@pytest.mark.parametrize("answer", ["n", "y"])
def test_trust_asks_first(sshd: Sshd, tmp_path: Path, answer: str) -> None:
    known = tmp_path / "kh"
    root = project(tmp_path, sshd, known_hosts=str(known))
    result = cli("trust", "acme", "-C", str(root), input=f"{answer}\n")
    assert sshd.host_fingerprint in result.output
    if answer == "n":
        assert result.exit_code == 6 and not known.exists()  # declined
    else:
        assert result.exit_code == 0, result.output
        assert cli("test", "acme", "-C", str(root)).exit_code == 0
        assert cli("trust", "acme", "-C", str(root)).output.count("Already trusted") == 1


def test_trust_refuses_to_add_a_second_key_for_a_host(sshd: Sshd, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host").with_suffix(".pub").read_text().split()
    known = tmp_path / "kh"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    before = known.read_text()
    result = cli("trust", "acme", "--yes", "-C", str(project(tmp_path, sshd,
                                                                known_hosts=str(known))))
    assert result.exit_code == 2 and "ssh-keygen -R" in result.output
    assert known.read_text() == before
