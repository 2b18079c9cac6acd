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


# -- directory codes and segment groups (group-aware mapping) -------------------------------


def directory_layouts(directory: str | None, message_types: list[str] | None) -> Any:
    """A function giving a segment's layout (``edifact_paths._LAYOUT``'s form: element codes
    and (composite, component codes), a repeated code numbered ``_2``...) from the route's
    directory, or None when the route does not name its directory and message types."""
    if not directory or not message_types:
        return None

    def layout(tag: str) -> tuple[Any, ...] | None:
        for message_type in message_types:
            try:
                found = load(directory, message_type).segments(tag)
            except UnknownDirectory:
                return None
            if found:
                return tuple(_entry(pos) for pos in _numbered(found[0].positions))
        return None

    return layout


def _numbered(positions: tuple[Position, ...]) -> list[tuple[str, Position]]:
    seen: dict[str, int] = {}
    out = []
    for pos in positions:
        seen[pos.number] = seen.get(pos.number, 0) + 1
        k = seen[pos.number]
        out.append((pos.number if k == 1 else f"{pos.number}_{k}", pos))
    return out


def _entry(item: tuple[str, Position]) -> Any:
    code, pos = item
    if pos.composite is None:
        return code
    seen: dict[str, int] = {}
    comps = []
    for c in pos.composite.components:
        seen[c.element.number] = seen.get(c.element.number, 0) + 1
        k = seen[c.element.number]
        comps.append(c.element.number if k == 1 else f"{c.element.number}_{k}")
    return (code, tuple(comps))


def records_problem(route: Any) -> str | None:
    """Why the route's ``format.records`` names no group of its messages, or None."""
    fmt = route.format
    records = getattr(fmt, "records", None)
    if not records:
        return None
    from tradelane.edi.groups import GROUP_NAME, GroupPlan, machine
    from tradelane.errors import ConfigError

    directory, types = getattr(fmt, "directory", None), getattr(fmt, "messages", None)
    if not directory or not types:
        if GROUP_NAME.match(records):
            return (f"format.records: {records} is numbered by a directory: name"
                    " format.directory and format.messages too (or use its trigger segment,"
                    " e.g. LIN)")
        return None
    problems = []
    for message_type in types:
        try:
            GroupPlan(machine(directory, message_type), records)
        except UnknownDirectory as exc:
            return f"format.directory: {exc}"
        except ConfigError as exc:
            problems.extend(exc.problems)
    return "; ".join(problems) if len(problems) == len(types) else None


def source_problem(route: Any, source: str, where: str, part: str) -> str | None:
    """Why an EDIFACT field source cannot be read as the route says, or None: the path's
    syntax and codes, its place in the directory, and (for a path several segments of one
    record's scope may carry) a missing ``take``."""
    from tradelane.errors import ConfigError
    from tradelane.formats.edifact_paths import LINKS, compile_path

    if source in LINKS:
        return None
    fmt = route.format
    directory, types = getattr(fmt, "directory", None), getattr(fmt, "messages", None)
    try:
        path = compile_path(source, where=where, layouts=directory_layouts(directory, types))
    except ConfigError as exc:
        return "; ".join(exc.problems)
    records = getattr(fmt, "records", None)
    if part == "fields" and path.group and records and not encloses(path.group, records,
                                                                     directory, types):
        return (f"{where}: {source!r} names the group {path.group}, which is neither"
                f" format.records ({records}) nor a group around it")
    problem = path_problem(directory, types, path, where)
    if problem or not directory or not types or path.tag in ENVELOPE:
        return problem
    name = where.split(".")[1]
    spec = (route.fields if part == "fields" else route.header).get(name)
    if spec is not None and getattr(spec, "take", None) is None:
        return ambiguity(directory, types, records if part == "fields" else None, path, where)
    return None


def ambiguity(directory: str, types: list[str], records: str | None, path: Any,
              where: str) -> str | None:
    """A message naming the groups where ``path`` may repeat for one record, or None."""
    from tradelane.edi.groups import GroupPlan, machine
    from tradelane.errors import ConfigError

    for message_type in types:
        try:
            plan = GroupPlan(machine(directory, message_type), records)
        except (UnknownDirectory, ConfigError):
            continue  # reported by records_problem
        only = plan.level_of(path.group) if path.group and records else None
        for tier in plan.tiers(path.tag, path.qualifier is not None, only):
            if not tier.ambiguous:
                continue
            if records is None:
                at = "one message"
            elif tier.level == 0 or only is not None:
                at = "one record" if tier.level == 0 else \
                    f"one record, read in its {plan.level_name(tier.level)}"
            else:  # read there only for a record that has none of its own
                level = plan.level_name(tier.level)
                at = ("a record without one of its own, read at message level"
                      if level == "message" else
                      f"a record without one of its own, read in its {level}")
            repeats = ", ".join(tier.repeats) or f"{len(tier.nodes)} places"
            return (f"{where}: {path.text!r} may match several {path.tag} segments for {at}"
                    f" in {message_type} (in {'; '.join(tier.places)}; repeating: {repeats});"
                    " say which with take: first, last or all")
    return None


def encloses(group: str, records: str, directory: str | None,
             types: list[str] | None) -> bool:
    """``group`` (``SG10`` or its trigger ``CPS``) is the records' group or one around it in
    each of the route's messages; without a directory, only the records' own name counts."""
    if group == records:
        return True
    if not directory or not types:
        return False
    from tradelane.edi.groups import GroupPlan, machine
    from tradelane.errors import ConfigError

    try:
        return all(GroupPlan(machine(directory, t), records).level_of(group) is not None
                   for t in types)
    except (UnknownDirectory, ConfigError):
        return False
