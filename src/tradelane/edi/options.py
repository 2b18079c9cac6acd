"""What an EDIFACT route may say about structure validation: its directory and a severity per
rule (``format.directory``, ``format.validate_structure``), each option declared once here."""

import difflib
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Severity = Literal["reject", "warn", "off"]


def _known_directory(name: str) -> str:
    # the directories' module (dataclasses, importlib.resources) only for a route that names one
    from tradelane.edi.directory import directories

    known = directories()
    if name.upper() not in known:
        close = difflib.get_close_matches(name.upper(), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown EDIFACT directory {name!r}{hint} (known: {known[0]}.."
                         f"{known[-1]})")
    return name.upper()


#: A shipped directory (D93A..D10B) or EANCOM subset (EAN94, EAN97, EAN02, EAN02S4).
DirectoryName = Annotated[str, AfterValidator(_known_directory)]


class StructureValidation(BaseModel):
    """Severity of each rule of structure validation: ``reject`` quarantines the file (or
    splits out the message under ``isolate_messages``), ``warn`` delivers it with a note in
    its history, ``off`` skips the rule. Rules not named take ``default``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Severity = Field(
        "warn", description="Severity of every rule not named here. Set reject for partners"
        " whose messages must follow the standard; off skips structure validation.")
    segment_missing: Severity | None = Field(
        None, description="A mandatory segment or segment group is missing (CONTRL code 13).")
    segment_position: Severity | None = Field(
        None, description="A segment where the message structure has no place for it, or that"
        " the message type does not have (15).")
    segment_repeats: Severity | None = Field(
        None, description="A segment repeated more often than its maximum (35).")
    group_repeats: Severity | None = Field(
        None, description="A segment group repeated more often than its maximum (36).")
    element_missing: Severity | None = Field(
        None, description="A mandatory data element or component is empty (13).")
    element_count: Severity | None = Field(
        None, description="More elements, components or repetitions than defined (16).")
    code_list: Severity | None = Field(
        None, description="A coded value that is not in the directory's code list (12).")
    representation: Severity | None = Field(
        None, description="Letters in a numeric element or digits in an alphabetic one (37).")
    decimal_mark: Severity | None = Field(
        None, description="A decimal mark without a digit on each side (19). Either mark, comma"
        " or full stop, is accepted.")
    too_long: Severity | None = Field(
        None, description="A value longer than its maximum length; a number's sign and"
        " decimal mark are not counted (39).")
    too_short: Severity | None = Field(
        None, description="A value shorter than its minimum length (40).")

    def severities(self) -> dict[str, str]:
        """Every rule's severity."""
        return {name: getattr(self, name) or self.default
                for name in type(self).model_fields if name != "default"}

    @property
    def enabled(self) -> bool:
        return any(level != "off" for level in self.severities().values())
