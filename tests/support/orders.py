"""The small ``orders`` route many engine tests run: CSV files of ``id,qty`` from
inbox/orders to outbox/orders."""

from __future__ import annotations


def orders_route(target: str = "{folder: outbox/orders, format: json}", *,
                 min_age: str = "0s", qty: str = "{source: qty, type: integer}",
                 more: str = "") -> str:
    """The route's YAML (indented by 4, as ``ProjectDir.route`` dedents), with ``more``
    lines (e.g. ``"every: 1h"``) after the target."""
    lines = "".join(f"    {line}\n" for line in more.splitlines())
    return f"""\
    source: {{folder: inbox/orders, pattern: "*.csv", min_age: {min_age}}}
    format: {{type: csv}}
    fields:
      id:  {{source: id, required: true}}
      qty: {qty}
    target: {target}
{lines}"""
