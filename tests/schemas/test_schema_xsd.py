"""``validate: [{xsd: …}]``: XML Schema before field mapping, every error located (issue 21)."""

from __future__ import annotations

import json

import pytest

from schemas.helpers import shown, tradelane, ubl_route, with_schemas
from schemas.invoices import invoice
from support.project import CORPUS, ProjectDir
from tradelane.errors import ConfigError
from tradelane.models import Outcome
from tradelane.spec.validate import XsdStep
from tradelane.staging import Staged
from tradelane.validators.confine import SchemaFolder
from tradelane.validators.xsd import XsdValidator

STEP = "[{xsd: schemas/ubl/invoice.xsd}]"


def test_a_valid_invoice_is_delivered(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), STEP)
    project.drop("inv", "good.xml", invoice(3))
    summary = project.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
    assert len(json.loads(project.outputs("inv")[0].read_text())) == 3


def test_a_bad_quantity_is_quarantined_at_its_line(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), STEP)
    text = invoice(3).replace('unitCode="C62">3<', 'unitCode="C62">three<')
    bad_line = text.splitlines().index(
        '    <cbc:InvoicedQuantity unitCode="C62">three</cbc:InvoicedQuantity>') + 1
    project.drop("inv", "bad.xml", text)
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["stage"] == "validate"
    assert reason["error_count"] == 1
    [error] = reason["errors"]
    assert error["location"] == f"line {bad_line} (/*/cac:InvoiceLine[2]/cbc:InvoicedQuantity)"
    assert error["rule"] == "xsd"
    assert "'three' is not a valid value of the atomic type 'xs:decimal'" in error["message"]
    assert reason["lines"] == [{"line": bad_line, "text": '    <cbc:InvoicedQuantity'
                                ' unitCode="C62">three</cbc:InvoicedQuantity>'}]


def test_every_invoice_line_in_error_is_reported(project: ProjectDir) -> None:
    """A missing element in one line and an unexpected one in another: both, each at its
    place (libxml2 skips the rest of an element whose content is wrong, not its siblings)."""
    ubl_route(with_schemas(project), STEP)
    text = invoice(3).replace("<cbc:ID>1</cbc:ID>\n", "", 1).replace(
        "<cac:Item><cbc:Name>Widget 3", "<cbc:Note>x</cbc:Note><cac:Item><cbc:Name>Widget 3")
    project.drop("inv", "two.xml", text)
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["error_count"] == 2
    lines = text.splitlines()
    first = next(i for i, t in enumerate(lines, 1) if "<cac:InvoiceLine>" in t) + 1
    note = next(i for i, t in enumerate(lines, 1) if "cbc:Note" in t)
    assert [e["location"] for e in reason["errors"]] == [
        f"line {first} (/*/cac:InvoiceLine[1]/cbc:InvoicedQuantity)",
        f"line {note} (/*/cac:InvoiceLine[3]/cbc:Note)"]
    assert "Expected is ( {urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"\
        "ID )" in reason["errors"][0]["message"]


def test_warn_lets_the_file_through_with_a_note(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd, severity: warn}]")
    project.drop("inv", "warn.xml", invoice(2).replace('currencyID="EUR">2.50<',
                                                        'currencyID="eur">2.50<', 1))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    history = json.loads(tradelane(project, "history", "1", "--json").stdout)
    assert any("xsd schemas/ubl/invoice.xsd: line" in json.dumps(e) for e in history), history


def test_validate_reports_what_run_would(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), STEP)
    bad = project.file("bad.xml", invoice(1).replace(">2026-11-30<", ">30.11.2026<"))
    result = tradelane(project, "validate", str(bad), "--route", "inv", "--json")
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["stage"] == "validate"
    assert report["errors"][0]["location"] == "line 6 (/*/cbc:IssueDate)"
    assert result.returncode == 3


def test_a_big_file_is_checked_while_streamed_with_the_line_found_near(
        project: ProjectDir) -> None:
    """Over max_tree_bytes the file is never a tree; the error still names its line."""
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd, max_tree_bytes: 0}]")
    text = invoice(400).replace('unitCode="C62">5<', 'unitCode="C62">five<', 1)
    project.drop("inv", "big.xml", text)
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    bad_line = next(i for i, t in enumerate(text.splitlines(), 1) if ">five<" in t)
    assert [e["location"] for e in reason["errors"]] == [f"line {bad_line}"]
    assert reason["lines"][0]["text"].strip() == \
        '<cbc:InvoicedQuantity unitCode="C62">five</cbc:InvoicedQuantity>'


def test_a_doctype_is_refused_before_the_schema_runs(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), STEP)
    project.drop("inv", "dtd.xml", invoice(1).replace(
        "<Invoice", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<Invoice', 1))
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    assert shown(project)["errors"][0]["rule"] == "doctype"


# -- the EN 16931 example, in place (EUPL: never copied into the repository) --------------

COPYLEFT_XML = CORPUS / "copyleft" / "xml"


@pytest.mark.skipif(not (COPYLEFT_XML / "en16931__INVOIC_D14B_ISO20625.xsd").exists(),
                    reason="../shared/corpus/copyleft/xml (EN 16931 examples, EUPL) is absent")
def test_the_en16931_edifact_xml_example_meets_its_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "project"
    root.mkdir()
    (root / "schemas").symlink_to(COPYLEFT_XML)  # read in place
    validator = XsdValidator(XsdStep(xsd="schemas/en16931__INVOIC_D14B_ISO20625.xsd"),
                             SchemaFolder(root))
    validator.compile()
    example = Staged.file(COPYLEFT_XML / "en16931__EDIFACT_EXAMPLE1.xml")
    found = validator.validate(example, None, limit=10)  # type: ignore[arg-type]
    assert (found.count, found.issues) == (0, [])
    # and the schema does find a broken copy, at its line (the copy stays in tmp_path)
    text = example.read_bytes().decode().replace("<D_1001>380</D_1001>",
                                                 "<D_1001>380</D_1001><D_9999/>", 1)
    found = validator.validate(Staged(size=len(text), data=text.encode()), None,  # type: ignore[arg-type]
                               limit=10)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "<D_9999/>" in t)
    assert found.count == 1
    assert found.issues[0].location.startswith(f"line {line} (")
    assert "D_9999" in found.issues[0].message


def test_a_schema_outside_the_schemas_folder_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "schemas").mkdir()
    (tmp_path / "other.xsd").write_text("<x/>")
    validator = XsdValidator(XsdStep(xsd="schemas/../other.xsd"), SchemaFolder(tmp_path))
    with pytest.raises(ConfigError, match="not in schemas/"):
        validator.compile()
