"""The commands' consoles, made at their first use: importing rich (its console, text, styles,
markup) is about a twentieth of an empty ``tradelane run --once``, which prints one plain line
to a pipe or a cron log, where rich would add nothing to it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

#: Environment variables with which rich may take a pipe for a terminal (rich.console's
#: ``Console.is_terminal``): with any of them set, rich decides.
_TERMINAL_HINTS = ("TTY_COMPATIBLE", "FORCE_COLOR")
#: Rich wraps at this width when it is not writing to a terminal (and COLUMNS is not set).
_PIPE_WIDTH = 80


class LazyConsole:
    """A ``rich.console.Console(**options)`` made when an attribute is first asked of it."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._made: Console | None = None

    @property
    def rich(self) -> Console:
        """The console itself (for rich objects that take one, such as a progress bar)."""
        if self._made is None:
            from rich.console import Console

            self._made = Console(**self._options)
        return self._made

    def __getattr__(self, name: str) -> Any:  # print, width, file...: the console's own
        if name.startswith("_"):  # ours, before __init__ set them (a copy): never rich's
            raise AttributeError(name)
        return getattr(self.rich, name)

    def _stream(self) -> TextIO | None:
        return sys.stderr if self._options.get("stderr") else sys.stdout

    def _surely_not_a_terminal(self) -> bool:
        """What rich would answer for ``is_terminal`` when it is False for certain, found
        without rich: not a TTY and none of the hints that make rich think otherwise."""
        if self._made is not None or set(self._options) - {"stderr", "highlight"}:
            return False
        if any(hint in os.environ for hint in _TERMINAL_HINTS):
            return False
        stream = self._stream()
        if stream is None:  # no stdout at all (pythonw): rich knows what to do
            return False
        isatty = getattr(stream, "isatty", None)
        try:
            return isatty is None or not isatty()
        except ValueError:  # a closed stream: rich says False too
            return True

    #: Rich wraps at this width when it is not writing to a terminal (and COLUMNS is not set).
    PIPE_WIDTH = _PIPE_WIDTH

    def plain_stream(self) -> TextIO | None:
        """The stream, when it is surely not a terminal and rich's width there is
        ``PIPE_WIDTH``: what rich would write can then be written without it."""
        if "COLUMNS" in os.environ or not self._surely_not_a_terminal():
            return None
        return self._stream()

    @property
    def is_terminal(self) -> bool:
        return False if self._surely_not_a_terminal() else self.rich.is_terminal

    def line(self, text: str, **options: Any) -> None:
        """Print ``text`` as it is (no markup, no emoji codes; ``options`` for rich's
        ``print`` on a terminal); a short line to a pipe is written without rich, which
        would write the same."""
        stream = self.plain_stream() if len(text) < _PIPE_WIDTH and "\n" not in text \
            else None
        if stream is not None:
            stream.write(text + "\n")
            stream.flush()
        else:
            self.rich.print(text, markup=False, emoji=False, **options)
