"""``tradelane partners`` and ``tradelane partners show NAME``: each trading partner with its
last interchange in and out, the acknowledgements it still owes, the next control numbers,
and the gaps in the numbers it sent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tradelane.cli.output import LazyConsole
from tradelane.cli.tables import Column, render
from tradelane.errors import EXIT_CONFIG, NotFound

console = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

#: where each number is written, shorter than its kind in the table
_TAG = {("edifact", "interchange"): "UNB", ("edifact", "message"): "UNH",
        ("x12", "interchange"): "ISA", ("x12", "group"): "GS", ("x12", "transaction"): "ST"}
_COLUMNS = (Column("partner", 0, min=8, cut="middle"), Column("last in (UTC)", 1, cut=None),
            Column("last out (UTC)", 1, cut=None),
            Column("acks", 0, cut=None, justify="right"),
            Column("next numbers", 0, min=10), Column("gaps", 0, cut=None, justify="right"))


def partners(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[show NAME]", help="show NAME: one partner in full.")] = None,
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml, mappings/ and partners/).")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Every column in full, however wide (default: fit the terminal).")
    ] = False,
) -> None:
    """Trading partners (partners/*.yaml): last interchange received and sent, the
    acknowledgements outstanding (late ones counted apart), the next control numbers and the
    gaps in the numbers received (exit 5 if NAME is no partner)."""
    from tradelane.cli.main import _ledger, _or_exit, _print_json
    from tradelane.partners import overview

    words = list(words or [])
    if words and (words[0] != "show" or len(words) != 2):
        err.print("usage: tradelane partners [--json] | tradelane partners show NAME")
        raise typer.Exit(EXIT_CONFIG)
    with _ledger(project) as (loaded, ledger):
        if words:
            name = words[1]
            if name not in loaded.partners:
                _or_exit(lambda: _raise(NotFound(name, "partner", sorted(loaded.partners))))
            [row] = overview({name: loaded.partners[name]}, ledger)
        else:
            rows = overview(loaded.partners, ledger)
    if words:
        if as_json:
            _print_json(row)
        else:
            _show(row)
        return
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("no partner yet: describe each in partners/NAME.yaml")
        return
    render(console, _COLUMNS, [(
        r["name"], _when(r["last_inbound"]), _when(r["last_outbound"]), _acks(r),
        ", ".join(f"{_TAG.get((s['standard'], s['kind']), s['kind'])} {s['next']}"
                  for s in r["sequences"]) or "-",
        str(sum(last - first + 1 for first, last in r["gaps"]))) for r in rows],
        title="Partners", wide=wide)


def _raise(error: Exception) -> None:
    raise error


def _when(seen: dict[str, Any] | None) -> str:
    """``MM-DD HH:MM REF``: the year is left out to fit 80 columns (``show`` has it)."""
    return f"{seen['at'][5:16].replace('T', ' ')} {seen['control_ref']}" if seen else "-"


def _acks(row: dict[str, Any]) -> str:
    late = f" ({row['acks_late']} late)" if row["acks_late"] else ""
    return f"{row['acks_waiting']}{late}"


def _show(row: dict[str, Any]) -> None:
    lines = [f"partner {row['name']}" + (f": {row['description']}" if row["description"]
                                          else "")]
    for label, key in (("owner", "owner"), ("EDIFACT id", "edifact"), ("X12 id", "x12")):
        if row[key]:
            lines.append(f"  {label}: {row[key]}")
    if row["transports"]:
        lines.append(f"  transports: {', '.join(row['transports'])}")
    for label, key in (("last received", "last_inbound"), ("last sent", "last_outbound")):
        seen = row[key]
        lines.append(f"  {label}: " + (
            f"interchange {seen['control_ref']} at {seen['at'][:19].replace('T', ' ')} UTC"
            f" (route {seen['route']}, file {seen['file_id']})" if seen else "none yet"))
    lines.append(f"  acknowledgements outstanding: {_acks(row)}")
    for s in row["sequences"]:
        lines.append(f"  next {s['standard']} {s['kind']} number: {s['next']} (max {s['max']},"
                     f" rolled over {s['rollovers']} times)")
    for first, last in row["gaps"]:
        missing = str(first) if first == last else f"{first} to {last}"
        lines.append(f"  gap: interchange {missing} never received")
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
