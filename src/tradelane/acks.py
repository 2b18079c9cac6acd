"""Acknowledgements: a CONTRL for every EDIFACT interchange, a 997 or 999 for every X12
functional group (and TA1s: ``formats.x12_acks``), accepted or rejected, and under
``ack.aperak`` an APERAK for application errors (``formats.edifact_aperak``), written
atomically into the route's ``format.ack.folder`` (by ``finishing``, once the outcome they
answer is recorded).

Tracking (``tracking_steps``): an interchange an EDIFACT or X12 target sent (by any
transport), and the CONTRL, APERAK, 997 or 999 an inbound route received, are recorded in the
ledger (``ledger.interchanges``) by follow-up steps of the delivery that sent or received
them.

The envelopes are read again from the file (it is small next to the work already done, and a
rejected file may have stopped the reader early). A file whose envelope cannot be found at
all (no UNB, no usable ISA) gets no acknowledgement: there is no one to address it to.
Names are ``<file id>-CONTRL_<sender>_<reference>.edi`` and
``<file id>-997_<sender>_<ISA13>_<GS06>.x12`` (``999_``, ``TA1_<sender>_<ISA13>``): a retry
of the same file rewrites the same file, and a duplicate interchange (another file id) does
not overwrite the first answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from tradelane.errors import RejectError
from tradelane.ledger.store import FileRecord, Followup, Ledger, utcnow
from tradelane.models import Delivery
from tradelane.spec import EdifactFormat, RouteSpec, X12Format
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.formats.ack_reading import SentInterchange

log = logging.getLogger("tradelane")


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

        rejected = list(rejected)
        out = [(f"{file_id}-{name}", data)
               for name, data in contrls(staged, fmt, error=error, rejected=rejected)]
        if fmt.ack is not None and fmt.ack.aperak:
            from tradelane.formats.edifact_aperak import aperaks

            out += [(f"{file_id}-{name}", data)
                    for name, data in aperaks(staged, route, error=error, rejected=rejected)]
        return out
    if isinstance(fmt, X12Format):
        texts = _nines(staged, fmt, error, list(rejected), route.base_dir)
    else:
        return []
    codec = fmt.encoding if isinstance(fmt, X12Format) else "latin-1"  # X12: the partner's
    return [(f"{file_id}-{name}", text.encode(codec, errors="replace"))
            for name, text in texts]


# -- X12 --------------------------------------------------------------------------------------


def _nines(staged: Staged, fmt: X12Format, error: RejectError | None,
           rejected: list[object], base_dir: Path | None) -> list[tuple[str, str]]:
    from tradelane.formats.x12_acks import build_x12_acks

    return build_x12_acks(fmt, staged, error=error, rejected=rejected, base_dir=base_dir)


# -- tracking ---------------------------------------------------------------------------------


def tracking_steps(route: RouteSpec, staged: Staged | None, delivery: Delivery | None, *,
                   now: datetime | None = None,
                   written: Sequence[SentInterchange] = ()) -> list[Followup]:
    """The follow-up steps that record, with a delivery, the interchanges it sent (an EDIFACT
    or X12 target: ``written``, what its writer wrote, whatever the target; or read back from
    a local output) or the acknowledgements it received (a route whose ``messages`` or
    ``transactions`` name CONTRL, APERAK, 997 or 999)."""
    target = route.target
    tpl = target.edifact if target.format == "edifact" else \
        target.x12 if target.format == "x12" else None
    fmt = route.format
    if tpl is None and not isinstance(fmt, EdifactFormat | X12Format):
        return []  # neither sends nor reads interchanges: the EDI readers stay unimported
    from tradelane.formats.ack_reading import ACK_MESSAGES, ACK_SETS, read_acks, read_sent

    when = (now or utcnow()).isoformat()
    steps: list[Followup] = []
    if tpl is not None and delivery is not None:
        sent = list(written)
        path = _local(delivery.target) if not sent else None
        if path is not None:  # nothing told (a writer that did not run again): read it
            sent = read_sent(path, standard=target.format,
                             encoding=getattr(tpl, "encoding", None))
        within = tpl.ack_within.total_seconds() if tpl.ack_within else None
        steps += [Followup("sent", {"output": delivery.target, "sent": s.as_dict(),
                                    "sent_at": when, "ack_within": within})
                  for s in sent]
    acks = []
    if isinstance(fmt, EdifactFormat) and ACK_MESSAGES & set(fmt.messages or ()) and staged:
        acks = read_acks(staged, standard="edifact", encoding=fmt.encoding)
    elif isinstance(fmt, X12Format) and ACK_SETS & set(fmt.transactions or ()) and staged:
        acks = read_acks(staged, standard="x12", encoding=fmt.encoding)
    if acks:
        steps.append(Followup("ack_received", {"acks": [a.as_dict() for a in acks],
                                               "received_at": when}))
    return steps


def _local(uri: str) -> Path | None:
    """The path of a ``file://`` output; other targets' outputs are not read back."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def record_sent(ledger: Ledger, record: FileRecord, detail: Mapping[str, Any]) -> None:
    """The ``sent`` step: the interchange is in ``sent_interchanges`` (once)."""
    from datetime import timedelta

    from tradelane.formats.ack_reading import SentInterchange
    from tradelane.ledger.interchanges import Tracking

    sent = SentInterchange(**detail["sent"])
    within = detail.get("ack_within")
    Tracking(ledger).record_sent(
        record.route, record.id, detail["output"], sent,
        sent_at=datetime.fromisoformat(detail["sent_at"]),
        ack_within=timedelta(seconds=within) if within else None)
    log.info("sent interchange %s to %s (%d messages)%s", sent.control_ref, sent.recipient,
             sent.messages, f", acknowledgement expected within {timedelta(seconds=within)}"
             if within else "")


def record_received(ledger: Ledger, record: FileRecord, detail: Mapping[str, Any]) -> None:
    """The ``ack_received`` step: each acknowledgement of the file is recorded, matched to the
    interchange it answers or kept as unmatched (the file is delivered either way)."""
    from tradelane.formats.ack_reading import ReceivedAck
    from tradelane.ledger.interchanges import Tracking

    acks = [ReceivedAck.from_dict(a) for a in detail["acks"]]
    matched = Tracking(ledger).record_acks(
        record.route, record.id, acks, received_at=datetime.fromisoformat(detail["received_at"]))
    for ack, sent_id in zip(acks, matched, strict=True):
        if sent_id is None:
            log.warning("%s from %s answers %s, which tradelane did not send: recorded as"
                        " unmatched (file %d)", ack.kind, ack.sender, ack.control_ref or "?",
                        record.id)
        else:
            log.info("%s from %s: interchange %s %s", ack.kind, ack.sender, ack.control_ref,
                     ack.verdict)
