"""The demo's partner exchange (scripts/demo_exchange.py) for real: two tradelane projects on
loopback (the retailer's runs ``tradelane serve`` with its AS2 endpoint), a throwaway sshd
serving the retailer's PGP-encrypted drop, keys made by cryptography and GnuPG. Also: every
process it started is gone when it ends, whether it succeeded or failed."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support.project import REPO

sys.path.insert(0, str(REPO / "scripts"))

from demo_exchange import DemoError, Exchange, Report, exchange_ok
from demo_peers import sshd_missing

TRADELANE = str(Path(sys.executable).with_name("tradelane"))


@pytest.fixture
def base() -> Iterator[Path]:
    """A short folder: gpg-agent's socket goes in the keyring's folder (at most 107 bytes)
    where /run/user/UID does not exist, and pytest's tmp_path can be longer."""
    folder = Path(tempfile.mkdtemp(prefix="tl-demo-"))
    yield folder / "demo"
    shutil.rmtree(folder, ignore_errors=True)


def _processes_in(folder: Path) -> list[str]:
    """Processes whose command line names the folder (serve -C, sshd -f, gpg-agent)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


def test_the_demo_sends_an_invoic_over_as2_and_decrypts_the_sftp_drop(base: Path) -> None:
    report = Exchange(base, TRADELANE).run()
    assert report.run_status == 0, report.run_files
    assert exchange_ok(report)

    # AS2: sent signed and encrypted, confirmed by the partner's signed MDN...
    as2 = report.as2
    assert as2["state"] == "confirmed" and as2["mdn"] == "processed"
    assert as2["message_id"].startswith("invoic-as2.1.")
    # ... stored by the partner's endpoint under that message id, then delivered by its route
    assert as2["stored"] == str(base / "as2-partner/inbox/invoic_from_supplier"
                                "/INVOICES_20261125.edi")
    [delivered] = as2["delivered"]
    lines = json.loads(Path(delivered).read_text())
    assert [(r["invoice_no"], r["line_no"]) for r in lines] == [
        ("INV-90001", 1), ("INV-90001", 2), ("INV-90002", 1)]
    assert {r["supplier_gln"] for r in lines} == {"4012345000009"}
    # the interchange the partner received: UNB from the partner record, its sequence's number
    [received] = (base / "as2-partner" / "archive").rglob("*INVOICES_20261125.edi")
    assert "UNB+UNOC:3+4012345000009:14+5412345000013:14+261125:0000+00000001'" \
        in received.read_text()

    if sshd_missing() is None:
        assert report.skipped == []
        # PGP over SFTP: fetched, decrypted, signature checked, mapped; gone from the server
        assert report.pgp["records"] == [
            {"order_id": "PO-4711", "gtin": "4006381333931", "qty": 24},
            {"order_id": "PO-4711", "gtin": "4006381333948", "qty": 12},
            {"order_id": "PO-4712", "gtin": "4006381333955", "qty": 6}]
        assert list((base / "sftp" / "root" / "outgoing").iterdir()) == []
    else:
        assert report.skipped and report.pgp == {}
    assert _processes_in(base) == []


class _FailsAfterStart(Exchange):
    """The exchange with its run failing once the peers are up."""

    def _run_ours(self, report: Report) -> None:
        assert _processes_in(self.base), "the peers should be running here"
        raise DemoError("the run failed")


def test_the_peers_are_stopped_when_the_exchange_fails(base: Path) -> None:
    with pytest.raises(DemoError, match="the run failed"):
        _FailsAfterStart(base, TRADELANE).run()
    assert _processes_in(base) == []
