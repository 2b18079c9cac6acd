"""Fields and their rules, and the declarative transform."""

import re
from typing import Any, Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from tradelane.spec._base import Strict

FieldType = Literal["string", "integer", "decimal", "date", "datetime", "boolean"]


class FieldSpec(Strict):
    """One field of a record: where it comes from and the rules its value must follow."""

    source: str | None = Field(
        None,
        description="Column name (CSV), dotted path (JSON), relative XPath (XML). Defaults to"
        " the field name.",
    )
    type: FieldType = Field("string", description="Type the value must have; it is converted"
                            " to it in the output.")
    required: bool = Field(False, description="An empty or missing value is an error.")
    default: str | None = Field(None, description="Value used when the input is empty.")
    pattern: str | None = Field(None, description="Regular expression the whole value matches.")
    enum: list[str] | None = Field(None, description="Allowed values.")
    codes: str | None = Field(
        None,
        description="CSV file (relative to mappings/) whose first column lists allowed values.",
    )
    min: float | str | None = Field(None, description="Smallest allowed number or date.")
    max: float | str | None = Field(None, description="Largest allowed number or date.")
    min_length: int | None = Field(None, ge=0, description="Fewest characters allowed.")
    max_length: int | None = Field(None, ge=1, description="Most characters allowed.")
    format: str | None = Field(
        None, description="strptime format for date/datetime input, e.g. '%d.%m.%Y'."
    )
    output_format: str | None = Field(
        None, description="strftime format for dates in the output; ISO 8601 by default."
    )
    decimal: str | None = Field(None, description="Decimal separator; defaults to the format's.")
    thousands: str | None = Field(
        None, description="Thousands separator; defaults to the format's.")
    true_values: list[str] = Field(
        default_factory=lambda: ["true", "yes", "y", "1", "t"],
        description="Texts read as true by a boolean field (compared case-insensitively).")
    false_values: list[str] = Field(
        default_factory=lambda: ["false", "no", "n", "0", "f"],
        description="Texts read as false by a boolean field (compared case-insensitively).")
    description: str = Field("", description="What the field means, for the people who"
                             " maintain the mapping.")
    take: Literal["first", "last", "all"] | None = Field(
        None, description="EDIFACT: which value a path takes when several segments of one"
        " record's scope may carry it (a pallet's several packages): the first, the last, or"
        " all of them joined by 'separator'. tradelane check refuses such a path without it.")
    separator: str = Field(",", description="EDIFACT, take: all: the text between values.")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _rules_fit_type(self) -> Self:
        numeric = self.type in ("integer", "decimal")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is None:
                continue
            if numeric and not isinstance(value, int | float):
                raise ValueError(f"{bound} must be a number for {self.type} fields")
            if self.type in ("date", "datetime"):
                _iso_bound(value, bound)
            if self.type in ("string", "boolean"):
                raise ValueError(f"{bound} does not apply to a {self.type} field")
        if self.format and self.type not in ("date", "datetime"):
            raise ValueError("format applies only to date and datetime fields")
        return self


def _iso_bound(value: Any, name: str) -> None:
    from datetime import date, datetime

    try:
        datetime.fromisoformat(str(value)) if not isinstance(value, date) else None
    except ValueError:
        raise ValueError(f"{name} must be an ISO date like 2024-01-31") from None


# ---------------------------------------------------------------------------------------------
# Transform


class LookupSpec(Strict):
    """Add a field by looking a key up in a CSV table."""

    field: str = Field(..., description="Name of the new field.")
    key: str = Field(..., description="Existing field whose value is looked up.")
    table: str = Field(..., description="CSV file relative to mappings/.")
    key_column: str = Field(..., description="Column of the table matched against the key.")
    value_column: str = Field(..., description="Column of the table that becomes the new field.")
    on_missing: Literal["reject", "empty", "keep"] = Field(
        "reject",
        description="A key not in the table: reject the record, leave the field empty, or copy"
        " the key itself.",
    )


class DeriveSpec(Strict):
    """A computed field: an arithmetic expression over fields, or a text template."""

    expr: str | None = Field(None, description="Arithmetic over fields, e.g. 'qty * price'.")
    template: str | None = Field(None, description="Text template, e.g. '{order_id}-{line}'.")
    round: int | None = Field(None, description="Round a numeric result to this many decimals.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if bool(self.expr) == bool(self.template):
            raise ValueError("give exactly one of 'expr' or 'template'")
        return self


class TransformSpec(Strict):
    """Declarative mapping, applied in the order of the options below."""

    copy_header: list[str] = Field(
        default_factory=list, description="Header fields copied into every record."
    )
    constants: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fields with the same value in every record.")
    lookups: list[LookupSpec] = Field(
        default_factory=list, description="Fields added by looking a key up in a CSV table.")
    derive: dict[str, DeriveSpec] = Field(
        default_factory=dict, description="Computed fields, by name: an expression or a"
        " template.")
    hook: str | None = Field(
        None,
        description="'package.module:function' taking and returning a pandas DataFrame, for"
        " what YAML cannot say. Called with (records, header).",
    )
    rename: dict[str, str] = Field(default_factory=dict, description="field -> output name")
    output: list[str] | None = Field(
        None, description="Output columns in order (after rename); default: all of them."
    )
