"""Structure validation of EDIFACT messages against their UN/EDIFACT directory.

``StructureValidator(directory=None, severity={...}).check(message)`` returns every
violation of one message (``edifact_envelope.Message``): segment order and groups, mandatory
segments and groups, maximum repeats (``structure``), then each segment's elements
(``elements``). The directory is the route's, or the one UNH names (0052 + 0054, an EANCOM
subset when 0057 says EAN...). Each violation's rule has a severity: ``reject`` (the message
breaks its standard), ``warn`` (noted in the file's history and reason, delivered) or ``off``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tradelane.edi.directory import GroupNode, SegmentNode, UnknownDirectory, directory_for, load
from tradelane.edi.elements import GOOD_TEXTS, SegmentChecker
from tradelane.edi.errors import (
    RULES,
    DirectoryViolation,
    ElementMissing,
    GroupRepeated,
    InvalidCharacters,
    InvalidCode,
    InvalidDecimal,
    SegmentMissing,
    SegmentNotAllowed,
    SegmentRepeated,
    TooManyConstituents,
    ValueTooLong,
    ValueTooShort,
)
from tradelane.edi.guides import Guide
from tradelane.edi.structure import START, StructureMachine, shape

SEVERITIES = ("reject", "warn", "off")
#: Every rule rejects unless the route says otherwise.
DEFAULT_SEVERITY: dict[str, str] = dict.fromkeys(RULES, "reject")

_FAULTS: dict[str, type[DirectoryViolation]] = {
    "count": TooManyConstituents, "missing": ElementMissing, "code": InvalidCode,
    "characters": InvalidCharacters, "decimal": InvalidDecimal, "long": ValueTooLong,
    "short": ValueTooShort,
}


@lru_cache(maxsize=128)
def machine_for(directory: str, message_type: str, guide: Guide | None = None
                ) -> StructureMachine:
    """The compiled structure of a message type, narrowed by a guide when there is one."""
    return StructureMachine(guide.narrowed() if guide else load(directory, message_type))


@lru_cache(maxsize=32)
def checker_slots(machine: StructureMachine, element: str, component: str,
                  repetition: str | None) -> list[SegmentChecker | None]:
    """A checker slot per node of ``machine``, filled as its segments are met, for one set of
    separators. Kept across files: a checker's patterns cost milliseconds to build (code
    lists as tries), a file of one message a fraction of one."""
    return [None] * len(machine.nodes)


@dataclass
class Checked:
    """One message's outcome: the directory used (or why none was) and its violations."""

    directory: str
    violations: list[DirectoryViolation] = field(default_factory=list)
    skipped: str = ""  # why the message was not validated (no such directory or message)

    def by_severity(self, severity: Mapping[str, str]) -> tuple[list[DirectoryViolation],
                                                                list[DirectoryViolation]]:
        """(to reject, to warn about); rules set ``off`` are dropped."""
        reject: list[DirectoryViolation] = []
        warn: list[DirectoryViolation] = []
        for v in self.violations:
            level = severity.get(v.rule, "reject")
            if level == "reject":
                reject.append(v)
            elif level == "warn":
                warn.append(v)
        return reject, warn


class StructureValidator:
    def __init__(self, directory: str | None = None,
                 severity: Mapping[str, str] | None = None, guide: Guide | None = None):
        self.directory = directory.upper() if directory else None
        self.guide = guide  # its message type is validated against its narrowed directory
        self.severity = {**DEFAULT_SEVERITY, **(severity or {})}
        unknown = sorted(set(self.severity) - set(RULES))
        if unknown or any(v not in SEVERITIES for v in self.severity.values()):
            raise ValueError(f"unknown rules {unknown} or severities; rules: {sorted(RULES)},"
                             f" severities: {SEVERITIES}")
        if guide is not None:
            self.severity.update(guide.severities())
        self.off = {rule for rule, level in self.severity.items() if level == "off"}
        self.elements_on = any(self.severity[r] != "off" for r in _FAULTS_RULES) or (
            guide is not None and guide.spec.severity != "off")
        self._contexts: dict[tuple[Any, ...], tuple[str, Any, Any]] = {}
        self._good: dict[SegmentChecker, set[str]] = {}

    def directory_of(self, msg: Any) -> str:
        if self.guide is not None and msg.type == self.guide.message:
            return self.guide.directory
        if self.directory:
            return self.directory
        version = tuple(msg.version) + ("",) * 5
        return directory_for(version[1], version[2], version[4],
                             getattr(msg.interchange, "version", ""))

    def check(self, msg: Any, byte_of: Callable[[int], int | None] | None = None) -> Checked:
        block = msg.block
        d = block.delims
        ident = (msg.type, msg.version, getattr(msg.interchange, "version", ""), d.element,
                 d.component, d.repetition)
        context = self._contexts.get(ident)
        if context is None:
            context = self._contexts[ident] = self._context(msg, d)
        key, machine, checkers = context
        if machine is None:
            return Checked(key, skipped=checkers)  # type: ignore[arg-type]
        nodes, findings = machine.run(block.tags)
        out = Checked(key)
        guided = getattr(machine.message, "provenance", None)
        for finding in findings:
            v = self._structural(machine, msg, finding, byte_of)
            if guided is not None:  # a rule the guide made says so
                v = guided.structural(v, machine.nodes[finding.node] if finding.node >= 0
                                      else None, finding.kind)
            out.violations.append(v)
        if self.elements_on:
            self._elements(machine, checkers, msg, nodes, out, byte_of)
        if not out.violations:
            return out
        if self.off:
            out.violations = [v for v in out.violations if v.rule not in self.off]
        out.violations.sort(key=lambda v: (v.segment_position, v.position, v.component or 0))
        return out

    def _context(self, msg: Any, d: Any) -> tuple[str, StructureMachine | None, Any]:
        """(directory, its machine for the message type, a checker slot per node); or
        (directory, None, why) when tradelane has no such directory or message."""
        key = self.directory_of(msg)
        guide = self.guide if self.guide is not None and msg.type == self.guide.message \
            else None
        try:
            machine = machine_for(key, msg.type, guide)
        except UnknownDirectory as exc:
            return key, None, str(exc)
        return key, machine, self._checkers_for(machine, d)

    def _elements(self, machine: StructureMachine, checkers: list[SegmentChecker | None],
                  msg: Any, nodes: list[int], out: Checked,
                  byte_of: Callable[[int], int | None] | None) -> None:
        block = msg.block
        segs, parsed = block.segs, block.parsed
        guided = getattr(machine.message, "provenance", None)
        last = len(nodes) - 1
        for i, node in enumerate(nodes):
            if node < 0 or i == 0 or i == last:
                continue  # UNH and UNT: the envelope checks them (edifact_service)
            checker = checkers[node]
            if checker is None:
                checker = checkers[node] = self._checker(machine, node, block.delims)
            if not parsed:
                seg = segs[i]
                good = self._good_texts(checker)
                if seg in good:
                    continue
                if checker.valid(seg):
                    if len(good) < GOOD_TEXTS:
                        good.add(seg)
                    continue
            for kind, element, component, value, why, number in checker.faults(
                    block.elements(i)):
                v = _FAULTS[kind](
                    why, message=msg.number, position=i + 1, tag=block.tags[i],
                    element=element, component=component, value=value[:40],
                    data_element=number, **_where(block.start + i, byte_of))
                if guided is not None:
                    v = guided.element(v, machine.nodes[node], kind)
                out.violations.append(v)

    @staticmethod
    def _checker(machine: StructureMachine, node: int, d: Any) -> SegmentChecker:
        seg_node = machine.nodes[node]
        assert isinstance(seg_node, SegmentNode)
        return SegmentChecker(seg_node.segment, d.element, d.component, d.repetition)

    def _checkers_for(self, machine: StructureMachine,
                      delims: Any) -> list[SegmentChecker | None]:
        return checker_slots(machine, delims.element, delims.component, delims.repetition)

    def unproven(self, msgs: Sequence[Any]) -> list[Any]:
        """The messages of ``msgs`` (in their order) that may break their directory, for
        ``check`` to say how; every other one has no violation. A batch costs little more
        than its distinct texts: each message's tags walk its machine (one lookup for a shape
        seen before), then all texts found at one place of the structure go through that
        place's checker at once (``SegmentChecker.invalid``)."""
        doubt: set[int] = set()
        # per context (directory, machine, checkers): per shape, its nodes and its messages
        shapes: dict[int, tuple[tuple[str, Any, Any], dict[str, tuple[list[int], list[int]]]]]
        shapes = {}
        interchange = kind = version = delims = machine = None
        groups: dict[str, tuple[list[int], list[int]]] = {}
        for k, msg in enumerate(msgs):
            block = msg.block
            # compared one by one: a tuple per message would feed the garbage collector
            if msg.interchange is not interchange or block.delims is not delims \
                    or msg.type != kind or msg.version != version:
                # another kind of message than the last (rare): its context
                interchange, kind, version, delims = (msg.interchange, msg.type, msg.version,
                                                      block.delims)
                context = self._context_of(msg)
                machine = context[1]
                if machine is not None:
                    groups = shapes.setdefault(id(context), (context, {}))[1]
            if machine is None or block.parsed:
                doubt.add(k)  # not validated (check says why), or split by the slow tokenizer
                continue
            key = shape(block.tags)
            found = groups.get(key)
            if found is not None:
                found[1].append(k)
                continue
            nodes, findings = machine.run(block.tags, key)
            if findings or not self.elements_on:
                if findings:
                    doubt.add(k)
                continue
            groups[key] = (nodes, [k])
        if shapes and self.elements_on:
            doubt.update(self._unproven_elements(msgs, shapes))
        return [msgs[k] for k in sorted(doubt)]

    def _unproven_elements(self, msgs: Sequence[Any], shapes: dict[int, Any]) -> set[int]:
        """The messages (by index) holding a segment text its checker does not accept."""
        texts: dict[int, tuple[SegmentChecker, set[str]]] = {}
        places: list[tuple[SegmentChecker, list[int], tuple[str, ...]]] = []
        for (_, machine, checkers), groups in shapes.values():
            for nodes, members in groups.values():
                delims = msgs[members[0]].block.delims
                # the texts at each place, every message of the shape at once
                columns = list(zip(*(msgs[k].block.segs for k in members), strict=True))
                for i in range(1, len(nodes) - 1):  # UNH and UNT: the envelope checks them
                    checker = checkers[nodes[i]]
                    if checker is None:
                        checker = checkers[nodes[i]] = self._checker(machine, nodes[i], delims)
                    found = texts.get(id(checker))
                    if found is None:
                        found = texts[id(checker)] = (checker, set())
                    found[1].update(columns[i])
                    places.append((checker, members, columns[i]))
        bad = {key: set(checker.invalid(found, self._good_texts(checker)))
               for key, (checker, found) in texts.items()}
        doubt: set[int] = set()
        for checker, members, column in places:
            wrong = bad[id(checker)]
            if wrong:
                doubt.update(k for k, text in zip(members, column, strict=True)
                             if text in wrong)
        return doubt

    def _good_texts(self, checker: SegmentChecker) -> set[str]:
        """Texts ``checker`` found valid in this validator's file (the checker itself is
        shared by every file)."""
        found = self._good.get(checker)
        if found is None:
            found = self._good[checker] = set()
        return found

    def _context_of(self, msg: Any) -> tuple[str, Any, Any]:
        d = msg.block.delims
        ident = (msg.type, msg.version, getattr(msg.interchange, "version", ""), d.element,
                 d.component, d.repetition)
        context = self._contexts.get(ident)
        if context is None:
            context = self._contexts[ident] = self._context(msg, d)
        return context

    def _structural(self, machine: StructureMachine, msg: Any, finding: Any,
                    byte_of: Callable[[int], int | None] | None) -> DirectoryViolation:
        block, k = msg.block, finding.segment
        tag = block.tags[k]
        common = {"message": msg.number, "position": k + 1, "tag": tag, "value": tag,
                  **_where(block.start + k, byte_of)}
        node = machine.nodes[finding.node] if finding.node >= 0 else None
        if finding.kind == "missing":
            assert node is not None
            return SegmentMissing(f"mandatory {_describe(machine, finding.node)} is missing"
                                  f" before {tag}", **common)
        if finding.kind == "unexpected":
            message = machine.message
            if tag not in message.tags():
                why = f"{tag} is not a segment of {message.type} in {message.directory}"
            else:
                state = machine.segment_node(finding.node) if finding.node != START else None
                after = state.tag if state is not None else "UNH"
                why = f"{tag} is not allowed here (after {after}): the structure has no place"
            return SegmentNotAllowed(why, **common)
        assert node is not None
        if finding.kind == "repeats":
            return SegmentRepeated(f"{_describe(machine, finding.node)} occurs {finding.count}"
                                   f" times; at most {node.max_occurs}", **common)
        return GroupRepeated(f"{_describe(machine, finding.node)} occurs {finding.count}"
                             f" times; at most {node.max_occurs}", **common)


_FAULTS_RULES = tuple(cls.rule for cls in _FAULTS.values())


def _where(segment: int, byte_of: Callable[[int], int | None] | None) -> dict[str, int | None]:
    return {"segment_index": segment, "byte_offset": byte_of(segment) if byte_of else None}


def _describe(machine: StructureMachine, i: int) -> str:
    node = machine.nodes[i]
    groups = machine.group_path(i)
    where = f" in {groups[-1]}" if groups else ""
    if isinstance(node, GroupNode):
        return f"group {node.name} ({node.trigger}){where}"
    return f"segment {node.tag}{where}"
