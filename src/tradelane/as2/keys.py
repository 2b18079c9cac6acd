"""Our AS2 key pair and partners' certificates, read from PEM files in the project.

A certificate that has expired (or is not valid yet) is refused here, with its file and
dates, before any message is built: pyas2lib skips the chain check of a self-signed
certificate, which is what most AS2 partners exchange.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from tradelane.errors import TargetUnavailable
from tradelane.spec.as2 import As2Key


class As2KeyError(TargetUnavailable):
    """A key or certificate cannot be used: ops must fix the files, then the file is retried."""

    def __init__(self, path: Path | str, why: str):
        self.path, self.why = str(path), why
        super().__init__(f"AS2 key or certificate {path}: {why}")


def _crypto() -> None:
    """Fail with a clear message when oscrypto cannot use this OpenSSL (oscrypto 1.3.0 does
    not understand two-digit patch versions such as 3.0.22; elements-oscrypto fixes it)."""
    try:
        import oscrypto.asymmetric  # noqa: F401
    except Exception as exc:  # oscrypto raises LibraryNotFoundError at import
        raise As2KeyError("(OpenSSL)", f"the AS2 crypto library cannot start ({exc}); install"
                          " elements-oscrypto over oscrypto") from None


def read_certificate(path: Path, *, now: datetime | None = None) -> bytes:
    """The PEM bytes of a certificate, refused when missing, unreadable or out of date."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise As2KeyError(path, f"cannot be read ({exc.strerror})") from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise As2KeyError(path, "is not a PEM certificate") from None
    check_dates(cert, path, now=now)
    return data


def check_dates(cert: object, path: Path | str, *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    start = cert.not_valid_before.replace(tzinfo=UTC)  # type: ignore[attr-defined]
    end = cert.not_valid_after.replace(tzinfo=UTC)  # type: ignore[attr-defined]
    if now > end:
        raise As2KeyError(path, f"the certificate expired on {end:%Y-%m-%d %H:%M} UTC")
    if now < start:
        raise As2KeyError(path, f"the certificate is valid only from {start:%Y-%m-%d %H:%M}"
                          " UTC")


def passphrase(spec: As2Key, root: Path, environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    if spec.passphrase_env:
        value = environ.get(spec.passphrase_env)
        if value is None:
            raise As2KeyError(spec.key, f"the environment variable {spec.passphrase_env} with"
                              " its passphrase is not set")
        return value
    if spec.passphrase_file:
        path = root / spec.passphrase_file
        try:
            return path.read_text().splitlines()[0] if path.stat().st_size else ""
        except OSError as exc:
            raise As2KeyError(path, f"passphrase file cannot be read ({exc.strerror})") from None
    return None


def read_key_pair(spec: As2Key, root: Path, environ: Mapping[str, str] | None = None
                  ) -> tuple[bytes, str | None]:
    """(PEM with the private key and our certificate, passphrase), checked to load."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    path = root / spec.key
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise As2KeyError(path, f"cannot be read ({exc.strerror})") from None
    secret = passphrase(spec, root, environ)
    try:
        load_pem_private_key(data, secret.encode() if secret else None)
    except (ValueError, TypeError) as exc:
        why = "wrong or missing passphrase" if "password" in str(exc).lower() else \
            "holds no PEM private key"
        raise As2KeyError(path, why) from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise As2KeyError(path, "holds no certificate beside the private key") from None
    check_dates(cert, path)
    # pyas2lib's PEM reader wants the passphrase even for an unencrypted key.
    return data, secret or ""


def organization(as2_id: str, key: As2Key, root: Path, *, mdn_url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> object:
    """Our side as a pyas2lib Organization (signs, decrypts)."""
    _crypto()
    from pyas2lib import Organization

    data, secret = read_key_pair(key, root, environ)
    return Organization(as2_name=as2_id, sign_key=data, sign_key_pass=secret,
                        decrypt_key=data, decrypt_key_pass=secret, mdn_url=mdn_url)
