"""Schema validation speed (issue 21), both measures in one run:

    .venv/bin/python bench/schema.py [--xml-mb 50] [--records 1000000]

- XSD: a UBL invoice batch of ``--xml-mb`` MB (the test UBL subset, tests/data/schemas/ubl,
  with an import per namespace) checked by a route's ``xsd:`` step as ``run`` checks it
  (streamed, since it is over ``max_tree_bytes``; and as a tree, for comparison), against
  ``xmllint --noout --schema`` (Debian's libxml2-utils) and its ``--stream`` mode on the
  same file. Target: >= 0.8x xmllint.
- JSON Schema: ``--records`` JSON Lines order records checked by a ``json_schema:`` step
  (draft 2020-12, a ``$ref`` into a second file), against a bare ``jsonschema`` loop over the
  same file (``json.loads`` each line, ``list(validator.iter_errors(record))``, the schema's
  ``$ref`` served by a ``referencing`` registry). Target: >= 1x the bare loop.

Times are CPU seconds (the process's own, or xmllint's from ``RUSAGE_CHILDREN``), which a
machine shared with other work does not distort; wall times are shown beside them. A ratio
is the other tool's time over tradelane's: above 1, tradelane is faster.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from schemas.invoices import write_big  # noqa: E402
from tradelane.spec import load_project  # noqa: E402
from tradelane.staging import Staged  # noqa: E402
from tradelane.validators.run import compiled  # noqa: E402

ROUTES = {
    "inv": """\
        source: {folder: inbox/inv}
        format:
          type: xml
          records: cac:InvoiceLine
          namespaces:
            cac: urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2
        validate: [{xsd: schemas/ubl/invoice.xsd}]
        fields: {line: {source: "*[1]"}}
        target: {folder: outbox/inv, format: json}
    """,
    "inv_tree": """\
        source: {folder: inbox/inv_tree}
        format:
          type: xml
          records: cac:InvoiceLine
          namespaces:
            cac: urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2
        validate: [{xsd: schemas/ubl/invoice.xsd, max_tree_bytes: 1000000000}]
        fields: {line: {source: "*[1]"}}
        target: {folder: outbox/inv_tree, format: json}
    """,
    "orders": """\
        source: {folder: inbox/orders}
        format: {type: jsonl}
        validate: [{json_schema: schemas/json/order.schema.json}]
        fields: {order: {}, sku: {}, qty: {}}
        target: {folder: outbox/orders, format: json}
    """,
}


def cpu(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, result) of ``run`` in this process."""
    wall, start = time.perf_counter(), time.process_time()
    result = run()
    return time.process_time() - start, time.perf_counter() - wall, result


def child_cpu(command: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-500:]}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used, wall


def project(root: Path) -> Any:
    (root / "mappings").mkdir(parents=True)
    shutil.copytree(REPO / "tests" / "data" / "schemas", root / "schemas")
    for name, spec in ROUTES.items():
        (root / "mappings" / f"{name}.yaml").write_text(textwrap.dedent(spec))
    return load_project(root)


def orders(path: Path, count: int) -> Path:
    with open(path, "w") as out:
        for i in range(count):
            out.write(json.dumps({"order": f"PO-{i // 10}", "sku": f"{4006381 + i % 5000}",
                                  "qty": i % 9 + 1, "price": round(1 + i % 37 * 0.5, 2)})
                      + "\n")
    return path


def bare_loop(path: Path, schema_dir: Path) -> int:
    """What a script would do with jsonschema alone."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schema = json.loads((schema_dir / "order.schema.json").read_text())
    defs = json.loads((schema_dir / "defs.schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(defs["$id"],
                                                       Resource.from_contents(defs))
    validator = Draft202012Validator(schema, registry=registry)
    errors = 0
    with open(path, "rb") as fh:
        for line in fh:
            errors += len(list(validator.iter_errors(json.loads(line))))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xml-mb", type=float, default=50)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    if shutil.which("xmllint") is None:
        raise SystemExit("xmllint not found: apt-get install -y libxml2-utils")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        proj = project(root)
        limit = proj.settings.max_reason_errors

        big = write_big(Path(tmp) / "invoice.xml", args.xml_mb)
        size_mb = big.stat().st_size / (1 << 20)
        xsd = str(root / "schemas" / "ubl" / "invoice.xsd")
        with open(big, "rb") as fh:
            lines_in = sum(1 for _ in fh)
        print(f"XSD: {size_mb:.1f} MB UBL invoice ({lines_in:,} lines)")
        rows = []
        for name, label in (("inv", "tradelane xsd step (streamed)"),
                            ("inv_tree", "tradelane xsd step (as a tree)")):
            route = proj.routes[name]
            [(_, validator)] = compiled(route, root)
            used, wall, found = cpu(lambda v=validator, r=route: v.validate(
                Staged.file(big), r, limit=limit))
            assert found.count == 0, found.issues
            rows.append((label, used, wall))
        lint = child_cpu(["xmllint", "--noout", "--schema", xsd, str(big)])
        stream = child_cpu(["xmllint", "--noout", "--stream", "--schema", xsd, str(big)])
        for label, used, wall in rows:
            print(f"  {label:34} {used:6.2f} s CPU ({wall:5.2f} s wall)"
                  f"  {size_mb / used:6.1f} MB/s")
        for label, (used, wall) in (("xmllint --schema", lint),
                                    ("xmllint --stream --schema", stream)):
            print(f"  {label:34} {used:6.2f} s CPU ({wall:5.2f} s wall)"
                  f"  {size_mb / used:6.1f} MB/s")
        streamed, tree = rows[0][1], rows[1][1]
        print(f"  ratio (xmllint --schema / tradelane streamed): {lint[0] / streamed:.2f}x"
              f"   (as a tree: {lint[0] / tree:.2f}x;"
              f" xmllint --stream / streamed: {stream[0] / streamed:.2f}x)   target >= 0.8x")

        lines = orders(Path(tmp) / "orders.jsonl", args.records)
        route = proj.routes["orders"]
        [(_, validator)] = compiled(route, root)
        ours, ours_wall, found = cpu(lambda: validator.validate(Staged.file(lines), route,
                                                                limit=limit))
        assert found.count == 0, found.issues
        bare, bare_wall, errors = cpu(lambda: bare_loop(lines, root / "schemas" / "json"))
        assert errors == 0
        print(f"JSON Schema: {args.records:,} JSON Lines records"
              f" ({lines.stat().st_size / (1 << 20):.1f} MB)")
        print(f"  {'tradelane json_schema step':34} {ours:6.2f} s CPU ({ours_wall:5.2f} s wall)"
              f"  {args.records / ours:9,.0f} records/s")
        print(f"  {'bare jsonschema loop':34} {bare:6.2f} s CPU ({bare_wall:5.2f} s wall)"
              f"  {args.records / bare:9,.0f} records/s")
        print(f"  ratio (bare loop / tradelane): {bare / ours:.2f}x   target >= 1x")


if __name__ == "__main__":
    main()
