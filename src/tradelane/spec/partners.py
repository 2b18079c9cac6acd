"""Trading partners (``partners/*.yaml``): who a partner is in each standard, who answers for
it, how it is reached, and the control numbers written to it. Routes name a partner
(``partner: acme``) instead of repeating its identifiers."""

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from tradelane.spec._base import Duration, Strict
from tradelane.spec.route import ExpectSpec, OwnerSpec


class SequenceSpec(Strict):
    """One control-number sequence: the numbers handed out in turn, never twice in a cycle."""

    start: int = Field(1, ge=0, description="The first number, and the one after a rollover.")
    max: int = Field(99999999999999, ge=1,
                     description="The last number; the next one is 'start' again and an"
                     " alert says the sequence rolled over.")
    width: int | None = Field(
        None, ge=1, le=14,
        description="Write the number zero-padded to this many digits (UNB 0020 allows 14);"
        " without it, the number as it is.")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.max <= self.start:
            raise ValueError(f"max ({self.max}) must be greater than start ({self.start})")
        if self.width is not None and len(str(self.max)) > self.width:
            raise ValueError(f"max ({self.max}) does not fit in width {self.width}")
        return self

    def text(self, value: int) -> str:
        return str(value).zfill(self.width) if self.width else str(value)


class EdifactControl(Strict):
    """The EDIFACT references written to the partner, each from its own sequence."""

    interchange: SequenceSpec | None = Field(
        None, description="UNB/UNZ 0020, the interchange control reference, e.g. {start: 1,"
        " max: 99999999, width: 8}. Without it, the reference is a digest of the messages.")
    message: SequenceSpec | None = Field(
        None, description="UNH/UNT 0062, the message reference, one number per message."
        " Without it, messages are numbered 1, 2, ... within the interchange.")


class EdifactIds(Strict):
    """The partner and ourselves in UNB (S002 sender, S003 recipient)."""

    id: str = Field(..., min_length=1, max_length=35,
                    description="The partner's interchange id (UNB 0004/0010), e.g. its GLN.")
    qualifier: str | None = Field(None, max_length=4,
                                  description="Its code qualifier (0007), e.g. 14 for a GLN.")
    our_id: str = Field(..., min_length=1, max_length=35,
                        description="Our own interchange id as this partner knows it.")
    our_qualifier: str | None = Field(None, max_length=4,
                                      description="The qualifier of our id, e.g. 14.")
    control_numbers: EdifactControl = Field(
        EdifactControl(), description="Sequences for the references written to the partner.")

    @property
    def party(self) -> str:
        """The partner as UNB writes it: ``id:qualifier``."""
        return f"{self.id}:{self.qualifier}" if self.qualifier else self.id

    @property
    def us(self) -> str:
        return f"{self.our_id}:{self.our_qualifier}" if self.our_qualifier else self.our_id


_X12_MAX = 999_999_999  # ISA13, GS06 and ST02 hold at most nine digits


class InterchangeSequence(SequenceSpec):
    """ISA13/IEA02: nine digits, zero-padded."""

    max: int = Field(_X12_MAX, ge=1, le=_X12_MAX, description="The last number (at most"
                     " 999999999); the next one is 'start' again and an alert says so.")
    width: int = Field(9, ge=9, le=9, description="Always 9: ISA13 is exactly nine digits.")


class GroupSequence(SequenceSpec):
    """GS06/GE02: one to nine digits."""

    max: int = Field(_X12_MAX, ge=1, le=_X12_MAX, description="The last number (at most"
                     " 999999999); the next one is 'start' again and an alert says so.")
    width: int | None = Field(None, ge=1, le=9, description="Zero-pad GS06 to this many"
                              " digits; without it, the number as it is.")


class TransactionSequence(SequenceSpec):
    """ST02/SE02: four to nine characters."""

    max: int = Field(_X12_MAX, ge=1, le=_X12_MAX, description="The last number (at most"
                     " 999999999); the next one is 'start' again and an alert says so.")
    width: int | None = Field(None, ge=4, le=9, description="Zero-pad ST02 to this many"
                              " digits; without it, to at least 4 (ST02 is 4 to 9 long).")

    def text(self, value: int) -> str:
        return str(value).zfill(self.width or 4)


class X12Control(Strict):
    """The X12 control numbers written to the partner, each from its own sequence."""

    interchange: InterchangeSequence | None = Field(
        None, description="ISA13/IEA02, e.g. {start: 1}. Without it, a number derived from a"
        " digest of the content.")
    group: GroupSequence | None = Field(
        None, description="GS06/GE02, one per output. Without it, the ISA13 number.")
    transaction: TransactionSequence | None = Field(
        None, description="ST02/SE02, one per transaction set. Without it, sets are numbered"
        " 0001, 0002, ... within the interchange.")


class X12Ids(Strict):
    """The partner (and ourselves) in the ISA and GS envelopes."""

    isa_qualifier: str = Field(..., min_length=2, max_length=2,
                               description="ISA05/ISA07 qualifier, e.g. ZZ or 01.")
    isa_id: str = Field(..., min_length=1, max_length=15, description="ISA06/ISA08 id.")
    gs_id: str | None = Field(None, max_length=15, description="GS02/GS03 application id.")
    our_isa_qualifier: str | None = Field(
        None, min_length=2, max_length=2,
        description="The qualifier of our own ISA id as this partner knows it, e.g. ZZ.")
    our_isa_id: str | None = Field(
        None, min_length=1, max_length=15,
        description="Our own ISA id (ISA06 of what we send); needed to write X12 to it.")
    our_gs_id: str | None = Field(
        None, min_length=2, max_length=15,
        description="Our GS02 application id; without it, our ISA id.")
    control_numbers: X12Control = Field(
        X12Control(), description="Sequences for the control numbers written to the partner.")

    @model_validator(mode="after")
    def _ours(self) -> Self:
        if (self.our_isa_id is None) != (self.our_isa_qualifier is None):
            raise ValueError("give both our_isa_id and our_isa_qualifier, or neither")
        return self

    @property
    def party(self) -> str:
        """The partner as an X12 template writes it: ``qualifier:id``."""
        return f"{self.isa_qualifier}:{self.isa_id}"

    @property
    def us(self) -> str | None:
        return f"{self.our_isa_qualifier}:{self.our_isa_id}" if self.our_isa_id else None


class KeysSpec(Strict):
    """Certificates and keys of the partner, for AS2 and OpenPGP (paths in the project)."""

    certificate: str | None = Field(None, description="The partner's X.509 certificate (PEM).")
    pgp_public_key: str | None = Field(None, description="The partner's OpenPGP public key.")


# A route's and a partner's owner and expected arrivals are the same models: built once here,
# each schema reuses them instead of generating them again (4.8 M instructions at start-up).
OwnerSpec.model_rebuild()
ExpectSpec.model_rebuild()


class PartnerSpec(Strict):
    """One trading partner."""

    name: str = Field(..., description="Partner name; defaults to the YAML file's stem.")
    description: str = Field("", description="Who the partner is, in a sentence.")
    owner: OwnerSpec | None = Field(
        None, description="Who answers for this partner: its routes' alerts go to them when a"
        " route names no owner of its own.")
    edifact: EdifactIds | None = Field(None, description="Identifiers in EDIFACT UNB.")
    x12: X12Ids | None = Field(None, description="Identifiers in X12 ISA and GS.")
    transports: list[str] = Field(
        default_factory=list,
        description="The connections (names under 'connections:' in tradelane.yaml) the"
        " partner is reached by.")
    keys: KeysSpec = Field(KeysSpec(), description="Certificates and keys, for AS2 and PGP.")
    expect: ExpectSpec | None = Field(
        None, description="When files from the partner are expected, e.g. {by: '06:00',"
        " every: weekday}: its routes reading its files (not those writing EDIFACT to it)"
        " that expect nothing of their own raise an 'overdue' alert when none came by then.")
    ack_within: Duration | None = Field(
        None, description="The partner's acknowledgement is expected this long after an"
        " interchange is sent, for its routes that set no ack_within of their own.")
    spec_path: Path | None = Field(None, exclude=True,
                                   description="The file it was read from (set by the loader).")
