"""A throwaway OpenSSH sshd on 127.0.0.1, for tests and the SFTP benchmark.

Plain functions and a class, no pytest: ``bench/sftp.py`` uses it too. Everything lives in one
temporary folder: host keys, client keys, ``authorized_keys/<user>``, ``known_hosts``, the
sshd config and log, and ``root/``, the folder the SFTP tests read and write.

When the tests run as root, permissions mean nothing to the server's session (root bypasses
them), so the scenarios about refused deletes and read-only folders log in as an unprivileged
account instead: ``UNPRIVILEGED`` is created with ``useradd`` if it does not exist. As any
other user, that user itself is used.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
UNPRIVILEGED = "tlsftp"


def sshd_available() -> str | None:
    """None when a real sshd can run here, else the reason it cannot."""
    if not Path(SSHD).exists():
        return "OpenSSH sshd is not installed (apt-get install openssh-server)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen is not installed"
    return None


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new key pair without passphrase: ``path`` and ``path.pub``."""
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tradelane-test", "-f", str(path)],
        check=True,
    )
    return path


def fingerprint(pub: Path) -> str:
    """``SHA256:...`` of a public key file, as ``ssh-keygen -l`` prints it."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unprivileged_user() -> str | None:
    """A login the server enforces permissions on, or None if none can be made."""
    if os.geteuid() != 0:
        return getpass.getuser()
    try:
        pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        if not shutil.which("useradd"):
            return None
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh",
                        UNPRIVILEGED], check=True, capture_output=True)
    # A "!" password means a locked account, which sshd refuses even for key logins.
    subprocess.run(["usermod", "-p", "*", UNPRIVILEGED], check=True, capture_output=True)
    return UNPRIVILEGED


@dataclass
class Sshd:
    """One sshd process (restartable on the same port) and its files."""

    base: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    other_user: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def host_key(self) -> Path:
        return self.base / "host_ed25519"

    @property
    def client_key(self) -> Path:
        return self.base / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    @property
    def host_fingerprint(self) -> str:
        return fingerprint(self.host_key.with_suffix(".pub"))

    def setup(self) -> Sshd:
        os.chmod(self.base, 0o755)  # the unprivileged user reads its authorized_keys here
        keygen(self.host_key)
        keygen(self.client_key)
        self.other_user = unprivileged_user()
        keys = self.base / "authorized_keys"
        keys.mkdir(exist_ok=True)
        pub = self.client_key.with_suffix(".pub").read_text()
        for user in {self.user, self.other_user} - {None}:
            (keys / str(user)).write_text(pub)
            (keys / str(user)).chmod(0o644)
        self.root.mkdir(exist_ok=True)
        self.root.chmod(0o777)
        self.write_known_hosts()
        self.write_config()
        return self

    def write_known_hosts(self) -> None:
        key = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n")

    def write_config(self) -> None:
        users = " ".join(sorted({self.user, self.other_user} - {None}))  # type: ignore[arg-type]
        (self.base / "sshd_config").write_text(
            f"""\
ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.host_key}
PidFile {self.base / "sshd.pid"}
AuthorizedKeysFile {self.base / "authorized_keys"}/%u
AllowUsers {users}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""
        )

    def start(self) -> Sshd:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        log = open(self.base / "sshd.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")],
            stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start listening: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the listener and every session it forked, as a crash of the server would.

        Each session calls setsid(), so a process-group kill would miss it: walk the tree.
        """
        if self.proc is None:
            return
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for proc in [*procs, psutil.Process(self.proc.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        psutil.wait_procs(procs, timeout=5)
        self.proc = None

    def restart(self) -> Sshd:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        path = self.base / "sshd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def connection(self, **overrides: object) -> dict[str, object]:
        """Options of an ``sftp:`` connection in tradelane.yaml that reach this server."""
        options: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "connect_timeout": "5s",
            "channel_timeout": "10s",
            "connect_attempts": 1,
        }
        options.update(overrides)
        return options


def start_sshd(base: Path | None = None) -> Sshd:
    """Set up and start a server in ``base`` (a new temporary folder by default)."""
    if base is None:
        # Not under pytest's tmp_path: that is mode 0700 and the unprivileged user must reach it.
        base = Path(tempfile.mkdtemp(prefix="tradelane-sshd-"))
    return Sshd(base=base).setup().start()
