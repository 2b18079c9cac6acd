"""HIPAA implementation guides (005010X222A1 837P, 005010X221A1 835, ...) checked by pyx12.

ASC X12 holds the rights to its standards: no free definitions exist for an 850 or an 856.
The HIPAA guides are the exception, and pyx12 (BSD) ships maps for the ones it covers,
found by ISA12, GS01 and GS08 (``pyx12/map/maps.xml``). A route with ``format.hipaa`` on
runs every functional group the maps cover through pyx12's map walker and validator, reading
the file from a handle (pyx12 keeps an 8 KB buffer; nothing here holds the file), and keeps
what it found per transaction set (``Report``). A group no map covers is named in a note,
never failed for it. pyx12 takes the delimiters of the first ISA it reads, so interchanges
that declare others are given to it one run at a time, found by a quick pass of tradelane's
tokenizer in small chunks.

Each finding keeps the segment's number in the file, its tag and position in its set, the
element (position, component, repetition, data element number), the value, pyx12's error
code (the 999's IK304, IK403 or IK502 code) and its text; byte offsets are looked up in a
second, fast pass of tradelane's own tokenizer when something was found. ``x12_acks`` turns
a set's findings into IK3/IK4/IK5 of the 999 (``SetFindings.ik_segments``).

pyx12 is imported when a route first needs it, so that start-up does not pay for it, and
its maps are parsed once per process.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from tradelane.errors import RejectError
from tradelane.formats.edi_errors import EdiSyntaxError
from tradelane.formats.x12_codes import X12Codes
from tradelane.models import Issue
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.formats.x12_envelope import Group, Transaction

#: Findings kept per transaction set and per file; beyond them only counts (bounded memory
#: for a large file that breaks its guide everywhere).
MAX_PER_SET = 50
MAX_PER_FILE = 5_000
NO_DEFINITIONS = ("no free definitions exist for X12 transaction sets outside the HIPAA"
                  " guides (ASC X12 holds the rights to the standards), so only the envelope"
                  " and the route's field rules are checked")
#: GS08 of a HIPAA implementation guide (005010X222A1, 004010X098A1)
_GUIDE = re.compile(r"00[45]010X\d{3}")
#: IK304 and IK403 codes a 999 may carry (X12.231); pyx12's own checks outside them (an HL
#: or LX count, ``HL1``) stay in the reason file and make the set's IK5 say 5.
IK3_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "I4", "I6", "I7", "I8", "I9"})
IK4_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "13", "I10",
                       "I11", "I12", "I13", "I6", "I9"})
#: AK304 and AK403 codes of a 997 (004010 guides)
AK3_CODES = frozenset("12345678")
AK4_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"})
#: pyx12's ST/SE codes that belong to the ST (else to the SE), as its 999 writer sorts them
_ST_CODES = frozenset({"1", "6", "7", "23"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing pyx12 found wrong. ``level``: ``segment`` (IK3), ``element`` (IK4 under
    the IK3 of its segment), ``set`` (IK502), ``group`` or ``interchange`` (envelopes)."""

    level: str
    code: str
    text: str
    segment: int  # 1-based in the file (pyx12's line)
    tag: str
    position: int = 0  # the segment's position in its set (ST = 1): IK302
    loop: str = ""  # the guide's loop, e.g. 2010AA
    element: int = 0  # IK401-1
    component: int = 0  # IK401-2
    repetition: int = 0  # IK401-3
    reference: str = ""  # the data element number: IK402
    value: str = ""
    byte: int | None = None

    @property
    def field(self) -> str:
        """``N402``, ``CLM05-1``, or the segment tag."""
        if not self.element:
            return self.tag
        name = f"{self.tag}{self.element:02d}"
        return name + (f"-{self.component}" if self.component else "")

    def where(self) -> str:
        at = f"segment {self.segment}"
        return at + (f" (byte {self.byte})" if self.byte is not None else "")

    def describe(self) -> str:
        """pyx12's text with its code and, where known, the guide's loop."""
        loop = f", loop {self.loop}" if self.loop else ""
        kind = {"segment": "IK304", "element": "IK403", "set": "IK502"}.get(self.level,
                                                                              "pyx12")
        return f"{self.text} ({kind} code {self.code}{loop})"


@dataclass
class SetFindings:
    """What pyx12 found in one transaction set (ST..SE)."""

    code: str  # ST01
    control: str  # ST02
    guide: str  # GS08
    segment: int  # the ST's number in the file
    findings: list[Finding] = field(default_factory=list)
    count: int = 0  # every finding, kept or not

    def ik5_codes(self) -> list[str]:
        """IK502..IK506: the set's own codes, and 5 when a segment is in error."""
        codes = {f.code for f in self.findings if f.level == "set"}
        if any(f.level in ("segment", "element") for f in self.findings) or (
                self.count > len(self.findings)):
            codes.add("5")
        return sorted(codes, key=lambda c: (len(c), c))[:5]

    def ik_segments(self, component: str, *, forbidden: str = "",
                    ack: str = "999") -> list[list[str]]:
        """The segment loops of this set in a 999 (IK3, IK4) or a 997 (AK3, AK4, with the
        codes a 997 has): per segment in error, one per code (the code 8 one last) and the
        element errors after it. ``forbidden``: delimiters a copied bad value must not hold."""
        p = "IK" if ack == "999" else "AK"
        seg_codes = IK3_CODES if ack == "999" else AK3_CODES
        ele_codes = IK4_CODES if ack == "999" else AK4_CODES
        out: list[list[str]] = []
        by_segment: dict[tuple[int, int, str], list[Finding]] = {}
        for f in self.findings:
            if f.level in ("segment", "element"):
                by_segment.setdefault((f.segment, f.position, f.tag), []).append(f)
        for (_line, position, tag), found in by_segment.items():
            codes = [f.code for f in found if f.level == "segment" and f.code in seg_codes]
            elements = [f for f in found if f.level == "element" and f.code in ele_codes]
            if elements and "8" not in codes:
                codes.append("8")
            for code in sorted(dict.fromkeys(codes), key=lambda c: c == "8"):
                out.append([f"{p}3", tag, str(position or 1), "", code])
            for f in elements:
                # C030: element, component, repetition (an empty component when only the
                # repetition is known)
                place = str(f.element)
                if f.component or (f.repetition and ack == "999"):
                    place += component + (str(f.component) if f.component else "")
                if f.repetition and ack == "999":
                    place += component + str(f.repetition)
                value = "".join(ch for ch in f.value if ch not in forbidden)[:99]
                out.append([f"{p}4", place, f.reference, f.code] + ([value] if value else []))
        return out


@dataclass
class Report:
    """Every finding of a file, by transaction set (keyed by its ST's segment number), the
    envelope findings, and the groups no map covers."""

    sets: dict[int, SetFindings] = field(default_factory=dict)
    envelope: list[Finding] = field(default_factory=list)
    #: notes on what no map covers: per GS segment, 0 for the whole file
    uncovered: dict[int, str] = field(default_factory=dict)
    guides: dict[int, str] = field(default_factory=dict)  # GS segment -> GS08 checked
    kept: int = 0
    total: int = 0

    def all_findings(self) -> Iterator[Finding]:
        yield from self.envelope
        for s in self.sets.values():
            yield from s.findings


# -- errors --------------------------------------------------------------------------------------


class HipaaInvalid(EdiSyntaxError):
    """Transaction sets break their HIPAA implementation guide: every finding of them in
    ``issues`` (``error_count`` the true total), raised as the first one. ``hipaa_sets``
    (ST segment -> ``SetFindings``) lets the 999 answer each set with its IK3/IK4/IK5."""

    rule = "hipaa"

    def __init__(self, sets: Iterable[SetFindings], envelope: Iterable[Finding] = ()):
        self.hipaa_sets = {s.segment: s for s in sets}
        outside = list(envelope)
        issues = [_issue(f, None) for f in outside] + [
            _issue(f, s) for s in self.hipaa_sets.values() for f in s.findings]
        owner = next(iter(self.hipaa_sets.values()), None) if not outside else None
        first = outside[0] if outside else owner.findings[0]  # type: ignore[union-attr]
        total = sum(s.count for s in self.hipaa_sets.values()) + len(outside)
        subject = (f"transaction set {owner.code} {owner.control} breaks HIPAA guide"
                   f" {owner.guide}") if owner else "the envelope breaks its HIPAA guide"
        value = f" {first.value!r}" if first.value else ""
        more = f" (and {total - 1:,} more)" if total > 1 else ""
        super().__init__(f"{subject}: {first.field}{value}: {first.describe()}{more}",
                         value=first.value, segment_index=first.segment,
                         byte_offset=first.byte)
        self.issues = issues
        self.error_count = max(total, len(issues), 1)
        self.x12 = X12Codes(ak5="5") if self.hipaa_sets else _envelope_codes(first)


def _envelope_codes(f: Finding) -> X12Codes:
    """A finding outside the sets answered as pyx12's own 999 writer would: a TA1 note for
    the ISA, an AK905 code for the GS (GS06 6, GS08 2, else 1)."""
    if f.level == "interchange":
        return X12Codes(ta1=f.code if len(f.code) == 3 and f.code.isdigit() else "024")
    if f.element:
        return X12Codes(ak9={6: "6", 8: "2"}.get(f.element, "1"))
    return X12Codes(ak9=f.code if f.code in {"1", "2", "3", "4", "5", "6"} else "1")


def _issue(f: Finding, owner: SetFindings | None) -> Issue:
    where = f"transaction set {owner.code} {owner.control}, " if owner else ""
    return Issue(location=where + f.where(), field=f.field, value=f.value, rule="hipaa",
                 message=f.describe())


# -- pyx12 ---------------------------------------------------------------------------------------


@functools.cache
def _index() -> Any:
    import pyx12.map_index

    return pyx12.map_index.map_index()


@functools.cache
def _map(name: str) -> Any:
    """A pyx12 map, parsed once per process (the walker keeps its counts apart from it)."""
    import pyx12.map_if
    import pyx12.params

    return pyx12.map_if.load_map_file(name, pyx12.params.params())


@functools.cache
def covered_sets() -> frozenset[str]:
    """The transaction set codes of the HIPAA guides pyx12 has maps for (837, 835, ...)."""
    out = set()
    for entry in _index().maps:
        name = entry["map_file"] or ""
        code = name.split(".", 1)[0][:3]
        if _GUIDE.match(entry["vriic"] or "") and entry["fic"] != "FA":
            out.add(code)
    return frozenset(out)


def guide_for(icvn: str, gs08: str, gs01: str) -> str | None:
    """The pyx12 map file of a group's HIPAA guide, or None when pyx12 has none."""
    if not _GUIDE.match(gs08):
        return None
    return _index().get_filename(icvn, gs08, gs01)


def _handler() -> Any:
    """pyx12's error handler, remembering each segment's loop (for the reason file)."""
    import pyx12.error_handler

    class Handler(pyx12.error_handler.err_handler):  # type: ignore[misc]
        def add_seg(self, map_node: Any, seg_data: Any, seg_count: int, cur_line: int,
                    ls_id: str | None) -> None:
            super().add_seg(map_node, seg_data, seg_count, cur_line, ls_id)
            parent = getattr(map_node, "parent", None)
            self.cur_seg_node.loop = getattr(parent, "id", "") or ""

    return Handler()


def check(staged: Staged, encoding: str = "latin-1") -> Report:
    """Every group of the file that a pyx12 map covers, validated; byte offsets filled in."""
    report = Report()
    for start, end, base in _runs(staged, encoding):
        with staged.open() as raw:
            if start:
                raw.seek(start)
            else:
                _skip_bom(raw)
            part = io.BufferedReader(_Slice(raw, end))  # type: ignore[arg-type]
            text = io.TextIOWrapper(part, encoding=encoding, errors="replace", newline="")
            try:
                _walk(text, report, base)
            except Exception as exc:  # pyx12 on damaged data: a finding, never a traceback
                report.envelope.append(Finding(
                    "interchange", "024", f"pyx12 stopped validating: {type(exc).__name__}:"
                    f" {exc}", base + 1, "ISA"))
                report.kept += 1
                report.total += 1
    if report.kept:
        _locate(staged, report, encoding)
    return report


def _runs(staged: Staged, encoding: str) -> list[tuple[int, int | None, int]]:
    """(first byte, end byte or None, segments before it) of each run of interchanges that
    share their delimiters: pyx12 takes them from the first ISA it reads, while each ISA of a
    file may declare its own. One run, the whole file, in the usual case."""
    from tradelane.formats.x12_syntax import SegmentStream

    runs: list[tuple[int, int | None, int]] = [(0, None, 0)]
    delims = None
    try:
        # small chunks: this pass only looks for ISAs, and must not hold much of the file
        for block in SegmentStream(staged, encoding=encoding, chunk_size=1 << 14):
            if block.delims != delims:
                for i, tag in enumerate(block.tags):
                    if tag == "ISA":
                        if delims is not None:
                            byte, segment = int(block.offsets[i]), block.start + i - 1
                            runs[-1] = (runs[-1][0], byte, runs[-1][2])
                            runs.append((byte, None, segment))
                        break
                delims = block.delims
    except (RejectError, LookupError):
        pass  # the reader says what is wrong; pyx12 reads what it can
    return runs


class _Slice(io.RawIOBase):
    """The rest of a file up to ``end`` (None: to its end)."""

    def __init__(self, raw: BinaryIO, end: int | None):
        self.raw, self.end = raw, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self.end is not None:
            size = max(0, min(size, self.end - self.raw.tell()))
        data = self.raw.read(size)
        buffer[:len(data)] = data
        return len(data)


def _skip_bom(raw: BinaryIO) -> None:
    """pyx12 wants the ISA first: a UTF-8 BOM and blanks before it are not the partner's
    data (tradelane's tokenizer skips them too, so the segments count alike)."""
    head = raw.read(64)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    start += len(head[start:]) - len(head[start:].lstrip(b" \t\r\n"))
    raw.seek(start)


def _walk(fd: io.TextIOWrapper, report: Report, base: int = 0) -> None:
    """pyx12's walk over one run of interchanges; ``base`` segments come before it."""
    import pyx12.errors
    import pyx12.x12file
    from pyx12.map_if._segment import apply_segment_errors
    from pyx12.map_walker import apply_walk_errors, walk_tree

    _quiet()
    try:
        src = pyx12.x12file.X12Reader(fd)
    except pyx12.errors.X12Error as exc:
        if "Version Number is unknown" in str(exc):  # HIPAA guides are 00401 and 00501
            report.uncovered[0] = (f"the interchange's control version {_isa12(exc)} has no"
                                   f" HIPAA guide: {NO_DEFINITIONS}")
            return
        report.envelope.append(Finding("interchange", "022", f"pyx12 cannot read the ISA:"
                                       f" {exc}", base + 1, "ISA"))
        report.kept += 1
        report.total += 1
        return
    src.cur_line = base  # segment numbers count from the file's start
    control = _map("x12.control.00501.xml" if src.icvn == "00501" else "x12.control.00401.xml")
    errh = _handler()
    walker = walk_tree()
    node = control.getnodebypath("/ISA_LOOP/ISA")
    icvn = gs08 = gs01 = ""
    gs_line = 0
    cur_map: Any = None
    skip = False  # inside a group no map covers
    for seg in src:
        tag = seg.get_seg_id()
        if tag == "ISA":
            node = control.getnodebypath("/ISA_LOOP/ISA")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP", "/ISA_LOOP/ISA")
            skip = False
        elif tag == "GS":
            gs01, gs08 = seg.get_value("GS01") or "", seg.get_value("GS08") or ""
            gs_line = src.get_cur_line()
            name = None if gs01 == "FA" else guide_for(icvn, gs08, gs01)
            skip = name is None
            if skip:
                if gs01 != "FA":  # an acknowledgement is no business document
                    report.uncovered[gs_line] = (
                        f"functional group at segment {gs_line} (GS01 {gs01}, GS08 {gs08})"
                        f" is not a HIPAA guide pyx12 has a map for: {NO_DEFINITIONS}")
                src.pop_errors()
                continue
            cur_map = _map(name)  # type: ignore[arg-type]
            src.check_837_lx = cur_map.id == "837"
            report.guides[gs_line] = gs08
            node = cur_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP/GS_LOOP", "/ISA_LOOP/GS_LOOP/GS")
        elif skip:
            src.pop_errors()  # tradelane's own envelope checks cover these segments
            if tag == "GE":
                node = control.getnodebypath("/ISA_LOOP/GS_LOOP/GE")
                skip = False
            continue
        else:
            found, _pop, _push, walk_errors = walker.walk_errors(
                node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
            apply_walk_errors(errh, walk_errors)
            if found is None:  # not in the guide (reported): nothing to check it against
                continue
            node = found
            if tag == "BHT" and gs08 in ("004010X094", "004010X094A1"):
                # the 4010 278's guide depends on BHT02 (request or response)
                name = _index().get_filename(icvn, gs08, gs01, seg.get_value("BHT02"))
                if name is not None and _map(name) is not cur_map:
                    cur_map = _map(name)
                    node = cur_map.getnodebypath("/ISA_LOOP/GS_LOOP/ST_LOOP/HEADER/BHT")
        if tag == "ISA":
            errh.add_isa_loop(seg, src)
            icvn = seg.get_value("ISA12") or ""
        elif tag == "GS":
            errh.add_gs_loop(seg, src)
        elif tag == "ST":
            errh.add_st_loop(seg, src)
        elif tag in ("IEA", "GE", "SE"):
            pass
        else:
            errh.add_seg(node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
        errh.handle_errors(src.pop_errors())
        apply_segment_errors(node, seg, errh)
        if tag == "SE":
            errh.close_st_loop(node, seg, src)
            _harvest_set(errh, gs08, report)
        elif tag == "GE":
            errh.close_gs_loop(node, seg, src)
            _harvest_envelope(errh.cur_gs_node, "group", report)
        elif tag == "IEA":
            errh.close_isa_loop(node, seg, src)
            _harvest_envelope(errh.cur_isa_node, "interchange", report)
    src.cleanup()
    errh.handle_errors(src.pop_errors())
    _harvest_set(errh, gs08, report)  # a set the file ended in


def _isa12(exc: Exception) -> str:
    text = str(exc)
    return text.split("unknown: ", 1)[-1][:5]


@functools.cache
def _quiet() -> None:
    """pyx12 logs every finding as an error; they go into the reason file instead."""
    import logging

    log = logging.getLogger("pyx12")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def _keep(report: Report, owner: list[Finding], f: Finding, limit: int) -> bool:
    report.total += 1
    if len(owner) >= limit or report.kept >= MAX_PER_FILE:
        return False
    owner.append(f)
    report.kept += 1
    return True


def _harvest_set(errh: Any, guide: str, report: Report) -> None:
    """The findings of the set just closed; its node is then dropped (bounded memory)."""
    st = errh.cur_st_node
    gs = errh.cur_gs_node
    if st is None or getattr(st, "harvested", False):
        return
    st.harvested = True
    if gs is not None and gs.children and gs.children[-1] is st:
        gs.children.pop()
    st_line = st.cur_line_st
    found = SetFindings((st.trn_set_id or "").strip(), (st.trn_set_control_num or "").strip(),
                        guide, st_line)
    kept = found.findings

    def add(f: Finding) -> None:
        found.count += 1
        _keep(report, kept, f, MAX_PER_SET)

    for code, text in st.errors:
        at_st = code in _ST_CODES
        add(Finding("set", str(code), text, st_line if at_st else (st.cur_line_se or st_line),
                    "ST" if at_st else "SE"))
    for ele in st.elements:  # ST/SE element errors
        for code, text, value in ele.errors:
            add(Finding("element", str(code), text, st_line, "ST", 1, "", ele.ele_pos,
                        ele.subele_pos or 0, ele.repeat_pos or 0, ele.ele_ref_num or "",
                        value or ""))
    for seg in st.children:
        loop = getattr(seg, "loop", "")
        for code, text, value in seg.errors:
            add(Finding("segment", "8" if code == "SEG1" else str(code), text, seg.cur_line,
                        seg.seg_id or "", seg.seg_count, loop, value=value or ""))
        for ele in seg.elements:
            for code, text, value in ele.errors:
                add(Finding("element", str(code), text, seg.cur_line, seg.seg_id or "",
                            seg.seg_count, loop, ele.ele_pos, ele.subele_pos or 0,
                            ele.repeat_pos or 0, ele.ele_ref_num or "", value or ""))
    if found.count:
        report.sets[st_line] = found


def _harvest_envelope(node: Any, level: str, report: Report) -> None:
    line = node.get_cur_line()
    tag = "ISA" if level == "interchange" else "GS"
    for code, text in node.errors:
        _keep(report, report.envelope, Finding(level, str(code), text, line, tag), MAX_PER_FILE)
    for ele in node.elements:
        for code, text, value in ele.errors:
            _keep(report, report.envelope, Finding(
                level, str(code), text, line, tag, 0, "", ele.ele_pos, ele.subele_pos or 0,
                ele.repeat_pos or 0, ele.ele_ref_num or "", value or ""), MAX_PER_FILE)
    node.elements.clear()
    node.errors.clear()


def _locate(staged: Staged, report: Report, encoding: str) -> None:
    """Byte offsets of the segments in error, from tradelane's tokenizer (fast: a second pass
    costs little next to pyx12's)."""
    from tradelane.formats.x12_syntax import SegmentStream

    wanted: dict[int, list[tuple[list[Finding], int]]] = {}
    for owner in [report.envelope, *(s.findings for s in report.sets.values())]:
        for k, f in enumerate(owner):
            wanted.setdefault(f.segment, []).append((owner, k))
    if not wanted:
        return
    last = max(wanted)
    try:
        for block in SegmentStream(staged, max_segment_bytes=1 << 24, encoding=encoding):
            lo, hi = block.start, block.start + len(block)
            for segment in [s for s in wanted if lo <= s < hi]:
                offset = int(block.offsets[segment - lo])
                for owner, k in wanted.pop(segment):
                    owner[k] = _with_byte(owner[k], offset)
            if hi > last or not wanted:
                break
    except (RejectError, LookupError, codecs.CodecRegistryError):
        pass  # a file damaged further on keeps the offsets found before the damage


def _with_byte(f: Finding, byte: int) -> Finding:
    from dataclasses import replace

    return replace(f, byte=byte)


# -- the reader's use ----------------------------------------------------------------------------


#: The last few files' reports, for the 999 of a file delivered under ``warn`` (built right
#: after reading it); a file not among them is checked again.
_RECENT: OrderedDict[tuple[str, int], Report] = OrderedDict()
_RECENT_FILES = 4


def _key(staged: Staged) -> tuple[str, int] | None:
    return None if staged.sha256 is None else (staged.sha256, staged.size)


def warned(staged: Staged, encoding: str = "latin-1") -> dict[int, SetFindings]:
    """The sets of a file delivered under ``warn`` that broke their guide (its 999 says E)."""
    key = _key(staged)
    report = _RECENT.get(key) if key is not None else None
    return (report if report is not None else check(staged, encoding)).sets


class HipaaCheck:
    """A route's HIPAA verdict on one file, for the reader: run once, asked per set."""

    def __init__(self, staged: Staged, severity: str, encoding: str):
        self.severity = severity
        self.report = check(staged, encoding)
        self._noted: set[int] = set()
        key = _key(staged)
        if key is not None and severity == "warn":
            _RECENT[key] = self.report
            while len(_RECENT) > _RECENT_FILES:
                _RECENT.popitem(last=False)

    @property
    def rejects(self) -> bool:
        return self.severity == "reject"

    def notes_for(self, group: Group) -> list[str]:
        """Once per group (and once for the file): what no map covers, and under ``warn``
        what pyx12 found outside the sets."""
        out = []
        for key in (0, group.segment):
            if key in self.report.uncovered and key not in self._noted:
                self._noted.add(key)
                out.append(f"HIPAA: {self.report.uncovered[key]}")
        if not self.rejects and -1 not in self._noted:
            self._noted.add(-1)
            out.extend(f"HIPAA: {i.location}: {i.field}: {i.message}"
                       for i in (_issue(f, None) for f in self.report.envelope))
        return out

    def findings(self, tx: Transaction) -> SetFindings | None:
        return self.report.sets.get(tx.first_segment)

    def warnings(self, found: SetFindings) -> list[str]:
        return [f"HIPAA {found.guide}: {i.location}: {i.field}"
                + (f" {i.value!r}" if i.value else "") + f": {i.message}"
                for i in (_issue(f, found) for f in found.findings)]

    def error(self, found: SetFindings | None = None) -> HipaaInvalid | None:
        """The reject of one set, or (``found`` None) of the whole file if anything was
        found."""
        if found is not None:
            return HipaaInvalid([found])
        if not (self.report.sets or self.report.envelope):
            return None
        return HipaaInvalid(self.report.sets.values(), self.report.envelope)
