"""Segment groups as mapping sees them: which record, and which instance of each enclosing
group, every segment of a message belongs to, and where a field path may be found for a record.

A route's records are the instances of one segment group (``SG15``, or its trigger ``LIN``).
A record's field resolves, in order, in *scope levels*: the record's own group instance, then
each enclosing group instance without the enclosed one (a DESADV line's CPS packaging level
without its other lines), then the message without the record's top group. Within a level
the path reads the segments nearest to the group (the fewest groups down) that carry its tag:
``DTM[137]`` in a message header means the message's DTM, not a DTM inside a reference group.

A path that names a group (``SG10/GIN[BJ]...``, ``CPS/GIN[BJ]...``: the record's group or an
enclosing one) is read at that level alone.

``GroupPlan.tiers(path)`` says where a path is read at each level and which repeating groups
could give it several values for one record (``take`` must then choose; ``check`` says so).
``GroupPlan.shape(tags)`` gives the node of each segment of one message from the directory's
state machine (``edi.structure``); messages of the same shape cost one dictionary lookup, a new
shape one lookup per record, and the rest is numpy over a whole batch (``levels``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelane.edi.directory import GroupNode, UnknownDirectory, directory_for
from tradelane.edi.structure import ROOT, SAME, START, StructureMachine
from tradelane.errors import ConfigError

GROUP_NAME = re.compile(r"^SG\d{1,3}$")
_SHAPES = 4096  # message shapes kept per machine
_SHAPE_CHARS = 1 << 16  # a longer message (thousands of lines) is walked, not kept


@dataclass(frozen=True)
class Tier:
    """Where a path is read at one scope level: the segment nodes, and the groups (names, with
    the trigger) that may repeat between the level's group and those nodes."""

    level: int
    nodes: tuple[int, ...]
    repeats: tuple[str, ...]
    places: tuple[str, ...]  # where each node is below the level, for messages: "SG14 in SG13"

    @property
    def ambiguous(self) -> bool:
        return bool(self.repeats) or len(self.nodes) > 1


def machine(directory: str, message_type: str) -> StructureMachine:
    """The state machine of a message type, as validation builds it (once, cached)."""
    from tradelane.edi.validation import machine_for

    return machine_for(directory, message_type)


def message_directory(msg: Any) -> str:
    """The directory a message's UNH names (0052 + 0054, EANCOM by 0057)."""
    version = tuple(msg.version) + ("",) * 5
    return directory_for(version[1], version[2], version[4],
                         getattr(msg.interchange, "version", ""))


class GroupPlan:
    """One message type's structure seen from a record group (None: the message is the
    record, and its only level)."""

    def __init__(self, sm: StructureMachine, records: str | None,
                 shapes: dict[str, np.ndarray] | None = None,
                 runs: dict[tuple[int, str], tuple[list[int], int]] | None = None):
        self.sm = sm
        n = len(sm.nodes)
        self.group = _record_group(sm, records) if records else None
        chain: list[int] = []
        g = self.group if self.group is not None else ROOT
        while g != ROOT:
            chain.append(g)
            g = sm.parent[g]
        self.chain = chain  # the record group, then each enclosing group
        self.levels = len(chain) + 1  # the message is the last level
        # member[L, node]: the node is read at level L; the extra last column is node -1
        # (a segment the structure has no place for), which no level reads
        self.member = np.zeros((self.levels, n + 1), dtype=bool)
        inside = [self._subtree(c) for c in chain]
        for level in range(self.levels):
            own = inside[level] if level < len(chain) else np.ones(n, dtype=bool)
            below = inside[level - 1] if level else np.zeros(n, dtype=bool)
            self.member[level, :n] = own & ~below
        # within[L, node]: the node lies in level L's group, so its segments belong to that
        # group's current instance; starts[L, node]: the node (the group's trigger) begins one
        self.within = np.zeros((max(len(chain), 1), n + 1), dtype=bool)
        self.starts = np.zeros((max(len(chain), 1), n + 1), dtype=bool)
        for level, c in enumerate(chain):
            self.within[level, :n] = inside[level]
            self.starts[level, _trigger_node(sm, c)] = True
        #: node arrays by message shape, shared by the plans of one machine
        self.shapes: dict[str, np.ndarray] = {} if shapes is None else shapes
        #: (state, a record's tags) -> its nodes and the state after it
        self.runs: dict[tuple[int, str], tuple[list[int], int]] = {} if runs is None else runs

    def _subtree(self, g: int) -> np.ndarray:
        out = np.zeros(len(self.sm.nodes), dtype=bool)
        todo = [g]
        while todo:
            i = todo.pop()
            out[i] = True
            todo.extend(self.sm.children.get(i, ()))
        return out

    def level_name(self, level: int) -> str:
        if level >= len(self.chain):
            return "message"
        node = self.sm.nodes[self.chain[level]]
        assert isinstance(node, GroupNode)
        return f"{node.name} ({node.trigger})"

    def level_of(self, group: str) -> int | None:
        """The level of the record group or an enclosing one, named (SG10) or by its trigger
        (CPS); None if ``group`` is neither."""
        for level, g in enumerate(self.chain):
            node = self.sm.nodes[g]
            assert isinstance(node, GroupNode)
            if group in (node.name, node.trigger):
                return level
        return None

    # -- where a path is read -----------------------------------------------------------

    def tiers(self, tag: str, qualified: bool, only: int | None = None) -> list[Tier]:
        """For each level that holds ``tag`` (or level ``only``), the nearest nodes carrying
        it."""
        sm = self.sm
        out: list[Tier] = []
        for level in range(self.levels) if only is None else (only,):
            top = self.chain[level] if level < len(self.chain) else ROOT
            found = [i for i, t in enumerate(sm.tag) if t == tag and self.member[level, i]]
            if not found:
                continue
            depth = {i: len(self._between(i, top)) for i in found}
            nearest = min(depth.values())
            nodes = tuple(i for i in found if depth[i] == nearest)
            repeats: list[str] = []
            places: list[str] = []
            for i in nodes:
                between = self._between(i, top)
                places.append(" in ".join(sm.nodes[g].name  # type: ignore[union-attr]
                                          for g in reversed(between))
                              or self.level_name(level))
                if sm.max[i] != 1 and not qualified:
                    repeats.append(f"{tag} (up to {_times(sm.max[i])} in one place)")
                for g in between:
                    node = sm.nodes[g]
                    assert isinstance(node, GroupNode)
                    if node.max_occurs == 1:
                        continue
                    if qualified and _trigger_node(sm, g) == i:
                        continue  # a qualified trigger: the qualifier tells the instances apart
                    text = f"{node.name} ({node.trigger}, up to {_times(node.max_occurs)})"
                    if text not in repeats:
                        repeats.append(text)
            out.append(Tier(level, nodes, tuple(repeats), tuple(places)))
        return out

    def _between(self, i: int, top: int) -> list[int]:
        """The groups from just below ``top`` down to node ``i``'s group, outermost first."""
        out: list[int] = []
        g = self.sm.parent[i]
        while g != top and g != ROOT:
            out.append(g)
            g = self.sm.parent[g]
        return out[::-1]

    # -- a batch of messages ------------------------------------------------------------

    def shape(self, tags: list[str]) -> np.ndarray:
        """The structure node of each segment (-1: no place for it), cached by shape."""
        key = "\x1f".join(tags)
        nodes = self.shapes.get(key)
        if nodes is None:
            nodes = np.asarray(self._walk(tags), dtype=np.int64)
            if len(key) <= _SHAPE_CHARS:  # memory stays bounded: 4,096 keys of 64 KB at most
                if len(self.shapes) >= _SHAPES:
                    self.shapes.clear()
                self.shapes[key] = nodes
        return nodes

    def _walk(self, tags: list[str]) -> list[int]:
        """The machine's walk, record by record: a record's run of tags from the state before
        it always ends the same way, so a new message shape made of known records (a new
        number of lines) costs a lookup per record, not a step per segment."""
        trigger = self.sm.tag[_trigger_node(self.sm, self.chain[0])] if self.chain else None
        cuts = [i for i, t in enumerate(tags) if t == trigger and i] if trigger else []
        out: list[int] = []
        state = START
        for lo, hi in zip([0, *cuts], [*cuts, len(tags)], strict=True):
            run = "\x1f".join(tags[lo:hi])
            found = self.runs.get((state, run))
            if found is None:
                found = self._step(state, tags[lo:hi])
                if len(run) <= _SHAPE_CHARS:
                    if len(self.runs) >= _SHAPES:
                        self.runs.clear()
                    self.runs[(state, run)] = found
            out.extend(found[0])
            state = found[1]
        return out

    def _step(self, state: int, tags: list[str]) -> tuple[list[int], int]:
        """The nodes of ``tags`` walked from ``state`` (-1 where the structure has no place,
        as ``StructureMachine.run`` gives them), and the state after them."""
        nodes: list[int] = []
        move = self.sm.move
        for tag in tags:
            found = move(state, tag)
            if found is None:
                nodes.append(-1)
                continue
            if found is not SAME:
                state = found.target
            nodes.append(state)
        return nodes, state


def levels(plan: GroupPlan, nodes: np.ndarray,
           msg_of: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each level, (the instance of the level's group each segment lies in, numbered
    across the batch, -1 before the first; whether the level reads the segment). The last
    level is the message (``msg_of``). A segment the structure has no place for (a partner's
    file validated with ``warn`` or ``off``) belongs where the segment before it is."""
    held = nodes
    lost = nodes < 0
    if lost.any():  # carry the last placed node forward
        pos = np.where(lost, 0, np.arange(len(nodes)))
        np.maximum.accumulate(pos, out=pos)
        held = nodes[pos]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    below: np.ndarray | None = None
    for level in range(len(plan.chain)):
        number = np.cumsum(plan.starts[level][nodes]) - 1
        inside = plan.within[level][held]
        out.append((number, inside if below is None else inside & ~below))
        below = inside
    out.append((msg_of, np.ones(len(nodes), dtype=bool) if below is None else ~below))
    return out


def _record_group(sm: StructureMachine, records: str) -> int:
    """The node of the group ``records`` names (``SG15``) or triggers (``LIN``)."""
    groups = [i for i, node in enumerate(sm.nodes) if isinstance(node, GroupNode)]
    what = f"{sm.message.type} in {sm.message.directory}"
    if GROUP_NAME.match(records):
        for i in groups:
            if sm.nodes[i].name == records:  # type: ignore[union-attr]
                return i
        names = [f"{sm.nodes[i].name} ({sm.nodes[i].trigger})" for i in groups]  # type: ignore[union-attr]
        raise ConfigError([f"format.records: {records} is not a segment group of {what}"
                           f" (groups: {', '.join(names) or 'none'})"])
    starts = [i for i in groups if _trigger_node(sm, i) is not None
              and sm.tag[_trigger_node(sm, i)] == records]
    if len(starts) == 1:
        return starts[0]
    if not starts:
        triggers = sorted({sm.nodes[i].trigger for i in groups})  # type: ignore[union-attr]
        import difflib

        close = difflib.get_close_matches(records, triggers, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError([f"format.records: {records} starts no segment group of {what}"
                           f"{hint}"])
    # the outermost group it starts: a trigger nested as a group's first child starts both
    outer = [i for i in starts if not any(_ancestor(sm, j, i) for j in starts if j != i)]
    if len(outer) == 1:
        return outer[0]
    names = ", ".join(sm.nodes[i].name for i in outer)  # type: ignore[union-attr]
    raise ConfigError([f"format.records: {records} starts several groups of {what} ({names});"
                       " name the group instead"])


def _trigger_node(sm: StructureMachine, g: int) -> int:
    i = g
    while isinstance(sm.nodes[i], GroupNode):
        i = sm.children[i][0]
    return i


def _ancestor(sm: StructureMachine, a: int, i: int) -> bool:
    g = sm.parent[i]
    while g != ROOT:
        if g == a:
            return True
        g = sm.parent[g]
    return False


def _times(n: int) -> str:
    return "unbounded" if n == 0 else f"{n:,}"


def plan_for(directory: str, message_type: str, records: str | None) -> GroupPlan | None:
    """The group plan of a message type, or None when tradelane has no such directory."""
    try:
        return GroupPlan(machine(directory, message_type), records)
    except UnknownDirectory:
        return None


