"""One file per nested document (``nest.per_document``) in a local folder.

Every document goes to a temp file first; only when the whole input turned out valid are
they renamed to their names, so a rejected file leaves nothing visible. Names come from a
template with the document's fields, made safe (a partner's value is never a path), and must
differ between the documents of one file. A retry writes the same names with the same bytes:
an existing file with other bytes is not replaced (someone has not collected it yet).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import string
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from tradelane.abc import DeliveryContext
from tradelane.errors import InvalidRecords, TargetUnavailable
from tradelane.formats.nested import document_json, json_documents, xml_documents, xml_element
from tradelane.models import Delivery, Document, Issue
from tradelane.nest import Nested
from tradelane.paths import TEMP_MARK, fsync_dir, safe_component, sha256_of, split_name
from tradelane.spec import RouteSpec

#: Placeholders of a per_document name besides the document's fields.
NAME_PLACEHOLDERS = frozenset({"route", "stem", "name", "ext", "sha8", "file_id", "date",
                               "time", "n"})
_SHOWN_FILES = 3


def template_names(template: str) -> set[str]:
    """The placeholders a name template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def deliver_documents(route: RouteSpec, folder: Path, batches: Iterable[Document],
                      ctx: DeliveryContext) -> Delivery:
    nest = route.nest
    assert nest is not None and nest.per_document
    ext = "xml" if route.target.format == "xml" else "json"
    stem, _ = split_name(safe_component(ctx.original_name))
    names = {"route": ctx.route, "stem": stem, "name": safe_component(ctx.original_name),
             "ext": ext, "sha8": ctx.sha256[:8], "file_id": ctx.file_id,
             "date": ctx.received_at.strftime("%Y-%m-%d"),
             "time": ctx.received_at.strftime("%H%M%S")}
    written: list[tuple[Path, Path, str]] = []  # temp, final, sha256
    taken: dict[str, int] = {}
    records = size = 0
    try:
        documents = (xml_documents if ext == "xml" else json_documents)(batches, route)
        for n, doc in enumerate(documents, start=1):
            values = {k: _plain(v, ext) for k, v in doc.root.values.items()}
            name = safe_component(nest.per_document.format_map({**names, **values, "n": n}))
            if name in taken:
                raise InvalidRecords([_same_name(name, taken[name], n, doc)], error_count=1,
                                     stage="transform")
            taken[name] = n
            body = _encode(doc, route, ext)
            temp = folder / f".{name}.{ctx.file_id}.{n}{TEMP_MARK}"
            folder.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as fh:
                written.append((temp, folder / name, hashlib.sha256(body).hexdigest()))
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            records += len(doc.records)
            size += len(body)
        for _temp, final, digest in written:
            if final.exists() and sha256_of(final) != digest:
                raise TargetUnavailable(
                    f"{final} already exists with different content (an earlier file with"
                    " the same output name has not been collected yet); will retry")
        for temp, final, _digest in written:
            os.replace(temp, final)
    except OSError as exc:
        raise TargetUnavailable(f"cannot write into {folder}: {exc.strerror or exc}") from exc
    finally:
        for temp, _final, _digest in written:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    if written:
        fsync_dir(folder)
    files = [final.name for _t, final, _d in written]
    return Delivery(target=folder.as_uri() + "/", records=records, size=size,
                    sha256=hashlib.sha256("\n".join(d for _t, _f, d in written).encode())
                    .hexdigest(),
                    details={"documents": len(files), "files": files[:_SHOWN_FILES]})


def _encode(doc: Nested, route: RouteSpec, ext: str) -> bytes:
    assert route.nest is not None
    if ext == "json":
        return (document_json(doc, route.nest, route.target.json_indent) + "\n").encode()
    element = xml_element(doc, route)
    return etree.tostring(element, xml_declaration=True, encoding="utf-8") + b"\n"


def _plain(cell: str | None, ext: str) -> str:
    """A cell as the text a file name shows (a JSON string without its quotes)."""
    value = json.loads(cell) if ext == "json" and cell is not None else cell
    return "" if value is None else str(value)


def _same_name(name: str, first: int, n: int, doc: Nested) -> Issue:
    return Issue(str(doc.root.first), "", name, "nest.per_document",
                 f"documents {first} and {n} would both be written as {name}: the name"
                 " template (nest.per_document) must tell the documents apart, e.g. with"
                 " a field that differs or {n}")


__all__ = ["NAME_PLACEHOLDERS", "deliver_documents", "template_names"]
