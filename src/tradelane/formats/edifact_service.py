"""The rules of the EDIFACT service segments (UNB/UNG/UNH/UNT/UNE/UNZ), per syntax version.

Each element is checked for presence, length and representation (ISO 9735 part 1; part 2 for
syntax version 4), and too many elements, components or repetitions are refused. A problem is
an ``EdifactServiceError`` carrying its syntax error code (data element 0085) and position
for the CONTRL: 13 missing, 16 too many constituents, 35 too many repetitions, 37 invalid
type of characters, 38 missing digit in front of the decimal sign, 39 too long, 40 too short.
Code values (a test indicator of 2, say) are not checked: only the syntax.

The envelope asks ``fast(tag, version, delimiters)`` first: a regular expression that matches
only valid segments and captures each element (one call per UNH and UNT, which also gives
their values, so checking costs next to nothing); the detailed check, which finds the first
fault, runs only when it does not match.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from tradelane.formats.edi_errors import ServiceElementError
from tradelane.formats.edifact_syntax import Delimiters, Element, Repeated

__all__ = ["EdifactServiceError", "check", "fast"]


class EdifactServiceError(ServiceElementError):
    """A service segment element that breaks the syntax rules, with its 0085 code and place:
    ``position`` is the element (1-based, the tag not counted), ``component`` the component
    (1-based) when the fault is in one."""

    def __init__(self, tag: str, code: str, data_element: str, position: int,
                 component: int | None, why: str, value: str = "", **where: int | None):
        self.tag = tag
        self.code = code
        self.data_element = data_element
        self.position = position
        self.component = component
        shown = f"{tag} {data_element}" if data_element else tag
        super().__init__(shown, f"{why} (syntax error {code})", value[:40], **where)


@dataclass(frozen=True)
class Simple:
    code: str
    kind: str  # "a", "n" or "an"
    min: int
    max: int
    mandatory: bool = False


@dataclass(frozen=True)
class Composite:
    code: str
    components: tuple[Simple, ...]
    mandatory: bool = False


Spec = Simple | Composite


def _s(code: str, rep: str, mandatory: bool = False) -> Simple:
    """``an..14`` (1 to 14), ``n6`` (exactly 6), ``a1``."""
    m = re.fullmatch(r"(an|a|n)(\.\.)?(\d+)", rep)
    assert m is not None, rep
    size = int(m[3])
    return Simple(code, m[1], 1 if m[2] else size, size, mandatory)


def _c(code: str, *components: Simple, mandatory: bool = False) -> Composite:
    return Composite(code, components, mandatory)


M = True
_V3: dict[str, tuple[Spec, ...]] = {
    "UNB": (_c("S001", _s("0001", "a4", M), _s("0002", "n1", M), mandatory=M),
            _c("S002", _s("0004", "an..35", M), _s("0007", "an..4"), _s("0008", "an..14"),
               mandatory=M),
            _c("S003", _s("0010", "an..35", M), _s("0007", "an..4"), _s("0014", "an..14"),
               mandatory=M),
            _c("S004", _s("0017", "n6", M), _s("0019", "n4", M), mandatory=M),
            _s("0020", "an..14", M),
            _c("S005", _s("0022", "an..14", M), _s("0025", "an2")),
            _s("0026", "an..14"), _s("0029", "a1"), _s("0031", "n1"), _s("0032", "an..35"),
            _s("0035", "n1")),
    "UNG": (_s("0038", "an..6", M),
            _c("S006", _s("0040", "an..35", M), _s("0007", "an..4"), mandatory=M),
            _c("S007", _s("0044", "an..35", M), _s("0007", "an..4"), mandatory=M),
            _c("S004", _s("0017", "n6", M), _s("0019", "n4", M), mandatory=M),
            _s("0048", "an..14", M), _s("0051", "an..2", M),
            _c("S008", _s("0052", "an..3", M), _s("0054", "an..3", M), _s("0057", "an..6"),
               mandatory=M),
            _s("0058", "an..14")),
    "UNH": (_s("0062", "an..14", M),
            _c("S009", _s("0065", "an..6", M), _s("0052", "an..3", M), _s("0054", "an..3", M),
               _s("0051", "an..2", M), _s("0057", "an..6"), mandatory=M),
            _s("0068", "an..35"),
            _c("S010", _s("0070", "n..2", M), _s("0073", "a1"))),
    "UNT": (_s("0074", "n..6", M), _s("0062", "an..14", M)),
    "UNE": (_s("0060", "n..6", M), _s("0048", "an..14", M)),
    "UNZ": (_s("0036", "n..6", M), _s("0020", "an..14", M)),
}
_V4: dict[str, tuple[Spec, ...]] = {
    "UNB": (_c("S001", _s("0001", "a4", M), _s("0002", "an1", M), _s("0080", "an..6"),
               _s("0133", "an..3"), mandatory=M),
            _c("S002", _s("0004", "an..35", M), _s("0007", "an..4"), _s("0008", "an..35"),
               _s("0042", "an..35"), mandatory=M),
            _c("S003", _s("0010", "an..35", M), _s("0007", "an..4"), _s("0014", "an..35"),
               _s("0046", "an..35"), mandatory=M),
            _c("S004", _s("0017", "n8", M), _s("0019", "n4", M), mandatory=M),
            *_V3["UNB"][4:]),
    "UNG": (_s("0038", "an..6"),
            _c("S006", _s("0040", "an..35", M), _s("0007", "an..4")),
            _c("S007", _s("0044", "an..35", M), _s("0007", "an..4")),
            _c("S004", _s("0017", "n8", M), _s("0019", "n4", M)),
            _s("0048", "an..14", M), _s("0051", "an..3"),
            _c("S008", _s("0052", "an..3", M), _s("0054", "an..3", M), _s("0057", "an..6")),
            _s("0058", "an..14")),
    "UNH": (_s("0062", "an..14", M),
            _c("S009", _s("0065", "an..6", M), _s("0052", "an..3", M), _s("0054", "an..3", M),
               _s("0051", "an..3", M), _s("0057", "an..6"), _s("0110", "an..6"),
               _s("0113", "an..6"), mandatory=M),
            _s("0068", "an..35"),
            _c("S010", _s("0070", "n..2", M), _s("0073", "a1")),
            *(_c(code, _s(first, "an..14", M), _s(a, "an..3"), _s(b, "an..3"),
                 _s("0051", "an..3"))
              for code, first, a, b in (("S016", "0115", "0116", "0118"),
                                        ("S017", "0121", "0122", "0124"),
                                        ("S018", "0127", "0128", "0130")))),
    "UNT": (_s("0074", "n..10", M), _s("0062", "an..14", M)),
    "UNE": _V3["UNE"],
    "UNZ": _V3["UNZ"],
}


def specs(tag: str, version: str) -> tuple[Spec, ...]:
    """The elements of a service segment in a syntax version (1 to 3 share one layout)."""
    return (_V4 if version == "4" else _V3)[tag]


def check(tag: str, elements: list[Element], version: str,
          **where: int | None) -> EdifactServiceError | None:
    """The first fault of a service segment (``[tag, element, ...]``), or None."""
    layout = specs(tag, version)
    for k in range(len(layout) + 1, len(elements)):
        if _filled(elements[k]):
            return EdifactServiceError(tag, "16", "", k, None, f"has {len(elements) - 1}"
                                       f" elements; at most {len(layout)} are allowed",
                                       _text(elements[k]), **where)
    for k, spec in enumerate(layout, start=1):
        value = elements[k] if k < len(elements) else ""
        if isinstance(value, Repeated):
            return EdifactServiceError(tag, "35", spec.code, k, None, "is repeated; it is"
                                       " not a repeating element", _text(value[1]), **where)
        if isinstance(spec, Simple):
            if isinstance(value, list):
                return EdifactServiceError(tag, "16", spec.code, k, 2, "has components; it is"
                                           " a simple element", _text(value), **where)
            found = _value(tag, spec, value, k, None, where)
        else:
            found = _composite(tag, spec, value, k, where)
        if found is not None:
            return found
    return None


def _composite(tag: str, spec: Composite, value: Element, k: int,
               where: dict) -> EdifactServiceError | None:
    comps = value if isinstance(value, list) else [value]
    if not any(comps):
        if spec.mandatory:
            return EdifactServiceError(tag, "13", spec.code, k, None, "is missing", **where)
        return None
    if len(comps) > len(spec.components):
        return EdifactServiceError(tag, "16", spec.code, k, len(spec.components) + 1,
                                   f"has {len(comps)} components; at most"
                                   f" {len(spec.components)} are allowed",
                                   comps[len(spec.components)], **where)
    for m, part in enumerate(spec.components, start=1):
        found = _value(tag, part, comps[m - 1] if m <= len(comps) else "", k, m, where)
        if found is not None:
            return found
    return None


def _value(tag: str, spec: Simple, value: str, k: int, m: int | None,
           where: dict) -> EdifactServiceError | None:
    def fault(code: str, why: str) -> EdifactServiceError:
        return EdifactServiceError(tag, code, spec.code, k, m, why, value, **where)

    if value == "":
        return fault("13", "is missing") if spec.mandatory else None
    size = len(value)
    if spec.kind == "n":
        if re.fullmatch(r"-?[.,]\d*", value):
            return fault("38", "has no digit in front of its decimal mark")
        if not (value.isascii() and value.isdigit()):
            return fault("37", "must be digits only")
    elif spec.kind == "a" and any(ch in "0123456789" for ch in value):
        return fault("37", "must hold no digits")
    if size > spec.max:
        return fault("39", f"is {size} characters long; at most {spec.max} are allowed")
    if size < spec.min:
        return fault("40", f"is {size} characters long; at least {spec.min} are needed")
    return None


def _filled(value: Element) -> bool:
    if isinstance(value, list):
        return any(_filled(v) for v in value)
    return value != ""


def _text(value: object) -> str:
    if isinstance(value, list):
        return ":".join(_text(v) for v in value)
    return str(value)


# -- the fast path: one regular expression per segment kind ---------------------------------


@functools.cache
def fast(tag: str, version: str, d: Delimiters) -> re.Pattern[str]:
    """A pattern that matches the text of a valid ``tag`` segment (without its terminator);
    anything it does not match goes to ``check``. It accepts less than ``check`` does (no
    trailing separators, no released characters, for two), never more."""
    e, c = re.escape(d.element), re.escape(d.component)
    # neither a release character nor a placeholder for a released one: a match is plain
    # text, whose captured values are the values (the envelope reads them from the match)
    seps = e + c + "".join(re.escape(x) for x in (d.repetition, d.release) if x) \
        + "\ufdd0-\ufdd4"
    layout = specs(tag, version)

    def simple(spec: Simple) -> str:
        char = {"n": "[0-9]", "a": f"[^0-9{seps}]", "an": f"[^{seps}]"}[spec.kind]
        body = f"{char}{{{spec.min},{spec.max}}}"
        return body if spec.mandatory else f"(?:{body})?"

    def sequence(parts: list[str], needed: list[bool], sep: str) -> str:
        """parts joined by sep; those after the last mandatory one may be left out."""
        last = max(i for i, n in enumerate(needed) if n)  # every layout has one
        tail = ""
        for part in reversed(parts[last + 1:]):
            tail = f"(?:{sep}{part}{tail})?"
        return sep.join(parts[: last + 1]) + tail

    def element(spec: Spec) -> str:
        if isinstance(spec, Simple):
            return simple(spec)
        inner = sequence([simple(p) for p in spec.components],
                         [p.mandatory for p in spec.components], c)
        return inner if spec.mandatory else f"(?:{inner})?"

    # each element captured as e1, e2 ... (the envelope reads UNH/UNT values from the match)
    parts = [f"(?P<e{k}>{element(s)})" for k, s in enumerate(layout, start=1)]
    return re.compile(tag + e + sequence(parts, [s.mandatory for s in layout], e))
