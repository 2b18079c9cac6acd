"""X12 acknowledgements: a 997 or 999 per functional group, a TA1 per interchange.

Each answer goes back the other way with the partner identification exactly as received
(ISA05/06 and ISA07/08 swapped, qualifiers and padding kept; GS02/GS03 swapped), in the
partner's own delimiters and control version. A rejected file is answered at the level of its
error, from the codes the reader attached (``x12_codes``): a TA1 note for the interchange
(when one is sent, its groups are not acknowledged), AK905 for a group, AK502/IK502 with
AK3/AK4 (997) or IK3/IK4 (999) for a transaction set. Control numbers are derived from what
is answered, so the same answer always gets the same numbers and the same file name.

A set that breaks its HIPAA guide (``x12_hipaa``) is answered with every finding pyx12 made:
an IK3 per segment and code, the IK4s of its elements, and IK5 codes; so is one that breaks
the route's own segment rules (``x12_segment_rules``), from the same ``SetFindings``. pyx12's
own 999 writer is not used: it dates its control numbers and draws GS06 at random (a retry
would answer under other numbers), writes its own delimiters and answers only the file's
last group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelane.errors import DuplicateFile, RejectError
from tradelane.formats.x12_codes import X12Codes, codes_of
from tradelane.formats.x12_rules import isa_elements
from tradelane.formats.x12_syntax import SegmentStream, X12Delimiters
from tradelane.paths import safe_component
from tradelane.spec import X12Format
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.formats.x12_hipaa import SetFindings

IMPLEMENTATION_999 = "005010X231A1"


@dataclass(slots=True)  # one per transaction set of the file: kept small
class _Set:
    code: str
    control: str
    convention: str  # ST03
    segment: int


@dataclass
class _Group:
    elements: list[str]
    segment: int
    sets: list[_Set] = field(default_factory=list)


@dataclass
class _Interchange:
    elements: list[str]
    delims: X12Delimiters
    segment: int
    groups: list[_Group] = field(default_factory=list)


def scan(staged: Staged, fmt: X12Format) -> list[_Interchange]:
    """The envelopes of the file, read again (service segments only). A file damaged halfway
    gives the envelopes found before the damage."""
    found: list[_Interchange] = []
    try:
        for block in SegmentStream(staged, max_segment_bytes=fmt.max_segment_bytes,
                                   encoding=fmt.encoding):
            for i, tag in enumerate(block.tags):
                if tag == "ISA":
                    found.append(_Interchange(isa_elements(block.segs[i]), block.delims,
                                              block.start + i))
                elif tag == "GS" and found:
                    found[-1].groups.append(_Group(block.elements(i), block.start + i))
                elif tag == "ST" and found and found[-1].groups:
                    el = [*block.elements(i), "", "", ""]
                    found[-1].groups[-1].sets.append(_Set(el[1], el[2], el[3], block.start + i))
    except RejectError:
        pass  # acknowledge what was found before the damage
    return found


def build_x12_acks(fmt: X12Format, staged: Staged, *, error: RejectError | None = None,
                   rejected: Iterable[object] = (), now: datetime | None = None,
                   base_dir: Path | None = None) -> list[tuple[str, str]]:
    """(file name, text) of every acknowledgement the file gets. ``error`` rejected the whole
    file; ``rejected`` are transaction sets split out of a delivered one. ``base_dir``: the
    mappings folder, where a route's segment rules file is found."""
    ack = fmt.ack
    assert ack is not None
    when = now or datetime.now(UTC)
    split = {t.first_segment: t for t in rejected}  # type: ignore[attr-defined]
    hipaa = _hipaa_sets(error, split.values())
    noted: dict[int, SetFindings] = {}
    if fmt.hipaa == "warn" and error is None:  # delivered: its findings are noted (IK5*E)
        from tradelane.formats.x12_hipaa import warned

        noted = warned(staged, fmt.encoding)
    if fmt.rules and error is None:  # delivered with warnings of its segment rules (IK5*E)
        from tradelane.formats.x12_segment_rules import warned as rules_warned

        noted = {**noted, **rules_warned(staged, fmt, base_dir)}
    codes = X12Codes(ta1="025") if isinstance(error, DuplicateFile) else codes_of(error)
    at = getattr(error, "segment_index", None)
    envelopes = scan(staged, fmt)
    out: list[tuple[str, str]] = []
    for n, ic in enumerate(envelopes):
        mine = error is not None and (at is None or _owner(envelopes, at) is ic)
        nxt = envelopes[n + 1].segment if n + 1 < len(envelopes) else None
        note = _ta1_note(error, codes) if mine else "000"
        wants = ack.ta1 == "always" or (ack.ta1 == "requested" and ic.elements[14] == "1")
        if wants:
            out.append((_name("TA1", ic, None), _ta1(ic, note, when)))
            if note != "000":
                continue  # the interchange is rejected whole: its groups are not answered
        starts = [s.segment for g in ic.groups for s in g.sets]
        culprit = max((x for x in starts if at is not None and x <= at), default=None)
        for group in ic.groups:
            kind = ack.type if ack.type != "auto" else (
                "999" if _version(group) >= "005010" else "997")
            results = [_hipaa_result(s, hipaa[s.segment]) if s.segment in hipaa else
                       _noted_result(s, noted[s.segment]) if s.segment in noted
                       and s.segment not in split else
                       _result(s, error, codes, at, culprit if mine else None, split)
                       for s in group.sets]
            group_code = codes.ak9 if mine and _inside(at, group, ic, nxt) else None
            out.append((_name(kind, ic, group), _functional(
                kind, ic, group, results, group_code, error is not None, when)))
    return _unique(out)


def _owner(envelopes: list[_Interchange], at: int) -> _Interchange | None:
    before = [e for e in envelopes if e.segment <= at]
    return before[-1] if before else None


def _inside(at: int | None, group: _Group, ic: _Interchange, nxt: int | None) -> bool:
    if at is None:
        return True
    later = [g.segment for g in ic.groups if g.segment > group.segment]
    end = later[0] if later else nxt
    return group.segment <= at and (end is None or at < end)


def _version(group: _Group) -> str:
    return (group.elements[8] if len(group.elements) > 8 else "")[:6]


def _ta1_note(error: RejectError | None, codes: X12Codes) -> str:
    return codes.ta1 or "000"


#: (set, accepted, codes of its rejection, position in the set of the segment in error,
#: HIPAA findings)
Result = tuple[_Set, bool, X12Codes | None, int | None, "SetFindings | None"]


def _hipaa_sets(error: RejectError | None, split: Iterable[Any]) -> dict[int, SetFindings]:
    """The HIPAA findings of every set, by its ST segment: those of a file rejected whole,
    and those of the sets split out of a delivered one."""
    found: dict[int, SetFindings] = dict(getattr(error, "hipaa_sets", {}))
    found.update(getattr(error, "rule_sets", {}))  # the route's own segment rules
    for tx in split:
        own = getattr(tx, "error", None)
        found.update(getattr(own, "hipaa_sets", {}))
        found.update(getattr(own, "rule_sets", {}))
    return found


def _hipaa_result(s: _Set, found: SetFindings) -> Result:
    return s, False, X12Codes(ak5="5"), None, found


def _noted_result(s: _Set, found: SetFindings) -> Result:
    """Accepted with its guide's findings noted (``hipaa: warn``)."""
    return s, True, None, None, found


def _result(s: _Set, error: RejectError | None, codes: X12Codes, at: int | None,
            culprit: int | None, split: dict[int, object]) -> Result:
    """A set's answer, without HIPAA findings (``Result``)."""
    if s.segment in split:
        own = getattr(split[s.segment], "error", None)
        if own is None:  # its records broke the route's rules
            return s, False, X12Codes(ak5="5"), None, None
        where = getattr(own, "segment_index", None)
        return s, False, codes_of(own), None if where is None else where - s.segment + 1, None
    if error is None:
        return s, True, None, None, None
    if culprit is not None and s.segment == culprit and codes.ak5:
        return s, False, codes, None if at is None else at - s.segment + 1, None
    if not (codes.ta1 or codes.ak9 or codes.ak5):  # the data broke the route's rules
        return s, False, X12Codes(ak5="5"), None, None
    return s, False, None, None, None  # not in error, but not taken: the file was rejected


def _functional(kind: str, ic: _Interchange, group: _Group, results: list[Result],
                group_code: str | None, rejected: bool, when: datetime) -> str:
    d = ic.delims
    p = "AK" if kind == "997" else "IK"
    gs = group.elements + [""] * 9
    body = [["ST", kind, "0001"] + ([IMPLEMENTATION_999] if kind == "999" else []),
            ["AK1", gs[1], gs[6]] + ([gs[8]] if kind == "999" else [])]
    for s, ok, codes, seg_pos, found in results:
        body.append(["AK2", s.code, s.control] + ([s.convention] if kind == "999"
                                                  and s.convention else []))
        if found is not None:
            body.extend(found.ik_segments(d.component, forbidden="".join(d.chars()),
                                          ack=kind))
            body.append([f"{p}5", "E" if ok else "R", *found.ik5_codes()])
            continue
        if codes is not None and codes.segment:
            body.append([f"{p}3", codes.tag or "", str(seg_pos or 1), "", codes.segment])
            if codes.element:
                c030 = str(codes.position or 1) + (
                    d.component + str(codes.component) if codes.component else "")
                body.append([f"{p}4", c030, "", codes.element])
        body.append([f"{p}5", "A" if ok else "R"]
                    + ([codes.ak5] if codes is not None and codes.ak5 and not ok else []))
    accepted = sum(1 for r in results if r[1])
    total = len(results)
    status = "A" if accepted == total and not group_code and not rejected else (
        "P" if accepted else "R")
    if status == "A" and any(r[4] is not None for r in results):
        status = "E"  # accepted, with errors noted
    body.append(["AK9", status, str(total), str(total), str(accepted)]
                + ([group_code] if group_code and status == "R" else []))
    body.append(["SE", str(len(body) + 1), "0001"])
    control = _control(kind, ic, group)
    gs_out = ["GS", "FA", gs[3], gs[2], f"{when:%Y%m%d}", f"{when:%H%M}", str(int(control)),
              "X", IMPLEMENTATION_999 if kind == "999" else (gs[8] or "004010")]
    segments = [_isa(ic, control, when), gs_out, *body, ["GE", "1", str(int(control))],
                ["IEA", "1", control]]
    return _text(segments, d)


def _ta1(ic: _Interchange, note: str, when: datetime) -> str:
    el = ic.elements
    control = _control("TA1", ic, None)
    status = "A" if note == "000" else "R"
    segments = [_isa(ic, control, when), ["TA1", el[13], el[9], el[10], status, note],
                ["IEA", "0", control]]
    return _text(segments, ic.delims)


def _isa(ic: _Interchange, control: str, when: datetime) -> list[str]:
    el = ic.elements
    return ["ISA", "00", " " * 10, "00", " " * 10, el[7], el[8], el[5], el[6],
            f"{when:%y%m%d}", f"{when:%H%M}", el[11], el[12], control, "0", el[15], el[16]]


def _text(segments: list[list[str]], d: X12Delimiters) -> str:
    nl = "" if d.segment in "\r\n" else "\n"
    return "".join(d.element.join(s) + d.segment + nl for s in segments)


def _control(kind: str, ic: _Interchange, group: _Group | None) -> str:
    """A 9-digit control number derived from what is answered (never 0)."""
    # the places in the file keep a repeated interchange's answers apart
    key = "\x00".join([kind, ic.elements[6], ic.elements[13], str(ic.segment),
                       *([group.elements[6], str(group.segment)] if group else [])])
    value = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) % 999_999_999
    return f"{value + 1:09d}"


def _name(kind: str, ic: _Interchange, group: _Group | None) -> str:
    sender, isa13 = safe_component(ic.elements[6].strip()), safe_component(ic.elements[13])
    if group is None:
        return f"{kind}_{sender}_{isa13}.x12"
    return f"{kind}_{sender}_{isa13}_{safe_component(group.elements[6])}.x12"


def _unique(named: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A repeated interchange or group would answer under the same name: number the repeats
    (``_2``) so that no answer overwrites another."""
    seen: dict[str, int] = {}
    out = []
    for name, text in named:
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}_{seen[name]}{dot}{ext}"
        out.append((name, text))
    return out
