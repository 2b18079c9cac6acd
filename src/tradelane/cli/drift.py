"""``tradelane drift [ROUTE]`` and ``tradelane drift accept ROUTE``: the shapes routes pinned
(``drift: warn|reject``), what drifted, and accepting a partner's new shape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tradelane.cli.output import LazyConsole
from tradelane.cli.tables import Column, render
from tradelane.errors import EXIT_CONFIG

console = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

_COLUMNS = (Column("route", 0, min=10, cut="middle"), Column("format", 2, cut=None),
            Column("pinned (UTC)", 3, cut=None), Column("from file", 4, cut=None),
            Column("shape", 1, min=10), Column("drift", 0, min=12))


def drift(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[accept] [ROUTE]",
        help="ROUTE: its pinned shape in full. accept ROUTE: pin the shape its last file"
        " drifted to, and resolve its drift alert.")] = None,
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Every column in full, however wide (default: fit the terminal).")
    ] = False,
) -> None:
    """Shapes pinned by routes with drift: warn|reject, and what drifted (exit 5 if ROUTE has
    no pinned shape, 6 if accept finds nothing drifted)."""
    from tradelane.cli.main import _ledger, _or_exit, _print_json
    from tradelane.drift import Drift

    words = list(words or [])
    accept = bool(words) and words[0] == "accept"
    if accept:
        words = words[1:]
    if len(words) > 1 or (accept and not words):
        err.print("usage: tradelane drift [ROUTE] | tradelane drift accept ROUTE")
        raise typer.Exit(EXIT_CONFIG)
    route = words[0] if words else None
    with _ledger(project) as (_p, ledger):
        shapes = Drift(ledger)
        if accept:
            assert route is not None
            before = _or_exit(lambda: _pinned(shapes.pinned, route))
            after = _or_exit(lambda: shapes.accept(route))
            if as_json:
                _print_json(after.as_dict())
                return
            console.print(f"route {route}: pinned its new shape (accepted "
                          f"{'; '.join(before.as_dict()['drifted'])}); its drift alert is"
                          " resolved. Reprocess the files it quarantined: tradelane"
                          f" quarantine reprocess --all --route {route}", soft_wrap=True)
            return
        pinned = [_or_exit(lambda: _pinned(shapes.pinned, route))] if route \
            else shapes.all()
    rows = [p.as_dict() for p in pinned]
    if as_json:
        _print_json(rows if route is None else rows[0])
        return
    if not rows:
        console.print("no route has pinned a shape yet (set drift: warn or drift: reject in"
                      " a mapping; its next file is pinned)")
        return
    from rich.text import Text

    render(console, _COLUMNS, [(
        r["route"], r["format"], r["pinned_at"][:16].replace("T", " "),
        str(r["pinned_from"] or ""), _summary(r["shape"]),
        Text("; ".join(r["drifted"]), style="red") if r["drifted"] else "none")
        for r in rows], title="Pinned shapes", wide=wide)
    if route is not None:  # the whole shape and every change, wrapped, never cut
        for group, names in rows[0]["shape"].items():
            console.print(f"{group}: {', '.join(names)}")
        for change in rows[0]["drifted"]:
            console.print(f"drifted (file {rows[0]['seen_from']}): {change}", style="red")


def _pinned(find: Callable[[str], Any], route: str | None) -> Any:
    from tradelane.errors import NotFound

    assert route is not None
    found = find(route)
    if found is None:
        raise NotFound(route, "pinned shape for route")
    return found


def _summary(shape: dict[str, list[str]]) -> str:
    return ", ".join(f"{group} ({len(names)})" for group, names in shape.items())
