"""AS2 messages per second: tradelane's sender against django-pyas2's own client, both
sending to the same django-pyas2 server over loopback, in the same run.

Each message is a 10 KB EDIFACT payload, signed (SHA-256), encrypted (AES-256) and answered
by a signed synchronous MDN that the client verifies (signature and MIC). Ours: ``As2Sender``
(pyas2lib to build and check, httpx to post), as the as2: target uses it, without the
ledger. Theirs: django-pyas2's ``Message.send_message`` in a Django process (as its
``sendas2message`` command does, without one process start per message), from its org to a
second org on the same server. The server is django-pyas2's ``runserver`` (one thread), so
both pay the same server time; the rounds alternate.

Usage: ``.venv/bin/python bench/as2.py [--messages 100] [--rounds 3]``, or as the ``as2``
part of ``bench/transports.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "as2"))

PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+A+B+261207:1200+1'" + b"LIN+1++4000862141404:SRS'" * 400

#: django-pyas2's side: a second organisation on the same server, and its own client.
LOOP_SETUP = """\
import django
django.setup()
from pyas2.models import Organization, Partner, PrivateKey, PublicCertificate
key = PrivateKey.objects.get(name="peer")
cert = PublicCertificate.objects.create(name="peer-self", verify_cert=False,
                                        certificate=open("peer.crt", "rb").read())
Organization.objects.create(name="loop", as2_name="djloop", encryption_key=key,
                            signature_key=key)
for name, url in (("djpeer", None), ("djloop", "{url}")):
    Partner.objects.create(name=name, as2_name=name, target_url=url or "{url}",
                           encryption="aes_256_cbc", encryption_cert=cert,
                           signature="sha256", signature_cert=cert, mdn=True,
                           mdn_mode="SYNC", mdn_sign="sha256")
"""

THEIR_CLIENT = """\
import json, resource, sys, time
import django
django.setup()
from pyas2lib import Message as AS2Message
from pyas2.models import Message, Organization, Partner
org = Organization.objects.get(as2_name="djpeer")
partner = Partner.objects.get(as2_name="djloop")
payload = open(sys.argv[2], "rb").read()
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
start, used, ok = time.perf_counter(), cpu(), 0
for i in range(int(sys.argv[1])):
    m = AS2Message(sender=org.as2org, receiver=partner.as2partner)
    m.build(payload, filename="bench.edi", subject=partner.subject,
            content_type=partner.content_type)
    msg, _ = Message.objects.create_from_as2message(
        as2message=m, payload=payload, filename="bench.edi", direction="OUT", status="P")
    msg.send_message(m.headers, m.content)
    msg.refresh_from_db()
    ok += msg.status == "S"
print(json.dumps({"wall": time.perf_counter() - start, "cpu": cpu() - used, "ok": ok}))
"""


def bench_as2(args: argparse.Namespace) -> None:
    from as2_peer import DjangoPeer, make_pair

    from tradelane.as2.send import As2Sender, response_as_mime
    from tradelane.spec.as2 import As2TargetSpec

    count = getattr(args, "messages", 100)
    with tempfile.TemporaryDirectory(prefix="tl-as2-bench-") as tmp:
        work = Path(tmp)
        ours, peer_keys = make_pair("tradelane"), make_pair("djpeer")
        (work / "ours.pem").write_bytes(ours.key_pem)
        (work / "ours.crt").write_bytes(ours.cert_pem)
        (work / "peer.crt").write_bytes(peer_keys.cert_pem)
        (work / "payload.edi").write_bytes(PAYLOAD)
        peer = DjangoPeer(work / "peer", peer_keys, work / "ours.crt", "http://127.0.0.1:9/")
        try:
            (peer.root / "peer.crt").write_bytes(peer_keys.cert_pem)
            (peer.root / "loop_setup.py").write_text(LOOP_SETUP.replace("{url}", peer.url))
            subprocess.run([sys.executable, "loop_setup.py"], cwd=peer.root, env=peer.env,
                           check=True)
            (peer.root / "their_client.py").write_text(THEIR_CLIENT)
            spec = As2TargetSpec.model_validate({
                "url": peer.url, "our_id": "tradelane", "partner_id": "djpeer",
                "our_key": {"key": "ours.pem"}, "mdn_wait": "1s"})
            sender = As2Sender(spec, work, partner_certificate=work / "peer.crt")

            def run_ours() -> tuple[float, float, int]:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                used = usage.ru_utime + usage.ru_stime
                start, ok = time.perf_counter(), 0
                for _ in range(count):
                    built = sender.build(PAYLOAD, f"bench-{uuid.uuid4().hex}@tradelane",
                                         "bench.edi")
                    outcome = sender.check_mdn(response_as_mime(sender.post(built)),
                                               built.message_id, built.mic)
                    ok += outcome.ok
                usage = resource.getrusage(resource.RUSAGE_SELF)
                return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime - used,
                        ok)

            def run_theirs() -> tuple[float, float, int]:
                out = subprocess.run([sys.executable, "their_client.py", str(count),
                                      str(work / "payload.edi")], cwd=peer.root,
                                     env=peer.env, check=True, capture_output=True,
                                     text=True).stdout
                found = json.loads(out.strip().splitlines()[-1])
                return found["wall"], found["cpu"], found["ok"]

            mine, ref, mine_cpu, ref_cpu = [], [], [], []
            for _ in range(args.rounds):
                wall, cpu, ok = run_ours()
                assert ok == count, f"ours: {ok} of {count} confirmed"
                mine.append(count / wall)
                mine_cpu.append(cpu)
                wall, cpu, ok = run_theirs()
                assert ok == count, f"django-pyas2: {ok} of {count} confirmed"
                ref.append(count / wall)
                ref_cpu.append(cpu)
            sender.close()
        finally:
            peer.stop()
    ratios = sorted(m / r for m, r in zip(mine, ref, strict=True))
    print(f"AS2 {count} x {len(PAYLOAD) // 1024} KB    tradelane {statistics.median(mine):6.1f}"
          f" msg/s   django-pyas2 {statistics.median(ref):6.1f} msg/s   ratio"
          f" {statistics.median(ratios):.2f}x (pairs {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"{'':<22} client CPU s: tradelane {statistics.median(mine_cpu):.2f}"
          f"   django-pyas2 {statistics.median(ref_cpu):.2f} (server not counted)")
    print(f"(median of {args.rounds} alternating rounds; signed + AES-256, signed sync MDN"
          " verified; the same django-pyas2 runserver answers both)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    bench_as2(parser.parse_args())


if __name__ == "__main__":
    main()
