"""Streamed XSD checks (files over ``max_tree_bytes``, issue 21): a valid file passes in
one pass, a file with errors is read again to locate them, and a file cut short is
malformed, never valid (lxml reports nothing for it when parsing against a schema)."""

from __future__ import annotations

import pytest

from schemas.helpers import ubl_route, with_schemas
from schemas.invoices import invoice
from support.project import ProjectDir
from tradelane.errors import MalformedInput
from tradelane.staging import Staged
from tradelane.validators.run import compiled

ITEMS_XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="items"><xs:complexType><xs:sequence>
    <xs:element name="item" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="sku" type="xs:string"/><xs:element name="qty" type="xs:integer"/>
    </xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
"""


def _items(count: int) -> str:
    body = "".join(f"  <item>\n    <sku>A{i}</sku>\n    <qty>{i}</qty>\n  </item>\n"
                   for i in range(count))
    return f'<?xml version="1.0"?>\n<items>\n{body}</items>\n'


def _check(project: ProjectDir, route: str, text: str) -> object:
    """The route's one xsd step on ``text``, as the pipeline calls it."""
    path = project.file(f"work/{route}.xml", text)
    loaded = project.load().routes[route]
    [(_, validator)] = compiled(loaded, project.root)
    return validator.validate(Staged.file(path), loaded, limit=10)


@pytest.fixture
def streamed(project: ProjectDir) -> ProjectDir:
    """``inv``: UBL, records cac:InvoiceLine (freed per chunk); ``items``: no namespaces,
    so no record tag (every element freed as it ends); both always streamed."""
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd, max_tree_bytes: 0}]")
    project.file("schemas/items.xsd", ITEMS_XSD)
    project.route("items", """\
        source: {folder: inbox/items}
        format: {type: xml, records: item}
        validate: [{xsd: schemas/items.xsd, max_tree_bytes: 0}]
        fields: {sku: {}, qty: {}}
        target: {folder: outbox/items, format: json}
    """)
    return project


@pytest.mark.parametrize(("route", "text"), [("inv", invoice(3000)), ("items", _items(20000))])
def test_a_valid_file_passes(streamed: ProjectDir, route: str, text: str) -> None:
    assert _check(streamed, route, text).count == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("route", "text", "bad"), [
    ("inv", invoice(3000).replace('unitCode="C62">5<', 'unitCode="C62">five<', 1), ">five<"),
    ("items", _items(20000).replace("<qty>7000</qty>", "<qty>x</qty>"), "<qty>x</qty>"),
])
def test_an_error_is_located_by_the_second_pass(streamed: ProjectDir, route: str, text: str,
                                                bad: str) -> None:
    found = _check(streamed, route, text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if bad in t)
    assert found.count == 1  # type: ignore[attr-defined]
    assert [i.location for i in found.issues] == [f"line {line}"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("route", "text"), [("inv", invoice(3000)), ("items", _items(20000))])
def test_a_file_cut_short_is_malformed(streamed: ProjectDir, route: str, text: str) -> None:
    cut = text[:len(text) * 2 // 3]
    with pytest.raises(MalformedInput, match=r"ends before its root element \w+ is closed"):
        _check(streamed, route, cut)


def test_a_file_cut_short_is_quarantined(streamed: ProjectDir) -> None:
    text = invoice(3000)
    streamed.drop("inv", "cut.xml", text[:len(text) // 2])
    [result] = streamed.run(["inv"]).results
    assert result.outcome == "quarantined"
