"""A 200 MB invoice is checked against its XSD in bounded memory, its error still located
(issue 21). Measured in a child process: its peak RSS is its own, not the test runner's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from schemas.helpers import SCHEMAS
from schemas.invoices import write_big
from support.project import REPO

#: What validating may add to the child's memory once its libraries and the compiled
#: schema are loaded (those vary with what the project imports): a tree of the file would
#: take well over 1 GB.
MAX_GROWTH_MB = 64

CHILD = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from tradelane.spec import load_project
    from tradelane.staging import Staged
    from tradelane.validators.run import compiled

    project = load_project(Path(sys.argv[1]))
    route = project.routes["inv"]
    [(step, validator)] = compiled(route, project.settings.root)

    def status(key):  # in MB; ru_maxrss would keep the forking parent's peak across exec
        line = next(t for t in open("/proc/self/status") if t.startswith(key + ":"))
        return int(line.split()[1]) / 1024

    before = status("VmRSS")  # resident now: the libraries and the compiled schema
    found = validator.validate(Staged.file(Path(sys.argv[2])), route, limit=10)
    peak = status("VmHWM")
    print(json.dumps({"count": found.count, "issues": [i.location for i in found.issues],
                      "rss_mb": peak, "growth_mb": peak - before}))
""")


@pytest.mark.slow  # about 25 s: 200 MB written, then parsed and validated
def test_a_200_mb_invoice_is_validated_in_bounded_memory(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "mappings").mkdir(parents=True)
    (root / "schemas").symlink_to(SCHEMAS)
    (root / "mappings" / "inv.yaml").write_text(textwrap.dedent("""\
        source: {folder: inbox/inv}
        format:
          type: xml
          records: cac:InvoiceLine
          namespaces:
            cac: urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2
        validate: [{xsd: schemas/ubl/invoice.xsd}]
        fields: {line: {source: "*[1]"}}
        target: {folder: outbox/inv, format: json}
    """))
    big = write_big(tmp_path / "big.xml", 200)
    # one bad quantity near the end: found after 200 MB were read, at its line
    size = big.stat().st_size
    with open(big, "r+b") as fh:
        fh.seek(size - 3000)
        tail = fh.read()
        at = tail.index(b'unitCode="C62">') + len(b'unitCode="C62">')
        fh.seek(size - 3000 + at)
        fh.write(b"X")  # "X" instead of a digit: not an xs:decimal
        with open(big, "rb") as count:
            line = sum(chunk.count(b"\n") for chunk in iter(lambda: count.read(1 << 20), b""))
        line -= tail[at:].count(b"\n")
    result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(big)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    print(f"200 MB XSD check: peak RSS {report['rss_mb']:.0f} MB,"
          f" {report['growth_mb']:.0f} MB of it while validating")
    assert report["count"] == 1
    assert report["issues"] == [f"line {line + 1}"]
    assert report["growth_mb"] < MAX_GROWTH_MB, report
    assert size > 200 << 20
