"""Control-number sequences: the interchange and message references written to a partner.

A number is taken from the partner's sequence in a ledger transaction of its own, before the
output is written, and recorded against the file and the output (``control_numbers``): a
retry of the same output (after a crash, a server that was down) finds that record and writes
the very same numbers, so what is delivered never changes between attempts and no number goes
to two interchanges, whichever worker or process writes. A crash after the numbers are taken
(crash point ``numbers-allocated``) leaves them recorded for the retry. A file that ends in
quarantine keeps its numbers unused: the partner sees a gap, never a repeat.

Past ``max`` a sequence starts again at ``start`` (its ``cycle`` counts up) and an alert says
so in the same transaction. Writers ask through ``current()``: the pipeline sets what it is
delivering (``numbering``) around ``Target.deliver``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from tradelane.crashpoints import crash_point
from tradelane.errors import ConfigError
from tradelane.ledger.alerts import alerts
from tradelane.ledger.store import insert_ignore, utcnow
from tradelane.ledger.tables import control_numbers, partner_sequences

if TYPE_CHECKING:
    from tradelane.ledger import Ledger
    from tradelane.spec.partners import PartnerSpec, SequenceSpec


@dataclass(frozen=True)
class Numbering:
    """What the writer of one output may number: its file, output and partner."""

    ledger: Ledger
    file_id: int
    output: str
    partner: PartnerSpec

    def numbers(self, standard: str, kind: str, count: int = 1) -> list[str] | None:
        """``count`` numbers of the partner's ``standard``/``kind`` sequence as text, or
        None when the partner keeps no such sequence (the writer's own default applies)."""
        spec = _spec(self.partner, standard, kind)
        if spec is None:
            return None
        values = Sequences(self.ledger).allocate(
            file_id=self.file_id, output=self.output, partner=self.partner.name,
            standard=standard, kind=kind, spec=spec, count=count)
        return [spec.text(v) for v in values]


_CURRENT: ContextVar[Numbering | None] = ContextVar("tradelane_numbering", default=None)


@contextlib.contextmanager
def numbering(ledger: Ledger | None, file_id: int, output: str,
              partner: PartnerSpec | None) -> Iterator[None]:
    """Let the writers called inside number their output from ``partner``'s sequences."""
    if ledger is None or partner is None:
        yield
        return
    token = _CURRENT.set(Numbering(ledger, file_id, output, partner))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> Numbering | None:
    return _CURRENT.get()


def _spec(partner: PartnerSpec, standard: str, kind: str) -> SequenceSpec | None:
    ids = getattr(partner, standard, None)
    control = getattr(ids, "control_numbers", None)
    return getattr(control, kind, None) if control is not None else None


class Sequences:
    """The ledger's sequences: allocation, and their next values for ``tradelane partners``."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def allocate(self, *, file_id: int, output: str, partner: str, standard: str, kind: str,
                 spec: SequenceSpec, count: int) -> list[int]:
        """The numbers of this file's output: those recorded by an earlier attempt, or
        ``count`` new ones from the sequence (committed before they are written)."""
        if count > spec.max - spec.start + 1:  # the file is fine, the range is not: retried
            raise ConfigError(f"partners/{partner}.yaml: {standard}.control_numbers.{kind}:"
                              f" an output needs {count} numbers, the range {spec.start} to"
                              f" {spec.max} holds fewer")
        key = {"partner": partner, "standard": standard, "kind": kind}
        now = utcnow()
        dialect = self.ledger.engine.dialect.name
        with self.ledger.begin() as conn:
            # the insert (a no-op when the row exists) takes SQLite's write lock first;
            # FOR UPDATE makes PostgreSQL's workers queue on the row
            conn.execute(insert_ignore(partner_sequences, dialect).values(
                **key, next_value=spec.start, cycle=0, updated_at=now))
            match = [partner_sequences.c[k] == v for k, v in key.items()]
            seq = conn.execute(select(partner_sequences).where(*match)
                               .with_for_update()).one()
            earlier = conn.execute(select(control_numbers).where(
                control_numbers.c.file_id == file_id, control_numbers.c.output == output,
                control_numbers.c.kind == kind)).one_or_none()
            if earlier is not None and earlier.count == count \
                    and earlier.partner == partner and earlier.standard == standard:
                return _expand(json.loads(earlier.numbers))
            values, next_value, cycle = _take(spec, seq.next_value, seq.cycle, count)
            conn.execute(update(partner_sequences).where(*match).values(
                next_value=next_value, cycle=cycle, updated_at=now))
            row = {"partner": partner, "standard": standard, "first_value": values[0],
                   "numbers": json.dumps(_ranges(values)), "count": count,
                   "cycle": seq.cycle if values[0] >= seq.next_value else cycle,
                   "allocated_at": now}
            if earlier is not None:  # a different output this time: new numbers for it
                conn.execute(update(control_numbers).where(
                    control_numbers.c.file_id == file_id, control_numbers.c.output == output,
                    control_numbers.c.kind == kind).values(**row))
            else:
                conn.execute(control_numbers.insert().values(
                    file_id=file_id, output=output, kind=kind, **row))
            if cycle != seq.cycle:
                message = (f"the {standard} {kind} numbers of partner {partner} reached"
                           f" {spec.max} and start again at {spec.start}: the partner may"
                           " take a repeated number for a duplicate; agree the reset with it")
                conn.execute(insert_ignore(alerts, dialect).values(
                    key=f"sequence-rollover:{partner}:{standard}:{kind}:{cycle}",
                    kind="sequence", route=None, file_id=file_id, message=message,
                    opened_at=now, sent_to="", attempts=0))
        crash_point("numbers-allocated")
        return values

    def next_values(self, partner: str | None = None) -> list[dict[str, Any]]:
        """Each sequence's next number, for listings."""
        query = select(partner_sequences).order_by(
            partner_sequences.c.partner, partner_sequences.c.standard, partner_sequences.c.kind)
        if partner is not None:
            query = query.where(partner_sequences.c.partner == partner)
        with self.ledger.engine.connect() as conn:
            return [{"partner": r.partner, "standard": r.standard, "kind": r.kind,
                     "next": r.next_value, "cycle": r.cycle} for r in conn.execute(query)]


def _take(spec: SequenceSpec, next_value: int, cycle: int, count: int
          ) -> tuple[list[int], int, int]:
    values = []
    value = next_value if spec.start <= next_value <= spec.max else spec.start
    if value != next_value and next_value > spec.max:
        cycle += 1
    for _ in range(count):
        if value > spec.max:
            value, cycle = spec.start, cycle + 1
        values.append(value)
        value += 1
    return values, value, cycle


def _ranges(values: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][1] == v - 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


def _expand(ranges: list[list[int]]) -> list[int]:
    return [v for first, last in ranges for v in range(first, last + 1)]
