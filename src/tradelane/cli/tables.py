"""Tables that fit the terminal: the important columns first, long names shortened in the
middle (``ORDERS_2026…0815.edi``), never wrapped letter by letter. ``--wide`` prints
everything in full.

A column says how much it matters (``priority``: lower is kept longer), the narrowest it
may get (``min``) and how its cells are cut (``cut``: "middle" for names, keeping the start
and the extension; "end" for prose; ``None`` for values that must stay whole, such as ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when a table is printed
    from rich.console import Console
    from rich.text import Text

#: What each column costs beyond its text: one space either side and a separator.
_OVERHEAD = 3
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    name: str
    priority: int = 1  # 0: always shown; higher numbers are dropped first
    min: int = 6
    cut: str | None = "end"  # "middle", "end" or None (never cut)
    justify: str = "left"


def shorten(text: str, width: int, where: str | None = "middle") -> str:
    """``text`` in at most ``width`` characters, cut in the middle (keeping the extension)
    or at the end."""
    if len(text) <= width or where is None or width < 2:
        return text
    if where == "end":
        return text[:width - 1] + ELLIPSIS
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def _plain(cell: str | Text) -> str:
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
           width: int) -> dict[int, int]:
    """Column index -> width, for the columns that fit in ``width`` characters."""
    natural = {i: max([len(c.name)] + [len(_plain(r[i])) for r in rows])
               for i, c in enumerate(columns)}
    lowest = {i: natural[i] if c.cut is None else min(natural[i], max(c.min, 1))
              for i, c in enumerate(columns)}
    shown = list(range(len(columns)))

    def total(widths: dict[int, int]) -> int:
        return sum(widths[i] + _OVERHEAD for i in shown) + 1

    # drop the least important columns until the others fit at a readable width (twice
    # their minimum): a column cut to a stub helps nobody
    readable = {i: lowest[i] if columns[i].cut is None else min(natural[i], 2 * lowest[i])
                for i in shown}
    by_priority = sorted(shown, key=lambda i: (columns[i].priority, i), reverse=True)
    for i in by_priority:
        if total(readable) <= width or columns[i].priority == 0:
            break
        shown.remove(i)
    widths = {i: natural[i] for i in shown}
    while total(widths) > width:  # shrink the widest cuttable column one step at a time
        cuttable = [i for i in shown if widths[i] > lowest[i]]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def render(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
           *, title: str | None = None, wide: bool = False) -> None:
    """Print the table within the console's width (every column in full with ``wide``)."""
    from rich.console import Console
    from rich.text import Text

    if wide:
        widths = {i: max([len(c.name)] + [len(_plain(r[i])) for r in rows])
                  for i, c in enumerate(columns)}
        target = Console(width=sum(w + _OVERHEAD for w in widths.values()) + 1,
                         force_terminal=console.is_terminal, no_color=console.no_color,
                         file=console.file, highlight=False)
    else:
        widths = layout(columns, rows, console.width)
        target = console
    from rich import box  # a command that prints no table never imports it
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    order = sorted(widths)
    for i in order:
        table.add_column(columns[i].name, no_wrap=True, overflow="ellipsis",
                         max_width=widths[i], justify=columns[i].justify)  # type: ignore[arg-type]
    for row in rows:
        cells = []
        for i in order:
            cell = row[i]
            if isinstance(cell, Text):
                cell.truncate(widths[i], overflow="ellipsis")
                cells.append(cell)
            else:
                style_free = _plain(cell)
                short = shorten(style_free, widths[i], columns[i].cut)
                cells.append(cell if short == style_free else Text(short))
        table.add_row(*cells)
    target.print(table)
    hidden = [columns[i].name for i in range(len(columns)) if i not in widths]
    if hidden:
        console.print(f"(not shown: {', '.join(hidden)}; --wide for every column)",
                      style="dim", highlight=False)
