"""A project with the test schemas in its ``schemas/`` folder, and the CLI as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

from support.project import DATA, ProjectDir

SCHEMAS = DATA / "schemas"

UBL_NS = """namespaces:
    ubl: urn:oasis:names:specification:ubl:schema:xsd:Invoice-2
    cac: urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2
    cbc: urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"""


def with_schemas(project: ProjectDir) -> ProjectDir:
    shutil.copytree(SCHEMAS, project.root / "schemas", dirs_exist_ok=True)
    return project


def ubl_route(project: ProjectDir, validate: str, name: str = "inv") -> ProjectDir:
    """An invoice-line route over the test UBL subset, with ``validate`` as its steps."""
    return project.route(name, f"""\
        source: {{folder: inbox/{name}, min_age: 0s}}
        format:
          type: xml
          records: cac:InvoiceLine
          {UBL_NS.replace(chr(10), chr(10) + '          ')}
        validate: {validate}
        fields:
          line: {{source: "cbc:ID", required: true}}
          amount: {{source: "cbc:LineExtensionAmount"}}
        target: {{folder: outbox/{name}, format: json}}
    """)


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=300)


def shown(project: ProjectDir, file_id: int = 1) -> dict[str, Any]:
    """``quarantine show --json``: the reason file and the offending lines."""
    result = tradelane(project, "quarantine", "show", str(file_id), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]
