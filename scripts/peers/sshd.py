"""A throwaway OpenSSH sshd on 127.0.0.1 serving SFTP, for the demo, the tests and the
benchmarks (tests/support/sshd.py wraps it with the tests' choices).

Everything lives in one folder the caller gives: host and client keys, ``authorized_keys/<user>``,
``known_hosts`` (what a tradelane connection needs: the host key is verified), the sshd config
and log, and ``root/``, the folder the partner drops its files in. Only the current user may log
in, with the client key made here.

``unprivileged=True`` (the permission tests; off by default, a demo must never add accounts to a
user's machine) also lets in a login the server enforces file permissions on: when running as
root, root bypasses them, so ``UNPRIVILEGED`` is created with ``useradd`` if it does not exist;
as any other user, that user itself. It is ``other_user`` (None when it is off or cannot be made).
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
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
UNPRIVILEGED = "tlsftp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sshd_missing() -> str | None:
    """None when an OpenSSH sshd can run here, else why not."""
    if not Path(SSHD).exists():
        return f"OpenSSH's sshd is not installed ({SSHD}; apt-get install openssh-server)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen is not installed"
    return None


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new key pair without passphrase: ``path`` and ``path.pub`` (replacing any there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tradelane-throwaway",
                    "-f", str(path)], check=True)
    return path


def fingerprint(pub: Path) -> str:
    """``SHA256:...`` of a public key file, as ``ssh-keygen -l`` prints it."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


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
    """One sshd process (restartable on the same port) and its files. ``start`` sets the
    folder up the first time; ``setup`` alone makes the keys and config without starting."""

    base: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    unprivileged: bool = False
    other_user: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    _set_up: bool = field(default=False, repr=False)

    @property
    def root(self) -> Path:
        """The folder the partner drops its files in (an absolute path on the server)."""
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
        self.base.mkdir(parents=True, exist_ok=True)
        keygen(self.host_key)
        keygen(self.client_key)
        self.root.mkdir(exist_ok=True)
        if self.unprivileged:
            self.other_user = unprivileged_user()
            # that user reads its authorized_keys here and writes below root/
            self.base.chmod(0o755)
            self.root.chmod(0o777)
        keys = self.base / "authorized_keys"
        keys.mkdir(exist_ok=True)
        pub = self.client_key.with_suffix(".pub").read_text()
        for user in self.users:
            (keys / user).write_text(pub)
            (keys / user).chmod(0o644)
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {key}\n")
        self.write_config()
        self._set_up = True
        return self

    @property
    def users(self) -> list[str]:
        """The logins the server lets in."""
        return sorted({self.user} | ({self.other_user} if self.other_user else set()))

    def write_config(self) -> None:
        (self.base / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.host_key}
PidFile {self.base / "sshd.pid"}
AuthorizedKeysFile {self.base / "authorized_keys"}/%u
AllowUsers {" ".join(self.users)}
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
""")

    def start(self) -> Sshd:
        if not self._set_up:
            self.setup()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        with open(self.base / "sshd.log", "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.base / "sshd_config")],
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not start listening: {self.log_tail()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the listener and the sessions it forked (each session calls setsid(), so
        they are found as its children, not by its process group), and wait for them.
        SIGKILL stops it as a crash of the server would."""
        if self.proc is None:
            return
        import psutil  # a dev dependency, as the demo and the tests install it

        try:
            listener = psutil.Process(self.proc.pid)
            sessions = listener.children(recursive=True)
        except psutil.NoSuchProcess:  # already exited and reaped (a failed start)
            listener, sessions = None, []
        for proc in [*sessions, *([listener] if listener else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        psutil.wait_procs(sessions, timeout=5)
        self.proc = None

    def restart(self) -> Sshd:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        path = self.base / "sshd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
