"""EDIFACT text from elements: the inverse of the tokenizer (``Block.elements``' shape).

Every value is escaped with the release character (service characters, the repetition
separator included); components lose their trailing empty ones, as the tokenizer drops them;
a ``Repeated`` element is written with the repetition separator. Used by the writer, the
CONTRL acknowledgements and the split-out rejects, so that what is read and written back
gives the same segments.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from tradelane.formats.edifact_syntax import Delimiters, Element, Repeated

__all__ = ["escape", "render_segment", "render_segments"]


@functools.cache
def _escaper(d: Delimiters) -> tuple[re.Pattern[str], str] | None:
    if not d.release:
        return None
    chars = [c for c in (d.release, d.component, d.element, d.repetition, d.segment) if c]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]"), d.release


def escape(value: str, d: Delimiters) -> str:
    """``value`` with each service character released (``a+b`` -> ``a?+b``)."""
    found = _escaper(d)
    if found is None:
        return value
    pattern, release = found
    return pattern.sub(lambda m: release + m.group(0), value)


def _element(element: Element | Sequence[object] | None, d: Delimiters) -> str:
    if element is None:
        return ""
    if isinstance(element, Repeated):
        if not d.repetition:
            raise ValueError("a repeated element needs a repetition separator (syntax 4,"
                             " or a UNA that declares one)")
        return d.repetition.join(_element(e, d) for e in element)  # type: ignore[arg-type]
    if isinstance(element, list | tuple):
        comps = [escape(str(c) if c is not None else "", d) for c in element]
        while comps and comps[-1] == "":
            comps.pop()
        return d.component.join(comps)
    return escape(str(element), d)


def render_segment(elements: Sequence[object], d: Delimiters) -> str:
    """One segment, ``[tag, element, ...]``, terminator included."""
    tag, *rest = elements
    return str(tag) + "".join(d.element + _element(e, d) for e in rest) + d.segment  # type: ignore[arg-type]


def render_segments(segments: Iterable[Sequence[object]], d: Delimiters, *,
                    una: bool = True, newline: str = "\n") -> str:
    """Segments as an interchange's text: the UNA first (when asked), a newline after each
    segment unless a line break is a service character."""
    nl = "" if {"\r", "\n"} & set(d.service()) else newline
    parts = [d.una() + nl] if una else []
    parts.extend(render_segment(s, d) + nl for s in segments)
    return "".join(parts)
