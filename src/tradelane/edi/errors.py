"""What a message breaks in its UN/EDIFACT directory: one class per rule, each with its syntax
error code (data element 0085, as CONTRL reports it) and its place.

::

    EdifactServiceError (formats.edifact_service: a 0085 code, element and component)
    └── DirectoryViolation               message N, segment K (TAG), element E, component C
        ├── SegmentMissing          13   a mandatory segment or group is not there
        ├── SegmentNotAllowed       15   a segment where the structure has no place for it
        ├── SegmentRepeated         35   a segment more often than its maximum
        ├── GroupRepeated           36   a segment group more often than its maximum
        ├── ElementMissing          13   a mandatory element or component is empty
        ├── TooManyConstituents     16   more elements, components or repeats than defined
        ├── InvalidCode             12   a value not in the element's code list
        ├── InvalidCharacters       37   letters in a numeric element, digits in an alphabetic
        ├── InvalidDecimal          19   a number whose decimal mark has no digit beside it
        ├── ValueTooLong            39   more characters than the maximum length
        └── ValueTooShort           40   fewer characters than the minimum length
    StructureInvalid                    every violation of a file (``issues``), raised as the
                                        first one (its code and place go into the CONTRL)

``rule`` names each class in a route's ``validate_structure`` (severity ``reject``, ``warn`` or
``off`` per rule). Positions count as CONTRL does: the segment within its message from UNH = 1,
elements from 1 after the tag, components from 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from tradelane.formats.edifact_service import EdifactServiceError
from tradelane.models import Issue


class DirectoryViolation(EdifactServiceError):
    """A message breaks its directory at one place."""

    rule = "directory"
    code = "18"

    def __init__(self, why: str, *, message: int, position: int, tag: str, element: int = 0,
                 component: int | None = None, value: str = "", data_element: str = "",
                 segment_index: int | None = None, byte_offset: int | None = None):
        self.message_number = message
        self.segment_position = position  # within the message, UNH = 1
        place = f"message {message}, segment {position} ({tag})"
        if element:
            place += f", element {element}" + (f", component {component}" if component else "")
        self.place = place
        super().__init__(tag, self.code, data_element, element, component, why, value,
                         segment_index=segment_index, byte_offset=byte_offset)
        self.tag = tag
        self.value = value
        self.why = why  # without the code, which the parent appends
        self.message = f"{place}: {why} (syntax error {self.code})"
        self.args = (self.message,)
        self.issues = [self.issue()]

    def field_path(self) -> str:
        if not self.position:
            return self.tag
        path = f"{self.tag}.{self.position}"
        return path + (f".{self.component}" if self.component else "")

    def issue(self) -> Issue:
        where = self.location
        return Issue(location=f"{self.place} ({where})" if where else self.place,
                     field=self.field_path(), value=self.value, rule=self.rule,
                     message=f"{self.why} (syntax error {self.code})")


class SegmentMissing(DirectoryViolation):
    rule, code = "segment_missing", "13"


class SegmentNotAllowed(DirectoryViolation):
    rule, code = "segment_position", "15"


class SegmentRepeated(DirectoryViolation):
    rule, code = "segment_repeats", "35"


class GroupRepeated(DirectoryViolation):
    rule, code = "group_repeats", "36"


class ElementMissing(DirectoryViolation):
    rule, code = "element_missing", "13"


class TooManyConstituents(DirectoryViolation):
    rule, code = "element_count", "16"


class InvalidCode(DirectoryViolation):
    rule, code = "code_list", "12"


class InvalidCharacters(DirectoryViolation):
    rule, code = "representation", "37"


class InvalidDecimal(DirectoryViolation):
    rule, code = "decimal_mark", "19"


class ValueTooLong(DirectoryViolation):
    rule, code = "too_long", "39"


class ValueTooShort(DirectoryViolation):
    rule, code = "too_short", "40"


#: Every rule a route may set a severity for, by name.
RULES: dict[str, type[DirectoryViolation]] = {cls.rule: cls for cls in (
    SegmentMissing, SegmentNotAllowed, SegmentRepeated, GroupRepeated, ElementMissing,
    TooManyConstituents, InvalidCode, InvalidCharacters, InvalidDecimal, ValueTooLong,
    ValueTooShort)}


class StructureInvalid(DirectoryViolation):
    """Every violation found (``issues``, ``error_count``), raised as the first of them."""

    def __init__(self, violations: Sequence[DirectoryViolation], directory: str,
                 message_type: str):
        first = violations[0]
        self.violations = list(violations)
        self.directory = directory
        self.message_type = message_type
        self.rule, self.code = first.rule, first.code
        super().__init__(first.why, message=first.message_number,
                         position=first.segment_position, tag=first.tag,
                         element=first.position, component=first.component, value=first.value,
                         data_element=first.data_element, segment_index=first.segment_index,
                         byte_offset=first.byte_offset)
        more = len(violations) - 1
        tail = f" (and {more} more)" if more else ""
        self.message = (f"{message_type} breaks directory {directory}: {first.place}:"
                        f" {first.why} (syntax error {first.code}){tail}")
        self.args = (self.message,)
        self.issues = [v.issue() for v in violations]
        self.error_count = len(violations)
