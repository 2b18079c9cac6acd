"""A route's EDIFACT field paths checked against its directory, for ``tradelane check``.

When a route names its directory (``format.directory``) and its message types
(``format.messages``), each compiled path must name a segment the message has, an element
and component position its definition has, and a qualifier its code list holds; what does
not is refused with a "did you mean".
"""

from __future__ import annotations

import difflib
from typing import Any

from tradelane.edi.directory import MessageDef, Position, UnknownDirectory, load

ENVELOPE = frozenset({"UNA", "UNB", "UNG", "UNE", "UNZ"})  # not in a message's structure


def path_problem(directory: str | None, message_types: list[str] | None, path: Any,
                 where: str) -> str | None:
    """Why ``path`` (a compiled ``SegmentPath``) cannot be in these messages, or None."""
    if not directory or not message_types or path.tag in ENVELOPE:
        return None
    problems: list[str] = []
    for message_type in message_types:
        try:
            message = load(directory, message_type)
        except UnknownDirectory as exc:
            return f"{where}: {exc}"
        problem = _in_message(message, path)
        if problem is None:
            return None  # one accepted message type has it
        problems.append(problem)
    return f"{where}: {path.text!r}: {'; '.join(problems)}"


def _in_message(message: MessageDef, path: Any) -> str | None:
    tag = path.tag
    definitions = message.segments(tag)
    what = f"{message.type} in {message.directory}"
    if not definitions:
        close = difflib.get_close_matches(tag, message.tags(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"{tag} is not a segment of {what}{hint}"
    faults = [_in_segment(positions.positions, path) for positions in definitions]
    if any(fault is None for fault in faults):
        return None
    return f"{faults[0]} ({what})"


def _in_segment(positions: tuple[Position, ...], path: Any) -> str | None:
    tag, element, component = path.tag, path.element, path.component
    if element > len(positions):
        return f"{tag} has {len(positions)} elements; there is no element {element}"
    pos = positions[element - 1]
    if component is not None:
        if pos.composite is None:
            return f"{tag}.{element} ({pos.number}) is a simple element; it has no components"
        if component >= len(pos.composite.components):
            return (f"{tag}.{element} ({pos.number}) has {len(pos.composite.components)}"
                    f" components; there is no component {component + 1}")
    if path.qualifier:
        first = positions[0]
        el = first.element or (first.composite.components[0].element
                               if first.composite else None)
        if el is not None and el.codes and path.qualifier not in el.codes:
            close = difflib.get_close_matches(path.qualifier, sorted(el.codes), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return f"[{path.qualifier}] is not a code of {el.number} ({el.name}){hint}"
    return None
