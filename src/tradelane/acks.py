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

from tradelane.errors import RejectError
from tradelane.spec import EdifactFormat, RouteSpec, X12Format
from tradelane.staging import Staged


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
        from tradelane.formats.edifact_contrl import contrls

        return [(f"{file_id}-{name}", data)
                for name, data in contrls(staged, fmt, error=error, rejected=list(rejected))]
    if isinstance(fmt, X12Format):
        texts = _nines(staged, fmt, error, list(rejected))
    else:
        return []
    codec = fmt.encoding if isinstance(fmt, X12Format) else "latin-1"  # X12: the partner's
    return [(f"{file_id}-{name}", text.encode(codec, errors="replace"))
            for name, text in texts]


# -- X12 --------------------------------------------------------------------------------------


def _nines(staged: Staged, fmt: X12Format, error: RejectError | None,
           rejected: list[object]) -> list[tuple[str, str]]:
    from tradelane.formats.x12_acks import build_x12_acks

    return build_x12_acks(fmt, staged, error=error, rejected=rejected)
