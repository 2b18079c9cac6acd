"""``schematron:`` steps: ISO Schematron business rules (EN 16931, Peppol BIS).

- ``.sch`` with ``queryBinding`` xslt (or none): lxml's ISO Schematron (XSLT 1.0).
- ``.sch`` with ``queryBinding`` xslt2/xslt3: compiled by lxml's ISO skeleton into a
  stylesheet, which Saxon-HE (saxonche) runs as XSLT 2.0/3.0, so XPath 2+ rules work.
- ``.xsl``/``.xslt``: a stylesheet compiled beforehand (the official EN 16931 and Peppol
  artefacts), run by Saxon-HE.

Every failed assertion (and successful report) in the SVRL output becomes an issue with its
rule id, its flag, its message and the XPath location, mapped to the element's line.
Schematron needs the whole document in memory, so a file over ``max_bytes`` is refused with
that limit named.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from tradelane.abc import Findings
from tradelane.errors import ConfigError, MalformedInput
from tradelane.formats.xml import _SAFE, _refuse_doctype
from tradelane.models import Issue
from tradelane.spec import RouteSpec
from tradelane.spec.validate import SchematronStep
from tradelane.staging import Staged
from tradelane.validators.confine import SchemaFolder
from tradelane.validators.xmlsafe import SCH_NS, load_tree

SVRL = "http://purl.oclc.org/dsdl/svrl"
_XSLT1 = {None, "", "xslt", "xslt1", "XSLT", "XSLT1"}
_SAXON_BINDINGS = {"xslt2", "xslt3", "XSLT2", "XSLT3"}
#: flags that never reject a file (Schematron's own severities)
WARNING_FLAGS = frozenset({"warning", "warn", "info", "information"})
#: ``Q{uri}local`` (XPath 3 EQName) and ``*:local``, as Saxon writes locations
_EQNAME = re.compile(r"Q\{([^}]*)\}([\w.-]+)")
_ANY_NS = re.compile(r"\*:([\w.-]+)")

_saxon_lock = threading.RLock()  # saxon() is called with it held
_saxon: Any = None


def saxon() -> Any:
    """The one Saxon processor of this process (it starts a runtime: made once, lazily)."""
    global _saxon
    with _saxon_lock:
        if _saxon is None:
            from saxonche import PySaxonProcessor

            _saxon = PySaxonProcessor(license=False)
        return _saxon


class SchematronValidator:
    def __init__(self, step: SchematronStep, folder: SchemaFolder):
        self.step, self.folder = step, folder
        self.lxml: Any = None  # isoschematron.Schematron
        self.saxon: Any = None  # a compiled Saxon executable

    def compile(self) -> list[Path]:
        files: list[Path] = []
        shown = self.step.schematron
        path = self.folder.step_file(shown)
        tree = load_tree(path, self.folder, shown, files)
        root = tree.getroot()
        try:
            if root.tag == f"{{{SCH_NS}}}schema":
                binding = root.get("queryBinding")
                if binding in _XSLT1:
                    self._lxml(tree)
                elif binding in _SAXON_BINDINGS:
                    self._saxon(_skeleton(tree, self.step.phase), str(path))
                else:
                    raise ConfigError(f"{shown}: queryBinding {binding!r} is not supported"
                                      " (xslt, xslt2 or xslt3)")
            elif root.tag.endswith("}stylesheet") or root.tag.endswith("}transform"):
                # the text lxml read (no DTD, no entities), not the file, goes to Saxon
                self._saxon(etree.tostring(tree, encoding="unicode"), str(path))
            else:
                raise ConfigError(f"{shown}: neither ISO Schematron (sch:schema) nor a"
                                  f" compiled stylesheet (xsl:stylesheet): {root.tag}")
        except (etree.LxmlError, etree.XSLTParseError) as exc:
            raise ConfigError(f"{shown}: the Schematron rules do not compile: {exc}") from None
        return files

    def files(self) -> list[Path]:
        """The rules and every file they include or import, without compiling them."""
        files: list[Path] = []
        shown = self.step.schematron
        load_tree(self.folder.step_file(shown), self.folder, shown, files)
        return files

    def _lxml(self, tree: Any) -> None:
        from lxml import isoschematron

        self.lxml = isoschematron.Schematron(tree, store_report=True, phase=self.step.phase)

    def _saxon(self, text: str, path: str) -> None:
        from saxonche import PySaxonApiError

        processor = saxon()
        try:
            with _saxon_lock:
                compiler = processor.new_xslt30_processor()
                self.saxon = compiler.compile_stylesheet(stylesheet_text=text,
                                                         base_uri=Path(path).as_uri())
        except PySaxonApiError as exc:
            raise ConfigError(f"{self.step.schematron}: Saxon cannot compile the rules:"
                              f" {str(exc).strip()[:2000]}") from None

    def validate(self, staged: Staged, route: RouteSpec, *, limit: int) -> Findings:
        if staged.size > self.step.max_bytes:
            error = MalformedInput(
                f"the file ({staged.size:,} bytes) is over the max_bytes of its schematron step"
                f" ({self.step.max_bytes:,} bytes): Schematron needs the whole document in"
                " memory, so it is refused rather than read; raise max_bytes on the step if"
                " the host has the memory", location="the whole file", rule="max_bytes")
            error.stage = "validate"
            raise error
        _refuse_doctype(staged)
        try:
            with staged.open() as fh:
                doc = etree.parse(fh, etree.XMLParser(**_SAFE))
        except etree.XMLSyntaxError as exc:
            first = next((e for e in exc.error_log if e.line), None)
            raise MalformedInput(f"the file is not well-formed XML: {exc.msg}",
                                 location=f"line {first.line}, column {first.column}"
                                 if first is not None else "line 0") from None
        if self.lxml is not None:
            self.lxml.validate(doc)
            report = self.lxml.validation_report
        else:
            report = self._run_saxon(doc)
        return _findings(report, doc, limit)

    def _run_saxon(self, doc: Any) -> Any:
        from saxonche import PySaxonApiError

        # the input goes to Saxon as the text lxml parsed safely (no DTD, no entities)
        text = etree.tostring(doc, encoding="unicode")
        try:
            with _saxon_lock:
                node = saxon().parse_xml(xml_text=text)
                out = self.saxon.transform_to_string(xdm_node=node)
        except PySaxonApiError as exc:
            raise MalformedInput(f"the Schematron rules could not be run on the file:"
                                 f" {str(exc).strip()[:500]}", rule="schematron") from None
        return etree.fromstring(out.encode("utf-8"), etree.XMLParser(**_SAFE))


def _skeleton(tree: Any, phase: str | None) -> str:
    """An XSLT 2.0 rules stylesheet from XPath 2+ Schematron, through lxml's ISO skeleton:
    the stylesheet it writes uses only XSLT 1.0 instructions, valid in 2.0; the rules' own
    expressions are left as written, for Saxon."""
    from lxml import isoschematron

    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    copy.getroot().set("queryBinding", "xslt")
    expanded = isoschematron.iso_abstract_expand(isoschematron.iso_dsdl_include(copy))
    params = {"phase": etree.XSLT.strparam(phase)} if phase else {}
    compiled = isoschematron.iso_svrl_for_xslt1(expanded, **params)
    compiled.getroot().set("version", "2.0")
    text = etree.tostring(compiled, encoding="unicode")
    return re.sub(r"<(\w+:)?stylesheet\b",
                  lambda m: m.group(0) + ' xmlns:xs="http://www.w3.org/2001/XMLSchema"',
                  text, count=1)


def _findings(report: Any, doc: Any, limit: int) -> Findings:
    errors: list[Issue] = []
    warnings: list[Issue] = []
    count = 0
    for elem in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        flag = (elem.get("flag") or "").strip()
        rule = elem.get("id") or elem.get("test") or "?"
        text = " ".join("".join(elem.findtext(f"{{{SVRL}}}text") or "").split())
        location = elem.get("location") or ""
        line = _line(doc, location)
        shown = _readable(location)
        where = f"line {line} ({shown})" if line else shown or "document"
        issue = Issue(location=where, field="", value=flag, rule=f"schematron:{rule}",
                      message=f"{text} (flag: {flag})" if flag else text)
        if flag.lower() in WARNING_FLAGS:
            if len(warnings) < limit:
                warnings.append(issue)
            continue
        count += 1
        if len(errors) < limit:
            errors.append(issue)
    return Findings(errors, count=count, warnings=warnings)


_LXML_STEP = re.compile(r"\*\[local-name\(\)='([\w.-]+)'(?: and namespace-uri\(\)='[^']*')?\]")


def _readable(location: str) -> str:
    """``/Invoice/InvoiceLine[2]`` for the namespace-proof paths SVRL writes."""
    text = _EQNAME.sub(lambda m: m.group(2), location)
    text = _ANY_NS.sub(lambda m: m.group(1), text)
    text = _LXML_STEP.sub(lambda m: m.group(1), text)
    return re.sub(r"\[namespace-uri\(\)='[^']*'\]", "", text)


def _line(doc: Any, location: str) -> int | None:
    """The line of the element an SVRL location names, if lxml can find it."""
    if not location:
        return None
    path = _EQNAME.sub(lambda m: f"*[local-name()='{m.group(2)}' and namespace-uri()="
                       f"'{m.group(1)}']", location)
    path = _ANY_NS.sub(lambda m: f"*[local-name()='{m.group(1)}']", path)
    try:
        found = doc.xpath(path)
    except etree.XPathError:
        return None
    if isinstance(found, list) and found:
        node = found[0]
        if isinstance(node, etree._Element):
            return node.sourceline
        parent = getattr(node, "getparent", lambda: None)()  # an attribute's element
        return getattr(parent, "sourceline", None)
    return None
