"""The event about one file's outcome, and the outbox row that carries it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tradelane.spec.events import OUTCOMES

#: What a template may name; anything else is left to pydantic-free formatting errors.
_FIELDS = ("route", "outcome", "file_id")


def render(template: str, *, route: str, outcome: str, file_id: int | None) -> str:
    """A subject, routing key or topic from its template ({route}, {outcome}, {file_id})."""
    return template.format(route=route, outcome=outcome, file_id=file_id or "")


def event_rows(spec: Any, *, route: str, file_id: int, name: str, outcome: str,
               records: int | None = None, outputs: list[str] | None = None,
               message: str = "", split_out: int = 0,
               console_url: str | None = None) -> tuple[dict[str, Any], ...]:
    """The ``event_outbox`` row for an outcome, or none if the route does not publish it.

    The event id is drawn now and kept in the row: every publish of this row (after a
    crash, a broker outage) carries the same id."""
    if spec is None or outcome not in spec.outcomes:
        return ()
    assert outcome in OUTCOMES
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "type": f"file.{outcome}", "route": route,
             "file_id": file_id, "name": name, "outcome": outcome, "records": records,
             "split_out": split_out, "outputs": outputs or [], "message": message,
             "history": f"tradelane history {file_id}"}
    if console_url:
        event["url"] = f"{console_url.rstrip('/')}/files/{file_id}"
    template = getattr(spec, {"nats": "subject", "rabbitmq": "routing_key",
                              "mqtt": "topic"}[spec.kind])
    return ({"event_id": event_id, "route": route, "outcome": outcome,
             "target": json.dumps(spec.model_dump(), default=_seconds), "subject": render(
                 template, route=route, outcome=outcome, file_id=file_id),
             "body": json.dumps(event, separators=(",", ":"))},)


def _seconds(value: Any) -> float:
    """Durations kept as seconds, which the spec reads back (``Duration``)."""
    return float(value.total_seconds())
