"""A route's own X12 segment rules as the reader applies them (``format.rules``), and the
reject they make.

``SegmentRulesCheck`` checks each transaction set of a file with the route's compiled rules
(``x12_structure``): a set with a violation whose rule is ``reject`` rejects the file with
every such set's findings (``SegmentRulesInvalid``), or is split out under
``isolate_messages``; ``warn`` ones become notes of the file, and ``warned`` gives them to the
999 (``IK5*E``). ``x12_acks`` answers a set's findings as the HIPAA ones: IK3, IK4 and IK5.
Findings are kept up to a limit per set and per file, then only counted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelane.formats.edi_errors import EdiSyntaxError
from tradelane.formats.x12_codes import X12Codes
from tradelane.formats.x12_hipaa import MAX_PER_SET, Finding, SetFindings
from tradelane.formats.x12_ruleset import RuleSet, route_rules
from tradelane.formats.x12_structure import RuleFinding, SetChecker
from tradelane.models import Issue
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.formats.x12_envelope import Transaction

#: Findings kept per file (beyond, counted): a file broken everywhere stays small in memory.
MAX_PER_FILE = 5_000
#: Warnings noted per file (the rest counted).
MAX_WARNINGS = 200


class SegmentRulesInvalid(EdiSyntaxError):
    """Transaction sets break the route's segment rules: every finding in ``issues``
    (``error_count`` the true total), raised as the first. ``rule_sets`` (ST segment ->
    ``SetFindings``) lets the 999 answer each set with its IK3/IK4/IK5."""

    def __init__(self, sets: Iterable[SetFindings], rules: str):
        self.rule_sets = {s.segment: s for s in sets}
        owner = next(iter(self.rule_sets.values()))
        total = sum(s.count for s in self.rule_sets.values())
        subject = f"transaction set {owner.code} {owner.control} breaks the segment rules {rules}"
        if not owner.findings:  # past the file's limit of findings kept: only counted
            super().__init__(f"{subject}: {owner.count:,} violations (not kept: the file has"
                             f" {MAX_PER_FILE:,} already)", segment_index=owner.segment)
            first = None
        else:
            first = owner.findings[0]
            value = f" {first.value!r}" if first.value else ""
            more = f" (and {total - 1:,} more)" if total > 1 else ""
            super().__init__(f"{subject}: {first.field}{value}: {first.describe()}{more}",
                             value=first.value, segment_index=first.segment,
                             byte_offset=first.byte)
        self.rule = getattr(first, "rule", "") or "segment_rules"
        self.issues = [issue(f, s) for s in self.rule_sets.values() for f in s.findings]
        self.error_count = max(total, len(self.issues), 1)
        self.x12 = X12Codes(ak5="5")


def issue(f: Finding, owner: SetFindings) -> Issue:
    where = f"transaction set {owner.code} {owner.control}, {f.where()}"
    return Issue(location=where, field=f.field, value=f.value,
                 rule=getattr(f, "rule", "") or "segment_rules", message=f.describe())


#: The warnings of the last few files read, by content, for their 999 (built in the same
#: process right after reading, in the delivery's ledger transaction).
_RECENT: OrderedDict[tuple[str, int], dict[int, SetFindings]] = OrderedDict()
_RECENT_FILES = 8


def _key(staged: Staged) -> tuple[str, int] | None:
    return None if staged.sha256 is None else (staged.sha256, staged.size)


def warned(staged: Staged, fmt: Any, base_dir: Path | None) -> dict[int, SetFindings]:
    """The sets of a file delivered with warnings of its segment rules (its 999 says E).

    Usually kept from the reading just before; otherwise (the 999 redone after a restart,
    or built in another process than the one that read the file) the sets are checked
    again, so that the answer never depends on what a process happens to remember."""
    key = _key(staged)
    if key is not None and key in _RECENT:
        return dict(_RECENT[key])
    from tradelane.formats.x12 import iter_transactions
    from tradelane.formats.x12_syntax import SegmentStream

    again = SegmentRulesCheck(fmt, base_dir, staged)
    stream = SegmentStream(staged, max_segment_bytes=fmt.max_segment_bytes,
                           encoding=fmt.encoding)
    for tx in iter_transactions(stream, isolate=True):
        if tx.error is None:
            again.check(tx)
    return dict(again.warned)


class SegmentRulesCheck:
    """A route's segment rules applied to the sets of one file, for the reader."""

    def __init__(self, fmt: Any, base_dir: Path | None, staged: Staged):
        rules = route_rules(fmt, base_dir)
        assert rules is not None
        self.rules = rules
        self.checker = _checker(rules)
        self.rejected: list[SetFindings] = []
        self.warned: dict[int, SetFindings] = {}
        self.kept = 0
        self.notes = 0
        key = _key(staged)
        if key is not None:
            _RECENT[key] = self.warned
            _RECENT.move_to_end(key)
            while len(_RECENT) > _RECENT_FILES:
                _RECENT.popitem(last=False)

    def check(self, tx: Transaction) -> tuple[SetFindings | None, list[str]]:
        """(the set's findings if it is rejected, notes on what only warns)."""
        if tx.code != self.rules.transaction:
            return None, []
        found = self.checker.check(tx)
        if not found:
            return None, []
        severity = self.rules.severity
        rejects = [f for f in found if severity[f.rule] == "reject"]
        warns = [f for f in found if severity[f.rule] == "warn"]
        notes: list[str] = []
        if warns and not rejects:
            kept = self._set(tx, warns)
            self.warned[tx.first_segment] = kept
            for f in kept.findings:
                self.notes += 1
                if self.notes <= MAX_WARNINGS:
                    i = issue(f, kept)
                    notes.append(f"segment rules {self.rules.name}: {i.location}: {i.field}"
                                 + (f" {i.value!r}" if i.value else "") + f": {i.message}")
        return (self._set(tx, rejects + warns) if rejects else None), notes

    def _set(self, tx: Transaction, found: list[RuleFinding]) -> SetFindings:
        out = SetFindings(tx.code, tx.control, self.rules.name, tx.first_segment,
                          count=len(found))
        room = max(0, min(MAX_PER_SET, MAX_PER_FILE - self.kept))
        out.findings = found[:room]  # past the file's limit, counted only
        self.kept += len(out.findings)
        return out

    def error(self, sets: list[SetFindings]) -> SegmentRulesInvalid:
        return SegmentRulesInvalid(sets, self.rules.name)


def _checker(rules: RuleSet) -> SetChecker:
    """One compiled checker per rule set and process (cached by name and content)."""
    found = _CHECKERS.get(rules)
    if found is None:
        found = _CHECKERS[rules] = SetChecker(rules)
        while len(_CHECKERS) > 32:
            _CHECKERS.pop(next(iter(_CHECKERS)))
    return found


_CHECKERS: dict[RuleSet, SetChecker] = {}
