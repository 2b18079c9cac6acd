"""Turns the ledger's state into incidents, and incidents into alerts (once each).

Every check looks at the ledger only, so it sees what any worker did (``serve`` on another
machine, ``run --once`` from cron) and picks up where it left off after a restart:

==============  ==============================================  ==========================
kind            opened when                                     closed when
==============  ==============================================  ==========================
quarantined     a file is quarantined (key: file id + attempt)  the file leaves quarantine
pending         a file stays pending longer than pending_after  it is no longer pending
overdue         an expected file has not arrived by its time    a file arrives
unreachable     a source failed the last N polls                a poll succeeds
invalid         a route's mapping is invalid (route disabled)   the mapping is fixed
ack_overdue     an interchange sent has no acknowledgement      it arrives
                past its route's ack_within (key: its id)
number_gap      a partner's interchange numbers received skip   the missing ones arrive
                some (partners/NAME.yaml; key: partner + run)
==============  ==============================================  ==========================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tradelane.errors import InvalidRoute
from tradelane.ledger import Ledger, utcnow
from tradelane.ledger.alerts import Incident, Incidents
from tradelane.serve.expect import loaded_at, overdue
from tradelane.serve.notify import Channel, NotifyFailed, channels, owner_channels
from tradelane.serve.schedules import route_timezone
from tradelane.spec import Project

log = logging.getLogger("tradelane.alerts")

#: Quarantines older than this when serve starts are not alerted again.
QUARANTINE_LOOKBACK = timedelta(days=1)


#: What a resolution says cleared, per kind of incident (never the problem again).
CLEARED = {
    "quarantined": "the file left quarantine (reprocessed or discarded)",
    "pending": "the file is no longer pending",
    "overdue": "the expected file arrived",
    "unreachable": "its source answers again",
    "invalid": "its mapping is valid again",
    "ack_overdue": "the acknowledgement arrived",
    "number_gap": "the missing interchanges arrived",
    "drift": "its files have the pinned shape again, or the new shape was accepted",
}


def resolution(incident: Incident) -> Incident:
    """The incident as its resolution: kind '<kind> resolved' and a message of its own."""
    subject = f"route {incident.route}" if incident.route else "tradelane"
    if incident.file_id is not None:
        subject += f", file {incident.file_id}"
    message = (f"RESOLVED {subject}: {CLEARED.get(incident.kind, 'the problem cleared')}"
               f" (the {incident.kind} alert of {incident.opened_at:%Y-%m-%d %H:%M} UTC)")
    return replace(incident, kind=f"{incident.kind} resolved", message=message)


@dataclass(frozen=True, slots=True)
class Found:
    key: str
    kind: str
    message: str
    route: str | None = None
    file_id: int | None = None


class Monitor:
    def __init__(self, project: Project, ledger: Ledger, *,
                 channel_list: list[Channel] | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.project = project
        self.ledger = ledger
        self.settings = project.settings
        self.incidents = Incidents(ledger)
        self.channels = channel_list if channel_list is not None else channels(
            self.settings.alerts)
        self.clock = clock
        self._owners: dict[tuple[str, str, int], list[Channel]] = {}

    def check(self) -> list[str]:
        """Open new incidents, close cleared ones, send what is unsent. Returns opened keys."""
        now = self.clock()
        opened = []
        for kind, found in (("quarantined", self._quarantined(now)),
                            ("pending", self._pending(now)),
                            ("overdue", self._overdue(now)),
                            ("unreachable", self._unreachable()),
                            ("invalid", self._invalid()),
                            ("ack_overdue", self._acks_overdue(now)),
                            ("number_gap", self._number_gaps())):
            for f in found:
                if self.incidents.open(f.key, kind, f.message, route=f.route,
                                       file_id=f.file_id, now=now):
                    opened.append(f.key)
            if kind != "quarantined":
                self._announce(self.incidents.resolve_others(kind, {f.key for f in found},
                                                             now=now))
        self._close_released_quarantines(now)
        self.flush()
        return opened

    def flush(self) -> None:
        """Send every incident that some channel has not taken yet."""
        for incident in self.incidents.take_unsent(now=self.clock()):
            done = set(incident.sent_to)
            errors = []
            for channel in [*self.channels, *self._owner_channels(incident.route)]:
                if channel.name in done:
                    continue
                try:
                    channel.send(incident)
                    done.add(channel.name)
                except NotifyFailed as exc:
                    errors.append(str(exc))
                    log.warning("%s (will retry)", exc, extra={"alert": incident.key})
            self.incidents.record_sent(incident.id, done, complete=not errors,
                                       error="; ".join(errors) or None)

    def _owner_channels(self, route: str | None) -> list[Channel]:
        """The channels of the route's owner (built per send: a reload may change them)."""
        spec = self.project.routes.get(route) if route else None
        if spec is None or spec.owner is None:
            return []
        key = (spec.name, spec.version, id(self.settings))  # a reload makes new ones
        if key not in self._owners:  # one HTTP client per owner, not one per alert
            self._owners[key] = owner_channels(spec.owner, self.settings.alerts)
        return self._owners[key]

    # -- what counts as an incident -----------------------------------------------------------

    def _invalid(self) -> list[Found]:
        """Routes whose mapping is invalid: disabled, or (after a reload) still running the
        version loaded before."""
        found = []
        for name, problems in sorted(self.project.invalid.items()):
            error = InvalidRoute(name, problems, running=name in self.project.routes)
            found.append(Found(f"invalid:{name}", "invalid", error.summary, route=name))
        return found

    def _quarantined(self, now: datetime) -> list[Found]:
        return [Found(f"quarantined:{r.id}:{r.attempt}", "quarantined",
                      f"route {r.route}: {r.name} (file {r.id}) was quarantined"
                      f"{' as a duplicate' if r.state.value == 'duplicate' else ''}: "
                      f"{r.message}. See: tradelane quarantine show {r.id}",
                      route=r.route, file_id=r.id)
                for r in self.incidents.quarantined_since(now - QUARANTINE_LOOKBACK)]

    def _pending(self, now: datetime) -> list[Found]:
        after = self.settings.alerts.pending_after
        return [Found(f"pending:{r.id}", "pending",
                      f"route {r.route}: {r.name} (file {r.id}) has been pending since "
                      f"{r.received_at:%Y-%m-%d %H:%M} UTC after temporary failures: "
                      f"{r.message}", route=r.route, file_id=r.id)
                for r in self.incidents.pending_since(now - after)]

    def _overdue(self, now: datetime) -> list[Found]:
        out = []
        for name, route in sorted(self.project.routes.items()):
            if route.expect is None:
                continue
            late = overdue(route.expect, route_timezone(route, self.settings), now,
                           self.ledger.last_arrival(name), since=loaded_at(route))
            if late is not None:
                out.append(Found(f"overdue:{name}:{late.key_part}", "overdue",
                                 late.message(name), route=name))
        return out

    def _acks_overdue(self, now: datetime) -> list[Found]:
        from tradelane.ledger.interchanges import Tracking

        return [Found(f"ack_overdue:{s.id}", "ack_overdue",
                      f"route {s.route}: interchange {s.control_ref} sent to {s.recipient} at"
                      f" {s.sent_at:%Y-%m-%d %H:%M} UTC has no acknowledgement yet (due by"
                      f" {s.ack_due_at:%Y-%m-%d %H:%M} UTC). See: tradelane acks --waiting",
                      route=s.route, file_id=s.file_id)
                for s in Tracking(self.ledger).overdue(now) if s.ack_due_at is not None]

    def _number_gaps(self) -> list[Found]:
        """Interchange numbers a partner skipped (a repeat is a duplicate interchange, refused
        by the envelope checks): information for whoever answers for the partner."""
        from tradelane.ledger.partner_activity import PartnerActivity, gaps
        from tradelane.partners import number_series

        found = []
        activity = PartnerActivity(self.ledger)
        for name, partner in self.project.partners.items():
            # the alert goes to the owner of a route reading the partner's files
            reading = sorted(r.name for r in self.project.routes.values()
                             if r.partner == name and r.target.edifact is None
                             and r.target.x12 is None)
            for standard, ids in number_series(partner):  # UNB 0020 and ISA13 apart
                for first, last in gaps(activity.received_numbers(ids)):
                    missing = str(first) if first == last else f"{first} to {last}"
                    what = "X12 interchange" if standard == "x12" else "interchange"
                    found.append(Found(
                        f"number_gap:{name}:{'x12:' if standard == 'x12' else ''}"
                        f"{first}-{last}", "number_gap",
                        f"partner {name}: {what} {missing} never arrived, though later"
                        " numbers did: ask the partner whether it was sent. See: tradelane"
                        f" partners show {name}", route=reading[0] if reading else None))
        return found

    def _unreachable(self) -> list[Found]:
        polls = self.settings.alerts.unreachable_polls
        out = []
        for name in sorted(self.project.routes):
            error = self.incidents.failing_streak(name, polls)
            if error is not None:
                out.append(Found(f"unreachable:{name}", "unreachable",
                                 f"route {name}: the source failed {polls} polls in a row: "
                                 f"{error}", route=name))
        return out

    def _close_released_quarantines(self, now: datetime) -> None:
        open_q = [i for i in self.incidents.open_incidents() if i.kind == "quarantined"]
        ids = [i.file_id for i in open_q if i.file_id is not None]
        if not ids:
            return
        still = self.incidents.still_quarantined(ids)
        keep = {i.key for i in open_q if i.file_id in still}
        self._announce(self.incidents.resolve_others("quarantined", keep, now=now))

    def _announce(self, resolved: list[Incident]) -> None:
        """Say that a problem cleared, in its own words, on the channels that took its alert
        (the route owner's included). Best effort: a channel down now is logged, not
        retried; the alert itself was delivered."""
        for incident in resolved:
            note = resolution(incident)
            log.info("%s", note.message, extra={"alert": incident.key, "route": incident.route})
            for channel in [*self.channels, *self._owner_channels(incident.route)]:
                if channel.name == "log" or channel.name not in incident.sent_to:
                    continue
                try:
                    channel.send(note)
                except NotifyFailed as exc:
                    log.warning("resolution not sent: %s", exc, extra={"alert": incident.key})
