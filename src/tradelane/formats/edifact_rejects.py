"""Split-out EDIFACT messages written back as a valid interchange of their own.

Each original interchange that lost messages gets a fresh UNB (the same sender, recipient and
syntax, a new control reference so that reprocessing it is not taken for a duplicate) and a UNZ
counting what is really inside. The messages keep their own segments, delimiters and release
characters, so the file can be fixed by hand and reprocessed through the same route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tradelane.formats.edifact_envelope import Message
from tradelane.formats.edifact_syntax import _PH, CHARSETS, Block, Delimiters
from tradelane.formats.edifact_text import render_segment


def rejects_interchange(messages: Iterable[Message], encoding: str | None = None) -> bytes:
    """The given messages (duplicates ignored), grouped by the interchange they came from."""
    unique = sorted({m.number: m for m in messages}.values(), key=lambda m: m.number)
    out: list[str] = []
    codec = encoding
    for number in dict.fromkeys(m.interchange.number for m in unique):
        group = [m for m in unique if m.interchange.number == number]
        ic = group[0].interchange
        d = group[0].block.delims
        codec = codec or CHARSETS.get(ic.syntax, "latin-1")
        nl = "" if {"\r", "\n"} & set(d.service()) else "\n"
        ref = fresh_reference(ic.control_ref, [m.reference for m in group])
        unb = list(ic.elements) + [""] * max(0, 6 - len(ic.elements))
        unb[5] = ref
        out.append(d.una() + nl)
        out.append(_segment(unb, d) + nl)
        for msg in group:
            out.extend(text + nl for text in message_segments(msg.block, d))
        out.append(_segment(["UNZ", str(len(group)), ref], d) + nl)
    return "".join(out).encode(codec or "latin-1", errors="replace")


def fresh_reference(original: str, messages: list[str]) -> str:
    """A new interchange control reference (an..14), the same for the same rejects."""
    digest = hashlib.sha256("\x00".join([original, *messages]).encode()).hexdigest()
    return "R" + digest[:13].upper()


def message_segments(block: Block, d: Delimiters) -> list[str]:
    """Each segment of ``block`` as text, terminator included, released characters kept."""
    if block.parsed:
        return [_segment(block.elements(i), d) for i in range(len(block))]
    if block.restore is None:
        return [seg + d.segment for seg in block.segs]
    chars = [d.release, d.segment, d.element, d.component, d.repetition]
    back = {ord(ph): (d.release or "") + c for ph, c in zip(_PH, chars, strict=True) if c}
    return [seg.translate(back) + d.segment for seg in block.segs]


def _segment(elements: list, d: Delimiters) -> str:
    """One segment, terminator included."""
    return render_segment(elements, d)
