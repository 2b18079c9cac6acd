"""Tables that fit the terminal: the important columns first, long names shortened in the
middle (``ORDERS_2026…0815.edi``), never wrapped letter by letter. ``--wide`` prints
everything in full.

A column says how much it matters (``priority``: lower is kept longer), the narrowest it
may get (``min``) and how its cells are cut (``cut``: "middle" for names, keeping the start
and the extension; "end" for prose; ``None`` for values that must stay whole, such as ids).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from tradelane.cli.output import LazyConsole

if TYPE_CHECKING:  # rich is imported when a table is printed on a terminal
    from rich.console import Console
    from rich.text import Text

#: What each column costs beyond its text: one space either side and a separator.
_OVERHEAD = 3
ELLIPSIS = "…"
#: What rich reads as an emoji code (``:smile:``) in a plain string (rich's ``_emoji_replace``)
_EMOJI_CODE = re.compile(r":\S*?:")


@dataclass(frozen=True)
class Styled:
    """A cell in a style (a rich style name) on a terminal; plain text anywhere else."""

    text: str
    style: str


Cell: TypeAlias = "str | Styled | Text"


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


def _no_markup(text: str) -> bool:
    """Whether rich would print ``text`` as it is: no markup tag, no emoji code."""
    return "[" not in text and not _EMOJI_CODE.search(text)


def _plain(cell: Cell) -> str:
    if isinstance(cell, Styled):
        return cell.text
    if isinstance(cell, str) and _no_markup(cell):
        return cell
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain


def layout(columns: Sequence[Column], rows: Sequence[Sequence[Cell]],
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


def render(console: Console | LazyConsole, columns: Sequence[Column],
           rows: Sequence[Sequence[Cell]], *, title: str | None = None,
           wide: bool = False) -> None:
    """Print the table within the console's width (every column in full with ``wide``)."""
    stream = console.plain_stream() if isinstance(console, LazyConsole) and not wide else None
    if stream is not None:
        lines = plain_table(columns, rows, title=title, width=console.PIPE_WIDTH)
        if lines is not None:
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()
            if lines.hidden:
                console.line(f"(not shown: {', '.join(lines.hidden)}; --wide for every column)",
                             style="dim", highlight=False)
            return
    from rich.console import Console
    from rich.text import Text

    rows = [[Text(c.text, style=c.style) if isinstance(c, Styled) else c for c in row]
            for row in rows]

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


class _Lines(list[str]):
    """A table's lines, and the names of the columns left out to fit."""

    hidden: tuple[str, ...] = ()


def plain_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *,
                title: str | None, width: int) -> _Lines | None:
    """The lines rich prints for ``render``'s table where it is not writing to a terminal,
    made without rich; None when rich is needed to get them right (a cell or title with
    markup, an emoji code, a character other than printable ASCII, spaces at an end, or
    anything rich would wrap or cut with its own rules)."""
    texts = [[c.text if isinstance(c, Styled) else c for c in row] for row in rows]
    if any(not isinstance(t, str) or not _simple(t) for row in texts for t in row) \
            or (title is not None and not _simple(title)):
        return None
    widths = layout(columns, texts, width)
    order = sorted(widths)
    if any(isinstance(row[i], Styled) and len(row[i].text) > widths[i]  # type: ignore[union-attr]
           for row in rows for i in order):
        return None  # rich cuts a styled cell its own way
    cells = [[shorten(row[i], widths[i], columns[i].cut) for i in order] for row in texts]
    sizes = [max([len(columns[i].name)] + [len(row[k]) for row in cells])
             for k, i in enumerate(order)]
    if any(size > widths[i] for size, i in zip(sizes, order, strict=True)):
        return None  # rich would cut a header or a whole-value cell
    total = sum(sizes) + _OVERHEAD * (len(order) - 1) + 2
    if total > width or (title and len(title) > total):
        return None

    def line(values: Sequence[str]) -> str:
        return " " + "   ".join(
            value.rjust(size) if columns[i].justify == "right" else value.ljust(size)
            for value, size, i in zip(values, sizes, order, strict=True)) + " "

    lines = _Lines([title.ljust(total)] if title else [])  # rich shows no empty title
    lines += [" " * total, line([columns[i].name for i in order]),
              " " + "\u2500" * (total - 2) + " ", *(line(row) for row in cells), " " * total]
    lines.hidden = tuple(c.name for i, c in enumerate(columns) if i not in widths)
    return lines


def _simple(text: str) -> bool:
    """One character, one column, printed as it is: printable ASCII without markup, nor
    spaces at either end (which rich trims when it justifies)."""
    return text.isascii() and text.isprintable() and _no_markup(text) \
        and text == text.strip(" ")
