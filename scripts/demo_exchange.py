"""The demo's partner exchange (issue 17), after the nightly batch.

Two tradelane projects talk on loopback: our transports project (demo/transports/) sends an
EDIFACT INVOIC over AS2, signed and encrypted, to the retailer's own tradelane
(demo/as2-partner/, ``tradelane serve`` on a free port), which answers a signed MDN, stores
the file and delivers it through its route. The same run fetches the retailer's
PGP-encrypted order lines from its SFTP server (a throwaway OpenSSH sshd), decrypts them with
our key and checks the retailer's signature before mapping them.

Everything happens in one runtime folder (``.tradelane/demo/`` for ``make demo``, a test's
folder otherwise): the templates are copied there, the keys are made there, and the values
found at run time fill in their ``@PLACEHOLDERS@``. Every process started here is stopped at
the end, also when something fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo_peers import Gpg, Sshd, as2_key_pair, free_port, gpg_unusable, sshd_missing

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "demo"
INVOICES = ROOT / "examples" / "invoic_out"
ORDERS = TEMPLATES / "transports" / "samples"
WAIT = 30.0  # seconds for the partner's server to answer, and its route to deliver


class DemoError(RuntimeError):
    """A step of the exchange did not behave as designed (with what was seen)."""


@dataclass
class Report:
    """What the exchange did, for the demo's output and the tests."""

    run_status: int = -1
    run_files: list[dict[str, Any]] = field(default_factory=list)
    as2: dict[str, Any] = field(default_factory=dict)
    pgp: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Exchange:
    base: Path  # the runtime folder
    tradelane: str  # the console script

    @property
    def ours(self) -> Path:
        return self.base / "transports"

    @property
    def partner(self) -> Path:
        return self.base / "as2-partner"

    def run(self) -> Report:
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.copytree(TEMPLATES / "transports", self.ours,
                        ignore=shutil.ignore_patterns("samples"))
        shutil.copytree(TEMPLATES / "as2-partner", self.partner)
        report = Report()
        with contextlib.ExitStack() as stack:
            values = self._as2_keys()
            values |= self._sftp_drop(stack, report)
            _fill(self.ours, values)
            _fill(self.partner, values)
            self._serve_partner(stack, int(values["AS2_PORT"]))
            self._drop_invoices()
            self._run_ours(report)
            self._as2_outcome(report)
            if not report.skipped:
                self._pgp_outcome(report)
        return report

    # -- set-up ---------------------------------------------------------------------------

    def _as2_keys(self) -> dict[str, str]:
        """Each side's key pair in its own project; each side's certificate in the other's."""
        ours, theirs = self.ours / "keys", self.partner / "keys"
        as2_key_pair("SUPPLIER-AS2", ours / "supplier-as2.pem", ours / "supplier-as2.crt")
        as2_key_pair("RETAILER-AS2", theirs / "retailer-as2.pem", theirs / "retailer-as2.crt")
        shutil.copy(ours / "supplier-as2.crt", theirs / "supplier-as2.crt")
        shutil.copy(theirs / "retailer-as2.crt", ours / "retailer-as2.crt")
        return {"AS2_PORT": str(free_port())}

    def _sftp_drop(self, stack: contextlib.ExitStack, report: Report) -> dict[str, str]:
        """The retailer's SFTP server with its encrypted, signed orders file waiting, and the
        keyring of our project: our key, the retailer's public key."""
        keyring, theirs = self.ours / "keys" / "gnupg", self.base / "retailer-gnupg"
        why = sshd_missing() or gpg_unusable(keyring, theirs)
        if why:
            report.skipped.append(f"the PGP-encrypted SFTP drop is skipped: {why}")
            _without_sftp(self.ours)
            return {}
        sshd = Sshd(self.base / "sftp")
        (self.base / "sftp").mkdir(parents=True)
        ours, retailer = Gpg(keyring, "supplier"), Gpg(theirs, "retailer")
        stack.callback(ours.stop_agent)
        stack.callback(retailer.stop_agent)
        ours.make_key()
        retailer.make_key()
        ours.trust(retailer)
        retailer.trust(ours)
        sshd.start()
        stack.callback(sshd.stop)
        shutil.copy(sshd.client_key, self.ours / "keys" / "sftp_client")
        shutil.copy(sshd.known_hosts, self.ours / "keys" / "known_hosts")
        outgoing = sshd.root / "outgoing"
        outgoing.mkdir()
        for sample in sorted(ORDERS.glob("*.csv")):
            sealed = retailer.encrypt_and_sign(sample.read_bytes(), to=ours)
            (outgoing / f"{sample.name}.gpg").write_bytes(sealed)
        return {"SFTP_PORT": str(sshd.port), "SFTP_USER": sshd.user,
                "SFTP_ROOT": str(sshd.root), "RETAILER_PGP": retailer.fingerprint}

    def _serve_partner(self, stack: contextlib.ExitStack, port: int) -> None:
        """``tradelane serve`` of the retailer's project, until the exchange ends."""
        log = (self.base / "as2-partner-serve.log").open("wb")
        stack.callback(log.close)
        proc = subprocess.Popen([self.tradelane, "serve", "-C", str(self.partner),
                                 "--text-logs"], stdout=log, stderr=subprocess.STDOUT,
                                env=_env())
        stack.callback(_stop, proc)
        import httpx

        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DemoError(f"the retailer's tradelane serve exited ({proc.returncode}):"
                                f" {_tail(self.base / 'as2-partner-serve.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise DemoError(f"the retailer's AS2 endpoint did not answer on port {port} within"
                        f" {WAIT:.0f} s")

    def _drop_invoices(self) -> None:
        inbox = self.ours / "inbox" / "invoic_as2"
        inbox.mkdir(parents=True)
        for sample in sorted(INVOICES.glob("INVOICES_*.csv")):
            shutil.copy(sample, inbox / sample.name)

    # -- the run and what it did ----------------------------------------------------------

    def _run_ours(self, report: Report) -> None:
        done = subprocess.run([self.tradelane, "run", "--once", "--json", "-C",
                               str(self.ours)], capture_output=True, text=True, env=_env(),
                              check=False, timeout=120)
        report.run_status = done.returncode
        try:
            report.run_files = json.loads(done.stdout)["files"]
        except (ValueError, KeyError) as exc:
            raise DemoError(f"tradelane run gave no JSON ({done.returncode}):"
                            f" {done.stderr.strip()[-500:]}") from exc

    def _as2_outcome(self, report: Report) -> None:
        from tradelane.as2.ledger import IN, OUT

        sent = next((m for m in _as2_messages(self.ours) if m.direction == OUT), None)
        if sent is None:
            raise DemoError(f"no AS2 message was sent: {report.run_files}")
        folder = self.partner / "outbox" / "invoic_from_supplier"
        deadline = time.monotonic() + WAIT
        while not (delivered := sorted(folder.glob("*.json"))) and time.monotonic() < deadline:
            time.sleep(0.1)
        received = [m for m in _as2_messages(self.partner)
                    if m.direction == IN and m.message_id == sent.message_id]
        report.as2 = {
            "project": str(self.ours), "message_id": sent.message_id, "state": sent.state,
            "mdn": sent.mdn_status,
            "stored": str(self.partner / received[0].path) if received and received[0].path
            else None,
            "delivered": [str(p) for p in delivered],
            "lines": sum(len(json.loads(p.read_text())) for p in delivered)}

    def _pgp_outcome(self, report: Report) -> None:
        delivered = sorted((self.ours / "outbox" / "orders_pgp").glob("*.json"))
        records = [r for p in delivered for r in json.loads(p.read_text())]
        report.pgp = {"delivered": [str(p) for p in delivered], "records": records}


def _fill(project: Path, values: dict[str, str]) -> None:
    """Put the values found at run time in place of their @NAME@ in the project's YAML."""
    for path in project.rglob("*.yaml"):
        text = path.read_text()
        for name, value in values.items():
            text = text.replace(f"@{name}@", value)
        path.write_text(text)


def _without_sftp(project: Path) -> None:
    """Our transports project without the SFTP route and connection (no sshd or gpg here)."""
    (project / "mappings" / "orders_pgp.yaml").unlink()
    settings = project / "tradelane.yaml"
    text = settings.read_text()
    settings.write_text(text[: text.index("connections:")])
    partner = project / "partners" / "retailer.yaml"
    partner.write_text(partner.read_text().replace("transports: [retailer_sftp]\n", ""))


def _as2_messages(project: Path) -> list[Any]:
    from sqlalchemy import create_engine

    from tradelane.as2.ledger import As2Ledger

    engine = create_engine(f"sqlite:///{project / '.tradelane' / 'ledger.db'}")
    try:
        return As2Ledger(engine).recent()
    finally:
        engine.dispose()


def _env() -> dict[str, str]:
    """The environment of the demo's processes: each project's own ledger, whatever the
    user's shell points tradelane at."""
    env = dict(os.environ)
    for name in ("TRADELANE_LEDGER_URL", "TRADELANE_HOME", "TRADELANE_CRASH_AT"):
        env.pop(name, None)
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # serve finishes the file in hand, then exits
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return " | ".join(text.splitlines()[-lines:])


def print_report(report: Report, root: Path) -> None:
    def rel(path: str | None) -> str:
        if path is None:
            return "(not found)"
        with contextlib.suppress(ValueError):
            return str(Path(path).relative_to(root))
        return path

    for item in report.run_files:
        print(f"  {item.get('route')}/{item.get('name')}: {item.get('outcome')}")
    as2 = report.as2
    print("AS2 to the retailer's own tradelane (demo/as2-partner/, tradelane serve on"
          " loopback):")
    print(f"  message id:  {as2.get('message_id')}")
    print(f"  MDN:         {as2.get('mdn')} (signed, MIC checked; message {as2.get('state')})")
    print(f"  stored by the partner's AS2 endpoint as {rel(as2.get('stored'))}")
    for path in as2.get("delivered", []):
        print(f"  delivered by the partner's route to {rel(path)}"
              f" ({as2.get('lines')} invoice lines)")
    sent = [f["file_id"] for f in report.run_files if f.get("route") == "invoic_as2"]
    if sent and as2.get("project"):
        print(f"  its trail, with the message and its MDN: .venv/bin/tradelane history"
              f" {sent[0]} -C {rel(as2['project'])}")
    for why in report.skipped:
        print(f"  ({why})")
    if report.pgp:
        print("PGP-encrypted orders fetched from the retailer's SFTP server (a throwaway sshd),"
              " decrypted, signature checked:")
        for path in report.pgp["delivered"]:
            print(f"  delivered to {rel(path)}:")
        for record in report.pgp["records"]:
            print(f"    {json.dumps(record)}")


def exchange_ok(report: Report) -> bool:
    """Everything delivered: the invoice through the partner, the orders decrypted."""
    as2 = report.as2
    as2_ok = as2.get("state") == "confirmed" and bool(as2.get("delivered")) \
        and bool(as2.get("stored"))
    pgp_ok = bool(report.skipped) or bool(report.pgp.get("records"))
    return report.run_status == 0 and as2_ok and pgp_ok
