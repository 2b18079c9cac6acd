"""Split-out X12 transaction sets written back as an interchange of their own.

Each original interchange that lost transaction sets gets its ISA again (the partner
identification, version and delimiters as received) and each group its GS, with GE and IEA
counting what is really inside. The ISA13 is fresh (the same for the same rejects), so that
a fixed file can be reprocessed, unless the sets were split out for repeating an interchange
or group: then the original ISA13 stays, and reprocessing them is refused as a duplicate
unless ops force it. The sets keep their own segments exactly as received.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tradelane.formats.edi_errors import DuplicateControlReference
from tradelane.formats.x12_envelope import Transaction
from tradelane.formats.x12_syntax import X12Delimiters


def rejects_interchange(transactions: Iterable[Transaction], encoding: str = "latin-1") -> bytes:
    """The given transaction sets (repeats ignored), grouped by interchange and group."""
    unique = sorted({t.number: t for t in transactions}.values(), key=lambda t: t.number)
    out: list[str] = []
    for number in dict.fromkeys(t.interchange.number for t in unique):
        sets = [t for t in unique if t.interchange.number == number]
        ic = sets[0].interchange
        d = ic.delims
        nl = "" if d.segment in "\r\n" else "\n"
        repeat = any(isinstance(t.error, DuplicateControlReference)
                     and t.error.element in ("ISA13", "GS06") for t in sets)
        control = ic.control if repeat else fresh_control(ic.control, [t.control for t in sets])
        isa = list(ic.elements)
        isa[13] = control
        out.append(isa_text(isa, d) + d.segment + nl)
        groups = list(dict.fromkeys(t.group.segment for t in sets))
        for segment in groups:
            members = [t for t in sets if t.group.segment == segment]
            gs = members[0].group
            out.append(d.element.join(gs.elements) + d.segment + nl)
            for tx in members:
                out.extend(seg + d.segment + nl for seg in tx.block.segs)
            out.append(d.element.join(["GE", str(len(members)), gs.control]) + d.segment + nl)
        out.append(d.element.join(["IEA", str(len(groups)), control]) + d.segment + nl)
    return "".join(out).encode(encoding, errors="replace")


def isa_text(elements: list[str], d: X12Delimiters) -> str:
    """ISA01..ISA16 joined (``elements[0]`` is "ISA"); the fixed widths are the caller's."""
    return d.element.join(elements)


def fresh_control(original: str, sets: list[str]) -> str:
    """A new ISA13 (9 digits), the same for the same rejects."""
    digest = hashlib.sha256("\x00".join([original, *sets]).encode()).hexdigest()
    return f"{int(digest[:15], 16) % 10**9:09d}"
