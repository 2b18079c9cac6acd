"""The demo's throwaway peers and keys: AS2 key pairs (``cryptography``), OpenPGP keys (Debian's
``gpg`` in homes of their own) and an OpenSSH sshd on 127.0.0.1. Everything lives in folders
the caller gives (the demo's runtime folder, or a test's), nothing is ever committed, and
each process started here is stopped by the same object that started it."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

# the SFTP peer is the harness the tests start too (scripts/peers/sshd.py); demo_exchange
# takes it from here with the rest of the peers
from peers.sshd import Sshd as Sshd
from peers.sshd import free_port as free_port
from peers.sshd import sshd_missing as sshd_missing

# -- AS2 ------------------------------------------------------------------------------------


def as2_key_pair(name: str, key_file: Path, cert_file: Path) -> None:
    """A self-signed RSA certificate valid for a year (what AS2 partners exchange): the private
    key and certificate in ``key_file`` (PEM, mode 0600), the certificate in ``cert_file``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key_pem + cert_pem)
    cert_file.write_bytes(cert_pem)


# -- OpenPGP --------------------------------------------------------------------------------


class Gpg:
    """One GnuPG home and its key (``make_key``: ed25519 signing, cv25519 encryption). The
    agent gpg starts for the home is stopped by ``stop_agent``."""

    def __init__(self, home: Path, name: str):
        self.home, self.name = home, name
        self.fingerprint = ""
        home.mkdir(parents=True, mode=0o700, exist_ok=True)
        home.chmod(0o700)

    def make_key(self) -> Gpg:
        self.run("--passphrase", "", "--quick-gen-key", f"{self.name} <{self.name}@demo.invalid>",
                 "ed25519", "sign", "1y")
        self.fingerprint = self._fingerprint()
        self.run("--passphrase", "", "--quick-add-key", self.fingerprint, "cv25519", "encr",
                 "1y")
        return self

    def run(self, *args: str, data: bytes | None = None) -> bytes:
        done = subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes",
                               "--pinentry-mode", "loopback", "--trust-model", "always", *args],
                              input=data, capture_output=True, check=False)
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"gpg {' '.join(args[:3])} failed in {self.home}:"
                               f" {said[0] if said else done.returncode}")
        return done.stdout

    def _fingerprint(self) -> str:
        out = self.run("--with-colons", "--list-keys", f"<{self.name}@demo.invalid>").decode()
        return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))

    def trust(self, other: Gpg) -> None:
        """Import ``other``'s public key into this home."""
        self.run("--import", data=other.run("--export", other.fingerprint))

    def encrypt_and_sign(self, data: bytes, to: Gpg) -> bytes:
        return self.run("--local-user", self.fingerprint, "--recipient", to.fingerprint,
                        "--sign", "--encrypt", data=data)

    def stop_agent(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"],
                       capture_output=True, check=False)


#: gpg-agent's sockets live in the GnuPG home when /run/user/UID does not exist, and a Unix
#: socket's path holds at most 107 bytes
_SOCKET_PATH_MAX = 107 - len("/S.gpg-agent.browser")


def gpg_unusable(*homes: Path) -> str | None:
    """None when gpg can make keys in these homes, else why not."""
    if not (shutil.which("gpg") and shutil.which("gpgconf")):
        return "GnuPG is not installed (apt-get install gnupg)"
    if not Path(f"/run/user/{os.getuid()}").is_dir():
        for home in homes:
            if len(str(home).encode()) > _SOCKET_PATH_MAX:
                return (f"the path of the keyring {home} is too long for gpg-agent's socket"
                        f" (at most {_SOCKET_PATH_MAX} bytes): run the demo from a shorter"
                        " path")
    return None
