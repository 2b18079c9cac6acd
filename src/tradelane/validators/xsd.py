"""``xsd:`` steps: XML Schema 1.0 through lxml (libxml2).

A file up to ``max_tree_bytes`` is parsed into a tree and validated, so every error has its
line and the XPath of the element. A larger one is validated while it is parsed (libxml2
checks the stream of parse events, not a tree) and the records are freed as they end, so
memory stays bounded whatever the size. libxml2 gives no line for errors found that way, so
a file with errors is read a second time in small windows, each error placed in the window
where it appeared, at the element its message names; a valid file, the common case, is read
once, in ``CHUNK``s, with Python work per chunk rather than per record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from tradelane.abc import Findings
from tradelane.errors import ConfigError, MalformedInput
from tradelane.formats.xml import _SAFE, _refuse_doctype
from tradelane.models import Issue
from tradelane.spec import RouteSpec
from tradelane.spec.validate import XsdStep
from tradelane.staging import Staged
from tradelane.validators.confine import SchemaFolder
from tradelane.validators.xmlsafe import load_tree

#: Whitespace between elements is not kept (libxml2 keeps a leaf's blank text and mixed
#: content's): it means nothing to a schema, and a third fewer nodes to build and check.
_LEAN = {"remove_blank_text": True, "collect_ids": False}
#: Bytes handed to the streaming parser at a time: the precision of a streamed error's line.
WINDOW = 4 * 1024
#: Bytes fed at a time to the first pass (16-64 KB were fastest on the 50 MB bench; larger
#: ones keep more of the tree alive between two frees, and are slower).
CHUNK = 32 * 1024
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_VALUE = re.compile(r"'([^']*)' is not (?:a valid value|accepted|facet-valid)"
                    r"|[Tt]he value '([^']*)'")


class XsdValidator:
    def __init__(self, step: XsdStep, folder: SchemaFolder):
        self.step, self.folder = step, folder
        self.schema: etree.XMLSchema | None = None

    def compile(self) -> list[Path]:
        files: list[Path] = []
        shown = self.step.xsd
        tree = load_tree(self.folder.step_file(shown), self.folder, shown, files)
        try:
            self.schema = etree.XMLSchema(tree)
        except etree.XMLSchemaParseError as exc:
            first = next(iter(exc.error_log), None)
            where = (f" ({self.folder.name(Path(first.filename))} line {first.line})"
                     if first is not None and first.line else "")
            raise ConfigError(f"{shown}: not a usable XML Schema{where}:"
                              f" {first.message if first is not None else exc}") from None
        return files

    def files(self) -> list[Path]:
        """The schema and every file it imports or includes, without compiling it."""
        files: list[Path] = []
        load_tree(self.folder.step_file(self.step.xsd), self.folder, self.step.xsd, files)
        return files

    def validate(self, staged: Staged, route: RouteSpec, *, limit: int) -> Findings:
        assert self.schema is not None
        _refuse_doctype(staged)
        if staged.size <= self.step.max_tree_bytes:
            return self._tree(staged, limit)
        tag = _record_tag(route)
        if self._valid_streamed(staged, tag):
            return Findings([])
        return self._streamed(staged, limit, tag)

    def _tree(self, staged: Staged, limit: int) -> Findings:
        assert self.schema is not None
        etree.clear_error_log()
        try:
            with staged.open() as fh:
                tree = etree.parse(fh, etree.XMLParser(**_SAFE, **_LEAN))
        except etree.XMLSyntaxError as exc:
            raise _malformed(exc) from None
        if self.schema.validate(tree):
            return Findings([])
        errors = list(self.schema.error_log)
        return Findings([_issue(e.line, e.column, e.path or "", e.message)
                         for e in errors[:limit]], count=len(errors))

    def _valid_streamed(self, staged: Staged, tag: str | None) -> bool:
        """The first pass: whether the file meets the schema (a malformed one raises).
        ``tag``: the route's record element; after each chunk the records that ended in it
        are dropped from their parents, in one slice each."""
        assert self.schema is not None
        etree.clear_error_log()
        with staged.open() as fh:
            head, root = _root_tag(fh)
            # the root's end is asked for too: with a schema and resolve_entities off, lxml
            # reports no error for a file that stops mid-element (a truncated upload)
            tags = None if tag is None else [tag] + ([root] if root and root != tag else [])
            parser = etree.XMLPullParser(events=("end",), tag=tags, schema=self.schema,
                                         **_SAFE, **_LEAN)
            ended = False
            try:
                chunk = head
                while chunk:
                    parser.feed(chunk)
                    ended = _free(parser.read_events(), every=tag is None) or ended
                    chunk = fh.read(CHUNK)
                parser.close()
            except etree.XMLSyntaxError as exc:
                if {e.domain_name for e in exc.error_log} != {"SCHEMASV"}:
                    raise _malformed(exc) from None  # not only schema errors (or none said)
                return False
        if root is not None and not ended:
            raise MalformedInput("the file is not well-formed XML: it ends before its root"
                                 f" element {etree.QName(root).localname} is closed"
                                 " (cut short?)", location="the end of the file")
        return True

    def _streamed(self, staged: Staged, limit: int, tag: str | None) -> Findings:
        """The second pass, for a file with errors: each one located. ``tag``: the route's
        record element; freeing each record as it ends is enough to keep memory flat."""
        assert self.schema is not None
        etree.clear_error_log()  # the thread's log may hold an earlier file's errors
        with staged.open() as fh:
            feed = _Windows(fh)
            events = etree.iterparse(feed, events=("end",), tag=tag, schema=self.schema,
                                     **_SAFE, **_LEAN)
            feed.watch(lambda: events.error_log)
            try:
                for _, elem in events:
                    elem.clear(keep_tail=True)
                    parent = elem.getparent()
                    if parent is not None:  # drop what came before: memory stays flat
                        while elem.getprevious() is not None:
                            del parent[0]
            except etree.XMLSyntaxError as exc:
                found = [e for e in exc.error_log if e.domain_name == "SCHEMASV"]
                if len(found) < len(exc.error_log):
                    raise _malformed(exc) from None
            feed.catch_up()
        issues = [Issue(location=where, field="", value="", rule="xsd", message=message.strip())
                  for where, message in feed.found[:limit]]
        return Findings(issues, count=len(feed.found))


def _root_tag(fh: BinaryIO) -> tuple[bytes, str | None]:
    """The first bytes of the file (read up to its root's start tag, or 1 MB) and the root
    element's tag (None if it is not in them, or they do not parse)."""
    head = etree.XMLPullParser(events=("start",), **_SAFE)
    read = b""
    try:
        while len(read) < (1 << 20) and (chunk := fh.read(CHUNK)):
            read += chunk
            head.feed(chunk)
            for _, elem in head.read_events():
                return read, str(elem.tag)
    except etree.XMLSyntaxError:
        pass  # the validating parser says where
    return read, None


def _free(events: Any, *, every: bool) -> bool:
    """Drop from the tree the elements that ended before the last one of each parent (the
    last is dropped with the next chunk's: the parser may still append after it).
    ``every``: the events are every element's, each cleared as well. True if the root
    element ended."""
    ended = False
    if every:
        for _, elem in events:
            elem.clear(keep_tail=True)
            parent = elem.getparent()
            if parent is None:
                ended = True
                continue
            while elem.getprevious() is not None:
                del parent[0]
        return ended
    last: dict[Any, Any] = {}  # parent -> its last child that ended
    for _, elem in events:
        last[elem.getparent()] = elem
    for parent, elem in last.items():
        if parent is None:
            ended = True
        else:
            del parent[:parent.index(elem)]
    return ended


class _Windows:
    """The file handed to the parser ``WINDOW`` bytes at a time; between two reads, the
    errors libxml2 reported are placed in the window it had just parsed (or the one before:
    an element can end there), at the element the message names."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.line = 1  # line at the start of ``before``
        self.before = b""  # the window before the current one
        self.window = b""
        self.errors: Callable[[], Any] | None = None
        self.seen = 0
        self.found: list[tuple[str, str]] = []

    def watch(self, errors: Callable[[], Any]) -> None:
        self.errors = errors

    def read(self, size: int = -1) -> bytes:
        self.catch_up()
        self.line += self.before.count(b"\n")
        self.before, self.window = self.window, self.fh.read(WINDOW)
        return self.window

    def catch_up(self) -> None:
        if self.errors is None:
            return
        log = self.errors()
        if len(log) <= self.seen:
            return
        for error in list(log)[self.seen:]:
            if error.domain_name == "SCHEMASV":
                self.found.append((self._place(error.message), error.message))
        self.seen = len(log)

    def _place(self, message: str) -> str:
        """``line N`` where the named element (with the quoted value, if the message quotes
        one) is the only match in the last two windows; else ``near line N``."""
        text = self.before + self.window
        current = self.line + self.before.count(b"\n")  # where the current window starts
        named = _ELEMENT.search(message)
        if not named:
            return f"near line {current}"
        local = re.escape(named.group(1).encode())
        tags = list(re.finditer(rb"<(?:[\w.-]+:)?" + local + rb"(?=[\s/>])", text))
        value = _VALUE.search(message)
        if value and tags:
            quoted = (value.group(1) or value.group(2) or "").encode()
            # the value right after the start tag: not in a sibling a few bytes further
            matching = [t for t in tags if (gt := text.find(b">", t.end())) >= 0
                        and text.startswith(quoted + b"<", gt + 1)]
            tags = matching or tags
        if not tags:
            return f"near line {current}"
        line = self.line + text.count(b"\n", 0, tags[0].start())
        return f"line {line}" if len(tags) == 1 else f"near line {line}"


def _record_tag(route: RouteSpec | None) -> str | None:
    fmt = getattr(route, "format", None)
    records, namespaces = getattr(fmt, "records", None), getattr(fmt, "namespaces", None)
    if getattr(fmt, "type", None) != "xml" or not records or namespaces is None:
        return None
    from tradelane.formats.xml import _clark

    return _clark(records, namespaces)


def _issue(line: int, column: int, path: str, message: str) -> Issue:
    where = f"line {line}, column {column}" if column else f"line {line}"
    where += f" ({path})" if path else ""
    return Issue(location=where, field="", value="", rule="xsd", message=message.strip())


def _malformed(exc: etree.XMLSyntaxError) -> MalformedInput:
    first = next((e for e in exc.error_log if e.line), None)
    line, column = (first.line, first.column) if first is not None else (exc.position or (0, 0))
    message = first.message if first is not None else exc.msg
    return MalformedInput(f"the file is not well-formed XML: {message}",
                          location=f"line {line}, column {column}")
