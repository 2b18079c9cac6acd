"""The X12 acknowledgement codes an error carries, one per level it can be reported at.

An X12 reject is answered at the level where it happened: the interchange (TA1 note code,
data element I18), the functional group (AK905, element 716), the transaction set
(AK502/IK502, element 718), a segment (AK304/IK304, element 720) or a data element
(AK403/IK403, element 723, with its position as AK401/IK401). The reader attaches an
``X12Codes`` to every error it raises (``coded``); ``x12_acks`` reads them back with ``codes_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: TA105 interchange note codes (I18) the reader uses.
TA1_NOTES = {
    "000": "no error",
    "001": "the interchange control numbers in the header and trailer do not match",
    "004": "the segment terminator is invalid",
    "005": "invalid interchange ID qualifier for sender",
    "006": "invalid interchange sender ID",
    "007": "invalid interchange ID qualifier for receiver",
    "008": "invalid interchange receiver ID",
    "010": "invalid authorization information qualifier value",
    "011": "invalid authorization information value",
    "012": "invalid security information qualifier value",
    "013": "invalid security information value",
    "014": "invalid interchange date value",
    "015": "invalid interchange time value",
    "016": "invalid interchange standards identifier value",
    "017": "invalid interchange version ID value",
    "018": "invalid interchange control number value",
    "019": "invalid acknowledgment requested value",
    "020": "invalid test indicator value",
    "021": "invalid number of included groups value",
    "022": "invalid control structure",
    "023": "improper (premature) end-of-file",
    "024": "invalid interchange content (e.g. an invalid GS segment)",
    "025": "duplicate interchange control number",
    "026": "invalid data element separator",
    "027": "invalid component element separator",
}


@dataclass(frozen=True)
class X12Codes:
    """Where an error is answered, and with which codes.

    ``ta1``: TA105 note code (interchange level). ``ak9``: AK905 (group level). ``ak5``:
    AK502/IK502 (transaction set level). ``segment``: AK304/IK304 for the segment in error,
    ``element``: AK403/IK403 for the element in error, which sits at ``position`` (AK401-1),
    ``component`` and ``repetition`` (AK401-2, -3) of that segment.
    """

    ta1: str | None = None
    ak9: str | None = None
    ak5: str | None = None
    segment: str | None = None
    element: str | None = None
    position: int | None = None
    component: int | None = None
    repetition: int | None = None
    tag: str | None = None  # the segment in error (AK301/IK301)


def coded(error: BaseException, **codes: str | int | None) -> BaseException:
    """``error`` with its X12 codes attached (kept when it is pickled: errors rebuild from
    their ``__dict__``)."""
    error.x12 = X12Codes(**codes)  # type: ignore[attr-defined]
    return error


def codes_of(error: BaseException | None) -> X12Codes:
    """The codes ``error`` carries; none for an error the X12 reader did not raise."""
    found = getattr(error, "x12", None)
    return found if isinstance(found, X12Codes) else X12Codes()
