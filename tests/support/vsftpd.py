"""A throwaway vsftpd on 127.0.0.1, plain or with TLS, for the FTP tests and the benchmark.

Plain functions and a class, no pytest: ``bench/transports.py`` uses it too. Everything lives
in one temporary folder: the config, the log, a throwaway CA and server certificate (made with
``openssl``), and ``root/``, where the tests work in fresh writable folders
(``Vsftpd.folder()``). The anonymous user's root is ``/`` (not writable by the
session's ``ftp`` user, as vsftpd demands), so a server path is the local path: the contract
suites name folders by their local path, as they do for SFTP. Loopback only. The login is
``anonymous`` with a password from ``FTP_TEST_PASSWORD`` (vsftpd accepts any): the client
code under test reads it from the environment as it would a real one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

VSFTPD = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
PASSWORD_ENV = "FTP_TEST_PASSWORD"
TlsMode = Literal["none", "explicit", "implicit"]


def vsftpd_available() -> str | None:
    if not Path(VSFTPD).exists():
        return "vsftpd is not installed (apt-get install vsftpd)"
    if not shutil.which("openssl"):
        return "openssl is not installed"
    if os.geteuid() != 0:
        return "vsftpd must be started as root"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_ca(folder: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN=tradelane test {name}", "-keyout", str(key), "-out",
                    str(cert), "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True)
    return cert, key


def make_server_cert(folder: Path, ca: tuple[Path, Path], host: str = "127.0.0.1") -> Path:
    """A server certificate for ``host`` (IP SAN) signed by ``ca``: one PEM with cert and key."""
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    ext = folder / "san.cnf"
    ext.write_text(f"subjectAltName=IP:{host}\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey",
                    str(ca[1]), "-CAcreateserial", "-days", "2", "-out", str(cert),
                    "-extfile", str(ext)], check=True, capture_output=True)
    pem = folder / "server.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    pem.chmod(0o600)
    return pem


@dataclass
class Vsftpd:
    base: Path
    port: int
    tls: TlsMode
    ca: Path | None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root(self) -> Path:
        return self.base / "root"

    def folder(self) -> Path:
        """A fresh writable folder on the server (the same file system: tests write directly)."""
        path = self.root / uuid.uuid4().hex[:12]
        path.mkdir()
        path.chmod(0o777)
        return path

    def remote(self, path: Path) -> str:
        """The server's name for a local folder below ``root``."""
        return str(path)

    def connection(self, **extra: Any) -> dict[str, Any]:
        """The ``ftp:`` block of a connection in tradelane.yaml for this server."""
        conn: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "user": "anonymous",
                                "password_env": PASSWORD_ENV, "tls": self.tls,
                                "connect_attempts": 1}
        if self.tls != "none":
            assert self.ca is not None
            conn["ca_file"] = str(self.ca)
        conn.update(extra)
        return conn

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)


def start_vsftpd(tls: TlsMode = "none", tmp_root: Path | None = None) -> Vsftpd:
    base = Path(tempfile.mkdtemp(prefix="vsftpd-", dir=tmp_root))
    base.chmod(0o755)
    root = base / "root"
    root.mkdir(mode=0o755)
    port = free_port()
    pasv = free_port()
    os.environ.setdefault(PASSWORD_ENV, "tradelane@example.com")
    lines = [
        "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", f"listen_port={port}",
        "background=NO", "seccomp_sandbox=NO", "run_as_launching_user=NO",
        "anonymous_enable=YES", "local_enable=NO", "no_anon_password=NO",
        "anon_root=/", "write_enable=YES", "anon_upload_enable=YES",
        "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
        "anon_world_readable_only=NO", "anon_umask=022", "ftp_username=ftp",
        "pasv_enable=YES", "pasv_address=127.0.0.1",
        f"pasv_min_port={pasv}", f"pasv_max_port={min(pasv + 200, 65000)}",
        "connect_from_port_20=NO", "port_enable=NO", "dirmessage_enable=NO",
        "xferlog_enable=YES", f"vsftpd_log_file={base / 'vsftpd.log'}", "log_ftp_protocol=NO",
        "max_clients=200", "max_per_ip=200", "use_localtime=NO", "hide_ids=NO",
        "secure_chroot_dir=/var/run/vsftpd/empty", "utf8_filesystem=NO",
        "idle_session_timeout=300", "data_connection_timeout=120",
    ]
    ca = None
    if tls != "none":
        ca_pair = make_ca(base)
        ca = ca_pair[0]
        pem = make_server_cert(base, ca_pair)
        lines += [
            "ssl_enable=YES", f"rsa_cert_file={pem}", f"rsa_private_key_file={pem}",
            "allow_anon_ssl=YES", "force_anon_logins_ssl=YES", "force_anon_data_ssl=YES",
            "ssl_tlsv1=NO", "ssl_sslv2=NO", "ssl_sslv3=NO", "require_ssl_reuse=YES",
            "ssl_ciphers=HIGH",
        ]
        if tls == "implicit":
            lines.append("implicit_ssl=YES")
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    config = base / "vsftpd.conf"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    process = subprocess.Popen([VSFTPD, str(config)], stdin=subprocess.DEVNULL,
                               stdout=open(base / "stdout.log", "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT)
    server = Vsftpd(base, port, tls, ca, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vsftpd exited: {(base / 'stdout.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("vsftpd did not start listening")
