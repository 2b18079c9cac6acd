"""X12 acknowledgements (997, 999, TA1) built from what the reader found, and the round trip
of segments with repetitions through the serializer the acknowledgements use."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_x12 import GOOD, GROUP, IEA, ISA, ISA5, route

from tradelane.errors import DuplicateFile, RejectError
from tradelane.formats.x12 import X12File, X12Reader, iter_transactions
from tradelane.formats.x12_acks import build_x12_acks
from tradelane.formats.x12_rejects import rejects_interchange
from tradelane.formats.x12_syntax import parse_segment, segment_text
from tradelane.spec import X12Format
from tradelane.staging import Staged

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
#: a 5010 interchange asking for a TA1, from qualifier 01 to 12 (kept as received)
ASKING = (ISA5.replace("*0*P*", "*1*T*").replace("*ZZ*SENDER   ", "*01*SENDER   ")
          .replace("*ZZ*RECEIVER ", "*12*RECEIVER ")
          + GROUP.replace("004010", "005010X222").replace("GS*PO*SENDER*RECEIVER",
                                                          "GS*PO*APPSEND*APPRECV") + IEA)


def acks(text: str, error: RejectError | None = None, rejected: list | None = None,
         **ack: str) -> dict[str, str]:
    fmt = X12Format.model_validate({"type": "x12", "ack": {"folder": "acks", **ack}})
    staged = Staged(size=len(text), data=text.encode("latin-1"))
    return dict(build_x12_acks(fmt, staged, error=error, rejected=rejected or [], now=WHEN))


def read_error(text: str, **fmt: object) -> RejectError:
    staged = Staged(size=len(text), data=text.encode("latin-1"))
    with pytest.raises(RejectError) as info:
        list(X12Reader().read(staged, route(**fmt)))
    return info.value


def segments(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


def test_accepted_5010_gets_a_999_and_the_ta1_it_asked_for() -> None:
    answers = acks(ASKING)
    assert sorted(answers) == ["999_SENDER_000000007_42.x12", "TA1_SENDER_000000007.x12"]
    nine = segments(answers["999_SENDER_000000007_42.x12"])
    # the partner identification exactly as received, swapped: ISA07/08 -> ISA05/06
    assert nine[0].startswith("ISA*00*          *00*          *12*RECEIVER       *01*SENDER"
                              "         *260102*0304*^*00501*")
    assert nine[0].endswith("*0*T*:")
    assert nine[1].startswith("GS*FA*APPRECV*APPSEND*20260102*0304*")
    assert nine[1].endswith("*X*005010X231A1")
    assert nine[2:] [:6] == ["ST*999*0001*005010X231A1", "AK1*PO*42*005010X222", "AK2*850*0001",
                            "IK5*A", "AK9*A*1*1*1", "SE*6*0001"]
    assert [tx.code for tx in iter_transactions(X12File(answers[
        "999_SENDER_000000007_42.x12"].encode()))] == ["999"]
    ta1 = segments(answers["TA1_SENDER_000000007.x12"])
    assert ta1[1] == "TA1*000000007*240101*1200*A*000" and ta1[2].startswith("IEA*0*")


def test_997_for_004010_and_the_type_the_route_asks_for() -> None:
    assert list(acks(GOOD)) == ["997_SENDER_000000007_42.x12"]
    assert list(acks(ASKING, type="997", ta1="never")) == ["997_SENDER_000000007_42.x12"]
    assert list(acks(GOOD, type="999", ta1="always")) == ["TA1_SENDER_000000007.x12",
                                                          "999_SENDER_000000007_42.x12"]


def test_a_transaction_set_error_is_answered_at_its_level() -> None:
    error = read_error(GOOD.replace("SE*7", "SE*6"))
    body = segments(acks(GOOD.replace("SE*7", "SE*6"), error)["997_SENDER_000000007_42.x12"])
    assert body[3:8] == ["AK1*PO*42", "AK2*850*0001", "AK5*R*4", "AK9*R*1*1*0", "SE*6*0001"]


def test_a_segment_error_names_the_segment_and_its_position_in_the_set() -> None:
    bad = ASKING.replace("CTT*2~", "CTTT*2~")
    nine = segments(acks(bad, read_error(bad), ta1="never")["999_SENDER_000000007_42.x12"])
    assert nine[4:8] == ["AK2*850*0001", "IK3*CTT*6**1", "IK5*R*5", "AK9*R*1*1*0"]


def test_an_element_error_gives_ik4_with_its_position() -> None:
    bad = ASKING.replace("ST*850*0001~", "ST*850*001~").replace("SE*7*0001", "SE*7*001")
    nine = segments(acks(bad, read_error(bad), ta1="never")["999_SENDER_000000007_42.x12"])
    assert nine[4:8] == ["AK2*850*001", "IK3*ST*1**8", "IK4*2**4", "IK5*R*7"]
    old = GOOD.replace("ST*850*0001~", "ST*850*001~").replace("SE*7*0001", "SE*7*001")
    seven = segments(acks(old, read_error(old))["997_SENDER_000000007_42.x12"])
    assert seven[4:8] == ["AK2*850*001", "AK3*ST*1**8", "AK4*2**4", "AK5*R*7"]


def test_a_group_error_is_answered_in_ak9() -> None:
    bad = GOOD.replace("GE*1*42", "GE*3*42")
    seven = segments(acks(bad, read_error(bad))["997_SENDER_000000007_42.x12"])
    assert seven[-4] == "AK9*R*1*1*0*5"


def test_an_interchange_error_gets_a_ta1_and_no_997() -> None:
    bad = ASKING.replace("IEA*1*000000007", "IEA*1*000000009")
    answers = acks(bad, read_error(bad))
    assert list(answers) == ["TA1_SENDER_000000007.x12"]
    assert "TA1*000000007*240101*1200*R*001" in segments(answers["TA1_SENDER_000000007.x12"])
    # nobody asked for a TA1: the groups are answered as rejected instead
    answers = acks(GOOD.replace("IEA*1*000000007", "IEA*1*000000009"), read_error(
        GOOD.replace("IEA*1*000000007", "IEA*1*000000009")))
    assert "AK9*R*1*1*0" in segments(answers["997_SENDER_000000007_42.x12"])


def test_a_duplicate_file_gets_ta1_025() -> None:
    answers = acks(ASKING, DuplicateFile("interchange 000000007 was already delivered"))
    assert "TA1*000000007*240101*1200*R*025" in segments(answers["TA1_SENDER_000000007.x12"])


def test_repeated_interchange_answers_never_overwrite_each_other() -> None:
    twice = ASKING + ASKING
    answers = acks(twice, read_error(twice), ta1="always")
    assert sorted(answers) == ["999_SENDER_000000007_42.x12", "TA1_SENDER_000000007.x12",
                               "TA1_SENDER_000000007_2.x12"]
    assert "R*025" in answers["TA1_SENDER_000000007_2.x12"]
    controls = {segments(t)[0].split("*")[13] for t in answers.values()}
    assert len(controls) == 3  # every answer an interchange of its own number


def test_isolated_sets_are_rejected_the_others_accepted(tmp_path: Path) -> None:
    tx = GROUP[GROUP.index("ST*"):GROUP.index("GE*")]
    text = ISA + GROUP.replace("GE*1*42~", tx.replace("0001", "0002").replace("SE*7", "SE*5")
                               + "GE*2*42~") + IEA
    staged = Staged(size=len(text), data=text.encode())
    docs = list(X12Reader().read(staged, route(isolate_messages=True)))
    failed = [f.message for d in docs for f in d.failed]
    seven = segments(acks(text, rejected=failed)["997_SENDER_000000007_42.x12"])
    assert seven[4:10] == ["AK2*850*0001", "AK5*A", "AK2*850*0002", "AK5*R*4", "AK9*P*2*2*1",
                           "SE*8*0001"]


def test_acks_are_the_same_every_time() -> None:
    assert acks(ASKING) == acks(ASKING)


# -- round trip -------------------------------------------------------------------------------

ROUND = (ISA5 + "GS*HC*SENDER*RECEIVER*20240101*1200*7*X*005010X222A1~ST*837*0001*005010X222A1~"
         "PER*IC*JOHN DOE*TE:5551234^EM:JD@EXAMPLE.COM^FX:5559876~"
         "HI*ABK:I10^ABF:Z23^ABF:R69::X~NM1*85*2*CLINIC*****XX*1234567893~SE*5*0001~"
         "GE*1*7~" + IEA)


def test_segments_with_repetitions_read_and_written_back_are_the_same() -> None:
    """X12 has no release character (a delimiter can never be data), so repetitions and
    components are what the round trip must keep."""
    f = X12File(ROUND.encode())
    d = f.delims
    assert d.repetition == "^" and d.component == ":"
    parsed = [parse_segment(s, d) for s in f.segments]
    hi = parsed[f.tags.index("HI")]
    assert hi[1] == [["ABK", "I10"], ["ABF", "Z23"], ["ABF", "R69", "", "X"]]
    assert [segment_text(p, d) for p in parsed] == f.segments


def test_split_out_sets_are_an_interchange_of_their_own() -> None:
    tx = GROUP[GROUP.index("ST*"):GROUP.index("GE*")]
    text = ISA5 + GROUP.replace("GE*1*42~", tx.replace("0001", "0002").replace("SE*7", "SE*5")
                                + "GE*2*42~") + IEA
    staged = Staged(size=len(text), data=text.encode())
    docs = list(X12Reader().read(staged, route(isolate_messages=True)))
    rejects = rejects_interchange([f.message for d in docs for f in d.failed]).decode()
    f = X12File(rejects.encode())
    assert f.tags == ["ISA", "GS", "ST", "BEG", "N1", "PO1", "PO1", "CTT", "SE", "GE", "IEA"]
    assert f.segments[1:-2] == [s for s in text.split("~") if s][1:2] + [
        s for s in tx.replace("0001", "0002").replace("SE*7", "SE*5").split("~") if s]
    assert f.segments[-2] == "GE*1*42"
    isa13 = f.elements(0)[13]
    assert isa13 != "000000007" and f.segments[-1] == f"IEA*1*{isa13}"
    # once the SE is fixed, the rejects file reads as a valid interchange
    [fixed] = iter_transactions(X12File(rejects.replace("SE*5*0002", "SE*7*0002").encode()))
    assert fixed.control == "0002"
