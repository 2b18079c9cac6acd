"""lxml parsers for schema files (XSD, Schematron, XSLT): the reader's safety settings
(``formats.xml``: no entities, DTDs or network), and a resolver that serves only files inside
the project's ``schemas/`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from tradelane.formats.xml import _SAFE
from tradelane.validators.confine import SchemaFolder

#: XSD, XSLT and Schematron elements that pull in another file, and the attribute naming it.
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSL_NS = "http://www.w3.org/1999/XSL/Transform"
SCH_NS = "http://purl.oclc.org/dsdl/schematron"
REFERENCES = {f"{{{XSD_NS}}}{n}": "schemaLocation" for n in ("import", "include", "redefine",
                                                               "override")}
REFERENCES.update({f"{{{XSL_NS}}}{n}": "href" for n in ("import", "include")})
REFERENCES.update({f"{{{SCH_NS}}}{n}": "href" for n in ("include", "extends")})


class _Confined(etree.Resolver):  # type: ignore[misc]
    """Anything libxml2 asks for outside ``schemas/`` gets an empty answer: never the file."""

    def __init__(self, folder: SchemaFolder):
        super().__init__()
        self.folder = folder

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        path = Path(url[7:] if url.startswith("file://") else url)
        if "://" not in url or url.startswith("file://"):
            resolved = path.resolve()
            if resolved.is_relative_to(self.folder.root) and resolved.is_file():
                return self.resolve_filename(str(resolved), context)
        return self.resolve_string("", context)


def schema_parser(folder: SchemaFolder) -> etree.XMLParser:
    parser = etree.XMLParser(**_SAFE, remove_comments=True)
    parser.resolvers.add(_Confined(folder))
    return parser


def load_tree(path: Path, folder: SchemaFolder, shown: str, seen: list[Path]) -> Any:
    """Parse ``path`` and, recursively, every file it imports, after checking each reference
    stays inside ``schemas/``; ``seen`` collects the files (the cache's key)."""
    from tradelane.errors import ConfigError

    try:
        tree = etree.parse(str(path), schema_parser(folder))
    except (etree.XMLSyntaxError, OSError) as exc:
        which = "" if folder.name(path) == shown else f" {folder.name(path)}"
        raise ConfigError(f"{shown}:{which} not well-formed XML: {exc}") from None
    if tree.docinfo.doctype:  # entities are never expanded: refused rather than half-read
        which = "" if folder.name(path) == shown else f" {folder.name(path)}"
        raise ConfigError(f"{shown}:{which} declares a DOCTYPE; DTDs and entities are"
                          " refused in schemas too")
    seen.append(path)
    for elem in tree.iter(*REFERENCES):
        reference = elem.get(REFERENCES[elem.tag])
        if not reference:
            continue
        target = folder.reference(reference, path, shown)
        if target not in seen:
            load_tree(target, folder, shown, seen)
    return tree
