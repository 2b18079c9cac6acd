"""Field paths into EDIFACT segments: ``NAD[BY].C082.3039``, ``QTY[21].C186.6060``, ``NAD[BY].3.1``.

A path is a segment tag, an optional qualifier in brackets (matched against the first component
of the first element), then either directory codes (composite, then component) from the
route's directory (``layouts``) or else the small table below, or 1-based positions (element,
then component). ``LIN/QTY[21]...`` or ``SG25/QTY[21]...`` reads the record's own group alone
(a bare ``QTY[21]...`` falls back to the groups around it, see ``edi.groups``);
``SG10/GIN[BJ]...`` reads an enclosing group.

A repeated element (syntax 4) is addressed by a 1-based index after it: ``ATT.C956[2].9019``
or ``ATT.3[2].1``; without an index a path reads the first repetition.

``_interchange``, ``_group`` and ``_message`` are not paths but the control references of
the record's interchange (UNB 0020), group (UNG 0048) and message (UNH 0062).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradelane.errors import ConfigError
from tradelane.formats.edifact_syntax import Element, Repeated

#: Sources that name where a record came from rather than a value in a segment.
LINKS = ("_interchange", "_group", "_message")

# Segment layouts: each element is a simple data element code, or (composite, components).
_C = tuple[str, tuple[str, ...]]
_LAYOUT: dict[str, tuple[str | _C, ...]] = {
    "UNB": (("S001", ("0001", "0002", "0080", "0133")), ("S002", ("0004", "0007", "0008", "0042")),
            ("S003", ("0010", "0007", "0014", "0046")), ("S004", ("0017", "0019")), "0020",
            ("S005", ("0022", "0025")), "0026", "0029", "0031", "0032", "0035"),
    "UNG": ("0038", ("S006", ("0040", "0007")), ("S007", ("0044", "0007")),
            ("S004", ("0017", "0019")), "0048", "0051", ("S008", ("0052", "0054", "0057")),
            "0058"),
    "UNH": ("0062", ("S009", ("0065", "0052", "0054", "0051", "0057", "0110", "0113")), "0068",
            ("S010", ("0070", "0073"))),
    "UNT": ("0074", "0062"),
    "UNZ": ("0036", "0020"),
    "BGM": (("C002", ("1001", "1131", "3055", "1000")), ("C106", ("1004", "1056", "1060")),
            "1225", "4343"),
    "DTM": (("C507", ("2005", "2380", "2379")),),
    "NAD": ("3035", ("C082", ("3039", "1131", "3055")),
            ("C058", ("3124", "3124_2", "3124_3", "3124_4", "3124_5")),
            ("C080", ("3036", "3036_2", "3036_3", "3036_4", "3036_5", "3045")),
            ("C059", ("3042", "3042_2", "3042_3", "3042_4")), "3164",
            ("C819", ("3229", "1131", "3055", "3228")), "3251", "3207"),
    "LIN": ("1082", "1229", ("C212", ("7140", "7143", "1131", "3055")),
            ("C829", ("5495", "1082")), "1222", "7083"),
    "QTY": (("C186", ("6063", "6060", "6411")),),
    "PRI": (("C509", ("5125", "5118", "5375", "5387", "5284", "6411")), "5213"),
    "PIA": ("4347", ("C212", ("7140", "7143", "1131", "3055"))),
    "IMD": ("7077", ("C272", ("7081", "1131", "3055")),
            ("C273", ("7009", "1131", "3055", "7008", "7008_2", "3453")), "7383"),
    "RFF": (("C506", ("1153", "1154", "1156", "4000", "1060")),),
    "MOA": (("C516", ("5025", "5004", "6345", "6343", "4405")),),
    "CUX": (("C504", ("6347", "6345", "6343", "6348")), ("C504_2", ("6347", "6345", "6343",
                                                                     "6348")), "5402", "6341"),
    "TAX": ("5283", ("C241", ("5153", "1131", "3055", "5152")),
            ("C533", ("5289", "1131", "3055")), "5286",
            ("C243", ("5279", "1131", "3055", "5278")), "5305", "3446"),
    "UNS": ("0081",),
    "CNT": (("C270", ("6069", "6066", "6411")),),
    "ALC": ("5463", ("C552", ("1230", "5189")), "4471", "1227",
            ("C214", ("7161", "1131", "3055", "7160", "7160_2"))),
    "FTX": ("4451", "4453", ("C107", ("4441", "1131", "3055")),
            ("C108", ("4440", "4440_2", "4440_3", "4440_4", "4440_5")), "3453"),
    "LOC": ("3227", ("C517", ("3225", "1131", "3055", "3224")),
            ("C519", ("3223", "1131", "3055", "3222")), ("C553", ("3233", "1131", "3055", "3232")),
            "5479"),
    "TDT": ("8051", "8028", ("C220", ("8067", "8066")), ("C228", ("8179", "8178")),
            ("C040", ("3127", "1131", "3055", "3128")), "8101", ("C401", ("8457", "8459", "7130")),
            ("C222", ("8213", "1131", "3055", "8212", "8453")), "8281"),
    "CTA": ("3139", ("C056", ("3413", "3412"))),
    "COM": (("C076", ("3148", "3155")),),
    "ATT": ("9017", ("C955", ("9021", "1131", "3055")), ("C956", ("9019", "1131", "3055",
                                                                 "9018"))),
    "PAC": ("7224", ("C531", ("7075", "7233", "7073")), ("C202", ("7065", "1131", "3055", "7064"))),
    "MEA": ("6311", ("C502", ("6313", "6321", "6155", "6154")),
            ("C174", ("6411", "6314", "6162", "6152", "6432")), "7383"),
}
_PATH = re.compile(r"^(?:(?P<group>SG\d{1,3}|[A-Z0-9]{3})/)?(?P<tag>[A-Z0-9]{3})"
                   r"(?:\[(?P<qual>[^\]]*)\])?"
                   r"(?P<rest>(?:\.[A-Za-z0-9_]+(?:\[(?P<rep>\d{1,3})\])?)?"
                   r"(?:\.[A-Za-z0-9_]+)?)$")


@dataclass(frozen=True)
class SegmentPath:
    """A compiled path: where to find one value in a message or a record group."""

    text: str
    tag: str
    qualifier: str | None
    element: int  # index into pydifact's element list (the tag is at 0)
    component: int | None  # 0-based component, None for the whole (first) component
    group: str | None = None
    repetition: int = 0  # 0-based repetition of the element

    def value(self, elements: list[Element]) -> str:
        if self.element >= len(elements):
            return ""
        el = elements[self.element]
        if isinstance(el, Repeated):
            if self.repetition >= len(el):
                return ""
            el = el[self.repetition]
        elif self.repetition:
            return ""
        if isinstance(el, list):
            k = self.component or 0
            return el[k] if k < len(el) else ""
        return el if not self.component else ""

    def matches(self, elements: list[Element]) -> bool:
        if self.qualifier is None:
            return True
        if len(elements) < 2:
            return self.qualifier == ""
        q = elements[1]
        if isinstance(q, Repeated):
            q = q[0]
        return (q[0] if isinstance(q, list) else q) == self.qualifier


#: A segment's layout in the form of ``_LAYOUT``'s entries, from a directory, or None.
Layouts = Callable[[str], tuple["str | _C", ...] | None]


def compile_path(text: str, *, where: str = "source", layouts: Layouts | None = None
                 ) -> SegmentPath:
    """Compile ``TAG[QUAL].code[REP].code`` or ``TAG[QUAL].n[REP].m``; raise ConfigError if
    unknown. Codes are looked up in ``layouts`` (the route's directory), else in the table
    above."""
    m = _PATH.match(text.strip())
    if not m:
        raise ConfigError([f"{where}: {text!r} is not an EDI path like 'NAD[BY].C082.3039'"
                           " or 'NAD[BY].2.1'"])
    tag = m["tag"]
    rest = [p for p in re.sub(r"\[\d+\]", "", m["rest"]).split(".") if p]
    repetition = int(m["rep"]) - 1 if m["rep"] else 0
    if repetition < 0:
        raise ConfigError([f"{where}: {text!r}: repetitions count from 1"])

    def make(element: int, component: int | None) -> SegmentPath:
        return SegmentPath(text, tag, m["qual"], element, component, m["group"], repetition)

    if not rest:
        return make(1, None)
    if all(p.isdigit() and len(p) <= 2 for p in rest):
        element = int(rest[0])
        component = int(rest[1]) - 1 if len(rest) > 1 else None
        if element < 1 or (component is not None and component < 0):
            raise ConfigError([f"{where}: {text!r}: positions count from 1"])
        return make(element, component)
    layout = (layouts(tag) if layouts else None) or _LAYOUT.get(tag)  # the route's first
    if layout is None:
        raise ConfigError([f"{where}: {text!r}: no directory codes known for {tag}; name"
                           f" format.directory and format.messages, or use positions, e.g."
                           f" '{tag}.1.1'"])
    for pos, entry in enumerate(layout, start=1):
        code, comps = (entry, ()) if isinstance(entry, str) else entry
        if code != rest[0]:
            continue
        if len(rest) == 1:
            return make(pos, None)
        if rest[1] in comps:
            return make(pos, comps.index(rest[1]))
        known = ", ".join(comps) or "none, it is a simple element"
        raise ConfigError([f"{where}: {text!r}: {rest[1]} is not a component of {code}"
                           f"{_did_you_mean(rest[1], comps)} (known: {known})"])
    # a component code given without its composite: NAD.3039
    for pos, entry in enumerate(layout, start=1):
        if not isinstance(entry, str) and rest[0] in entry[1] and len(rest) == 1:
            return make(pos, entry[1].index(rest[0]))
    codes = [e if isinstance(e, str) else e[0] for e in layout]
    components = [c for e in layout if not isinstance(e, str) for c in e[1]]
    hint = _did_you_mean(rest[0], codes + components if len(rest) == 1 else codes)
    raise ConfigError([f"{where}: {text!r}: {rest[0]} is not an element of {tag}{hint}"
                       f" ({', '.join(codes)})"])


def _did_you_mean(code: str, known: Sequence[str]) -> str:
    bases = dict.fromkeys(k.split("_")[0] for k in known)  # C208, not C208_2..C208_5 too
    close = difflib.get_close_matches(code, list(bases), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""
