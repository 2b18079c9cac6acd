"""``validate: [{schematron: …}]``: business rules (EN 16931 style) after the XSD, each failed
assertion with its rule id, flag, message and line (issue 21)."""

from __future__ import annotations

import json

import pytest

from schemas.helpers import shown, tradelane, ubl_route, with_schemas
from schemas.invoices import invoice
from support.project import ProjectDir
from tradelane.models import Outcome

XSLT1 = "[{xsd: schemas/ubl/invoice.xsd}, {schematron: schemas/rules/totals.sch}]"
XSLT2 = "[{schematron: schemas/rules/totals-xpath2.sch}]"
COMPILED = "[{schematron: schemas/rules/currency.xslt}]"


def _total_line(text: str) -> int:
    """The line of cac:LegalMonetaryTotal, where BR-CO-10's context is."""
    return next(i for i, t in enumerate(text.splitlines(), 1) if "<cac:LegalMonetaryTotal>" in t)


@pytest.mark.parametrize("steps", [XSLT1, XSLT2], ids=["xslt1-lxml", "xslt2-saxon"])
def test_an_invoice_whose_lines_add_up_is_delivered(project: ProjectDir, steps: str) -> None:
    ubl_route(with_schemas(project), steps)
    project.drop("inv", "good.xml", invoice(4))
    assert [r.outcome for r in project.run().results] == [Outcome.DELIVERED]


@pytest.mark.parametrize("steps", [XSLT1, XSLT2], ids=["xslt1-lxml", "xslt2-saxon"])
def test_lines_that_do_not_sum_to_the_total_break_br_co_10(project: ProjectDir,
                                                           steps: str) -> None:
    ubl_route(with_schemas(project), steps)
    text = invoice(4, total="99.00")  # the lines sum to 35.00
    project.drop("inv", "sum.xml", text)
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["stage"] == "validate" and reason["error_count"] == 1
    [error] = reason["errors"]
    assert error["rule"] == "schematron:BR-CO-10"
    assert error["value"] == "fatal"
    assert error["location"] == f"line {_total_line(text)} (/Invoice/LegalMonetaryTotal)"
    assert error["message"].startswith("[BR-CO-10]-Sum of Invoice line net amount (BT-106)")
    assert error["message"].endswith("(flag: fatal)")
    assert reason["lines"] == [{"line": _total_line(text), "text": "  <cac:LegalMonetaryTotal>"}]


def test_the_xpath2_rules_say_what_the_lines_sum_to(project: ProjectDir) -> None:
    """value-of in an XPath 2.0 rule is evaluated by Saxon (xs:decimal arithmetic)."""
    ubl_route(with_schemas(project), XSLT2)
    project.drop("inv", "sum.xml", invoice(4, total="35.01"))  # the lines: 5 + 7.5 + 10 + 12.5
    project.run()
    assert "the lines sum to 35." in shown(project)["errors"][0]["message"]


def test_a_warning_flag_never_rejects(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), XSLT1)
    project.drop("inv", "many.xml", invoice(2).replace('unitCode="C62">2<',
                                                        'unitCode="C62">2000<'))
    # the XSD still holds; only TL-W-01 (flag warning) fails: delivered, with a note
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    history = json.dumps(json.loads(tradelane(project, "history", "1", "--json").stdout))
    assert "schematron:TL-W-01" in history


def test_a_compiled_xslt3_stylesheet_runs_through_saxon(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), COMPILED)
    project.drop("inv", "good.xml", invoice(2))
    text = invoice(2).replace('currencyID="EUR">2.50<', 'currencyID="USD">2.50<', 1)
    project.drop("inv", "usd.xml", text)
    results = {r.name: r.outcome for r in project.run().results}
    assert results == {"good.xml": Outcome.DELIVERED, "usd.xml": Outcome.QUARANTINED}
    file_id = next(r["id"] for r in json.loads(
        tradelane(project, "quarantine", "list", "--json").stdout))
    [error] = shown(project, file_id)["errors"]
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "USD" in t)
    assert error["rule"] == "schematron:BR-CL-03"
    assert error["location"] == f"line {line} (/Invoice[1]/InvoiceLine[1]/Price[1]/PriceAmount[1])"
    assert "currencyID USD is not the document currency" in error["message"]


def test_a_file_over_max_bytes_is_refused_with_the_limit_named(project: ProjectDir) -> None:
    ubl_route(with_schemas(project), "[{schematron: schemas/rules/totals.sch,"
              " max_bytes: 1000}]")
    project.drop("inv", "big.xml", invoice(20))
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    reason = shown(project)
    assert reason["stage"] == "validate"
    assert reason["message"].startswith(
        "the file (7,574 bytes) is over the max_bytes of its schematron step (1,000 bytes)")
