"""The rules of the X12 service segments (ISA/IEA, GS/GE, ST/SE): which elements must be
there, how long they may be and what they hold, as X12.5 and X12.6 define them.

A broken rule is a ``ServiceElementError`` that names the element (``GS04``) and carries the
acknowledgement codes of its level: a TA1 note for the interchange, AK905 for the group,
AK502/IK502 and the IK4 element code (with its position) for a transaction set.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from itertools import pairwise

from tradelane.formats.edi_errors import ServiceElementError
from tradelane.formats.x12_codes import coded
from tradelane.formats.x12_syntax import ISA_SEPARATORS, X12Delimiters

# IK403/AK403 element error codes
MISSING, TOO_MANY, TOO_SHORT, TOO_LONG, BAD_CHAR, BAD_DATE, BAD_TIME = (
    "1", "3", "4", "5", "6", "8", "9")
_ID = re.compile("[A-Z0-9]+")
_DIGITS = re.compile("[0-9]+")
#: (position, min, max, kind, level codes) per element; kinds: id (a code), an (any text),
#: n0 (digits), dt (a date), tm (a time)
Rule = tuple[int, int, int, str, dict[str, str]]
_ISA: list[Rule] = [
    (1, 2, 2, "id", {"ta1": "010"}), (2, 10, 10, "an", {"ta1": "011"}),
    (3, 2, 2, "id", {"ta1": "012"}), (4, 10, 10, "an", {"ta1": "013"}),
    (5, 2, 2, "id", {"ta1": "005"}), (6, 15, 15, "an", {"ta1": "006"}),
    (7, 2, 2, "id", {"ta1": "007"}), (8, 15, 15, "an", {"ta1": "008"}),
    (9, 6, 6, "dt", {"ta1": "014"}), (10, 4, 4, "tm", {"ta1": "015"}),
    (12, 5, 5, "n0", {"ta1": "017"}), (13, 9, 9, "n0", {"ta1": "018"}),
    (14, 1, 1, "id", {"ta1": "019"}), (15, 1, 1, "id", {"ta1": "020"}),
]
_GS: list[Rule] = [
    (1, 2, 2, "id", {"ta1": "024"}), (2, 2, 15, "an", {"ta1": "024"}),
    (3, 2, 15, "an", {"ta1": "024"}), (4, 8, 8, "dt", {"ta1": "024"}),
    (5, 4, 8, "tm", {"ta1": "024"}), (6, 1, 9, "n0", {"ta1": "024", "ak9": "6"}),
    (7, 1, 2, "id", {"ta1": "024"}), (8, 1, 12, "an", {"ta1": "024"}),
]
_ST: list[Rule] = [(1, 3, 3, "id", {"ak5": "6"}), (2, 4, 9, "an", {"ak5": "7"}),
                   (3, 1, 35, "an", {"ak5": "5"})]
_SE: list[Rule] = [(1, 1, 10, "n0", {"ak5": "4"}), (2, 4, 9, "an", {"ak5": "3"})]
_GE: list[Rule] = [(1, 1, 6, "n0", {"ak9": "5"}), (2, 1, 9, "n0", {"ak9": "4"})]
_IEA: list[Rule] = [(1, 1, 5, "n0", {"ta1": "021"}), (2, 9, 9, "n0", {"ta1": "001"})]
#: segment -> (rules, required elements, most elements, codes for a wrong element count)
RULES: dict[str, tuple[list[Rule], int, int, dict[str, str]]] = {
    "GS": (_GS, 8, 8, {"ta1": "024"}),
    "ST": (_ST, 2, 3, {"ak5": "5"}),
    "SE": (_SE, 2, 2, {"ak5": "5"}),
    "GE": (_GE, 2, 2, {"ak9": "5"}),
    "IEA": (_IEA, 2, 2, {"ta1": "022"}),
}


def isa_elements(isa: str) -> list[str]:
    """ISA01..ISA16 cut at the fixed positions (``ISA`` first), so that an element separator
    inside a value cannot shift the others."""
    cuts = (*ISA_SEPARATORS, len(isa))
    return ["ISA"] + [isa[a + 1:b] for a, b in pairwise(cuts)]


def check_isa(el: list[str], where: dict[str, int]) -> None:
    """ISA01..ISA16 (``el`` from ``isa_elements``)."""
    _check("ISA", el, _ISA, where)
    version, standard = el[12], el[11]
    if version < "00402" and standard != "U":
        _fail("ISA11", "is not the standards identifier U (control version before 00402)",
              standard, {"ta1": "016"}, 11, BAD_CHAR, where)
    if el[14] not in ("0", "1"):
        _fail("ISA14", "is not 0 or 1", el[14], {"ta1": "019"}, 14, "7", where)
    if el[15] not in ("P", "T", "I"):
        _fail("ISA15", "is not P, T or I", el[15], {"ta1": "020"}, 15, "7", where)
    for pos, code in ((6, "006"), (8, "008")):
        if not el[pos].strip():
            _fail(f"ISA{pos:02d}", "is blank", "", {"ta1": code}, pos, MISSING, where)


@functools.cache
def _quick(tag: str, element: str) -> re.Pattern[str]:
    e = re.escape(element)
    if tag == "ST":
        return re.compile(f"ST{e}[A-Z0-9]{{3}}{e}[^{e}]{{4,9}}(?:{e}[^{e}]{{1,35}})?")
    return re.compile(f"SE{e}[0-9]{{1,10}}{e}[^{e}]{{4,9}}")


def quick(tag: str, text: str, d: X12Delimiters) -> bool:
    """ST or SE obviously keeps every rule (the common case, checked by one regex)."""
    return _quick(tag, d.element).fullmatch(text) is not None


def check(tag: str, el: list[str], where: dict[str, int], *, version: str = "") -> None:
    """GS, ST, SE, GE or IEA: element count, then each element's length and representation.
    ``version`` is the group's GS08 (a 6-digit GS04 date is allowed before 004010)."""
    rules, required, most, count_codes = RULES[tag]
    given = len(el) - 1
    if given > most:
        _fail(tag, f"has {given} elements, at most {most} are allowed", "", count_codes,
              most + 1, TOO_MANY, where)
    if tag == "GS" and version[:6].isdigit() and version[:6] < "004010":
        rules = [(4, 6, 8, "dt", r[4]) if r[0] == 4 else r for r in rules]
    for rule in rules:
        pos = rule[0]
        if pos > given or el[pos] == "":
            if pos <= required:
                _fail(f"{tag}{pos:02d}", "is missing", "", rule[4], pos, MISSING, where)
            continue
    _check(tag, el, rules, where)


def _check(tag: str, el: list[str], rules: list[Rule], where: dict[str, int]) -> None:
    for pos, low, high, kind, codes in rules:
        if pos >= len(el) or el[pos] == "":
            continue
        value = el[pos]
        name = f"{tag}{pos:02d}"
        if len(value) < low:
            _fail(name, f"is shorter than {low} characters", value, codes, pos, TOO_SHORT, where)
        if len(value) > high:
            _fail(name, f"is longer than {high} characters", value, codes, pos, TOO_LONG, where)
        if kind == "id" and not _ID.fullmatch(value):
            _fail(name, "is not a code (upper-case letters and digits)", value, codes, pos,
                  BAD_CHAR, where)
        if kind == "n0" and not _DIGITS.fullmatch(value):
            _fail(name, "is not a number", value, codes, pos, BAD_CHAR, where)
        if kind == "dt" and not _is_date(value):
            _fail(name, "is not a date (CCYYMMDD, or YYMMDD)", value, codes, pos, BAD_DATE,
                  where)
        if kind == "tm" and not _is_time(value):
            _fail(name, "is not a time (HHMM, HHMMSS, HHMMSSd..)", value, codes, pos, BAD_TIME,
                  where)


def _is_date(text: str) -> bool:
    if not _DIGITS.fullmatch(text) or len(text) not in (6, 8):
        return False
    year = int(text[:-4]) + (2000 if len(text) == 6 else 0)
    try:
        date(year, int(text[-4:-2]), int(text[-2:]))
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    if not _DIGITS.fullmatch(text) or len(text) < 4:
        return False
    ok = int(text[:2]) < 24 and int(text[2:4]) < 60
    return ok and (len(text) < 6 or int(text[4:6]) < 60)


def _fail(name: str, why: str, value: str, codes: dict[str, str], position: int,
          element_code: str, where: dict[str, int]) -> None:
    tag = name.rstrip("0123456789") or name
    raise coded(ServiceElementError(name, why, value, **where), **codes, segment="8",
                element=element_code, position=position, tag=tag)
