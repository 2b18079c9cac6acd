"""The compiled UN/EDIFACT directories: the compiler (every schema of an archive compiles, the
output is deterministic and is what the package ships) and the loader (structure, segments,
code lists, EANCOM subsets, load time)."""

from __future__ import annotations

import importlib.util
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tradelane.edi import directory as D

ROOT = Path(__file__).resolve().parents[2]
ARCHIVES = (ROOT.parent / "shared" / "edifact-directories").resolve()
SHIPPED = Path(D.__file__).parent / "directories"
needs_archives = pytest.mark.skipif(not (ARCHIVES / "D93A.tar.xz").exists(),
                                    reason=f"the directory archives are not at {ARCHIVES}")


def compiler():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location(
        "compile_edifact_directories", ROOT / "scripts" / "compile_edifact_directories.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@needs_archives
def test_every_schema_of_a_directory_compiles_the_same_twice_as_shipped(tmp_path: Path) -> None:
    c = compiler()
    with tarfile.open(ARCHIVES / "D93A.tar.xz") as tar:
        schemas = {Path(m.name).stem.split("_")[-1] for m in tar if m.name.endswith(".xsd")}
    first = c.compile_all(ARCHIVES, tmp_path / "a", {"D93A"}, log=lambda _: None)
    c.compile_all(ARCHIVES, tmp_path / "b", {"D93A"}, log=lambda _: None)
    assert set(first["D93A"]["messages"]) == schemas  # every schema, none lost
    data = (tmp_path / "a" / "D93A.json.gz").read_bytes()
    assert data == (tmp_path / "b" / "D93A.json.gz").read_bytes()
    assert data == (SHIPPED / "D93A.json.gz").read_bytes(), "shipped data is stale: recompile"


def test_the_compiler_refuses_a_doctype() -> None:
    c = compiler()
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">&e;</xs:schema>')
    with pytest.raises(c.SchemaError, match="DOCTYPE"):
        c.compile_schema(evil, "EFACT_D96A_EVIL.xsd")


def test_every_directory_and_subset_is_shipped_small_with_its_licence() -> None:
    keys = set(D.directories())
    assert {"D93A", "D96A", "D01C", "D10B", "EAN94", "EAN97", "EAN02", "EAN02S4"} <= keys
    if ARCHIVES.is_dir():
        assert {p.name.removesuffix(".tar.xz") for p in ARCHIVES.glob("D*.tar.xz")} <= keys
    total = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert total < 15_000_000, total
    assert "MIT License" in (SHIPPED / "LICENSE-MIT.txt").read_text(encoding="utf-8")
    provenance = (SHIPPED / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "d6c9b399f27ccd27379460e8f7983fdcdc64166e" in provenance
    assert not list(SHIPPED.glob("*.xsd"))


def test_orders_d96a_structure_segments_and_codes() -> None:
    m = D.load("D96A", "ORDERS")
    assert (m.type, m.name, m.base) == ("ORDERS", "Purchase order message", "D96A")
    top = [n.tag if isinstance(n, D.SegmentNode) else n.name for n in m.structure]
    assert top[:4] == ["UNH", "BGM", "DTM", "PAI"] and top[-1] == "UNT"
    lines = m.group("SG25")
    assert lines is not None and lines.trigger == "LIN"
    assert (lines.min_occurs, lines.max_occurs) == (0, 200000)
    [nad] = m.segments("NAD")
    party = nad.positions[1]
    assert (party.position, party.number, party.mandatory) == (2, "C082", False)
    assert [(c.element.number, c.mandatory) for c in party.composite.components] == [
        ("3039", True), ("1131", False), ("3055", False)]
    ident = party.composite.components[0].element
    assert (ident.representation, ident.min_length, ident.max_length) == ("an", 1, 35)
    qualifier = nad.positions[0].element
    assert qualifier.number == "3035" and {"BY", "SU", "DP"} <= qualifier.codes


def test_eancom_subsets_narrow_the_standard() -> None:
    un, ean = D.load("D96A", "ORDERS"), D.load("EAN97", "ORDERS")
    assert ean.base == "D96A"
    un_codes = un.segments("NAD")[0].positions[0].element.codes
    ean_codes = ean.segments("NAD")[0].positions[0].element.codes
    assert ean_codes < un_codes  # EANCOM allows fewer parties
    assert D.directory_for("D", "96A", "EAN008") == "EAN97"
    assert D.directory_for("D", "01B", "EAN010", "4") == "EAN02S4"
    assert D.directory_for("D", "01B", "") == "D01B"


def test_unknown_names_say_what_exists() -> None:
    with pytest.raises(D.UnknownDirectory, match="did you mean D96A"):
        D.load("96A", "ORDERS")
    with pytest.raises(D.UnknownDirectory, match=r"did you mean .*ORDERS"):
        D.load("D96A", "ORDRES")


def test_a_directory_loads_in_well_under_50_ms() -> None:
    """Cold: the directory's file read and parsed, the message built (best of 5, as the
    machine is shared)."""
    times = []
    for _ in range(5):
        D._raw.cache_clear()
        D.load.cache_clear()
        start = time.perf_counter()
        D.load("D10B", "INVOIC")
        times.append(time.perf_counter() - start)
    assert min(times) < 0.05, [f"{t * 1000:.1f} ms" for t in times]
