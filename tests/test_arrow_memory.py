"""A run's Arrow buffers come from jemalloc, unless Arrow's own setting names another pool
(``tradelane.arrow_memory``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir

_RUN_THEN_SAY_THE_POOL = """
import sys
sys.argv = ["tradelane", "run", "--once"]
from tradelane.cli import app
try:
    app()
finally:
    import pyarrow as pa
    print("POOL", pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize(("chosen", "pool"), [(None, "jemalloc"), ("system", "system"),
                                              ("mimalloc", "mimalloc")])
def test_a_run_uses_jemalloc_unless_the_operator_named_a_pool(
        project: ProjectDir, tmp_path: Path, chosen: str | None, pool: str) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    done = subprocess.run([sys.executable, "-c", _RUN_THEN_SAY_THE_POOL], cwd=project.root,
                          env={**env, "TRADELANE_CACHE": str(tmp_path / "cache")},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project.root / "outbox" / "orders" / "a.json").exists(), done.stdout
    assert done.stdout.splitlines()[-1] == f"POOL {pool}", done.stdout + done.stderr
