"""The option reference as text (``tradelane spec``), JSON and Markdown (``docs/reference.md``).

Plain text of fixed shape, whatever the terminal: the golden tests compare it exactly.
"""

from __future__ import annotations

import json
import textwrap
from itertools import groupby

from tradelane.spec.reference import ROUTE_SECTION, SETTINGS_SECTION, Option

_TITLES = {
    SETTINGS_SECTION: "tradelane.yaml: engine settings (every key optional)",
    ROUTE_SECTION: "route: one mapping file, mappings/<name>.yaml",
}
MARKDOWN_COMMAND = "tradelane spec --markdown > docs/reference.md"


def _title(section: str) -> str:
    if section in _TITLES:
        return _TITLES[section]
    family, _, kind = section.partition(".")
    where = "a connection of tradelane.yaml" if family == "connection" \
        else f"a route's {family}:"
    return f"{section}: {where} of kind {kind}"


def _default(option: Option) -> str:
    return "required" if option.required else f"default {option.default}"


def render_text(options: list[Option], width: int = 88) -> str:
    lines: list[str] = []
    for section, group in groupby(options, key=lambda o: o.section):
        lines += [_title(section), "=" * min(len(_title(section)), width), ""]
        for o in group:
            lines.append(f"{o.path}  ({o.type}; {_default(o)})")
            lines += textwrap.wrap(o.description, width - 4, initial_indent="    ",
                                   subsequent_indent="    ")
            if o.example:
                lines.append(f"    example: {o.example}")
            lines.append("")
    return "\n".join(lines)


def render_json(options: list[Option]) -> str:
    return json.dumps([o.as_dict() for o in options], indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(options: list[Option]) -> str:
    out = ["# Option reference", "",
           f"Generated from the declarations in `src/tradelane/spec/` by `{MARKDOWN_COMMAND}`"
           " (or `make docs`); a test fails when this file is stale. The same reference,"
           " for one section or option: `tradelane spec format.csv`, `tradelane spec"
           " route.expect`, with `--json` for scripts.", ""]
    sections = [s for s, _ in groupby(options, key=lambda o: o.section)]
    out += [f"- [{s}](#{s.replace('.', '')})" for s in sections] + [""]
    for section, group in groupby(options, key=lambda o: o.section):
        out += [f"## {section}", "", _title(section).partition(": ")[2].capitalize() + ".", "",
                "| option | type | default | description | example |",
                "|---|---|---|---|---|"]
        for o in group:
            example = f"`{_cell(o.example)}`" if o.example else ""
            default = "*required*" if o.required else f"`{_cell(o.default)}`"
            out.append(f"| `{o.path}` | {_cell(o.type)} | {default} | {_cell(o.description)}"
                       f" | {example} |")
        out.append("")
    return "\n".join(out)
