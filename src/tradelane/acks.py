"""Acknowledgements: a CONTRL for every EDIFACT interchange, a 997 for every X12 functional
group, accepted or rejected, written atomically into the route's ``format.ack.folder`` (by
``finishing``, once the outcome they answer is recorded).

The envelopes are read again from the file (it is small next to the work already done, and a
rejected file may have stopped the reader early). A file whose envelope cannot be found at
all (no UNB, no usable ISA) gets no acknowledgement: there is no one to address it to.
Names are ``<file id>-CONTRL_<sender>_<reference>.edi`` and
``<file id>-997_<sender>_<ISA13>_<GS06>.x12``: a retry of the same file rewrites the same
file, and a duplicate interchange (another file id) does not overwrite the first answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tradelane.errors import RejectError
from tradelane.paths import safe_component
from tradelane.spec import EdifactFormat, RouteSpec, X12Format
from tradelane.staging import Staged


@dataclass
class _Envelope:
    key: tuple[str, str, str]  # sender, recipient, control reference
    segment: int  # where its header is (1-based)
    groups: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)


def build_acks(route: RouteSpec, staged: Staged, file_id: int, *,
               error: RejectError | None = None,
               rejected: Iterable[object] = ()) -> list[tuple[str, bytes]]:
    """The acknowledgement of every interchange of the file, as (file name, bytes); written
    later by the pipeline, as a follow-up step of the delivery or quarantine it answers.

    ``error`` rejects the whole file. ``rejected`` are the messages split out of a delivered
    file (EDIFACT ``Message`` objects): each gets a UCM with action 4.
    """
    fmt = route.format
    if isinstance(fmt, EdifactFormat):
        texts = _contrls(staged, fmt, error, list(rejected))
    elif isinstance(fmt, X12Format):
        texts = _nines(staged, fmt, error)
    else:
        return []
    return [(f"{file_id}-{name}", text.encode("latin-1", errors="replace"))
            for name, text in texts]


def _owner(envelopes: list[_Envelope], error: RejectError | None) -> _Envelope | None:
    """The interchange the error is in (by segment number), if the error says where."""
    at = error.segment_index if error is not None else None
    if at is None:
        return None
    before = [e for e in envelopes if e.segment <= at]
    return before[-1] if before else None


# -- EDIFACT ----------------------------------------------------------------------------------


def _contrls(staged: Staged, fmt: EdifactFormat, error: RejectError | None,
             rejected: list[object]) -> list[tuple[str, str]]:
    from tradelane.formats.edifact_envelope import first
    from tradelane.formats.edifact_syntax import SegmentStream
    from tradelane.formats.edifact_writer import build_contrl

    envelopes: list[_Envelope] = []
    try:
        for block in SegmentStream(staged, max_segment_bytes=fmt.max_segment_bytes,
                                   encoding=fmt.encoding):
            for i, tag in enumerate(block.tags):
                if tag == "UNB":
                    el = block.elements(i) + [""] * 6
                    key = (first(el[2]), first(el[3]), first(el[5]))
                    envelopes.append(_Envelope(key, block.start + i))
    except RejectError:
        pass  # acknowledge the interchanges found before the damage
    culprit = _owner(envelopes, error)
    out = []
    for env in envelopes:
        if error is not None:
            errors = [error] if culprit in (None, env) else []
            text = build_contrl(env.key, errors=errors, rejected=True)
        else:
            mine = {m.reference: (m.type, m.error)  # type: ignore[attr-defined]
                    for m in rejected
                    if m.interchange.key == env.key}  # type: ignore[attr-defined]
            text = build_contrl(env.key, rejected_messages=mine)
        sender, _, ref = env.key
        out.append((f"CONTRL_{safe_component(sender)}_{safe_component(ref)}.edi", text))
    return out


# -- X12 --------------------------------------------------------------------------------------


def _nines(staged: Staged, fmt: X12Format, error: RejectError | None) -> list[tuple[str, str]]:
    from tradelane.formats.x12 import X12File, _el, build_997

    try:
        f = X12File(staged.read_bytes(), fmt.encoding, fmt.max_segment_bytes)
    except RejectError:
        return []
    envelopes: list[_Envelope] = []
    for i, tag in enumerate(f.tags):
        el = f.elements(i)
        if tag == "ISA":
            key = (_el(el, 6).strip(), _el(el, 8).strip(), _el(el, 13))
            envelopes.append(_Envelope(key, i + 1))
        elif tag == "GS" and envelopes:
            envelopes[-1].groups.append((_el(el, 1), _el(el, 6), []))
        elif tag == "ST" and envelopes and envelopes[-1].groups:
            envelopes[-1].groups[-1][2].append((_el(el, 1), _el(el, 2)))
    out = []
    for env in envelopes:
        control = int(env.key[2]) if env.key[2].isdigit() else 1
        for fid, gs06, sets in env.groups:
            ok = error is None
            text = build_997(env.key, (fid, gs06), [(code, ctl, ok) for code, ctl in sets],
                             control_number=control, rejected=None if ok else error)
            sender, _, isa13 = env.key
            out.append((f"997_{safe_component(sender)}_{safe_component(isa13)}_"
                        f"{safe_component(gs06)}.x12", text))
    return out
