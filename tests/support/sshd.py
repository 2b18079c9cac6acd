"""The tests' sshd: the shared harness (scripts/peers/sshd.py, which ``make demo`` uses too)
with the tests' choices: the unprivileged login for the permission scenarios, a stop that
kills like a crash, and the connection options of tradelane.yaml.

Plain functions and a class, no pytest: ``bench/sftp.py`` and the chaos campaign use it too.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:  # bench/ and the chaos campaign put only tests/ on the path
    sys.path.append(str(SCRIPTS))

from peers.sshd import Sshd as _Sshd  # noqa: E402
from peers.sshd import keygen as keygen  # noqa: E402
from peers.sshd import sshd_missing  # noqa: E402

#: None when a real sshd can run here, else the reason it cannot
sshd_available = sshd_missing


class Sshd(_Sshd):
    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill the listener and every session it forked, as a crash of the server would."""
        super().stop(sig)

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
    """Set up and start a server in ``base`` (a new temporary folder by default), with the
    unprivileged login the permission tests use."""
    if base is None:
        # Not under pytest's tmp_path: that is mode 0700 and the unprivileged user must reach it.
        base = Path(tempfile.mkdtemp(prefix="tradelane-sshd-"))
    server = Sshd(base=base, unprivileged=True)
    return server.setup().start()
