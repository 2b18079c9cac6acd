"""A route's mapping version covers its schemas: the file each ``validate:`` step names and
every file it imports, includes or ``$ref``s, so a changed schema is a new version of the
route (recorded with each file, and what ``serve`` reloads on) (issue 21)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas.helpers import ubl_route, with_schemas
from support.project import ProjectDir


def _version(project: ProjectDir, name: str = "inv") -> str:
    return project.load().routes[name].version


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a new mtime on any fs


@pytest.fixture(params=["cached", "off"])
def cache(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> str:
    """Once with the list of files remembered across loads, once found every load."""
    monkeypatch.setenv("TRADELANE_CACHE", str(tmp_path / "cache") if request.param == "cached"
                       else "off")
    return str(request.param)


def test_an_included_xsd_changes_the_version(project: ProjectDir, cache: str) -> None:
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd}]")
    before = _version(project)
    assert _version(project) == before  # loaded again, nothing changed
    _edit(project.root / "schemas/ubl/cbc.xsd", 'name="IssueDate" type="xs:date"',
          'name="IssueDate" type="xs:string"')
    assert _version(project) != before


def test_a_schema_the_route_does_not_use_leaves_the_version(project: ProjectDir,
                                                            cache: str) -> None:
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd}]")
    before = _version(project)
    _edit(project.root / "schemas/json/defs.schema.json", '"sku"', '"sku" ')
    project.file("schemas/ubl/unused.xsd", '<xs:schema xmlns:xs='
                 '"http://www.w3.org/2001/XMLSchema"/>')
    assert _version(project) == before


def test_a_new_include_is_followed(project: ProjectDir, cache: str) -> None:
    """The files found are remembered, but editing the schema finds them again: a file
    included from now on is part of the version, and so are its later changes."""
    xs = 'xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    project.file("schemas/top.xsd", f'<xs:schema {xs}><xs:element name="Invoice"/>'
                 '</xs:schema>')
    project.file("schemas/more.xsd", f'<xs:schema {xs}><xs:element name="A"/></xs:schema>')
    ubl_route(project, "[{xsd: schemas/top.xsd}]")
    first = _version(project)
    _edit(project.root / "schemas/top.xsd", "<xs:element name=\"Invoice\"/>",
          '<xs:include schemaLocation="more.xsd"/><xs:element name="Invoice"/>')
    second = _version(project)
    assert second != first
    _edit(project.root / "schemas/more.xsd", 'name="A"', 'name="B"')
    assert _version(project) != second


def test_a_json_schema_ref_target_changes_the_version(project: ProjectDir,
                                                      cache: str) -> None:
    with_schemas(project).route("orders", """\
        source: {folder: inbox/orders, min_age: 0s}
        format: {type: jsonl}
        validate: [{json_schema: schemas/json/order.schema.json}]
        fields: {order: {}, sku: {}, qty: {}}
        target: {folder: outbox/orders, format: json}
    """)
    before = _version(project, "orders")
    _edit(project.root / "schemas/json/defs.schema.json", '"sku"', '"sku" ')
    assert _version(project, "orders") != before


def test_schematron_includes_change_the_version(project: ProjectDir, cache: str) -> None:
    sch = 'xmlns="http://purl.oclc.org/dsdl/schematron"'
    project.file("schemas/rules/main.sch", f'<schema {sch} queryBinding="xslt">'
                 '<include href="pattern.sch"/></schema>')
    project.file("schemas/rules/pattern.sch", f'<pattern {sch} id="p"><rule context="/*">'
                 '<assert test="true()" id="R1">never</assert></rule></pattern>')
    ubl_route(project, "[{schematron: schemas/rules/main.sch}]")
    before = _version(project)
    _edit(project.root / "schemas/rules/pattern.sch", "never", "still never")
    assert _version(project) != before
