"""Compile the UN/EDIFACT directory XSDs into tradelane's compact package data.

    .venv/bin/python scripts/compile_edifact_directories.py            # every archive
    .venv/bin/python scripts/compile_edifact_directories.py --only D96A --out /tmp/x

Each `Dnnx.tar.xz` (and `EANCOM.tar.xz`, one directory per subset) in ../shared/edifact-directories
is read as a stream, one schema at a time: nothing is unpacked to disk, so the 3.3 GB of XSDs
never exist at once. Schemas are parsed by lxml with entities, DTDs and the network off.

One `<KEY>.json.gz` per directory is written, with the tables every message of that directory
shares, deduplicated by content:

    {"format": 2, "directory": "D96A", "base": "D96A",
     "codes":      ["1 10 ...", ...],                            code lists, sorted
     "elements":   [[number, name, repr, min, max, codes], ...]  simple elements (codes: -1 none)
     "composites": [[number, name, [[element, mandatory], ...]], ...]
     "segments":   [[tag, name, [[composite?, index, mandatory, repeats], ...]], ...]
     "messages":   {"ORDERS": "[name, structure]"}}     (a JSON text per message)

A structure is a list of nodes: `[tag, min, max, segment index]` for a segment (a message may
define one tag differently in different places), `[group, min, max, [nodes]]` for a segment
group, whose name is `SGn` numbered in order of appearance as the directory does.
`index.json` lists each directory's messages. The output is deterministic: same input, same
bytes (gzip without a timestamp, tables in first-seen order over messages sorted by name).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "edifact-directories"
DEFAULT_OUT = ROOT / "src" / "tradelane" / "edi" / "directories"
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
EANCOM_KEYS = {"EAN94": "EAN94", "EAN97": "EAN97", "EAN02_Syntax-3": "EAN02",
               "EAN02_Syntax-4": "EAN02S4"}
REPR = {"EDIFACT_AN": "an", "EDIFACT_N": "n", "EDIFACT_A": "a", "EDIFACT_ID": "an"}
SEGMENT_NAME = re.compile(r"([A-Z][A-Z0-9]{2})(?:_\d+)?")
SCHEMA_NAME = re.compile(r"EFACT_([A-Z0-9.]+)_([A-Z0-9]+)\.xsd$")  # D96A, D.93A, 4.1 (AUTACK)


PROVENANCE = """\
# Provenance of the compiled UN/EDIFACT directories

Each `<KEY>.json.gz` here (D93A..D10B, and the EANCOM subsets EAN94, EAN97, EAN02 = syntax 3,
EAN02S4 = syntax 4) is compiled by `scripts/compile_edifact_directories.py` from the XML
schemas in the `BizTalk Server/Schema/EDIFACT` and `BizTalk Server/Schema/EANCOM` folders of
the public repository microsoft/Integration, at commit
d6c9b399f27ccd27379460e8f7983fdcdc64166e (2023-06-14), published under the MIT licence
(`LICENSE-MIT.txt`, beside this file, Copyright (c) Microsoft Corporation).

What is kept: message structures (segments and segment groups, order, min/max occurrences),
each segment's data elements and composites (position, mandatory or conditional,
representation, lengths, element numbers and names) and the code lists. The schemas
themselves are not shipped. Four D09A..D10B GOVCBR schemas are missing from the source.
"""


class SchemaError(Exception):
    """A schema this compiler cannot read (names the file and what is wrong)."""


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, remove_comments=True, huge_tree=False)


def _notes(elem: etree._Element) -> str:
    for info in elem.iterfind(f"{XS}annotation/{XS}appinfo/*"):
        notes = info.get("notes")
        if notes is not None:
            return notes.strip()
    return ""


def _split_notes(notes: str) -> tuple[str, str]:
    """'Document/message number_1004' -> ('1004', 'Document/message number')."""
    name, sep, number = notes.rpartition("_")
    if sep and re.fullmatch(r"[A-Z]?\d{3,4}", number):
        return number, name.strip()
    return "", notes


def _tag_name(child: etree._Element, target: etree._Element) -> str | None:
    """A segment's tag (``RFF_2`` is a second definition of RFF), or None for a group."""
    for elem in (child, target):
        for info in elem.iterfind(f"{XS}annotation/{XS}appinfo/*"):
            tag = info.get("tag_name")
            if tag:
                return tag
    match = SEGMENT_NAME.fullmatch(target.get("name", ""))
    return match.group(1) if match else None


def _occurs(elem: etree._Element) -> tuple[int, int]:
    low = int(elem.get("minOccurs", "1"))
    high_text = elem.get("maxOccurs", "1")
    high = -1 if high_text == "unbounded" else int(high_text)
    return low, high


class SchemaReader:
    """Reads one message schema into plain nested tuples (hashable, so tables dedupe)."""

    def __init__(self, root: etree._Element, label: str) -> None:
        self.label = label
        self.elements = {e.get("name"): e for e in root.iterfind(f"{XS}element")}
        self.types = {t.get("name"): t for t in root.iterfind(f"{XS}simpleType")}
        self.root = root

    def message(self, name: str) -> tuple[str, list]:
        top = self.elements.get(name)
        if top is None:
            raise SchemaError(f"{self.label}: no element {name}")
        return _notes(top), self._sequence(top, [0], top_level=True)

    def _resolve(self, child: etree._Element) -> etree._Element:
        ref = child.get("ref")
        if ref is None:
            return child
        target = self.elements.get(ref)
        if target is None:
            raise SchemaError(f"{self.label}: ref {ref} is not defined")
        return target

    def _children(self, elem: etree._Element) -> list[etree._Element]:
        seq = elem.find(f"{XS}complexType/{XS}sequence")
        if seq is None:
            raise SchemaError(f"{self.label}: {elem.get('name')} has no sequence")
        return [c for c in seq if c.tag == f"{XS}element"]

    def _sequence(self, elem: etree._Element, counter: list[int], top_level: bool = False) -> list:
        """Segments as [tag, min, max, definition]; groups as [SGn, min, max, [nodes]]."""
        nodes: list = []
        for child in self._children(elem):
            target = self._resolve(child)
            tag = _tag_name(child, target)
            low, high = _occurs(child)
            if tag is not None:
                if top_level and tag in ("UNH", "UNT"):
                    low, high = 1, 1  # the schemas leave UNH/UNT to BizTalk; a message has them
                nodes.append([tag, low, high, self._segment(target)])
            else:
                counter[0] += 1
                group = f"SG{counter[0]}"
                nodes.append([group, low, high, self._sequence(target, counter)])
        return nodes

    def _segment(self, elem: etree._Element) -> tuple:
        _number, name = _split_notes(_notes(elem))
        positions = []
        for child in self._children(elem):
            target = self._resolve(child)
            low, high = _occurs(child)
            if target.find(f"{XS}complexType") is not None:
                positions.append((1, self._composite(target), int(low > 0), high))
            else:
                positions.append((0, self._simple(target), int(low > 0), high))
        return (name, tuple(positions))

    def _composite(self, elem: etree._Element) -> tuple:
        ref_name = elem.get("name")
        number, name = _split_notes(_notes(elem))
        match = re.fullmatch(r"([CS]\d{3})(_\d+)?", ref_name or "")
        if not number and match:
            number = match.group(1)
        parts = []
        for child in self._children(elem):
            target = self._resolve(child)
            low, _high = _occurs(child)
            parts.append((self._simple(target), int(low > 0)))
        return (number, name, tuple(parts))

    def _simple(self, elem: etree._Element) -> tuple:
        number, name = _split_notes(_notes(elem))
        type_name = elem.get("type")
        restriction = elem.find(f"{XS}simpleType/{XS}restriction")
        if restriction is None and type_name is not None:
            if type_name in REPR:
                return (number, name, REPR[type_name], 0, 0, None)
            declared = self.types.get(type_name)
            if declared is None:
                raise SchemaError(f"{self.label}: type {type_name} is not defined")
            restriction = declared.find(f"{XS}restriction")
        if restriction is None:
            raise SchemaError(f"{self.label}: element {elem.get('name')} has no type")
        base = restriction.get("base", "")
        codes = tuple(sorted({e.get("value") for e in restriction.iterfind(f"{XS}enumeration")}))
        low = restriction.find(f"{XS}minLength")
        high = restriction.find(f"{XS}maxLength")
        return (number, name, REPR.get(base, "an"),
                int(low.get("value")) if low is not None else 0,
                int(high.get("value")) if high is not None else 0,
                codes or None)


def compile_schema(data: bytes, label: str) -> tuple[str, str, tuple]:
    """One XSD's bytes -> (base directory, message type, compiled message)."""
    match = SCHEMA_NAME.search(label)
    if match is None:
        raise SchemaError(f"{label}: not an EFACT_<directory>_<message>.xsd name")
    raw, message = match.groups()
    root = etree.fromstring(data, safe_parser())
    if root.getroottree().docinfo.doctype:
        raise SchemaError(f"{label}: a DOCTYPE is refused")
    reader = SchemaReader(root, label)
    return raw.replace(".", ""), message, reader.message(f"EFACT_{raw}_{message}")


class DirectoryTables:
    """The shared, deduplicated tables of one directory, filled in a deterministic order."""

    def __init__(self) -> None:
        self.codes: dict[tuple, int] = {}
        self.elements: dict[tuple, int] = {}
        self.composites: dict[tuple, int] = {}
        self.segments: dict[tuple, int] = {}

    @staticmethod
    def _index(table: dict[tuple, int], key: tuple) -> int:
        return table.setdefault(key, len(table))

    def element(self, simple: tuple) -> int:
        number, name, rep, low, high, codes = simple
        code_index = -1 if codes is None else self._index(self.codes, codes)
        return self._index(self.elements, (number, name, rep, low, high, code_index))

    def composite(self, comp: tuple) -> int:
        number, name, parts = comp
        row = (number, name, tuple((self.element(s), m) for s, m in parts))
        return self._index(self.composites, row)

    def structure(self, nodes: list) -> list:
        """Replace each segment's definition by its index in the segment table."""
        out: list = []
        for node in nodes:
            if isinstance(node[3], list):
                out.append([node[0], node[1], node[2], self.structure(node[3])])
            else:
                out.append([node[0], node[1], node[2], self.segment(node[0], node[3])])
        return out

    def segment(self, tag: str, seg: tuple) -> int:
        name, positions = seg
        rows = tuple((kind, self.composite(x) if kind else self.element(x), mand, rep)
                     for kind, x, mand, rep in positions)
        return self._index(self.segments, (tag, name, rows))

    def as_json(self) -> dict[str, Any]:
        return {
            "codes": [list(c) for c in self.codes],
            "elements": [list(e) for e in self.elements],
            "composites": [[n, nm, [list(p) for p in parts]] for n, nm, parts in self.composites],
            "segments": [[t, nm, [list(p) for p in rows]] for t, nm, rows in self.segments],
        }


def build_directory(key: str, base: str, messages: dict[str, tuple]) -> dict[str, Any]:
    tables = DirectoryTables()
    compiled: dict[str, list] = {}
    for message in sorted(messages):
        name, structure = messages[message]
        compiled[message] = [name, tables.structure(structure)]
    return {"format": 2, "directory": key, "base": base, **tables.as_json(),
            "messages": compiled}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(directory: dict[str, Any]) -> bytes:
    """The file as shipped: each code list one space-separated string and each message's
    structure a JSON text of its own, so that loading a directory parses little (the loader
    splits a code list, or parses a message, when it is first used)."""
    for codes in directory["codes"]:
        if any(" " in code or not code for code in codes):
            raise SchemaError(f"{directory['directory']}: a code with a space: {codes}")
    shipped = {**directory, "format": 2,
               "codes": [" ".join(codes) for codes in directory["codes"]],
               "messages": {k: _json(v) for k, v in directory["messages"].items()}}
    return gzip.compress(_json(shipped).encode("utf-8"), compresslevel=9, mtime=0)


def read_archive(path: Path) -> dict[str, tuple[str, dict[str, tuple]]]:
    """Stream one archive: {directory key: (base directory, {message: compiled})}."""
    found: dict[str, tuple[str, dict[str, tuple]]] = {}
    with tarfile.open(path, "r|xz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".xsd"):
                continue
            if member.size > MAX_SCHEMA_BYTES:
                raise SchemaError(f"{path.name}:{member.name}: {member.size} bytes is too large")
            handle = archive.extractfile(member)
            if handle is None:
                continue
            label = f"{path.name}:{member.name}"
            base, message, compiled = compile_schema(handle.read(), label)
            parts = member.name.split("/")
            key = EANCOM_KEYS.get(parts[1], parts[1]) if parts[0] == "EANCOM" else base
            entry = found.setdefault(key, (base, {}))
            if base.startswith("D") and entry[0] != base:
                if not entry[0].startswith("D"):  # syntax 4 service messages (4.1) came first
                    entry = found[key] = (base, entry[1])
                else:
                    raise SchemaError(f"{label}: mixes directories {entry[0]} and {base}")
            entry[1][message] = compiled
    return found


def write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def compile_all(source: Path, out: Path, only: set[str] | None = None,
                log: Any = print) -> dict[str, dict[str, Any]]:
    """Compile every archive in `source` (or those named in `only`) into `out`, then index
    every directory in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for archive in sorted(source.glob("*.tar.xz")):
        stem = archive.name.removesuffix(".tar.xz")
        if only and stem not in only:
            continue
        for key, (base, messages) in sorted(read_archive(archive).items()):
            data = encode(build_directory(key, base, messages))
            write_if_changed(out / f"{key}.json.gz", data)
            log(f"{key}: {len(messages)} messages, {len(data):,} bytes")
    index = write_index(out)
    licence = source / "LICENSE-MIT.txt"
    if licence.exists():
        write_if_changed(out / "LICENSE-MIT.txt", licence.read_bytes())
    write_if_changed(out / "PROVENANCE.md", PROVENANCE.encode("utf-8"))
    return index


def write_index(out: Path) -> dict[str, dict[str, Any]]:
    """index.json: each compiled directory's base, messages and size, from the files."""
    index: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob("*.json.gz")):
        data = path.read_bytes()
        directory = json.loads(gzip.decompress(data))
        index[directory["directory"]] = {"base": directory["base"],
                                         "messages": sorted(directory["messages"]),
                                         "bytes": len(data)}
    write_if_changed(out / "index.json", (json.dumps(index, indent=1) + "\n").encode("utf-8"))
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", help="archive stems, e.g. D96A EANCOM")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"no directory archives at {args.source}", file=sys.stderr)
        return 2
    index = compile_all(args.source, args.out, set(args.only) if args.only else None)
    total = sum(entry["bytes"] for entry in index.values())
    print(f"{len(index)} directories, {total:,} bytes of package data in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
