"""``tradelane check`` for AS2: the key pair and certificates an AS2 target or the endpoint
will use, and the asynchronous MDN settings, looked at without sending anything.

Every problem is reported at once, each naming its option and its file and saying what to do;
a certificate that expires within ``SOON`` is advice (``spec.checks.Advice``): shown, but
``check`` still passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tradelane.spec.checks import Advice

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings
    from tradelane.spec.as2 import As2Key, As2Settings, As2TargetSpec

SOON = timedelta(days=30)


class _Findings(list[str]):
    def problem(self, text: str) -> None:
        self.append(text)

    def advice(self, text: str) -> None:
        self.append(Advice(text))


def _read(path: Path, shown: str, where: str, what: str, found: _Findings) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        found.problem(f"{where}: {shown} does not exist: put {what} there, or correct the"
                      " path")
    except IsADirectoryError:
        found.problem(f"{where}: {shown} is a folder: give the PEM file of {what}")
    except OSError as exc:
        found.problem(f"{where}: {shown} cannot be read ({exc.strerror}): let the user"
                      " running tradelane read it")
    return None


def _dates(cert: Any, shown: str, where: str, found: _Findings, now: datetime,
           renew: str) -> None:
    start = cert.not_valid_before.replace(tzinfo=UTC)
    end = cert.not_valid_after.replace(tzinfo=UTC)
    if now > end:
        found.problem(f"{where}: {shown}: the certificate expired on {end:%Y-%m-%d %H:%M}"
                      f" UTC: {renew}")
    elif now < start:
        found.problem(f"{where}: {shown}: the certificate is valid only from"
                      f" {start:%Y-%m-%d %H:%M} UTC")
    elif end - now < SOON:
        days = (end - now).days
        found.advice(f"{where}: {shown}: the certificate expires on {end:%Y-%m-%d} (in"
                     f" {days} day{'s' if days != 1 else ''}): {renew} before then")


def certificate(path: Path, shown: str, where: str, what: str, found: _Findings,
                now: datetime, renew: str = "ask the partner for its new certificate"
                ) -> Any:
    """A certificate file: readable, PEM, in date. Returns the certificate or None."""
    from cryptography import x509

    data = _read(path, shown, where, what, found)
    if data is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        found.problem(f"{where}: {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----):"
                      f" give {what} in PEM form")
        return None
    _dates(cert, shown, where, found, now, renew)
    return cert


def _secret(key: As2Key, root: Path, where: str, environ: Mapping[str, str],
            found: _Findings) -> tuple[bool, bytes | None]:
    """(known, passphrase): known is False when the passphrase cannot be had."""
    if key.passphrase_env:
        value = environ.get(key.passphrase_env)
        if value is None:
            found.problem(f"{where}.passphrase_env: the environment variable"
                          f" {key.passphrase_env} is not set: export it with the key's"
                          " passphrase where tradelane runs")
            return False, None
        return True, value.encode() or None
    if key.passphrase_file:
        data = _read(root / key.passphrase_file, key.passphrase_file,
                     f"{where}.passphrase_file", "the key's passphrase", found)
        if data is None:
            return False, None
        lines = data.decode("utf-8", "replace").splitlines()
        return True, lines[0].encode() if lines and lines[0] else None
    return True, None


def key_pair(key: As2Key, root: Path, where: str, found: _Findings, now: datetime,
             environ: Mapping[str, str]) -> None:
    """Our PEM file: a private key that opens with its passphrase, our certificate beside
    it, the two matching, the certificate in date."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    what = "our private key and our certificate"
    data = _read(root / key.key, key.key, f"{where}.key", what, found)
    known, secret = _secret(key, root, where, environ, found)
    if data is None:
        return
    private = None
    if b"PRIVATE KEY-----" not in data:
        found.problem(f"{where}.key: {key.key} holds no PEM private key: put our private key"
                      " (-----BEGIN PRIVATE KEY-----) and our certificate in it")
    elif known:
        try:
            private = load_pem_private_key(data, secret)
        except TypeError:
            found.problem(f"{where}.key: {key.key}: the private key is encrypted and no"
                          " passphrase is given: set passphrase_env or passphrase_file")
        except ValueError as exc:
            found.problem(
                f"{where}.key: {key.key}: the passphrase does not open the private key:"
                " give its right passphrase" if secret is not None or "password" in str(exc)
                else f"{where}.key: {key.key}: the private key cannot be read ({exc}):"
                " give it in PEM form")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        found.problem(f"{where}.key: {key.key} holds no certificate beside the private key:"
                      " append our certificate (PEM) to it")
        return
    _dates(cert, key.key, f"{where}.key", found, now,
           "make a new key pair and send its certificate to the partners")
    if private is not None:
        mine = private.public_key().public_bytes(Encoding.DER,
                                                 PublicFormat.SubjectPublicKeyInfo)
        theirs = cert.public_key().public_bytes(Encoding.DER,
                                                PublicFormat.SubjectPublicKeyInfo)
        if mine != theirs:
            found.problem(f"{where}.key: {key.key}: the private key does not match the"
                          f" certificate in the file ({_subject(cert)}): put our own"
                          " certificate beside our key (partners verify our signatures with"
                          " it)")


def _subject(cert: Any) -> str:
    return str(cert.subject.rfc4514_string() or "no subject")


def _absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def target_findings(route: RouteSpec, settings: Settings, *, now: datetime | None = None,
                    environ: Mapping[str, str] | None = None) -> list[str]:
    """What keeps an AS2 target of ``route`` from sending, as ``as2.option: ...``."""
    now = now or datetime.now(UTC)
    environ = os.environ if environ is None else environ
    spec: As2TargetSpec = route.target.as2  # type: ignore[attr-defined]
    found = _Findings()
    root = settings.root
    key_pair(spec.our_key, root, "as2.our_key", found, now, environ)
    shown, where = _partner_certificate(route, settings, spec, found)
    if shown is not None:
        certificate(settings.path(shown), shown, where,
                    f"{spec.partner_id}'s certificate (messages are encrypted to it, its MDNs"
                    " verified with it)", found, now)
    if spec.ca_bundle:
        certificate(root / spec.ca_bundle, spec.ca_bundle, "as2.ca_bundle",
                    "the CA certificates trusted for the partner's HTTPS server", found, now,
                    "get the current CA certificate")
    if spec.mdn == "async":
        as2 = settings.as2
        if as2 is None or not as2.mdn_url:
            found.problem("as2.mdn: async needs as2.mdn_url in tradelane.yaml (the URL of our"
                          " AS2 endpoint where the partner posts its MDN): add the as2: block"
                          " with mdn_url, or use mdn: sync")
        elif not _absolute_url(as2.mdn_url):
            found.problem(f"as2.mdn: async: as2.mdn_url {as2.mdn_url!r} in tradelane.yaml is"
                          " not an absolute http(s) URL the partner can post to")
        if spec.mdn_within <= spec.mdn_wait:
            found.problem(f"as2.mdn_within ({spec.mdn_within}) must be longer than mdn_wait"
                          f" ({spec.mdn_wait}): an asynchronous MDN needs time to come before"
                          " the message is sent again")
    return list(found)


def _partner_certificate(route: RouteSpec, settings: Settings, spec: As2TargetSpec,
                         found: _Findings) -> tuple[str | None, str]:
    if spec.partner_certificate:
        return spec.partner_certificate, "as2.partner_certificate"
    if route.partner:
        from tradelane.partners import load_partners

        partners = load_partners(settings.path(settings.mappings).parent / "partners",
                                 settings.root, settings, [])
        partner = partners.get(route.partner)
        if partner is not None and partner.keys.certificate:
            return partner.keys.certificate, f"partner {route.partner}: keys.certificate"
    found.problem(f"as2.partner_certificate: not given, and the route's partner has no"
                  f" keys.certificate: give {spec.partner_id}'s certificate (PEM), to encrypt"
                  " to it and verify its MDNs")
    return None, ""


def endpoint_findings(as2: As2Settings, settings: Settings, *, now: datetime | None = None,
                      environ: Mapping[str, str] | None = None) -> list[str]:
    """What keeps the AS2 endpoint of ``serve`` from receiving, as ``as2.option: ...``."""
    now = now or datetime.now(UTC)
    environ = os.environ if environ is None else environ
    found = _Findings()
    key_pair(as2.key, settings.root, "as2.key", found, now, environ)
    if as2.mdn_url is not None and not _absolute_url(as2.mdn_url):
        found.problem(f"as2.mdn_url: {as2.mdn_url!r} is not an absolute http(s) URL: give the"
                      " URL partners post asynchronous MDNs to, e.g."
                      " https://as2.example.com/")
    for index, partner in enumerate(as2.partners):
        certificate(settings.path(partner.certificate), partner.certificate,
                    f"as2.partners[{index}].certificate",
                    f"{partner.id}'s certificate (its signatures are verified with it)",
                    found, now)
    return list(found)
