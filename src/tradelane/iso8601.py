"""ISO 8601 date-times parsed column by column with Arrow compute, to UTC microseconds.

The accepted spellings are those of pandas' ISO 8601 parser, which this module replaced
(``pd.to_datetime(..., format="ISO8601", utc=True)``; a differential test keeps them equal):

- a date: ``2024-01-31``, ``20240131``, ``2024-1-3``, also ``/ . \\`` or a space between its
  parts (the same one twice), ``2024-01`` and ``2024`` (the first of the month or year);
- then ``T`` or one space and a time: ``13``, ``13:45``, ``1345``, ``13:45:00``, ``134500``,
  ``1:4:5``, with a fraction after the seconds (``.5``, up to 18 digits; kept to the
  microsecond, rounded down);
- then, after optional white space, ``Z`` or an offset: ``+01:00``, ``+0100``, ``+01``,
  ``-5``, ``+01:5``. A value without one is UTC.

Not accepted, unlike pandas: ``now`` and ``today``, which pandas turns into the time of
processing rather than a time the partner sent, and times outside the years 1 to 9999 in UTC
(year 0, negative years), which no writer could turn into a Python datetime.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_SEP = r"[-./\\ ]"
_DATE = (r"^(?P<neg>-?)(?P<Y>\d{4})(?:"
         rf"(?P<s1>{_SEP})(?P<M1>\d{{1,2}})(?:(?P<s2>{_SEP})(?P<D1>\d{{1,2}})(?P<R1>.*))?"
         r"|(?P<M2>\d{2})(?P<D2>\d{2})(?P<R2>.*))?$")
# after the date: the time with ':' between its parts (any of them one digit), or without
# (two digits each, the hour alone too), then the zone
_SPACE = r"[ \t\n\v\f\r]"
_TIME = (r"^[T ](?:"
         r"(?P<h1>\d{1,2}):(?P<m1>\d{1,2})(?::(?P<s1>\d{1,2})(?:\.(?P<f1>\d{0,18}))?)?"
         r"|(?P<h2>\d{2})(?:(?P<m2>\d{2})(?:(?P<s2>\d{2})(?:\.(?P<f2>\d{0,18}))?)?)?)"
         rf"(?:{_SPACE}*(?:(?P<z>Z)|(?P<sign>[+-])(?P<th>\d{{1,2}})(?::?(?P<tm>\d{{1,2}}))?))?$")
_US = {"day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}
UTC_MICROS = pa.timestamp("us", tz="UTC")
_FIRST = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z in microseconds since 1970
_LAST = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def parse_iso_datetimes(text: pa.Array) -> pa.Array:
    """``timestamp[us, UTC]`` values of ``text``; null where a value is not ISO 8601."""
    date = pc.extract_regex(text, _DATE)
    rest = _either(date, "R1", "R2")
    time = pc.extract_regex(pc.if_else(pc.equal(rest, ""), "T00", rest), _TIME)
    # a date's second separator is its first one again
    s2 = _part(date, "s2")
    ok = pc.and_kleene(pc.is_valid(time),
                       pc.or_kleene(pc.equal(s2, ""), pc.equal(_part(date, "s1"), s2)))
    year = _number(date, "Y", 0)
    year = pc.if_else(pc.equal(_part(date, "neg"), "-"), pc.negate(year), year)
    month = _number_of(_either(date, "M1", "M2"), 1)
    day = _number_of(_either(date, "D1", "D2"), 1)
    hour = _number_of(_either(time, "h1", "h2"), 0)
    minute = _number_of(_either(time, "m1", "m2"), 0)
    second = _number_of(_either(time, "s1", "s2"), 0)
    offset_h = _number(time, "th", 0)
    offset_m = _number(time, "tm", 0)
    ok = pc.and_kleene(ok, _between(month, 1, 12))
    ok = pc.and_kleene(ok, pc.and_kleene(pc.greater_equal(day, 1),
                                         pc.less_equal(day, _days_in_month(year, month))))
    for value, top in ((hour, 23), (minute, 59), (second, 59), (offset_h, 23), (offset_m, 59)):
        ok = pc.and_kleene(ok, pc.less_equal(value, top))
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(_either(time, "f1", "f2"), 0, 6), 6, "0")
    offset = pc.add(pc.multiply(offset_h, 60), offset_m)
    offset = pc.if_else(pc.equal(_part(time, "sign"), "-"), pc.negate(offset), offset)
    micros = _sum(pc.multiply(_days_from_civil(year, month, day), _US["day"]),
                  pc.multiply(hour, _US["hour"]), pc.multiply(minute, _US["minute"]),
                  pc.multiply(second, _US["second"]), pc.cast(fraction, pa.int64()),
                  pc.negate(pc.multiply(offset, _US["minute"])))
    # Python's datetime range: writers and templates turn values into datetimes
    ok = pc.and_kleene(ok, _between(micros, _FIRST, _LAST))
    ok = pc.fill_null(ok, False)
    return pc.cast(pc.if_else(ok, micros, pa.scalar(None, pa.int64())), UTC_MICROS)


def _part(match: pa.Array, name: str) -> pa.Array:
    """A group of a match: "" where it took no part, null where the regex did not match."""
    return pc.struct_field(match, name)


def _either(match: pa.Array, first: str, second: str) -> pa.Array:
    """The group of whichever alternative matched (the other one is "")."""
    return pc.binary_join_element_wise(_part(match, first), _part(match, second), "")


def _number(match: pa.Array, name: str, default: int) -> pa.Array:
    return _number_of(_part(match, name), default)


def _number_of(digits: pa.Array, default: int) -> pa.Array:
    digits = pc.if_else(pc.equal(digits, ""), str(default), digits)
    return pc.cast(pc.fill_null(digits, str(default)), pa.int64())


def _between(value: pa.Array, low: int, high: int) -> pa.Array:
    return pc.and_kleene(pc.greater_equal(value, low), pc.less_equal(value, high))


def _sum(*parts: pa.Array) -> pa.Array:
    total = parts[0]
    for part in parts[1:]:
        total = pc.add(total, part)
    return total


def _floor_div(a: pa.Array, b: int) -> pa.Array:
    """Floor division by a positive constant (Arrow's integer division truncates)."""
    return pc.divide(pc.if_else(pc.less(a, 0), pc.subtract(a, b - 1), a), b)


def _leap(year: pa.Array) -> pa.Array:
    def divisible(k: int) -> pa.Array:
        return pc.equal(pc.subtract(year, pc.multiply(_floor_div(year, k), k)), 0)

    return pc.and_kleene(divisible(4), pc.or_kleene(pc.invert(divisible(100)), divisible(400)))


_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: pa.Array, month: pa.Array) -> pa.Array:
    safe = pc.if_else(_between(month, 1, 12), month, 1)
    days = pa.array(_DAYS, pa.int64()).take(safe)
    return pc.add(days, pc.cast(pc.and_kleene(pc.equal(safe, 2), _leap(year)), pa.int64()))


def _days_from_civil(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = pc.subtract(year, pc.cast(pc.less_equal(month, 2), pa.int64()))
    era = _floor_div(y, 400)
    yoe = pc.subtract(y, pc.multiply(era, 400))
    mp = pc.if_else(pc.greater(month, 2), pc.subtract(month, 3), pc.add(month, 9))
    doy = _sum(pc.divide(pc.add(pc.multiply(mp, 153), 2), 5), day, pa.scalar(-1, pa.int64()))
    doe = _sum(pc.multiply(yoe, 365), pc.divide(yoe, 4), pc.negate(pc.divide(yoe, 100)), doy)
    return _sum(pc.multiply(era, 146_097), doe, pa.scalar(-719_468, pa.int64()))
