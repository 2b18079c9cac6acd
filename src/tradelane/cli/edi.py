"""``tradelane edi describe ORDERS --directory D96A [--segment NAD] [--json]``: a message type
as its UN/EDIFACT directory defines it (groups, segments, elements, codes).

Exit codes: 0 shown; 2 no such directory, message type or segment (with "did you mean").
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelane.cli.output import LazyConsole
from tradelane.errors import EXIT_CONFIG

if TYPE_CHECKING:
    from tradelane.edi.directory import (
        Codes,
        DataElement,
        MessageDef,
        Node,
        Position,
        SegmentDef,
    )

# The directories (their dataclasses, gzip, importlib.resources) are imported by the edi
# commands themselves: every other command registers this group without them.

edi_app = typer.Typer(help="The UN/EDIFACT directories: message structures, segments, codes.",
                      no_args_is_help=True)
out = LazyConsole(highlight=False, soft_wrap=True)
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)
WIDTH = 80


def _max(n: int) -> str:
    from tradelane.edi.directory import UNBOUNDED
    return "n" if n == UNBOUNDED else str(n)


def _repr(el: DataElement) -> str:
    if el.max_length == 0:
        return el.representation
    if el.min_length == el.max_length:
        return f"{el.representation}{el.max_length}"
    return f"{el.representation}..{el.max_length}"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _tree_lines(nodes: tuple[Node, ...], prefix: str = "") -> list[str]:
    from tradelane.edi.directory import GroupNode
    lines: list[str] = []
    for k, node in enumerate(nodes):
        last = k == len(nodes) - 1
        branch, inner = ("└─ ", "   ") if last else ("├─ ", "│  ")
        mc = "M" if node.min_occurs else "C"
        if isinstance(node, GroupNode):
            head = f"{prefix}{branch}{node.name:<5} {mc} {_max(node.max_occurs):>6}  "
            lines.append(head + _fit(f"group ({node.trigger})", WIDTH - len(head)))
            lines += _tree_lines(node.children, prefix + inner)
        else:
            head = f"{prefix}{branch}{node.tag:<5} {mc} {_max(node.max_occurs):>6}  "
            lines.append(head + _fit(node.segment.name.capitalize(), WIDTH - len(head)))
    return lines


def _element_line(path: str, number: str, name: str, mandatory: bool, rep: str,
                  codes: Codes | None, show_codes: bool) -> list[str]:
    line = f"  {path:<6} {number:<5} {_fit(name, 40):<40} {'M' if mandatory else 'C'}  {rep:<7}"
    if codes:
        line += f" {len(codes)} codes"
    lines = [line.rstrip()]
    if codes and show_codes:
        text = " ".join(sorted(codes, key=lambda c: (len(c), c)))
        while text:
            cut = text[: WIDTH - 15]
            if len(text) > len(cut) and " " in cut:
                cut = cut[: cut.rindex(" ")]
            lines.append(" " * 14 + cut)
            text = text[len(cut):].lstrip()
    return lines


def _segment_lines(tag: str, seg: SegmentDef, where: list[str], show_codes: bool) -> list[str]:
    places = f"in {', '.join(where)}" if where else "at message level"
    lines = [_fit(f"{tag}  {seg.name}  ({places})", WIDTH)]
    for pos in seg.positions:
        rep = f" x{_max(pos.repeats)}" if pos.repeats != 1 else ""
        if pos.element is not None:
            el = pos.element
            lines += _element_line(str(pos.position), el.number, el.name + rep,
                                   pos.mandatory, _repr(el), el.codes, show_codes)
            continue
        assert pos.composite is not None
        lines += _element_line(f"{pos.position}", pos.number, pos.name + rep, pos.mandatory,
                               "", None, False)
        for c, comp in enumerate(pos.composite.components, start=1):
            el = comp.element
            lines += _element_line(f"{pos.position}.{c}", el.number, "  " + el.name,
                                   comp.mandatory, _repr(el), el.codes, show_codes)
    return lines


def _definitions(message: MessageDef, tag: str) -> list[tuple[SegmentDef, list[str]]]:
    from tradelane.edi.directory import SegmentNode
    found: dict[int, tuple[SegmentDef, list[str]]] = {}
    for path, node in message.walk():
        if isinstance(node, SegmentNode) and node.tag == tag:
            _, where = found.setdefault(id(node.segment), (node.segment, []))
            if path and path[-1] not in where:
                where.append(path[-1])
    return list(found.values())


def _element_json(el: DataElement) -> dict[str, Any]:
    return {"number": el.number, "name": el.name, "representation": el.representation,
            "min_length": el.min_length, "max_length": el.max_length,
            "codes": sorted(el.codes) if el.codes else None}


def _position_json(pos: Position) -> dict[str, Any]:
    row: dict[str, Any] = {"position": pos.position, "mandatory": pos.mandatory,
                           "repeats": pos.repeats}
    if pos.element is not None:
        return {**row, **_element_json(pos.element)}
    assert pos.composite is not None
    return {**row, "number": pos.composite.number, "name": pos.composite.name,
            "components": [{"position": k, "mandatory": c.mandatory, **_element_json(c.element)}
                           for k, c in enumerate(pos.composite.components, start=1)]}


def _node_json(node: Node) -> dict[str, Any]:
    from tradelane.edi.directory import GroupNode
    if isinstance(node, GroupNode):
        return {"group": node.name, "min": node.min_occurs, "max": node.max_occurs,
                "children": [_node_json(c) for c in node.children]}
    return {"segment": node.tag, "name": node.segment.name, "min": node.min_occurs,
            "max": node.max_occurs}


@edi_app.command()
def describe(
    message: Annotated[str, typer.Argument(help="Message type, e.g. ORDERS.")],
    directory: Annotated[str, typer.Option("--directory", "-d",
                                           help="D93A..D10B, or EAN94, EAN97, EAN02, EAN02S4.")],
    segment: Annotated[str | None, typer.Option("--segment", "-s",
                                                help="Show one segment's elements.")] = None,
    codes: Annotated[bool, typer.Option("--codes", help="List each element's codes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show a message type's structure as a tree, or one segment's elements and codes."""
    from tradelane.edi.directory import UnknownDirectory, load
    try:
        msg = load(directory, message)
    except UnknownDirectory as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_CONFIG) from exc
    if segment is None:
        if as_json:
            out.print_json(json.dumps({"directory": msg.directory, "base": msg.base,
                                       "message": msg.type, "name": msg.name,
                                       "structure": [_node_json(n) for n in msg.structure]}))
            return
        out.print(_fit(f"{msg.type} {msg.directory}: {msg.name}"
                       "   (M/C mandatory or conditional, max repeats)", WIDTH))
        for line in _tree_lines(msg.structure):
            out.print(line, markup=False)
        return
    tag = segment.upper()
    found = _definitions(msg, tag)
    if not found:
        close = difflib.get_close_matches(tag, msg.tags(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        err.print(f"[red]{tag} is not a segment of {msg.type} in {msg.directory}{hint}[/red]")
        raise typer.Exit(EXIT_CONFIG)
    if as_json:
        out.print_json(json.dumps({"directory": msg.directory, "message": msg.type,
                                   "segment": tag, "definitions": [
                                       {"name": seg.name, "in": where,
                                        "elements": [_position_json(p) for p in seg.positions]}
                                       for seg, where in found]}))
        return
    for k, (seg, where) in enumerate(found):
        if k:
            out.print()
        for line in _segment_lines(tag, seg, where, codes):
            out.print(line, markup=False)


@edi_app.command("directories")
def list_directories(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the directories and EANCOM subsets tradelane knows."""
    from tradelane.edi.directory import directories
    keys = directories()
    if as_json:
        out.print_json(json.dumps(keys))
        return
    out.print(" ".join(keys))
