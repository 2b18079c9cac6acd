"""``tradelane draft`` (issue 16): a route drafted from every sample in examples/ and in the
conformance corpus (../shared/corpus/{csv,xml,edifact,x12}) passes ``tradelane check``, and
``tradelane validate`` accepts the sample it came from, or the table says why not (the file
is broken, as MANIFEST.tsv says). The table keeps the guesses for each file: a regression in
a guess fails. A draft never writes over a mapping, and reads a bounded head of a sample.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from support.project import CORPUS, REPO
from tradelane.cli.main import app

EXAMPLES = REPO / "examples"
CORPUS_DIRS = ("csv", "xml", "edifact", "x12")

# Per sample: "format" options drafted (a subset of format:), "types" every field of a
# non-string type (source -> "type" or "type format"; equal, so a new or lost type fails) or
# "some_types" (a subset, for the long EDI and UBL drafts), "says" evidence comments, and
# "invalid" the reason validate refuses the sample (the file is broken) or "refused" the
# reason draft refuses it (exit 2). Where a guess is right for the sample but not for the
# feed, the comment says so: a human finishes the draft.
EXPECTED: dict[str, dict[str, Any]] = {
    # -- examples/ ---------------------------------------------------------------------------
    "examples/erp_items/ARTIKEL_20261125.csv": {
        "format": {"type": "csv", "delimiter": ";", "encoding": "cp1252", "header": True,
                   "decimal": ",", "thousands": "."},
        "types": {"Menge": "integer", "Preis": "decimal", "Lieferdatum": "date %d.%m.%Y"},
        "says": ["100% of 3 values match %d.%m.%Y; 1 of 4 empty",
                 "bytes 0x80-0x9F read as Windows-1252"]},
    # the day's broken export: the guesses that would break on it are named, kept as text
    "examples/erp_items/ARTIKEL_20261126.csv": {
        "format": {"type": "csv", "delimiter": ";", "encoding": "latin-1", "decimal": ",",
                   "thousands": "."},
        "types": {"Preis": "decimal"},
        "says": ["66% of 3 values are numbers, but not 'achtundvierzig': kept as string",
                 "50% of 2 values match %d.%m.%Y, but not '31.11.2026': kept as string"]},
    "examples/fixed_items/ITEMS_20261125.txt": {
        "format": {"type": "fixed", "encoding": "utf-8"},
        "types": {"I.col39_47": "integer"},  # the price: implied decimals are the human's
        "record_types": {"H": ("header", {"col2_13": (2, 13)}),
                         "I": ("record", {"col2_11": (2, 11), "col12_35": (12, 35),
                                          "col36_38": (36, 38), "col39_47": (39, 47)}),
                         "T": ("ignore", {})}},
    # GTIN and GLN are text (identifiers of 10 digits or more), not numbers
    "examples/invoic_out/INVOICES_20261125.csv": {
        "format": {"type": "csv", "delimiter": ";", "encoding": "utf-8", "header": True,
                   "decimal": "."},
        "types": {"Date": "date %Y-%m-%d", "Line": "integer", "Qty": "integer",
                  "Price": "decimal"}},
    "examples/shop_orders/orders-20261125.json": {
        "format": {"type": "json", "records": "orders"},
        "types": {"qty": "integer", "unit_price": "decimal", "ordered_at": "datetime"},
        "header": ["batch.id", "batch.created"]},
    "examples/shop_orders/orders-20261126.json": {"refused": "not valid JSON"},
    "examples/ubl_invoices/INV-2026-0815.xml": {
        "format": {"type": "xml", "records": "cac:InvoiceLine"},
        "types": {"cbc:ID": "integer", "cbc:InvoicedQuantity": "integer",
                  "cbc:LineExtensionAmount": "decimal", "cac:Price/cbc:PriceAmount": "decimal"},
        "namespaces": ["cac", "cbc"]},
    "examples/ubl_invoices/INV-2026-0816.xml": {
        "format": {"type": "xml", "records": "cac:InvoiceLine"},
        "types": {"cbc:ID": "integer", "cbc:InvoicedQuantity": "integer",
                  "cbc:LineExtensionAmount": "decimal"},
        "says": ["the sample declares a DOCTYPE"], "invalid": "DOCTYPE"},
    "examples/edifact_orders/ORDERS_20261125_0815.edi": {
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "EAN97",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer", "PRI.1.2": "decimal"},
        "header": ["NAD[BY].2.1", "NAD[SU].2.1", "DTM.1.2"],
        "says": ["NAD 3: NAME AND ADDRESS", "segment group SG17"]},
    "examples/edifact_orders/ORDERS_20261126_bad_count.edi": {
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "EAN97",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer"},
        "invalid": "declares 9 segments but there are 8"},
    "examples/x12_850/PO_4500012345.x12": {
        "format": {"type": "x12", "transactions": ["850"], "records": "PO1"},
        "types": {"PO1.1": "integer", "PO1.2": "integer", "PO1.4": "decimal"},
        "header": ["BEG.3", "BEG.5", "N1.2"], "says": ["PO1 3: baseline item data"]},
    "examples/eancom_invoic/INVOIC_20261126_0630.edi": {
        # qualifiers like RFF+VA are not in EAN97's code lists: the UN directory is named
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D96A",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer", "MOA.1.2": "decimal",
                  "PRI.1.2": "decimal"}},
    "examples/eancom_invoic/INVOIC_20261126_0645_ship_to.edi": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D96A",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer", "MOA.1.2": "decimal",
                  "PRI.1.2": "decimal"}},
    "examples/edifact_desadv/DESADV_20261125_0930.edi": {
        "format": {"type": "edifact", "messages": ["DESADV"], "directory": "EAN97",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer", "PAC.1": "integer",
                  "CNT.1.2": "integer"}},
    # -- corpus: csv ---------------------------------------------------------------------------
    "csv/commons-csv__bom.csv": {
        "format": {"type": "csv", "delimiter": ",", "encoding": "utf-8", "header": True,
                   "decimal": "."},
        "types": {"Date": "date %d-%b-%y", " Open": "decimal", " High": "decimal",
                  " Close": "decimal", " Volume": "integer"},
        "says": ["UTF-8 byte order mark", "99% of 251 values are numbers, but not '-'"]},
    "csv/csvkit__bad.csv": {  # ragged rows (MANIFEST): refused, row by row
        "format": {"type": "csv", "delimiter": ",", "header": True},
        "types": {"column_a": "integer", "column_c": "integer"},
        "says": ["rows do not have 3 fields"], "invalid": "problems in the data"},
    "csv/csvkit__mac_newlines.csv": {
        "format": {"type": "csv", "delimiter": ",", "header": True},
        "types": {"b": "integer", "c": "integer"}},
    "csv/csvkit__test_latin1.csv": {
        "format": {"type": "csv", "delimiter": ",", "encoding": "latin-1", "header": True},
        "types": {"a": "integer", "b": "integer"}},
    "csv/csvkit__test_locale.csv": {
        "format": {"type": "csv", "delimiter": ",", "decimal": ",", "thousands": "."},
        "types": {"a": "decimal", "b": "integer"}},
    "csv/univocity__european.csv": {
        "format": {"type": "csv", "delimiter": ";", "escape": "\\", "doublequote": False,
                   "decimal": ","},
        "types": {"Year": "integer", "Price": "decimal"}},
    # -- corpus: xml ---------------------------------------------------------------------------
    "xml/ubl__UBL-DespatchAdvice-2.0-Example.xml": {
        "format": {"type": "xml", "records": "cac:DespatchLine"},
        "some_types": {"cbc:DeliveredQuantity": "integer",
                       "cac:Item/cac:ItemInstance/cac:LotIdentification/cbc:ExpiryDate":
                       "date %Y-%m-%d"}},
    "xml/ubl__UBL-Invoice-2.1-Example.xml": {
        "format": {"type": "xml", "records": "cac:InvoiceLine"},
        "some_types": {"cbc:InvoicedQuantity": "integer", "cbc:LineExtensionAmount": "decimal",
                       "cac:Price/cbc:PriceAmount": "decimal"}},
    "xml/ubl__UBL-Order-2.1-Example.xml": {
        "format": {"type": "xml", "records": "cac:OrderLine"},
        # every amount of the sample is whole: right for it, a human widens it to decimal
        "some_types": {"cac:LineItem/cbc:Quantity": "integer",
                       "cac:LineItem/cbc:LineExtensionAmount": "integer"}},
    # -- corpus: edifact -----------------------------------------------------------------------
    "edifact/edifact-rs__d96a_orders_malformed.edi": {"refused": "expected UNB after UNA"},
    "edifact/medcom__CTL01_1_contrl.edi": {  # MedCom's own association code: no directory
        "format": {"type": "edifact", "messages": ["CONTRL"]},
        "types": {"UCI.2.2": "integer", "UCI.3.2": "integer", "UCI.4": "integer",
                  "UCM.3": "integer"}},
    "edifact/portxchange__VIFTSAI0000001.txt": {  # truncated: no UNZ
        "format": {"type": "edifact", "messages": ["IFTSAI"], "directory": "D99B"},
        "types": {"DTM[132].1.2": "datetime %Y%m%d%H%M", "DTM[133].1.2": "datetime %Y%m%d%H%M"},
        "invalid": "no UNZ trailer"},
    "edifact/pydifact__aperak_rejected.edi": {
        "format": {"type": "edifact", "messages": ["APERAK"], "directory": "D96A"},
        "types": {"DTM.1.2": "date %Y%m%d"}, "invalid": "declares 8 segments but there are 7"},
    "edifact/pydifact__invoice1.edi": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D97A",
                   "records": "LIN"},
        "types": {"QTY.1.2": "integer", "MOA.1.2": "decimal", "PRI.1.2": "decimal",
                  "PRI.1.5": "integer"}},
    "edifact/pydifact__order.edi": {  # syntax 4 with a 6-digit UNB date
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "EAN97",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer"},
        "invalid": "at least 8 are needed"},
    "edifact/pydifact__patient1.edi": {  # UNB+ANSI:1: read as latin-1, as its bytes show
        "format": {"type": "edifact", "encoding": "latin-1", "messages": ["MEDRPT"]},
        "types": {"BGM.4": "date %Y%m%d", "BGM.7": "date %Y%m%d", "NAD.8": "integer"},
        "says": ["unknown syntax identifier 'ANSI:1'"], "invalid": "UNB 0019 is missing"},
    "edifact/smooks__BAD_ORDERS_D.03B_Interchange.txt": {
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "D03B",
                   "records": "LIN"},
        "types": {}, "invalid": "declares 22 segments but there are 57"},
    "edifact/smooks__INVOIC_D.03B_Interchange_with_UNA.txt": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D03B",
                   "records": "LIN"},
        "types": {"MOA[66].1.2": "decimal", "PRI.1.2": "decimal", "PRI.1.5": "integer",
                  "MOA[23].1.2": "decimal", "MOA[106].1.2": "integer"},
        "invalid": "at least 8 are needed"},
    "edifact/smooks__ORDERS_D.03B_Interchange.txt": {
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "D03B",
                   "records": "LIN"},
        "types": {}},
    "edifact/smooks__bad-paxlst.txt": {
        "format": {"type": "edifact", "messages": ["PAXLST"], "directory": "D03B",
                   "records": "LOC"},
        "types": {}, "invalid": "at least 8 are needed"},
    "edifact/smooks__recadv.txt": {  # declares UNOA, sends UTF-8: read as UTF-8
        "format": {"type": "edifact", "encoding": "utf-8", "messages": ["RECADV"],
                   "directory": "D01B", "records": "LIN"},
        "types": {"DTM[36].1.2": "date %Y%m%d", "DTM[94].1.2": "date %Y%m%d",
                  "CNT.1.2": "integer"},
        "says": ["not valid in the declared character set UNOA"]},
    "edifact/smooks__unedifact-msg-02_with_ung.edi": {"refused": "unexpected BBBB segment"},
    "edifact/staedi__baplie-test.edi": {
        "format": {"type": "edifact", "messages": ["BAPLIE"], "directory": "D95B",
                   "records": "LOC"},
        "types": {"MEA.3.2": "integer", "DGS.3.1": "integer"}},
    "edifact/staedi__invoic_d93a_una.edi": {  # UNOA with UTF-8; 19999715 stays text
        "format": {"type": "edifact", "encoding": "utf-8", "messages": ["INVOIC"],
                   "directory": "D93A", "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY.1.2": "integer"}},
    # intentionally invalid values (MANIFEST): a draft from the file itself reads them as
    # text, and leaves out NAD+BYZZ, whose qualifier D97B does not know
    "edifact/staedi__invoic_d97b_bad.edi": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D97B",
                   "records": "LIN"},
        "types": {"MOA.1.2": "decimal"}, "says": ["qualifiers not in D97B's code lists"]},
    "edifact/staedi__invoic_d97b_una.edi": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D97B",
                   "records": "LIN"},
        "types": {"QTY.1.2": "integer", "MOA.1.2": "decimal", "PRI.1.2": "decimal"}},
    "edifact/staedi__orders-with-group.edi": {
        "format": {"type": "edifact", "messages": ["ORDERS"], "directory": "D96B",
                   "records": "LIN"},
        "types": {"LIN.1": "integer", "QTY[21].1.2": "integer", "QTY[59].1.2": "integer",
                  "PRI.1.2": "decimal"},
        "invalid": "at most 3 are allowed"},
    "edifact/staedi__pnrgov.edi": {  # IATA PADIS: no UN directory
        "format": {"type": "edifact", "messages": ["PNRGOV"]},
        "some_types": {"TVL.5.1": "integer", "RCI.1.4": "integer"}},
    "edifact/staedi__wrapped_invoic_d97b_una.edi": {
        "format": {"type": "edifact", "messages": ["INVOIC"], "directory": "D97B",
                   "records": "LIN"},
        "types": {"QTY.1.2": "integer", "MOA.1.2": "decimal", "PRI.1.2": "decimal"}},
    # -- corpus: x12 ---------------------------------------------------------------------------
    "x12/badx12__error_validation_835.edi": {
        "format": {"type": "x12", "transactions": ["835"], "records": "CLP"},
        "some_types": {"DTM[150].2": "date %Y%m%d", "CLP.3": "integer"},
        "invalid": "GS01 'HPO'"},
    "x12/node-x12__850.edi": {
        "format": {"type": "x12", "transactions": ["850"], "records": "PO1"},
        "types": {"PO1.1": "integer", "PO1.2": "integer", "PO1.4": "decimal", "PO4.1": "integer",
                  "PO4.2": "integer", "PO4.6": "integer", "PO4.8": "integer"}},
    "x12/node-x12__850_2_newline_terminator.edi": {
        "format": {"type": "x12", "transactions": ["850"], "records": "PO1"},
        "types": {"PO1.1": "integer", "PO1.2": "integer", "PO1.4": "decimal", "PO4.1": "integer",
                  "PO4.2": "integer", "PO4.6": "integer", "PO4.8": "integer"}},
    "x12/node-x12__856.edi": {
        "format": {"type": "x12", "transactions": ["856"], "records": "HL"},
        "some_types": {"HL.1": "integer", "PRF.4": "date %Y%m%d", "SN1.2": "integer"}},
    # AK201 is a transaction set code ('850'): integer is wrong, a human makes it text
    "x12/staedi__invalid997.edi": {
        "format": {"type": "x12", "transactions": ["997"], "records": "AK2"},
        "some_types": {"AK2.1": "integer", "AK9.2": "integer"}},
    "x12/staedi__invoice810_po850_dual.edi": {  # two groups: the 810's lines are the records
        "format": {"type": "x12", "transactions": ["810", "850"], "records": "IT1"},
        "types": {"IT1.2": "integer", "IT1.4": "decimal", "TDS.1": "integer", "ISS.1": "integer"}},
    "x12/staedi__simple997-multiple-interchanges.edi": {
        "format": {"type": "x12", "transactions": ["997"], "records": "AK2"},
        "some_types": {"AK5.2": "integer"}},
    "x12/staedi__simple997.edi": {
        "format": {"type": "x12", "transactions": ["997"], "records": "AK2"},
        "some_types": {"AK5.2": "integer"}},
    "x12/staedi__ts214_ellipses_segterm.edi": {  # U+2026 as terminator: read as UTF-8
        "format": {"type": "x12", "encoding": "utf-8", "transactions": ["214"],
                   "records": "LX"},
        "types": {"LX.1": "integer", "AT7.5": "date %Y%m%d", "AT7.6": "integer",
                  "MS2.2": "integer", "AT8.3": "integer", "AT8.4": "integer"}},
}


def _examples() -> list[str]:
    """Every file of examples/: one not in the table must draft, check and validate (a new
    example that is broken on purpose needs its entry, saying why)."""
    return sorted(str(p.relative_to(REPO)) for p in EXAMPLES.rglob("*") if p.is_file()
                  and not p.name.startswith("."))


def _corpus() -> list[str]:
    return sorted(k for k in EXPECTED if k.split("/")[0] in CORPUS_DIRS)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _typed(fields: dict[str, Any]) -> dict[str, str]:
    return {spec["source"]: " ".join(filter(None, (spec.get("type", "string"),
                                                   spec.get("format"))))
            for spec in fields.values() if spec.get("type", "string") != "string"}


def _draft_check_validate(sample: Path, tmp_path: Path, expected: dict[str, Any]) -> None:
    root = tmp_path / "project"
    (root / "mappings").mkdir(parents=True)
    drafted = _invoke("draft", "--sample", str(sample), "--name", "drafted", "-C", str(root))
    if "refused" in expected:  # a sample no route can read: said in one line, nothing written
        assert drafted.exit_code == 2, drafted.output
        assert expected["refused"] in drafted.output
        assert not (root / "mappings" / "drafted.yaml").exists()
        return
    assert drafted.exit_code == 0, drafted.output
    text = (root / "mappings" / "drafted.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    for key, value in expected.get("format", {}).items():
        assert spec["format"].get(key) == value, f"format.{key}: {spec['format'].get(key)!r}"
    if "types" in expected:
        assert _typed(spec["fields"]) == expected["types"]
    for source, kind in expected.get("some_types", {}).items():
        assert _typed(spec["fields"]).get(source) == kind, source
    for source in expected.get("header", []):
        assert source in {f["source"] for f in spec["header"].values()}, source
    for prefix in expected.get("namespaces", []):
        assert prefix in spec["format"]["namespaces"]
    for kind, (role, fields) in expected.get("record_types", {}).items():
        layout = spec["format"]["record_types"][kind]
        assert layout["role"] == role
        assert {n: (f["start"], f["end"]) for n, f in layout["fields"].items()} == fields
    for evidence in expected.get("says", []):
        assert evidence in text, evidence
    checked = _invoke("check", "-C", str(root))
    assert checked.exit_code == 0, checked.output
    validated = _invoke("validate", str(sample), "--route", "drafted", "-C", str(root))
    if "invalid" in expected:  # the sample itself is broken (MANIFEST.tsv or its name)
        assert validated.exit_code == 3, validated.output
        assert expected["invalid"] in " ".join(validated.output.split())
    else:
        assert validated.exit_code == 0, validated.output


@pytest.mark.parametrize("name", _examples())
def test_every_example_drafts_a_route_that_check_and_validate_accept(
        name: str, tmp_path: Path) -> None:
    _draft_check_validate(REPO / name, tmp_path, EXPECTED.get(name, {}))


@pytest.mark.parametrize("name", _corpus())
def test_every_corpus_file_drafts_a_route_that_check_and_validate_accept(
        name: str, tmp_path: Path) -> None:
    folder = CORPUS / name.split("/")[0]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the shared corpus sits beside the project only on"
                    " the team's machines)")
    _draft_check_validate(CORPUS / name, tmp_path, EXPECTED[name])


def test_the_table_names_every_corpus_file() -> None:
    """'Every file in the corpus': a new corpus file needs its expected draft here."""
    present = [d for d in CORPUS_DIRS if (CORPUS / d).is_dir()]
    if not present:
        pytest.skip(f"{CORPUS} is absent")
    files = {f"{d}/{p.name}" for d in present for p in (CORPUS / d).iterdir() if p.is_file()}
    assert files - set(EXPECTED) == set()


def test_a_draft_never_writes_over_a_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "mappings" / "erp.yaml"
    mapping.parent.mkdir(parents=True)
    mapping.write_text("# someone's finished route\n")
    sample = EXAMPLES / "erp_items" / "ARTIKEL_20261125.csv"
    result = subprocess.run([sys.executable, "-m", "tradelane", "draft", "--sample", str(sample),
                             "--name", "erp", "-C", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 6, result.stderr  # refused, as the README's table says
    assert "already exists" in result.stderr and "erp.yaml" in result.stderr
    assert mapping.read_text() == "# someone's finished route\n"


def test_the_default_name_comes_from_the_sample_and_stdout_writes_nothing(
        tmp_path: Path) -> None:
    sample = EXAMPLES / "x12_850" / "PO_4500012345.x12"
    written = _invoke("draft", "--sample", str(sample), "-C", str(tmp_path))
    assert written.exit_code == 0, written.output
    assert "po_4500012345.yaml" in written.output  # it says where it wrote
    assert (tmp_path / "mappings" / "po_4500012345.yaml").exists()
    printed = _invoke("draft", "--sample", str(sample), "--stdout", "--name", "other",
                      "-C", str(tmp_path))
    assert printed.exit_code == 0
    assert yaml.safe_load(printed.stdout)["format"]["records"] == "PO1"
    assert not (tmp_path / "mappings" / "other.yaml").exists()


@pytest.mark.parametrize(("content", "args", "says"), [
    (b"", [], "it is empty"),
    (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8, [], "NUL bytes"),
    (b"a;b\n1;2\n", ["--name", "Bad Name"], "use lower-case letters"),
    (b'{"id": 1}\n{"id": 2}\n' * 30 + b'{"id": \n', [], "line 61 is not JSON"),
    (b"<a><b>1</b><b>2</c></a>", [], "not well-formed XML"),
])
def test_what_cannot_be_drafted_is_one_line_and_exit_2(
        tmp_path: Path, content: bytes, args: list[str], says: str) -> None:
    sample = tmp_path / "sample.dat"
    sample.write_bytes(content)
    result = _invoke("draft", "--sample", str(sample), "-C", str(tmp_path), *args)
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.yaml"))  # nothing written


def test_a_partner_file_name_cannot_write_yaml(tmp_path: Path) -> None:
    """The sample's name goes into comments and the description: a line break in it must
    not become a line of YAML (here, a second source folder)."""
    sample = tmp_path / "orders\nsource: {folder: etc}\n#.csv"
    sample.write_text("id;qty\nA;1\n")
    root = tmp_path / "project"
    result = _invoke("draft", "--sample", str(sample), "--name", "r", "-C", str(root))
    assert result.exit_code == 0, result.output
    text = (root / "mappings" / "r.yaml").read_text()
    assert [line for line in text.splitlines() if line.startswith("source:")] == ["source:"]
    spec = yaml.safe_load(text)
    assert spec["source"]["folder"] == "inbox/r"
    assert "folder: etc" in spec["description"]  # kept as text, where it is harmless
    assert _invoke("check", "-C", str(root)).exit_code == 0


def test_encoding_evidence_cp1252_against_utf8(tmp_path: Path) -> None:
    """0x84/0x93 are German quotes in Windows-1252 and invalid UTF-8; valid UTF-8 stays UTF-8."""
    cp = tmp_path / "cp.csv"
    cp.write_bytes("name;note\nA;„gut“\nB;ok\n".encode("cp1252"))
    utf = tmp_path / "utf.csv"
    utf.write_bytes("name;note\nA;„gut“\nB;Müsli\n".encode())
    one = _invoke("draft", "--sample", str(cp), "--stdout")
    two = _invoke("draft", "--sample", str(utf), "--stdout")
    assert yaml.safe_load(one.stdout)["format"]["encoding"] == "cp1252"
    assert "read as Windows-1252" in one.stdout
    assert yaml.safe_load(two.stdout)["format"]["encoding"] == "utf-8"
    assert "all valid UTF-8" in two.stdout


def test_jsonl_and_a_default_namespace(tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"id": 1, "at": "2026-11-25T08:00:00Z"}\n{"id": 2, "at": null}\n')
    xml = tmp_path / "items.xml"
    xml.write_text('<?xml version="1.0"?><items xmlns="urn:example:items">'
                   "<item><sku>A</sku><qty>1</qty></item><item><sku>B</sku><qty>2</qty></item>"
                   "</items>")
    for sample in (lines, xml):
        root = tmp_path / sample.stem
        assert _invoke("draft", "--sample", str(sample), "--name", "r", "-C",
                       str(root)).exit_code == 0
        assert _invoke("check", "-C", str(root)).exit_code == 0
        assert _invoke("validate", str(sample), "--route", "r", "-C", str(root)).exit_code == 0
    spec = yaml.safe_load((tmp_path / "events" / "mappings" / "r.yaml").read_text())
    assert spec["format"]["type"] == "jsonl"
    assert _typed(spec["fields"]) == {"id": "integer", "at": "datetime"}
    spec = yaml.safe_load((tmp_path / "items" / "mappings" / "r.yaml").read_text())
    assert spec["format"]["records"] == "items:item"  # the default namespace gets a prefix
    assert spec["format"]["namespaces"] == {"items": "urn:example:items"}


def test_a_large_sample_is_profiled_from_its_head_in_bounded_memory(tmp_path: Path) -> None:
    """A 50 MB CSV, a 30 MB JSON document and a 30 MB EDIFACT interchange: only their head is
    read (4 MB; 50,000 segments), the draft says so, and memory stays bounded."""
    big = tmp_path / "big.csv"
    row = "ORD-{:07d};{:d};{:d},{:02d};25.11.2026;Hauptlager Nord\n"
    with big.open("w") as fh:
        fh.write("order;qty;price;date;store\n")
        for i in range(1_100_000):
            fh.write(row.format(i, i % 97, i % 1000, i % 100))
    doc = tmp_path / "big.json"
    with doc.open("w") as fh:
        fh.write('{"batch": {"id": "B1"}, "orders": [')
        fh.write(",".join(json.dumps({"id": f"SO-{i}", "qty": i % 9, "note": "x" * 40})
                          for i in range(400_000)))
        fh.write("]}")
    # VmHWM: the peak of this process's own memory (ru_maxrss would keep the forking
    # parent's, the test runner's, across exec)
    code = ("import re, sys; from pathlib import Path;"
            " from tradelane.draft.drafting import draft_route;"
            " t = draft_route(Path(sys.argv[1]), 'big')[1]; sys.stdout.write(t);"
            " print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    edi = tmp_path / "big.edi"
    lines = "".join(f"LIN+{i}++4006381333931:EN'QTY+21:{i}'PRI+AAA:3.49'" for i in range(1, 11))
    with edi.open("w") as fh:
        fh.write("UNA:+.? 'UNB+UNOC:3+5412345000013:14+4012345000009:14+261125:0815+R1'\n")
        for n in range(1, 50_001):
            fh.write(f"UNH+{n}+ORDERS:D:96A:UN:EAN008'BGM+220+PO-{n}+9'DTM+137:20261125:102'"
                     f"{lines}UNS+S'UNT+34+{n}'\n")
        fh.write("UNZ+50000+R1'\n")
    for sample, records in ((big, "orders"), (doc, "orders"), (edi, "LIN")):
        out = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True,
                             text=True, timeout=300, check=True).stdout
        text, peak_kb = out.rsplit("\n", 2)[0], int(out.rsplit("\n", 2)[1])
        assert sample.stat().st_size > 25 << 20
        assert ("Only the first 4,194,304 bytes" if sample is not edi
                else "segments, 1,") in text
        assert peak_kb < 250 * 1024, f"{peak_kb // 1024} MB for {sample.name}"
        spec = yaml.safe_load(text)
        if sample is not big:
            assert spec["format"]["records"] == records
        else:
            assert _typed(spec["fields"]) == {"qty": "integer", "price": "decimal",
                                              "date": "date %d.%m.%Y"}
