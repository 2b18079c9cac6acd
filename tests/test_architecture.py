"""The shape of the code: no import cycles, and plug-ins that need nothing but a registration."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import plugins.memory_bucket  # noqa: F401 - registers the test plug-in's kinds
import tradelane
from support.project import ProjectDir
from tradelane.errors import ConfigError
from tradelane.models import Outcome

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


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """A command that only reads the ledger must not pay for the engine's libraries."""
    code = ("import sys, tradelane.cli.main; heavy = {'pandas', 'pyarrow', 'paramiko', 'httpx',"
            " 'fastapi', 'lxml', 'pydifact'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


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
