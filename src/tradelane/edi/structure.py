"""A message type's structure as a state machine, built once per message definition.

The state is the segment node of the structure the last segment matched. The next tag moves
it as the directory says (ISO 9735: a group is entered by its trigger segment, a segment
belongs to the innermost place that can hold it, searching forward and then outward):

- the same node again (a repeat, counted against its maximum), unless the node may occur
  once and a later place takes it (a group's trigger starts the group's next instance);
- a later node of the same group, or a group started there by its trigger (mandatory nodes
  skipped on the way are missing);
- the trigger of the current group or of an enclosing one (a new instance, counted);
- nowhere: the segment is not allowed here, and the state stays.

Each (state, tag) transition is worked out once and kept, so a message costs a dict lookup per
segment; counts of repeats are the only work done per segment. A whole message whose tags were
seen before costs one lookup: its outcome is kept too (a few thousand at most).
"""

from __future__ import annotations

from dataclasses import dataclass

from tradelane.edi.directory import GroupNode, MessageDef, Node, SegmentNode

START = -1  # before UNH
ROOT = -1  # the container of the message's top-level nodes


@dataclass(frozen=True, slots=True)
class Move:
    up: int  # group levels left
    repeat: int  # the group that starts a new instance (after leaving `up` levels), or -1
    enter: tuple[int, ...]  # groups entered, outermost first
    target: int  # the segment node matched
    missing: tuple[int, ...]  # mandatory nodes passed over


SAME = Move(0, -1, (), -2, ())


def shape(tags: list[str]) -> str:
    """A message's tags as one text: messages of one shape walk the structure alike."""
    return "\x1f".join(tags)


@dataclass(frozen=True, slots=True)
class Finding:
    """One structural violation: the segment (0-based in the message) and what broke."""

    segment: int
    kind: str  # "missing", "unexpected", "repeats", "group_repeats"
    node: int  # the node concerned (for "unexpected": the state it was met in)
    count: int = 0  # occurrences seen, for repeats


class StructureMachine:
    """Walks a message's tags through its structure; see the module docstring."""

    def __init__(self, message: MessageDef):
        self.message = message
        self.nodes: list[Node] = []
        self.parent: list[int] = []
        self.pos: list[int] = []
        self.children: dict[int, list[int]] = {ROOT: []}
        self._flatten(message.structure, ROOT)
        self.tag = [n.tag if isinstance(n, SegmentNode) else "" for n in self.nodes]
        self.max = [n.max_occurs for n in self.nodes]
        self.min = [n.min_occurs for n in self.nodes]
        self.moves: dict[int, dict[str, Move | None]] = {}
        self.outcomes: dict[str, tuple[list[int], list[Finding]]] = {}

    def _flatten(self, nodes: tuple[Node, ...], container: int) -> None:
        for k, node in enumerate(nodes):
            i = len(self.nodes)
            self.nodes.append(node)
            self.parent.append(container)
            self.pos.append(k)
            self.children[container].append(i)
            if isinstance(node, GroupNode):
                self.children[i] = []
                self._flatten(node.children, i)

    def segment_node(self, i: int) -> SegmentNode | None:
        node = self.nodes[i] if i >= 0 else None
        return node if isinstance(node, SegmentNode) else None

    def group_path(self, i: int) -> list[str]:
        """Names of the groups around node ``i``, outermost first."""
        out: list[str] = []
        c = self.parent[i]
        while c != ROOT:
            out.append(self.nodes[c].name)  # type: ignore[union-attr]
            c = self.parent[c]
        return out[::-1]

    # -- transitions ----------------------------------------------------------------------

    def _entry(self, i: int, tag: str) -> tuple[tuple[int, ...], int] | None:
        """Groups entered and the segment matched when ``tag`` starts node ``i``."""
        entered: list[int] = []
        while isinstance(self.nodes[i], GroupNode):
            entered.append(i)
            i = self.children[i][0]
        return (tuple(entered), i) if self.tag[i] == tag else None

    def move(self, state: int, tag: str) -> Move | None:
        table = self.moves.setdefault(state, {})
        if tag not in table:
            table[tag] = self._resolve(state, tag)
        return table[tag]

    def _resolve(self, state: int, tag: str) -> Move | None:
        """Where ``tag`` goes after ``state``. A segment that may repeat stays where it is;
        one that may not (max 1) looks further first (its group's next instance, most often),
        and is a repeat only when nothing else can take it."""
        again = state != START and self.tag[state] == tag
        if again and self.max[state] != 1:
            return SAME
        found = self._search(state, tag)
        return SAME if found is None and again else found

    def _search(self, state: int, tag: str) -> Move | None:
        container, idx = (ROOT, -1) if state == START else (self.parent[state], self.pos[state])
        missing: list[int] = []
        up = 0
        while True:
            kids = self.children[container]
            for j in kids[idx + 1:]:
                found = self._entry(j, tag)
                if found is not None:
                    return Move(up, -1, found[0], found[1], tuple(missing))
                if self.min[j] > 0:
                    missing.append(j)
            if container == ROOT:
                return None
            found = self._entry(container, tag)
            if found is not None:  # a new instance of the group we are in
                return Move(up, container, found[0][1:], found[1], tuple(missing))
            idx, container = self.pos[container], self.parent[container]
            up += 1

    # -- a message --------------------------------------------------------------------------

    def run(self, tags: list[str], key: str | None = None) -> tuple[list[int], list[Finding]]:
        """The node each segment matched (-1: not allowed there) and the violations. ``key``
        is the tags joined by ``shape(tags)``, when the caller has it already."""
        if key is None:
            key = shape(tags)
        known = self.outcomes.get(key)
        if known is not None:
            return known
        nodes: list[int] = []
        findings: list[Finding] = []
        state, run = START, 0
        counts: list[int] = []  # instances of each group we are in, outermost first
        moves = self.moves
        for k, tag in enumerate(tags):
            table = moves.get(state)
            move = table[tag] if table is not None and tag in table else self.move(state, tag)
            if move is SAME:
                run += 1
                if 0 < self.max[state] < run:
                    findings.append(Finding(k, "repeats", state, run))
            elif move is None:
                findings.append(Finding(k, "unexpected", state))
                nodes.append(-1)
                continue
            else:
                for m in move.missing:
                    findings.append(Finding(k, "missing", m))
                if move.up:
                    del counts[len(counts) - move.up:]
                if move.repeat >= 0:
                    counts[-1] += 1
                    if 0 < self.max[move.repeat] < counts[-1]:
                        findings.append(Finding(k, "group_repeats", move.repeat, counts[-1]))
                counts.extend(1 for _ in move.enter)
                state, run = move.target, 1
            nodes.append(state)
        if len(self.outcomes) < 4096:
            self.outcomes[key] = (nodes, findings)
        return nodes, findings
