"""The ``retailer`` partner numbering what it receives from its own sequences, and the golden
EDIFACT INVOIC and X12 810 routes writing to it with the partner's ids (not their own), for
the control-number tests."""

from __future__ import annotations

import re

from support.project import REPO

INVOIC_CASE = REPO / "tests" / "cases" / "invoic_out"
X12_CASE = REPO / "tests" / "x12" / "cases" / "x12_810_out"
X12_NUMBERED = """\
x12:
  isa_qualifier: ZZ
  isa_id: DISTRIB01
  our_isa_qualifier: ZZ
  our_isa_id: TRADELANE
  control_numbers:
    interchange: {start: 1}
    group: {start: 1}
    transaction: {start: 1}
"""


def retailer(*, interchange: str = "{start: 1, max: 99999999, width: 8}",
             message: str | None = None, x12: bool = True) -> str:
    """partners/retailer.yaml: its EDIFACT ids with the UNB 0020 sequence ``interchange``
    (and the UNH 0062 one ``message``), and with ``x12`` its X12 ids and sequences."""
    text = f"""\
edifact:
  id: "5412345000013"
  qualifier: "14"
  our_id: "4012345000009"
  our_qualifier: "14"
  control_numbers:
    interchange: {interchange}
"""
    if message:
        text += f"    message: {message}\n"
    return text + (X12_NUMBERED if x12 else "")


def invoic_out_route(*, min_age: str | None = "0s", prepared: bool = True) -> str:
    """mappings/invoic_out.yaml without its sender and recipient (the partner's are used),
    with ``min_age`` instead of 5s, and without its ``prepared`` field unless ``prepared``."""
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    spec = spec.replace('    sender: "4012345000009:14"\n', "").replace(
        '    recipient: "5412345000013:14"\n', "")
    if min_age is not None:
        spec = spec.replace("min_age: 5s", f"min_age: {min_age}")
    return spec if prepared else re.sub(r"\n\s+prepared: .*", "", spec)


def x12_810_route(*, prepared: bool = True) -> str:
    """The X12 810 case's route sending to the retailer, min_age 0s, without its
    ``prepared`` field unless ``prepared``."""
    x12 = (X12_CASE / "mapping.yaml").read_text().replace(
        "partner: distrib", "partner: retailer").replace("min_age: 5s", "min_age: 0s")
    return x12 if prepared else re.sub(r"\n\s+prepared: .*", "", x12)
