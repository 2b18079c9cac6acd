"""``tradelane acks``: the interchanges tradelane sent and the acknowledgement each got (or is
still waiting for), and the acknowledgements that answered nothing tradelane sent."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelane.cli.output import LazyConsole
from tradelane.cli.tables import Column, render

if TYPE_CHECKING:
    from rich.text import Text

    from tradelane.ledger import Ledger

console = LazyConsole(highlight=False)

_COLUMNS = (Column("id", 0, cut=None, justify="right"), Column("route", 2, min=8, cut="middle"),
            Column("sent (UTC)", 1, cut=None), Column("to", 3, min=8, cut="middle"),
            Column("interchange", 0, min=10, cut="middle"),
            Column("msgs", 4, cut=None, justify="right"), Column("ack", 0, cut=None),
            Column("detail", 1, min=12))
_STYLE = {"accepted": "green", "received": "green", "rejected": "red", "partly": "yellow"}


def acks(
    route: Annotated[str | None, typer.Option("--route", "-r", help="Only this route.")] = None,
    waiting: Annotated[bool, typer.Option(
        "--waiting", help="Only interchanges still waiting past the route's ack_within.")
    ] = False,
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Every column in full, however wide (default: fit the terminal).")
    ] = False,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 200,
) -> None:
    """Interchanges sent (EDIFACT targets) and their acknowledgement: accepted, rejected
    (with the partner's reasons), partly, or waiting (late past ack_within); then the
    acknowledgements received that match nothing sent."""
    from tradelane.cli.main import _ledger, _print_json
    from tradelane.ledger import utcnow
    from tradelane.ledger.interchanges import Tracking

    now = utcnow()
    with _ledger(project) as (_p, ledger):
        tracking = Tracking(ledger)
        sent = tracking.sent(route=route, waiting=waiting, now=now, limit=limit)
        unmatched = [] if waiting else tracking.unmatched(route=route, limit=limit)
    if as_json:
        _print_json({"sent": [s.as_dict(now) for s in sent],
                     "unmatched": [a.as_dict() for a in unmatched]})
        return
    if not sent:
        console.print("no interchange is waiting for its acknowledgement past its ack_within"
                      if waiting else "no interchange sent yet")
    else:
        render(console, _COLUMNS, [(
            str(s.id), s.route, _when(s.sent_at), s.recipient, s.control_ref, str(s.messages),
            _state(s, now), _detail(s, now)) for s in sent],
            title="Interchanges sent", wide=wide)
        refused = [s for s in sent if s.ack is not None and s.ack.errors]
        for s in refused:  # the partner's reasons in full, whatever the table had room for
            console.print(f"{s.control_ref} ({s.route}), {s.ack_state} by {s.ack.kind}"
                          f" (file {s.ack.file_id}): {'; '.join(s.ack.errors)}", markup=False)
    if unmatched:
        console.print(f"{len(unmatched)} acknowledgement(s) received for nothing tradelane"
                      " sent:")
        for a in unmatched:
            reason = f": {a.errors[0]}" if a.errors else ""
            console.print(f"  {a.kind} from {a.sender} (file {a.file_id}, route {a.route})"
                          f" answers {a.control_ref or '?'}, {a.verdict}{reason}",
                          markup=False)


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _state(s: Any, now: datetime) -> Text:
    from rich.text import Text

    if s.overdue(now):
        return Text("late", style="red")
    if s.ack_state == "waiting" and s.ack_due_at is None:
        return Text("sent")  # no answer expected (no ack_within)
    return Text(s.ack_state, style=_STYLE.get(s.ack_state, ""))


def _detail(s: Any, now: datetime) -> str:
    if s.ack is not None:  # the partner's reasons first: they are what ops need
        if s.ack.errors:
            return f"{s.ack.kind}: {'; '.join(s.ack.errors)}"
        return f"{s.ack.kind} of {_when(s.ack.received_at)} (file {s.ack.file_id})"
    if s.ack_due_at is None:
        return "no acknowledgement expected (no ack_within)"
    late = "was due" if s.overdue(now) else "due"
    return f"{late} {_when(s.ack_due_at)}"


def late_acks(ledger: Ledger, rows: list[dict[str, Any]]) -> None:
    """Add to ``tradelane status`` rows: per route, the interchanges still waiting past
    ``ack_within`` (``acks_late``, a count) and which (``acks_late_list``)."""
    from tradelane.ledger import utcnow
    from tradelane.ledger.interchanges import Tracking

    now = utcnow()
    late: dict[str, list[dict[str, Any]]] = {}
    for s in Tracking(ledger).overdue(now):
        late.setdefault(s.route, []).append(s.as_dict(now))
    for row in rows:
        found = late.get(row["route"], [])
        row["acks_late"] = len(found)
        row["acks_late_list"] = found
