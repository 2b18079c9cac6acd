"""``tradelane check`` compiles every schema of every route: a broken one, or one that reaches
outside the project's schemas/ folder (a URL, an absolute path, ``..``), is reported with its
own message; compiled schemas are rebuilt when their files change (issue 21)."""

from __future__ import annotations

import json
import os

import pytest

from schemas.helpers import shown, tradelane, ubl_route, with_schemas
from schemas.invoices import invoice
from support.project import ProjectDir
from tradelane.models import Outcome

XS = 'xmlns:xs="http://www.w3.org/2001/XMLSchema"'


def _xsd(body: str) -> str:
    return f'<xs:schema {XS}>{body}<xs:element name="Invoice"/></xs:schema>'


def _check(project: ProjectDir) -> tuple[int, str]:
    result = tradelane(project, "check")
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(("reference", "why"), [
    ("http://schemas.example.com/evil.xsd", "a network address"),
    ("https://schemas.example.com/evil.xsd", "a network address"),
    ("/etc/passwd", "an absolute path"),
    ("file:///etc/passwd", "an absolute path"),
    ("../../tradelane.yaml", "which is outside schemas/"),
])
def test_an_xsd_that_reaches_outside_is_refused(project: ProjectDir, reference: str,
                                                why: str) -> None:
    project.file("schemas/hostile.xsd", _xsd(f'<xs:import namespace="urn:x"'
                                             f' schemaLocation="{reference}"/>'))
    ubl_route(project, "[{xsd: schemas/hostile.xsd}]")
    code, out = _check(project)
    assert code == 2
    assert f"validate.0: schemas/hostile.xsd: refers to '{reference}', {why}" in out
    assert "inside the project's schemas/ folder" in out


def test_an_include_two_levels_down_is_followed_and_refused(project: ProjectDir) -> None:
    project.file("schemas/a.xsd", _xsd('<xs:include schemaLocation="b.xsd"/>'))
    project.file("schemas/b.xsd", f'<xs:schema {XS}><xs:include schemaLocation='
                 '"http://evil.example/c.xsd"/></xs:schema>')
    ubl_route(project, "[{xsd: schemas/a.xsd}]")
    code, out = _check(project)
    assert code == 2 and "refers to 'http://evil.example/c.xsd', a network address" in out


def test_schematron_and_json_schema_are_confined_too(project: ProjectDir) -> None:
    project.file("schemas/rules.xslt", '<xsl:stylesheet version="2.0" xmlns:xsl='
                 '"http://www.w3.org/1999/XSL/Transform"><xsl:import href="/etc/x.xsl"/>'
                 "</xsl:stylesheet>")
    ubl_route(project, "[{schematron: schemas/rules.xslt}]")
    project.file("schemas/order.json", json.dumps({"$ref": "https://evil.example/o.json"}))
    project.route("orders", """\
        source: {folder: inbox/orders, min_age: 0s}
        format: {type: jsonl}
        validate: [{json_schema: schemas/order.json}]
        fields: {sku: {}}
        target: {folder: outbox/orders, format: json}
    """)
    code, out = _check(project)
    assert code == 2
    assert "schemas/rules.xslt: refers to '/etc/x.xsl', an absolute path" in out
    assert "schemas/order.json: refers to 'https://evil.example/o.json', a network address" \
        in out


def test_a_step_naming_a_file_outside_schemas_is_refused(project: ProjectDir) -> None:
    ubl_route(project, "[{xsd: /etc/ssl/evil.xsd}]")
    code, out = _check(project)
    assert code == 2 and "give a path inside the project's schemas/ folder" in out


@pytest.mark.parametrize(("kind", "name", "content", "says"), [
    ("xsd", "bad.xsd", _xsd('<xs:element name="X" type="xs:nosuchtype"/>'),
     "schemas/bad.xsd: not a usable XML Schema (schemas/bad.xsd line 1)"),
    ("xsd", "bad.xsd", "<xs:schema",
     "schemas/bad.xsd: not well-formed XML: Namespace prefix xs on schema is not defined"),
    ("schematron", "bad.sch", '<schema xmlns="http://purl.oclc.org/dsdl/schematron"'
     ' queryBinding="xslt2"><pattern><rule context="a"><assert test="((">x</assert></rule>'
     "</pattern></schema>", "schemas/bad.sch: Saxon cannot compile the rules"),
    ("schematron", "bad.sch", '<schema xmlns="http://purl.oclc.org/dsdl/schematron"'
     ' queryBinding="xquery"/>', "schemas/bad.sch: queryBinding 'xquery' is not supported"),
    ("json_schema", "bad.json", '{"type": "thing"}',
     "schemas/bad.json: not a valid Draft202012 JSON Schema at type"),
])
def test_a_broken_schema_is_reported_with_its_own_message(project: ProjectDir, kind: str,
                                                          name: str, content: str,
                                                          says: str) -> None:
    project.file(f"schemas/{name}", content)
    fmt = "{type: jsonl}" if kind == "json_schema" else "{type: xml, records: item}"
    project.route("r", f"""\
        source: {{folder: inbox/r, min_age: 0s}}
        format: {fmt}
        validate: [{{{kind}: schemas/{name}}}]
        fields: {{id: {{}}}}
        target: {{folder: outbox/r, format: json}}
    """)
    code, out = _check(project)
    assert code == 2
    assert f"mappings/r.yaml: validate.0: {says}" in " ".join(out.split()), out


def test_a_step_for_another_format_is_refused(project: ProjectDir) -> None:
    with_schemas(project).route("r", """\
        source: {folder: inbox/r, min_age: 0s}
        format: {type: csv}
        validate: [{xsd: schemas/ubl/invoice.xsd}]
        fields: {id: {}}
        target: {folder: outbox/r, format: json}
    """)
    code, out = _check(project)
    assert code == 2 and "a xsd step checks xml input, not csv" in out


def test_a_changed_schema_is_compiled_again(project: ProjectDir) -> None:
    """The cache is keyed by each file's path, size and mtime: a fixed schema applies to the
    next file without a restart (the same Runner, the same process)."""
    ubl_route(with_schemas(project), "[{xsd: schemas/ubl/invoice.xsd}]")
    project.drop("inv", "one.xml", invoice(1).replace(">2026-11-30<", ">2026-11-31<"))
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    cbc = project.root / "schemas" / "ubl" / "cbc.xsd"  # an included file, not the top one
    cbc.write_text(cbc.read_text().replace('name="IssueDate" type="xs:date"',
                                           'name="IssueDate" type="xs:string"'))
    os.utime(cbc, ns=(cbc.stat().st_mtime_ns + 10**9,) * 2)
    project.drop("inv", "two.xml", invoice(1).replace(">2026-11-30<", ">2026-11-31<"))
    assert project.run().results[0].outcome == Outcome.DELIVERED
    assert shown(project)["errors"][0]["message"].endswith(
        "'2026-11-31' is not a valid value of the atomic type 'xs:date'.")


def test_a_schema_with_a_doctype_is_refused(project: ProjectDir) -> None:
    """An external entity in a schema would be read by the library compiling it."""
    project.file("schemas/ent.xslt", '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM'
                 ' "file:///etc/passwd">]>\n<xsl:stylesheet version="2.0" xmlns:xsl='
                 '"http://www.w3.org/1999/XSL/Transform"><xsl:template match="/">&e;'
                 "</xsl:template></xsl:stylesheet>")
    ubl_route(project, "[{schematron: schemas/ent.xslt}]")
    code, out = _check(project)
    assert code == 2
    assert "validate.0: schemas/ent.xslt: declares a DOCTYPE" in " ".join(out.split())
