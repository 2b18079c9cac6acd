"""Which parts of an XML file outside its records the header fields need.

The XML reader drops every other element as soon as it ends, so that memory holds the records
being read and what the header XPaths will look at, not the whole document. A header path
that is a plain chain of child steps (``cac:AccountingSupplierParty/cac:Party/cbc:Name``,
``cbc:ID``, ``cbc:Note[2]``, ``cbc:Amount/@currencyID``) keeps just the elements along it,
with the whole subtree of the element it ends at (its text is all of its text) and of any
step with a predicate (which may look inside it). Any other XPath (``//``, axes, functions)
keeps every element whose name it mentions, with its subtree and the elements holding it;
one with a wildcard that is not a plain step keeps everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_QNAME = r"(?:[A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*"
_STEP = re.compile(rf"^(?P<name>{_QNAME}|\*)(?P<pred>(?:\[[^\[\]]*\])*)$")
_END = re.compile(rf"^(?:@{_QNAME}|text\(\))$")
_NAMES = re.compile(rf"(?<![\w@:.$-]){_QNAME}(?![\w(:-])")
_NOT_LOCAL = ("..", "::", "/", "$")  # a predicate that looks outside its element
_SELF = re.compile(r"(?<![\w.])\.(?![\w.])")  # "." on its own: the root itself


@dataclass
class Keep:
    """What one open element means for the header: the plain paths it continues (index of
    the path, number of steps matched), whether its whole subtree is needed, and whether it
    holds a needed element (found when its children end)."""

    partial: frozenset[tuple[int, int]] = frozenset()
    whole: bool = False
    holds: bool = field(default=False, compare=False)

    @property
    def needed(self) -> bool:
        return self.whole or bool(self.partial) or self.holds


class HeaderNeeds:
    def __init__(self, xpaths: list[str], namespaces: dict[str, str]):
        self.namespaces = namespaces
        self.paths: list[list[tuple[str, bool]]] = []  # (clark name or "*", has predicate)
        self.mentioned: set[str] = set()
        self.everything = False
        for text in xpaths:
            if re.fullmatch(rf"\s*(?:\./)?@{_QNAME}\s*", text):
                continue  # an attribute of the root: nothing else needed
            steps = self._plain(text)
            if steps is not None:
                self.paths.append(steps)
                continue
            names = [c for n in _NAMES.findall(text.replace("::", " "))
                     if (c := self._clark(n)) is not None]
            self.mentioned.update(names)
            if not names or "*" in text or "node()" in text or _SELF.search(text):
                self.everything = True  # the root's own string value, or any element

    def root(self) -> Keep:
        return Keep(partial=frozenset((p, 0) for p in range(len(self.paths))),
                    whole=self.everything)

    def child(self, parent: Keep, tag: str) -> Keep:
        """What an element named ``tag`` (Clark notation) inside ``parent`` means."""
        if parent.whole or tag in self.mentioned:
            return Keep(whole=True)
        partial, whole = set(), False
        for path, matched in parent.partial:
            name, predicate = self.paths[path][matched]
            if name not in ("*", tag):
                continue
            if matched + 1 == len(self.paths[path]) or predicate:
                whole = True
            else:
                partial.add((path, matched + 1))
        return Keep(partial=frozenset(partial), whole=whole)

    def _plain(self, text: str) -> list[tuple[str, bool]] | None:
        parts = text.strip().removeprefix("./").split("/")
        if parts and _END.match(parts[-1]):
            parts = parts[:-1]  # an attribute or the text of the element before it
        steps = []
        for part in parts:
            match = _STEP.match(part)
            if match is None or any(x in match["pred"] for x in _NOT_LOCAL):
                return None
            name = match["name"] if match["name"] == "*" else self._clark(match["name"])
            if name is None:
                return None
            steps.append((name, bool(match["pred"])))
        return steps or None

    def _clark(self, name: str) -> str | None:
        if ":" not in name:
            return name
        prefix, local = name.split(":", 1)
        uri = self.namespaces.get(prefix)
        return f"{{{uri}}}{local}" if uri is not None else None
