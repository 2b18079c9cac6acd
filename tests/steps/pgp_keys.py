"""OpenPGP keys for the step tests, made with Debian's gpg in throwaway homes: ours (in the
project's keyring), the partner's (its own home, as on the partner's side), a stranger's
(never imported) and an expired key of the partner's (made with a faked clock). Helpers
only; the fixtures are in conftest.py."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GPG = shutil.which("gpg") or "gpg"


def gpg(home: Path, *args: str, data: bytes | None = None, check: bool = True) -> bytes:
    return subprocess.run([GPG, "--homedir", str(home), "--batch", "--yes", "--pinentry-mode",
                           "loopback", "--trust-model", "always", *args], input=data,
                          capture_output=True, check=check).stdout


def new_home(base: Path, name: str) -> Path:
    home = base / name
    home.mkdir(mode=0o700)
    return home


def make_key(home: Path, name: str, *, passphrase: str = "", expire: str = "0",
             faked: str | None = None) -> str:
    clock = ["--faked-system-time", faked] if faked else []
    gpg(home, *clock, "--passphrase", passphrase, "--quick-gen-key", f"{name} <{name}@test>",
        "ed25519", "sign", expire)
    fpr = fingerprint(home, name)
    gpg(home, *clock, "--passphrase", passphrase, "--quick-add-key", fpr, "cv25519", "encr",
        expire)
    return fpr


def fingerprint(home: Path, name: str) -> str:
    out = gpg(home, "--with-colons", "--list-keys", f"<{name}@test>").decode()
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


def share(src: Path, fpr: str, dest: Path) -> None:
    gpg(dest, "--import", data=gpg(src, "--export", fpr))


def kill_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)


@dataclass
class Keys:
    base: Path
    ours: str
    ours_home: Path  # becomes the project's keyring
    partner: str
    partner_home: Path
    stranger: str
    stranger_home: Path
    expired: str  # the partner's old key, expired (public part in our keyring)
    locked: str  # a key of ours with a passphrase
