"""Deterministic output names: the same file always gets the same name, on every retry."""

from __future__ import annotations

from tradelane.abc import DeliveryContext
from tradelane.paths import safe_component, split_name


def output_name(template: str, ctx: DeliveryContext, ext: str) -> str:
    """Render a target's ``name`` template for one file; the result is a safe file name."""
    stem, _ = split_name(safe_component(ctx.original_name))
    received = ctx.received_at
    rendered = template.format(
        route=ctx.route,
        stem=stem,
        name=safe_component(ctx.original_name),
        ext=ext,
        sha8=ctx.sha256[:8],
        file_id=ctx.file_id,
        date=received.strftime("%Y-%m-%d"),
        time=received.strftime("%H%M%S"),
    )
    return safe_component(rendered)
