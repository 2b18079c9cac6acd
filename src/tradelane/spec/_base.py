"""Building blocks of every spec model: strict models, durations, encodings.

The spec modules do not postpone their annotations (no ``from __future__ import
annotations``): pydantic then takes each field's type as the object Python made, instead of
evaluating a string per field at every start, 4.9% of an empty ``run --once``'s instructions.
A name defined further down is quoted, and a validator returns ``Self``.
"""

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``5m``, ``1.5h``, ``2d``, ``250ms`` or a plain number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write it like 30s, 5m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ROUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Strict(BaseModel):
    """Base for every spec model: unknown keys are errors (a typo must not pass silently)."""

    # populate_by_name: a spec dumped by field name (`validation`, alias `validate`) loads back;
    # defer_build: a model's validator is built when first used, so a process pays only for
    # the kinds its project names (about 15 ms of each start)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              defer_build=True)



Encoding = Annotated[str, BeforeValidator(lambda v: _check_encoding(v))]


def _check_encoding(value: Any) -> str:
    import codecs

    try:
        codecs.lookup(str(value))
    except LookupError:
        raise ValueError(
            f"unknown encoding {value!r} (try utf-8, utf-8-sig, cp1252, latin-1)") from None
    return str(value)
