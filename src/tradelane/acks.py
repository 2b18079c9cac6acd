"""Acknowledgements: a CONTRL for every EDIFACT interchange, a 997 or 999 for every X12
functional group (and TA1s: ``formats.x12_acks``), accepted or rejected, written atomically
into the route's ``format.ack.folder`` (by ``finishing``, once the outcome they answer is
recorded).

The envelopes are read again from the file (it is small next to the work already done, and a
rejected file may have stopped the reader early). A file whose envelope cannot be found at
all (no UNB, no usable ISA) gets no acknowledgement: there is no one to address it to.
Names are ``<file id>-CONTRL_<sender>_<reference>.edi`` and
``<file id>-997_<sender>_<ISA13>_<GS06>.x12`` (``999_``, ``TA1_<sender>_<ISA13>``): a retry
of the same file rewrites the same file, and a duplicate interchange (another file id) does
not overwrite the first answer.
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
        texts = _nines(staged, fmt, error, list(rejected))
    else:
        return []
    codec = fmt.encoding if isinstance(fmt, X12Format) else "latin-1"  # X12: the partner's
    return [(f"{file_id}-{name}", text.encode(codec, errors="replace"))
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


def _nines(staged: Staged, fmt: X12Format, error: RejectError | None,
           rejected: list[object]) -> list[tuple[str, str]]:
    from tradelane.formats.x12_acks import build_x12_acks

    return build_x12_acks(fmt, staged, error=error, rejected=rejected)
