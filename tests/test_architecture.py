"""The shape of the code: no import cycles, and plug-ins that need nothing but a registration."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import plugins.memory_bucket  # noqa: F401 - registers the test plug-in's kinds
import tradelane
from support.project import ProjectDir, copy_partners
from tradelane.errors import ConfigError
from tradelane.models import Outcome
from tradelane.spec import load_project

PACKAGE = Path(tradelane.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The tradelane modules ``path`` imports (``TYPE_CHECKING`` blocks left out);
    ``from package import module`` counts as importing that module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            deeper = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if top_level_only and deeper:
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("tradelane"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base.startswith("tradelane"):
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        found.add(sub if sub in MODULES else base)
            visit(child, deeper)

    visit(tree, False)
    found.discard(name)
    return found


def test_pipeline_and_processes_never_import_each_other() -> None:
    """runner.py owns the pass over routes and the worker pool; pipeline.py the flow of a chunk.
    Any import between the two, even inside a function, would tie them in a circle again."""
    pipeline = _imports(PACKAGE / "pipeline.py", top_level_only=False)
    processes = _imports(PACKAGE / "processes.py", top_level_only=False)
    assert "tradelane.processes" not in pipeline, "pipeline.py imports processes.py"
    assert not ("tradelane.pipeline" in processes and "tradelane.processes" in pipeline)


def test_no_module_level_import_cycles() -> None:
    """Modules import each other in one direction only (a package may import its own
    modules for its public names; they never import the package back)."""
    graph = {name: _imports(path, top_level_only=True) for name, path in MODULES.items()}
    cycles: list[str] = []
    state: dict[str, str] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state and nxt in graph:
                walk(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert cycles == [], "import cycles: " + "; ".join(cycles)


#: What a command must not load unless it uses it: the engine's libraries (pandas for hooks,
#: paramiko for SFTP routes, httpx for HTTP targets, FastAPI/jinja for the console, lxml for
#: XML, Arrow for reading files, jsonschema and Saxon for validate: steps), the ledger's
#: (SQLAlchemy, Alembic) and the spec models.
#: (pydantic itself is loaded by Typer to parse a command's options.)
ENGINE = {"pandas", "pyarrow", "numpy", "polars", "paramiko", "httpx", "fastapi", "starlette",
          "jinja2", "uvicorn", "lxml", "pydifact", "jsonschema", "referencing", "saxonche"}
HEAVY = ENGINE | {"sqlalchemy", "alembic", "yaml", "tradelane.spec", "tradelane.ledger"}


def _loaded_by(argv: list[str], cwd: Path, watched: set[str],
               env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """Which of ``watched`` a whole ``tradelane ARGV`` process has loaded when it exits,
    and what it printed."""
    code = ("import atexit, sys\n"
            f"watched = {sorted(watched)!r}\n"
            "atexit.register(lambda: sys.stderr.write('LOADED %r\\n' % sorted(\n"
            "    set(watched) & set(sys.modules))))\n"
            f"sys.argv = ['tradelane', *{argv!r}]\n"
            "from tradelane.cli.main import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})})
    lines = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert len(lines) == 1, done.stderr
    return ast.literal_eval(lines[0].removeprefix("LOADED ")), done.stdout + done.stderr


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """A command that only reads the ledger must not pay for the engine's libraries; none
    pays for the ledger's or the spec's at import (issue 19)."""
    code = (f"import sys, tradelane.cli; heavy = {sorted(HEAVY | {'pydantic'})!r};"
            " print(sorted(set(heavy) & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize(("argv", "watched"), [
    (["--version"], HEAVY | {"pydantic"}),
    (["--help"], HEAVY | {"pydantic"}),
    (["edi", "describe", "ORDERS", "--directory", "D96A"], HEAVY),
])
def test_commands_without_a_project_load_no_heavy_library(argv: list[str], watched: set[str],
                                                          tmp_path: Path) -> None:
    loaded, output = _loaded_by(argv, tmp_path, watched)
    assert loaded == [], output
    assert "Traceback" not in output


def _demo_project(root: Path) -> None:
    """The demo's settings and ten mappings, every inbox folder there and empty."""
    repo = PACKAGE.parents[1]
    shutil.copy(repo / "tradelane.yaml", root / "tradelane.yaml")
    shutil.copytree(repo / "mappings", root / "mappings")
    copy_partners(root)
    project = load_project(root, isolate=True)
    assert len(project.routes) == 10 and not project.invalid
    for route in project.routes.values():
        project.settings.path(route.source.folder).mkdir(parents=True, exist_ok=True)


def test_an_empty_run_loads_no_engine_library(tmp_path: Path) -> None:
    """``run --once`` with the demo's nine mappings and nothing in the inbox (a cron job on
    a quiet night) loads neither the engine's libraries nor its plug-ins', once its mappings
    have been checked by an earlier process (issue 19)."""
    root, cache = tmp_path / "project", {"TRADELANE_CACHE": str(tmp_path / "cache")}
    root.mkdir()
    _demo_project(root)
    watched = ENGINE | {"sqlalchemy"}
    loaded, output = _loaded_by(["run", "--once"], root, watched, cache)
    assert "Nothing to do" in output, output
    # the first process checks every path with its format's engine (lxml, the EDI readers)
    assert {"lxml", "pydifact"} <= set(loaded), output
    loaded, output = _loaded_by(["run", "--once"], root, watched, cache)
    assert "Nothing to do" in output, output
    assert loaded == ["sqlalchemy"], output  # the ledger is needed, and only it
    # the same check sees the engine once there is a file to read
    sample = root / "inbox" / "erp_items" / "ARTIKEL_20261125.csv"
    shutil.copy(PACKAGE.parents[1] / "examples" / "erp_items" / sample.name, sample)
    os.utime(sample, (time.time() - 120, time.time() - 120))  # older than min_age
    loaded, output = _loaded_by(["run", "--once"], root, watched, cache)
    assert "pyarrow" in loaded and "ARTIKEL_20261125.csv" in output, output


def test_a_remembered_check_never_hides_a_changed_mapping(tmp_path: Path) -> None:
    """Only a pass is remembered, for the mapping's bytes: an XPath broken since is found by
    the next process, which leaves that route out and runs the others."""
    root, cache = tmp_path / "project", {"TRADELANE_CACHE": str(tmp_path / "cache")}
    root.mkdir()
    _demo_project(root)
    _loaded_by(["run", "--once"], root, set(), cache)  # every mapping checked and remembered
    spec = root / "mappings" / "ubl_invoices.yaml"
    text = spec.read_text()
    assert "cbc:ID" in text
    spec.write_text(text.replace("cbc:ID", "nope:ID", 1))
    for _ in range(2):  # and a problem is never remembered
        done = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once"], cwd=root,
                              capture_output=True, text=True, check=False,
                              env={**os.environ, **cache})
        assert done.returncode == 2, done.stdout + done.stderr
        assert "ubl_invoices" in done.stdout + done.stderr
        assert "nope:ID" in done.stdout + done.stderr


def test_a_plugin_is_one_module_and_its_registration(project: ProjectDir) -> None:
    """A new source kind and target kind (tests/plugins/memory_bucket.py), registered through
    the public API, run through the whole engine with no other change: spec validation,
    check, claim, delivery, archive."""
    from plugins.memory_bucket import BUCKETS

    project.route("orders", """\
        source: {mirror: inbox/orders, min_age: 0s}
        format: {type: csv}
        fields: {order: {required: true}, qty: {type: integer}}
        target: {bucket: nightly, format: jsonl, name: "{stem}.jsonl"}
    """)
    project.drop("orders", "day1.csv", "order,qty\nA1,3\nA2,5\n")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    assert result.outputs == ["bucket://nightly/day1.jsonl"]
    assert BUCKETS["nightly"]["day1.jsonl"].splitlines() == [
        b'{"order":"A1","qty":3}', b'{"order":"A2","qty":5}']
    assert project.inbox("orders") == []  # archived by the shared post-action
    assert list((project.root / "archive" / "orders").rglob("*day1.csv"))
    # a typo in the kind's own option is reported at its place, like any built-in's
    project.route("orders", "source: {mirror: inbox/orders, pattren: x}\nformat: {type: csv}\n"
                            "fields: {order: {}}\ntarget: {bucket: b}\n")
    with pytest.raises(ConfigError) as info:
        project.load()
    assert "mappings/orders.yaml: source.pattren: unknown option" in info.value.problems[0]


def test_every_exception_of_the_engine_has_a_category() -> None:
    """What happens to a file is decided by the category of the error: every exception class
    in src/ derives from one of them (errors.py draws the tree)."""
    import importlib
    import inspect

    from tradelane import errors

    categories = (errors.ConfigError, errors.RejectError, errors.TransientError,
                  errors.RequestError)
    loose = []
    for name in MODULES:
        if ".migrations" in name or name.endswith("__main__"):
            continue  # Alembic runs these; __main__ runs the CLI
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) \
                    and not issubclass(cls, categories) and cls is not errors.TradelaneError:
                loose.append(f"{name}.{cls_name}")
    assert loose == []


def test_errors_cross_process_boundaries() -> None:
    """Worker processes send errors to their parent: every one pickles with its data."""
    import pickle

    from tradelane import errors

    samples = [errors.HostKeyRejected("acme", "h", 22, "ssh-ed25519", "SHA256:x", [], "kh"),
               errors.Conflict(3, ["quarantined"], "claimed", found="a duplicate"),
               errors.FileNotReady("a.csv", "it grew"),
               errors.LimitExceeded("max_columns", 10, 20),
               errors.HookError("hooks:enrich", KeyError("sku"), where="hooks.py:3 in enrich")]
    for error in samples:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert again.__dict__ == error.__dict__
