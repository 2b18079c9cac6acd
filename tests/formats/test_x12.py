"""X12 reader: envelopes, delimiters from the ISA, line breaks, segment IDs, repetitions,
record links, service segment rules, repeats inside a file, TA1s and streaming."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import ConfigError, EmptyFile, RejectError
from tradelane.formats import edi_errors as E
from tradelane.formats.x12 import X12File, X12Reader, iter_transactions
from tradelane.formats.x12_codes import codes_of
from tradelane.formats.x12_syntax import SegmentStream
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

ISA = ("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*U*"
       "00401*000000007*0*P*>~")
GROUP = ("GS*PO*SENDER*RECEIVER*20240101*1200*42*X*004010~ST*850*0001~BEG*00*SA*PO-1**20240101~"
         "N1*ST*ACME STORE*92*0001~PO1*1*10*EA*2.5**VP*SKU-1~PO1*2*3*EA*4**VP*SKU-2~CTT*2~"
         "SE*7*0001~GE*1*42~")
IEA = "IEA*1*000000007~"
GOOD = ISA + GROUP + IEA
#: a 5010 interchange: ISA11 '^' is the repetition separator, ISA16 ':' the component one
ISA5 = ISA.replace("*U*00401*", "*^*00501*").replace("*P*>~", "*P*:~")


def route(**fmt: object) -> RouteSpec:
    fields = fmt.pop("fields", None) or {"line": {"source": "PO1.1"}, "qty": {"source": "PO1.2"},
                                         "sku": {"source": "PO1.7"}}
    header = fmt.pop("header", None) or {"po": {"source": "BEG.3"},
                                         "ship_to": {"source": "N1[ST].2"}}
    return RouteSpec.model_validate({
        "name": "po", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "PO1", **fmt}, "header": header, "fields": fields,
    })


def read(tmp_path: Path, text: str | bytes, **fmt: object) -> list:
    path = tmp_path / "in.x12"
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return list(X12Reader().read(Staged.file(path), route(**fmt)))


def reject(tmp_path: Path, text: str | bytes, kind: type[RejectError],
           **fmt: object) -> RejectError:
    with pytest.raises(kind) as info:
        read(tmp_path, text, **fmt)
    return info.value


def rows(docs: list, column: str) -> list:
    return [v for d in docs for v in d.records[column].to_pylist()]


# -- envelopes --------------------------------------------------------------------------------

def test_short_isa(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("SENDER         ", "SENDER"), E.BadServiceStringAdvice)
    assert err.header == "ISA" and err.location == "segment 1 (byte 0)"


def test_mismatched_isa13_iea02(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP + "IEA*1*000000008~", E.ControlReferenceMismatch)
    assert (err.trailer, err.header_ref, err.trailer_ref) == ("IEA", "000000007", "000000008")
    assert err.segment_index == 11 and codes_of(err).ta1 == "001"


def test_se_count_and_control_number(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("SE*7", "SE*9"), E.SegmentCountMismatch)
    assert (err.trailer, err.declared, err.actual) == ("SE", "9", 7)
    assert err.location == f"segment 9 (byte {GOOD.index('SE*9'.replace('9', '7'))})"
    assert codes_of(err).ak5 == "4"
    err = reject(tmp_path, GOOD.replace("SE*7*0001", "SE*7*0002"), E.ControlReferenceMismatch)
    assert err.trailer == "SE" and codes_of(err).ak5 == "3"


def test_counts_with_leading_zeros_are_counts(tmp_path: Path) -> None:
    docs = read(tmp_path, GOOD.replace("SE*7*", "SE*0007*").replace("GE*1*", "GE*01*"))
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]


def test_ge_and_iea_counts(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("GE*1", "GE*2"), E.CountMismatch)
    assert (err.trailer, err.declared, err.actual) == ("GE", "2", 1)
    assert codes_of(err).ak9 == "5"
    err = reject(tmp_path, ISA + GROUP + "IEA*3*000000007~", E.CountMismatch)
    assert err.trailer == "IEA" and codes_of(err).ta1 == "021"


def test_truncated_interchange(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP, E.MissingTrailer)
    assert err.trailer == "IEA" and codes_of(err).ta1 == "023"
    err = reject(tmp_path, ISA + GROUP[:GROUP.index("CTT")], E.MissingTrailer)
    assert err.trailer == "SE" and err.segment_index == 3 and codes_of(err).ak5 == "2"
    err = reject(tmp_path, ISA + GROUP[:120], E.MissingTrailer)
    assert err.trailer == "segment terminator"


def test_junk_nul_and_empty(tmp_path: Path) -> None:
    reject(tmp_path, "hello" + GOOD, E.NotAnInterchange)
    err = reject(tmp_path, GOOD.replace("PO-1", "PO\x00"), E.NulByte)
    assert err.byte_offset == len(ISA) + GROUP.index("PO-1") + 2
    reject(tmp_path, "", EmptyFile)
    reject(tmp_path, "\ufeff \r\n".encode(), EmptyFile)


def test_maps_transaction_sets(tmp_path: Path) -> None:
    docs = read(tmp_path, ISA + "\n" + GROUP.replace("~", "~\n") + IEA + "\n")
    assert docs[0].header["po"].to_pylist() == ["PO-1", "PO-1"]
    assert docs[0].header["ship_to"].to_pylist() == ["ACME STORE", "ACME STORE"]
    assert docs[0].records.to_pylist() == [
        {"line": "1", "qty": "10", "sku": "SKU-1"}, {"line": "2", "qty": "3", "sku": "SKU-2"}]
    assert docs[0].interchange == ("SENDER", "RECEIVER", "000000007")
    second_po1 = (ISA + "\n" + GROUP.replace("~", "~\n")).index("PO1*2")
    assert docs[0].locate(1) == f"transaction 1, segment 7 (byte {second_po1})"


def test_transaction_sets_of_one_interchange_share_a_batch(tmp_path: Path) -> None:
    two = GROUP.replace("GE*1*42~", "") + GROUP[GROUP.index("ST*"):].replace("0001", "0002")
    docs = read(tmp_path, ISA + two.replace("GE*1*42", "GE*2*42") + IEA)
    assert len(docs) == 1 and rows(docs, "line") == ["1", "2", "1", "2"]
    assert docs[0].units.tolist() == [1, 1, 2, 2]  # a transaction set goes whole or not at all


# -- delimiters and line breaks ---------------------------------------------------------------

@pytest.mark.parametrize("after", ["\n", "\r\n", "\r", "  \n", "\t"])
def test_anything_blank_after_each_terminator(tmp_path: Path, after: str) -> None:
    text = GOOD.replace("~", "~" + after)
    assert rows(read(tmp_path, text), "sku") == ["SKU-1", "SKU-2"]


@pytest.mark.parametrize("width", [1, 7, 80, 105, 106])
def test_a_file_wrapped_at_any_width(tmp_path: Path, width: int) -> None:
    wrapped = "\r\n".join(GOOD[i:i + width] for i in range(0, len(GOOD), width))
    docs = read(tmp_path, wrapped)
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]
    assert docs[0].header["ship_to"].to_pylist()[0] == "ACME STORE"


def test_isb_ise_and_other_interchange_segments_before_gs(tmp_path: Path) -> None:
    text = ISA + "ISB*1~ISE*250101*1200*S~" + GROUP + IEA
    assert rows(read(tmp_path, text), "sku") == ["SKU-1", "SKU-2"]


def test_the_terminator_is_the_character_after_isa16_only(tmp_path: Path) -> None:
    # '!' as terminator, '~' is data: the old reader took all up to GS as the terminator
    text = GOOD.replace("~", "!").replace("ACME STORE", "ACME~STORE")
    assert read(tmp_path, text)[0].header["ship_to"].to_pylist()[0] == "ACME~STORE"
    newline = GOOD.replace("~", "\n")
    assert rows(read(tmp_path, newline), "qty") == ["10", "3"]


def test_bom_is_stripped(tmp_path: Path) -> None:
    docs = read(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]
    assert docs[0].locate(0).endswith(f"(byte {3 + len(ISA) + GROUP.index('PO1*1')})")


def test_data_is_never_trimmed(tmp_path: Path) -> None:
    text = GOOD.replace("N1*ST*ACME STORE*92*0001", "N1*ST*  ACME STORE  ").replace(
        "VP*SKU-1~", "VP*SKU-1  ~")
    docs = read(tmp_path, text)
    assert docs[0].header["ship_to"].to_pylist()[0] == "  ACME STORE  "
    assert rows(docs, "sku")[0] == "SKU-1  "


def test_a_line_break_inside_a_segment_is_not_data(tmp_path: Path) -> None:
    docs = read(tmp_path, GOOD.replace("ACME STORE", "ACME\r\n STORE"))
    assert docs[0].header["ship_to"].to_pylist()[0] == "ACME STORE"


def test_each_interchange_declares_its_own_delimiters(tmp_path: Path) -> None:
    other = (ISA.replace("000000007", "000000008") + GROUP + IEA.replace("7", "8")).replace(
        "*", "|").replace("~", "'\n").replace("|>'", "|:'")
    docs = read(tmp_path, GOOD + "\n" + other)
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"] * 2
    assert [d.interchange[2] for d in docs] == ["000000007", "000000008"]


@pytest.mark.parametrize("tag", ["ZZZZ", "Z", "", "po1", "P-1"])
def test_segment_ids_are_two_or_three_upper_case_letters_or_digits(tmp_path: Path,
                                                                   tag: str) -> None:
    text = GOOD.replace("CTT*2~", f"{tag}*2~")
    err = reject(tmp_path, text, E.UnexpectedSegment)
    assert err.location == f"segment 8 (byte {text.index(tag + '*2~')})"
    codes = codes_of(err)
    assert (codes.ak5, codes.segment) == ("5", "1")


def test_a_bad_segment_id_outside_transaction_sets(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + "ZZZZ*1~" + GROUP + IEA, E.UnexpectedSegment)
    assert err.segment_index == 2 and codes_of(err).ta1 == "024"


def test_delimiters_that_collide_are_refused(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("*P*>~", "*P**~"), E.BadServiceStringAdvice)
    assert codes_of(err).ta1 in {"026", "027"}
    err = reject(tmp_path, GOOD.replace("*P*>~", "*P*>A"), E.BadServiceStringAdvice)
    assert codes_of(err).ta1 == "004"


def test_a_segment_over_the_limit_names_its_place(tmp_path: Path) -> None:
    text = GOOD.replace("ACME STORE", "A" * 5000)
    err = reject(tmp_path, text, E.SegmentTooLong, max_segment_bytes=1000)
    assert err.segment_index == 5


# -- repetitions, paths and record links ------------------------------------------------------

REPEATS = (ISA5 + GROUP.replace("004010", "005010").replace(
    "N1*ST*ACME STORE*92*0001~", "N1*ST*ACME STORE*92*0001~PER*IC*JO*TE:1^EM:a@b.c^FX:9~")
    .replace("SE*7", "SE*8") + IEA)


def test_repeated_elements_become_repeated_values(tmp_path: Path) -> None:
    docs = read(tmp_path, REPEATS, header={
        "first": {"source": "PER.3"}, "first_kind": {"source": "PER.3.1"},
        "second": {"source": "PER.3[2]"}, "second_value": {"source": "PER.3[2].2"},
        "third": {"source": "PER.3[3].2"}, "none": {"source": "PER.3[9]"},
        "name": {"source": "PER[IC].2"}})
    header = {k: v.to_pylist()[0] for k, v in docs[0].header.items()}
    assert header == {"first": "TE", "first_kind": "TE", "second": "EM", "second_value": "a@b.c",
                      "third": "9", "none": "", "name": "JO"}


def test_without_a_repetition_separator_the_character_is_data(tmp_path: Path) -> None:
    text = REPEATS.replace("*^*00501*", "*U*00401*")  # 00401: ISA11 is the standards id
    docs = read(tmp_path, text, header={"per": {"source": "PER.3"},
                                        "two": {"source": "PER.3[2]"}})
    assert docs[0].header["per"].to_pylist()[0] == "TE"  # the component separator still splits
    assert docs[0].header["two"].to_pylist()[0] == ""
    docs = read(tmp_path, text, header={"per": {"source": "PER.3.2"}})
    assert docs[0].header["per"].to_pylist()[0] == "1^EM"


def test_record_links_name_interchange_group_and_transaction_set(tmp_path: Path) -> None:
    docs = read(tmp_path, GOOD, fields={"sku": {"source": "PO1.7"}, "_interchange": {},
                                        "group": {"source": "_group"},
                                        "set": {"source": "_message"},
                                        "sender": {"source": "ISA.6"},
                                        "app": {"source": "GS.2"}})
    assert docs[0].records.to_pylist()[0] == {
        "sku": "SKU-1", "_interchange": "000000007", "group": "42", "set": "0001",
        "sender": "SENDER         ", "app": "SENDER"}


def test_a_bad_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PER\.3\[0\]"):
        read(tmp_path, GOOD, fields={"x": {"source": "PER.3[0]"}})


# -- service segment rules --------------------------------------------------------------------

RULES = [
    ("ISA09", ISA.replace("*240101*", "*241301*"), "014", None, "ta1"),
    ("ISA10", ISA.replace("*1200*", "*2500*"), "015", None, "ta1"),
    ("ISA13", ISA.replace("000000007", "00000000X"), "018", None, "ta1"),
    ("ISA14", ISA.replace("*0*P*", "*2*P*"), "019", None, "ta1"),
    ("ISA15", ISA.replace("*0*P*", "*0*Q*"), "020", None, "ta1"),
    ("ISA11", ISA.replace("*U*00401*", "*^*00401*"), "016", None, "ta1"),
    ("ISA06", ISA.replace("SENDER         ", " " * 15), "006", None, "ta1"),
]


@pytest.mark.parametrize(("element", "isa", "code", "_", "level"), RULES,
                         ids=[r[0] for r in RULES])
def test_isa_elements_follow_their_rules(tmp_path: Path, element: str, isa: str, code: str,
                                         _: None, level: str) -> None:
    text = isa + GROUP + IEA.replace("000000007", isa[90:99])
    err = reject(tmp_path, text, E.ServiceElementError)
    assert err.element == element and err.location == "segment 1 (byte 0)"
    assert getattr(codes_of(err), level) == code


GS_RULES = [
    ("GS04", "*20240101*", "*20241301*", "8"), ("GS05", "*1200*42*", "*1260*42*", "9"),
    ("GS06", "*42*X*", "*4X*X*", "6"), ("GS02", "*SENDER*RECEIVER*", "**RECEIVER*", "1"),
    ("GS01", "GS*PO*", "GS*P*", "4"), ("GS08", "*X*004010~", "*X*0040100000000~", "5"),
]


@pytest.mark.parametrize(("element", "old", "new", "ik4"), GS_RULES, ids=[r[0] for r in GS_RULES])
def test_gs_elements_follow_their_rules(tmp_path: Path, element: str, old: str, new: str,
                                        ik4: str) -> None:
    text = ISA + GROUP.replace(old, new, 1) + IEA
    err = reject(tmp_path, text, E.ServiceElementError)
    assert err.element == element and err.location == f"segment 2 (byte {len(ISA)})"
    assert codes_of(err).ta1 == "024" and codes_of(err).element == ik4


def test_too_many_elements_in_a_service_segment(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("GE*1*42~", "GE*1*42*9~"), E.ServiceElementError)
    assert err.element == "GE" and codes_of(err).element == "3"
    err = reject(tmp_path, GOOD.replace("ST*850*0001~", "ST*850*0001*X*Y~"),
                 E.ServiceElementError)
    assert err.element == "ST" and codes_of(err).ak5 == "5" and err.segment_index == 3


def test_st_elements(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD.replace("ST*850*0001~", "ST*850*001~").replace(
        "SE*7*0001", "SE*7*001"), E.ServiceElementError)
    assert err.element == "ST02" and codes_of(err).ak5 == "7" and codes_of(err).element == "4"


def test_a_six_digit_gs_date_is_allowed_before_004010(tmp_path: Path) -> None:
    text = ISA + GROUP.replace("*20240101*1200*42*X*004010", "*240101*1200*42*X*003010") + IEA
    assert rows(read(tmp_path, text), "sku") == ["SKU-1", "SKU-2"]
    reject(tmp_path, ISA + GROUP.replace("*20240101*", "*240101*") + IEA, E.ServiceElementError)


# -- repeats inside one file ------------------------------------------------------------------

def test_the_same_interchange_twice_in_a_file_is_refused_with_both_places(tmp_path: Path) -> None:
    err = reject(tmp_path, GOOD + GOOD, E.DuplicateControlReference)
    assert (err.element, err.reference, err.first_segment) == ("ISA13", "000000007", 1)
    assert err.location == f"segment 12 (byte {len(GOOD)})" and codes_of(err).ta1 == "025"


def test_a_repeated_group_and_transaction_set(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP + GROUP + IEA.replace("*1*", "*2*"),
                 E.DuplicateControlReference)
    assert (err.element, err.reference, err.first_segment) == ("GS06", "42", 2)
    assert codes_of(err).ak9 == "6"  # 004010: "group control number violates syntax"
    five = ISA5 + GROUP + GROUP + IEA.replace("*1*", "*2*")
    assert codes_of(reject(tmp_path, five, E.DuplicateControlReference)).ak9 == "19"
    tx = GROUP[GROUP.index("ST*"):GROUP.index("GE*")]
    text = ISA + GROUP.replace("GE*1*42~", tx + "GE*2*42~") + IEA
    err = reject(tmp_path, text, E.DuplicateControlReference)
    assert (err.element, err.first_segment, err.segment_index) == ("ST02", 3, 10)
    assert codes_of(err).ak5 == "23"


def test_other_interchanges_may_reuse_group_and_set_numbers(tmp_path: Path) -> None:
    again = GOOD.replace("000000007", "000000009")
    assert len(read(tmp_path, GOOD + again)) == 2


def test_with_isolation_only_the_repeat_is_split_out(tmp_path: Path) -> None:
    docs = read(tmp_path, GOOD + GOOD, isolate_messages=True)
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]
    [failed] = [f for d in docs for f in d.failed]
    assert failed.message.number == 2 and failed.message.interchange.number == 2
    assert failed.issue.rule == "duplicate_control_reference"
    assert failed.issue.location == f"transaction set 2 (850 0001), segment 12 (byte {len(GOOD)})"


def test_with_isolation_a_bad_se_splits_out_its_set_only(tmp_path: Path) -> None:
    tx = GROUP[GROUP.index("ST*"):GROUP.index("GE*")].replace("0001", "0002")
    text = ISA + GROUP.replace("GE*1*42~", tx.replace("SE*7", "SE*6") + "GE*2*42~") + IEA
    docs = read(tmp_path, text, isolate_messages=True)
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]
    [failed] = docs[0].failed
    assert isinstance(failed.message.error, E.SegmentCountMismatch)


# -- TA1 received -----------------------------------------------------------------------------

def test_a_ta1_is_read_as_an_acknowledgement(tmp_path: Path) -> None:
    ta1 = "TA1*000000123*240101*1100*R*022~"
    docs = read(tmp_path, ISA + ta1 + GROUP + IEA)
    assert rows(docs, "sku") == ["SKU-1", "SKU-2"]
    assert docs[0].notes == ("TA1 (segment 2) acknowledges interchange '000000123' of 240101"
                             " 1100: rejected, note code 022",)
    only = read(tmp_path, ISA + ta1 + "IEA*0*000000007~")
    assert only[0].records.num_rows == 0 and "'000000123'" in only[0].notes[0]


# -- streaming --------------------------------------------------------------------------------

def test_small_chunks_read_the_same_and_keep_every_offset() -> None:
    text = (GOOD + GOOD.replace("000000007", "000000008")).replace("~", "~\r\n")
    whole = X12File(text.encode())
    blocks = list(SegmentStream(Staged(size=len(text), data=text.encode()), chunk_size=256))
    assert len(blocks) > 2
    assert [s for b in blocks for s in b.segs] == whole.segments
    starts = [int(o) for b in blocks for o in b.offsets]
    assert starts == whole.offsets
    assert all(text[o:o + 2] == s[:2] for o, s in zip(starts, whole.segments, strict=True))


def test_utf8_offsets_are_bytes(tmp_path: Path) -> None:
    text = GOOD.replace("ACME STORE", "ÄCMÉ STÖRE")
    data = text.encode()
    err = reject(tmp_path, data.replace(b"SE*7", b"SE*8"), E.SegmentCountMismatch,
                 encoding="utf-8")
    assert err.byte_offset == data.index(b"SE*7")


def test_iter_transactions_of_a_whole_file() -> None:
    [tx] = iter_transactions(X12File(GOOD.encode()))
    assert (tx.code, tx.control, tx.group.control, tx.interchange.control) == (
        "850", "0001", "42", "000000007")
