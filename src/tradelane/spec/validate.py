"""A route's ``validate:`` steps: schemas the input must meet before its fields are mapped.

Each step names its kind by its own key (``xsd: schemas/order.xsd``, ``schematron: …``,
``json_schema: …``) and is validated against the spec model of that kind (see
``tradelane.registry.VALIDATORS``). The built-in kinds are registered here; their code is in
``tradelane.validators`` and is imported only when a route validates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from tradelane.registry import VALIDATORS, ValidatorPlugin
from tradelane.spec._base import Strict

#: Where every schema and everything it imports must lie, relative to the project root.
SCHEMAS_FOLDER = "schemas"


class ValidateStep(Strict):
    """What every validation step has: its schema file and what a failure does."""

    kind: str = Field(..., description="Kind of step; implied by its own key (xsd,"
                      " schematron, json_schema).")
    severity: Literal["reject", "warn"] = Field(
        "reject", description="reject: a file (or, under on_invalid: split, a JSON Lines"
        " record) that breaks the schema is quarantined with every error located. warn: it"
        " goes on, and the errors are noted in its history.")

    @property
    def schema_file(self) -> str:
        return str(getattr(self, self.kind))

    @field_validator("xsd", "schematron", "json_schema", mode="after", check_fields=False)
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or "://" in value or value.startswith("\\"):
            raise ValueError(f"{value!r}: give a path inside the project's"
                             f" {SCHEMAS_FOLDER}/ folder, e.g. {SCHEMAS_FOLDER}/order.xsd")
        return value


class XsdStep(ValidateStep):
    """An XML Schema (XSD 1.0), checked with libxml2 through lxml."""

    kind: Literal["xsd"] = "xsd"
    xsd: str = Field(..., examples=["schemas/UBL-Invoice-2.1.xsd"],
                     description="The schema file, relative to the project root, inside its"
                     " schemas/ folder; its imports and includes must be there too.")
    max_tree_bytes: int = Field(
        32 << 20, ge=0,
        description="Files up to this size are checked as a tree: every error with its line"
        " and XPath. Larger files are checked while they are read, in bounded memory, each"
        " error with the line it was found near.")


class SchematronStep(ValidateStep):
    """ISO Schematron rules (.sch) or their compiled stylesheet (.xsl/.xslt), e.g. the EN
    16931 and Peppol BIS business rules."""

    kind: Literal["schematron"] = "schematron"
    schematron: str = Field(..., examples=["schemas/EN16931-UBL-validation.xslt"],
                            description="The .sch rules (queryBinding xslt: lxml; xslt2 or"
                            " xslt3: Saxon-HE), or a compiled .xsl/.xslt run by Saxon-HE;"
                            " relative to the project root, inside its schemas/ folder.")
    phase: str | None = Field(None, description="The Schematron phase to run (.sch only);"
                              " all rules by default.")
    max_bytes: int = Field(
        64 << 20, ge=0,
        description="Schematron needs the whole document in memory: a larger file is"
        " quarantined with this limit named rather than read.")


class JsonSchemaStep(ValidateStep):
    """A JSON Schema (draft 2020-12, 2019-09, 7, 6 or 4, from its $schema; 2020-12 when it
    names none)."""

    kind: Literal["json_schema"] = "json_schema"
    json_schema: str = Field(..., examples=["schemas/order.schema.json"],
                             description="The schema file, relative to the project root,"
                             " inside its schemas/ folder; its $ref must stay in that folder."
                             " JSON Lines: each line is checked against it; JSON: the whole"
                             " document.")


VALIDATORS.register(ValidatorPlugin("xsd", XsdStep, "tradelane.validators.xsd:XsdValidator",
                                    formats=frozenset({"xml"})))
VALIDATORS.register(ValidatorPlugin(
    "schematron", SchematronStep, "tradelane.validators.schematron:SchematronValidator",
    formats=frozenset({"xml"})))
VALIDATORS.register(ValidatorPlugin(
    "json_schema", JsonSchemaStep, "tradelane.validators.json_schema:JsonSchemaValidator",
    formats=frozenset({"json", "jsonl"})))

#: One entry of a route's ``validate:`` list, checked against the spec model of its kind.
ValidateSpec = Annotated[ValidateStep, VALIDATORS.annotation()]
