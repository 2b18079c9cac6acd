"""Every X12 file of the conformance corpus (../shared/corpus/x12, copied into tests/data/x12,
see tests/data/ATTRIBUTION.md) keeps its outcome or gets a better one, said here with why.

The X12 cases live here rather than in test_edi_corpus.py (EDIFACT's), next to the reader's
own tests; where MANIFEST.tsv names another project's test, its answers are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.formats import edi_errors as E
from tradelane.formats.x12 import X12File, X12Reader, iter_transactions
from tradelane.formats.x12_codes import codes_of
from tradelane.formats.x12_syntax import SegmentStream
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

DATA = Path(__file__).parents[1] / "data" / "x12"

# file -> (number of transaction sets, None) when accepted, or (reject class, attributes)
X12 = {
    # Before: SE01 30 vs 27 (segment 28). Better: the first of the file's many faults, GS01
    # 'HPO' (an ID of exactly 2 characters; 835s are 'HP'), found at segment 2 where the
    # group starts (GS02 '1' is one character short too). The SE count is still caught once
    # the GS is fixed (test below).
    "badx12__error_validation_835.edi": (E.ServiceElementError,
                                         {"element": "GS01", "segment_index": 2}),
    "node-x12__850.edi": (1, None),
    "node-x12__850_2_newline_terminator.edi": (1, None),
    "node-x12__856.edi": (1, None),
    "staedi__invalid997.edi": (1, None),  # bad values inside the 997 only: validation's job
    "staedi__invoice810_po850_dual.edi": (3, None),
    "staedi__simple997-multiple-interchanges.edi": (3, None),
    "staedi__simple997.edi": (1, None),
    "staedi__ts214_ellipses_segterm.edi": (1, None),
}
ENCODING = {"staedi__ts214_ellipses_segterm.edi": "utf-8"}  # its terminator is U+2026


@pytest.mark.parametrize(("name", "expected", "attrs"),
                         [(k, *v) for k, v in X12.items()], ids=list(X12))
def test_x12_corpus_outcome(name: str, expected: object, attrs: dict | None) -> None:
    stream = SegmentStream(DATA / name, encoding=ENCODING.get(name, "latin-1"))
    if isinstance(expected, int):
        assert len(list(iter_transactions(stream))) == expected
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as info:
        list(iter_transactions(stream))
    for key, value in (attrs or {}).items():
        assert getattr(info.value, key) == value, key
    assert info.value.location.startswith("segment ")


def test_corpus_table_covers_every_file() -> None:
    assert sorted(p.name for p in DATA.iterdir()) == sorted(X12)


def test_badx12_835_still_fails_its_se_count_once_gs_is_fixed() -> None:
    """badX12 test_error_validation: the document is not valid; SE01 says 30, there are 27."""
    data = (DATA / "badx12__error_validation_835.edi").read_bytes()
    fixed = data.replace(b"GS*HPO*1*", b"GS*HP*01*").replace(b"*20080543*", b"*20080503*")
    with pytest.raises(E.SegmentCountMismatch) as info:
        list(iter_transactions(X12File(fixed)))
    assert (info.value.declared, info.value.actual) == ("30", 27)
    assert codes_of(info.value).ak5 == "4"


def route(**fields: str) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "po", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "PO1"},
        "header": {"ship_to": {"source": "N1[ST].2"}},
        "fields": {k: {"source": v} for k, v in (fields or {"qty": "PO1.2"}).items()},
    })


def test_node_x12_850_mapping_oracle() -> None:
    """node-x12 850_map_result.json: ShipTo name and the six PO1 quantities, from both the
    '~' + LF file and the bare-newline one."""
    for name in ("node-x12__850.edi", "node-x12__850_2_newline_terminator.edi"):
        [doc] = X12Reader().read(Staged.file(DATA / name), route())
        assert set(doc.header["ship_to"].to_pylist()) == {"XYZ RETAIL"}, name
        assert doc.records["qty"].to_pylist() == ["120", "220", "126", "76", "72", "696"], name


def test_delimiters_from_the_isa() -> None:
    """MANIFEST: 856 declares ISA11 '-' (00406); simple997 '^' (00501); the 214's terminator
    is U+2026; the node-x12 850_2 file ends its segments with a bare newline."""
    assert X12File((DATA / "node-x12__856.edi").read_bytes()).delims.repetition == "-"
    assert X12File((DATA / "staedi__simple997.edi").read_bytes()).delims.repetition == "^"
    f = X12File((DATA / "staedi__ts214_ellipses_segterm.edi").read_bytes(), "utf-8")
    assert f.delims.segment == "\u2026"
    newline = X12File((DATA / "node-x12__850_2_newline_terminator.edi").read_bytes())
    assert newline.delims.segment == "\n" and newline.delims.repetition is None


def test_856_repetition_separator_splits_n4() -> None:
    """node-x12 856: ISA11 '-' is a repetition separator in 00406, so '31139-0020' in N403 is
    two repetitions; the first is the ZIP code, the second its +4 (the old reader, which never
    split repetitions, delivered the whole text)."""
    f = X12File((DATA / "node-x12__856.edi").read_bytes())
    from tradelane.formats.x12_syntax import element_value

    n4 = next(f.elements(i) for i, t in enumerate(f.tags) if t == "N4"
              and "31139" in f.segments[i])
    assert element_value(n4[3], f.delims) == "31139"
    assert element_value(n4[3], f.delims, repetition=1) == "0020"


def test_staedi_dual_groups_and_versions() -> None:
    """StAEDI invoice810_po850_dual: one interchange, an IN group (two 810s, 004010) and a PO
    group (one 850, 003010 with a 6-digit GS04 date)."""
    sets = list(iter_transactions(X12File((DATA / "staedi__invoice810_po850_dual.edi")
                                          .read_bytes())))
    assert [(t.group.functional_id, t.code) for t in sets] == [("IN", "810"), ("IN", "810"),
                                                              ("PO", "850")]
    assert sets[2].group.version == "003010"


def test_staedi_simple997_tag_sequence() -> None:
    """StAEDI ConstantsTest.simple997tags: the segment IDs in the order of the file."""
    f = X12File((DATA / "staedi__simple997.edi").read_bytes())
    assert f.tags == ["ISA", "GS", "ST", "AK1", "AK2", "AK3", "AK4", "AK5", "AK9", "SE", "GE",
                      "IEA"]


def test_three_concatenated_interchanges_reuse_group_numbers_legally() -> None:
    """Each interchange of simple997-multiple-interchanges has GS06 000005 and ST02 0001:
    unique within their own interchange and group, so no repeat is reported."""
    sets = list(iter_transactions(X12File((DATA / "staedi__simple997-multiple-interchanges"
                                                    ".edi").read_bytes())))
    assert [t.interchange.control for t in sets] == ["000000001", "000000002", "000000003"]
    assert {t.group.control for t in sets} == {"000005"}
