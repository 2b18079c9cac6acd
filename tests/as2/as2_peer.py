"""A real AS2 peer for the tests: django-pyas2 (its own Django project in a temp folder,
SQLite, ``runserver`` in a subprocess on 127.0.0.1), and throwaway keys made with
``cryptography``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    key_pem: bytes  # private key followed by the certificate
    cert_pem: bytes


def make_pair(name: str, *, days: int = 365, expired: bool = False,
              passphrase: str | None = None) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    start, end = ((now - timedelta(days=30), now - timedelta(days=1)) if expired
                  else (now - timedelta(days=1), now + timedelta(days=days)))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crypt: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
        else serialization.NoEncryption())
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8, crypt)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return KeyPair(key_pem + cert_pem, cert_pem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SETTINGS = """\
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth",
                  "django.contrib.contenttypes", "django.contrib.sessions",
                  "django.contrib.messages", "pyas2"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "peer_urls"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                          "NAME": r"{root}/peer.db"}}}}
MEDIA_ROOT = r"{root}/media"
PYAS2 = {{"MDN_URL": "http://127.0.0.1:{port}/pyas2/as2receive"}}
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates",
              "APP_DIRS": True, "OPTIONS": {{"context_processors": [
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}}}]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {{"version": 1, "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
           "loggers": {{"django": {{"handlers": ["console"], "level": "WARNING"}},
                       "pyas2": {{"handlers": ["console"], "level": "WARNING"}}}}}}
"""

URLS = """\
from django.contrib import admin
from django.urls import include, path

import peer_testing

urlpatterns = [path("admin/", admin.site.urls), path("pyas2/", include("pyas2.urls")),
               path("testing/reset", peer_testing.reset),
               path("testing/messages", peer_testing.messages),
               path("testing/partner", peer_testing.partner)]
"""

# The partner record as a fresh peer has it; ``reset`` puts it back between tests.
SETUP = """\
import sys
import django
django.setup()
from pyas2.models import PrivateKey, PublicCertificate

PrivateKey.objects.create(name="peer", key=open(sys.argv[1], "rb").read(), key_pass="")
PublicCertificate.objects.create(name="tradelane", verify_cert=False,
                                 certificate=open(sys.argv[2], "rb").read())
"""

# Test-only views inside the peer's own process: the state between tests is reset and read
# there, not by a ``manage.py shell`` that starts Django again (1-3 s each under load).
TESTING = """\
import json
import shutil

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from pyas2.models import Mdn, Message, Organization, Partner, PrivateKey, PublicCertificate


def reset(request):
    Mdn.objects.all().delete()
    Message.objects.all().delete()
    Partner.objects.all().delete()
    Organization.objects.all().delete()
    key = PrivateKey.objects.get(name="peer")
    cert = PublicCertificate.objects.get(name="tradelane")
    Organization.objects.create(name="peer", as2_name="djpeer", encryption_key=key,
                                signature_key=key)
    Partner.objects.create(name="tradelane", as2_name="tradelane",
                           target_url=request.GET["target_url"], encryption="aes_256_cbc",
                           encryption_cert=cert, signature="sha256", signature_cert=cert,
                           mdn=True, mdn_mode="SYNC", mdn_sign="sha256")
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    return HttpResponse("reset")


def messages(request):
    found = Message.objects.filter(direction=request.GET["direction"]).order_by("id")
    return JsonResponse([{"id": m.message_id, "status": m.status,
                          "detail": m.detailed_status or "",
                          "mdn": m.mdn.status if hasattr(m, "mdn") else ""}
                         for m in found], safe=False)


def partner(request):
    Partner.objects.filter(as2_name="tradelane").update(**json.loads(request.body))
    return HttpResponse("updated")
"""


class DjangoPeer:
    """django-pyas2 as the partner ``djpeer``, which knows tradelane as ``tradelane``.

    Migrated and started once (a session's worth of tests share it); ``reset`` gives each
    test the state of a fresh peer: no messages, no files, the partner record as set up,
    pointing at that test's endpoint.
    """

    def __init__(self, root: Path, keys: KeyPair, our_cert: Path, our_url: str):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/pyas2/as2receive"
        self.base = f"http://127.0.0.1:{self.port}/testing"
        root.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        (root / "peer_settings.py").write_text(SETTINGS.format(root=root, port=self.port))
        (root / "peer_urls.py").write_text(URLS)
        (root / "peer_testing.py").write_text(TESTING)
        (root / "setup_peer.py").write_text(SETUP)
        (root / "peer.pem").write_bytes(keys.key_pem)
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "peer_settings",
                    "PYTHONPATH": str(root)}
        self.manage("migrate", "--noinput", "-v", "0")
        subprocess.run([sys.executable, str(root / "setup_peer.py"), str(root / "peer.pem"),
                        str(our_cert)], cwd=root, env=self.env, check=True)
        self.log = open(root / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{self.port}",
             "--noreload", "--nothreading"],
            cwd=root, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("django-pyas2 did not start: " + self.log_tail())
            time.sleep(0.2)
        self.reset(our_url)

    def log_tail(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-2000:]

    def _call(self, method: str, what: str, **options: Any) -> httpx.Response:
        answer = httpx.request(method, f"{self.base}/{what}", timeout=30, **options)
        if answer.status_code != 200:
            raise RuntimeError(f"django-pyas2 {what}: {answer.status_code} {self.log_tail()}")
        return answer

    def reset(self, our_url: str) -> None:
        """A fresh peer's state, with tradelane's endpoint at ``our_url``."""
        self._call("POST", "reset", params={"target_url": our_url})

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "django", *args], cwd=self.root,
                              env=self.env, check=True, capture_output=True, text=True)

    def send(self, path: Path) -> None:
        """django-pyas2's own client: ``manage.py sendas2message``."""
        # its storage refuses paths outside MEDIA_ROOT
        outgoing = self.root / "media" / "outgoing"
        outgoing.mkdir(parents=True, exist_ok=True)
        (outgoing / path.name).write_bytes(path.read_bytes())
        self.manage("sendas2message", "djpeer", "tradelane", f"outgoing/{path.name}")

    def messages(self, direction: str) -> list[dict[str, str]]:
        return list(self._call("GET", "messages", params={"direction": direction}).json())

    def payloads(self) -> list[bytes]:
        found = sorted((self.root / "media").rglob("*"))
        return [p.read_bytes() for p in found if p.is_file() and "inbox" in p.parts]

    def set_partner(self, **fields: object) -> None:
        self._call("POST", "partner", content=json.dumps(fields))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()
