"""The contract every ``Source`` keeps, as one test suite run against each implementation.

A subclass provides the ``folder`` fixture (a local path where the test drops files, which
the source sees as its folder) and ``make_source(folder, tmp_path, **spec)`` (a source for a
route whose ``source:`` options are ``spec``). Files are written directly into ``folder``,
the way a partner's upload would appear.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tradelane.abc import Source
from tradelane.staging import IN_MEMORY_BYTES

MIN_AGE = 2.0  # seconds; SFTP reports whole-second mtimes, so keep clear of 1 s


def drop(folder: Path, name: str, content: bytes = b"order,qty\nA1,3\n", *,
         age: float = 60) -> Path:
    path = folder / name
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def names(source: Source) -> list[str]:
    return [ref.name for ref in source.list_ready()]


class SourceContract:
    def make_source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        raise NotImplementedError

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        raise NotImplementedError

    def source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        spec.setdefault("min_age", f"{MIN_AGE}s")
        return self.make_source(folder, tmp_path, **spec)

    def test_lists_only_complete_files(self, folder: Path, tmp_path: Path) -> None:
        drop(folder, "done.csv")
        drop(folder, "uploading.csv", age=0)
        with self.source(folder, tmp_path) as src:
            refs = src.list_ready()
        assert [r.name for r in refs] == ["done.csv"]
        assert refs[0].size == len(b"order,qty\nA1,3\n")
        assert refs[0].uri.endswith("/done.csv")

    def test_ignores_temp_names(self, folder: Path, tmp_path: Path) -> None:
        for name in ("a.csv.part", "b.filepart", "c.tmp", ".hidden.csv", "skip.bak", "ok.csv"):
            drop(folder, name)
        with self.source(folder, tmp_path, ignore=["*.bak"]) as src:
            assert names(src) == ["ok.csv"]

    def test_pattern(self, folder: Path, tmp_path: Path) -> None:
        drop(folder, "ORD1.edi")
        drop(folder, "INV1.edi")
        with self.source(folder, tmp_path, pattern="ORD*.edi") as src:
            assert names(src) == ["ORD1.edi"]

    @pytest.mark.parametrize("stable", [False, True])
    def test_growing_file_is_not_taken_until_stable(self, folder: Path, tmp_path: Path,
                                                     stable: bool) -> None:
        src = self.source(folder, tmp_path, stable=stable)
        path = drop(folder, "big.csv", b"order,qty\n", age=0)
        last_write = time.monotonic()
        with src:
            assert names(src) == []
        time.sleep(0.5)
        with open(path, "ab") as out:
            out.write(b"A1,3\n")
        last_write = time.monotonic()
        taken = None
        while time.monotonic() - last_write < 4 * MIN_AGE + 2:
            with src:  # one poll per loop, the same source object
                if names(src) == ["big.csv"]:
                    taken = time.monotonic() - last_write
                    break
            time.sleep(0.25)
        assert taken is not None, "the file never became ready"
        assert taken >= MIN_AGE - 1.0  # allow for whole-second mtimes on SFTP

    def test_part_renamed_to_final_name_is_listed_once(self, folder: Path,
                                                       tmp_path: Path) -> None:
        part = drop(folder, "ORD7.csv.part")
        src = self.source(folder, tmp_path, stable=True, min_age="0.2s")
        with src:
            assert names(src) == []
        os.rename(part, folder / "ORD7.csv")
        seen = []
        for _ in range(4):
            time.sleep(0.3)
            with src:
                seen.append(names(src))
        assert ["ORD7.csv"] in seen
        assert all(entry in ([], ["ORD7.csv"]) for entry in seen)

    @pytest.mark.parametrize("size", [0, 1000, IN_MEMORY_BYTES, IN_MEMORY_BYTES + 1, 3 << 20])
    def test_fetch_gives_the_bytes_and_sha256(self, folder: Path, tmp_path: Path,
                                              size: int) -> None:
        content = os.urandom(size)
        drop(folder, "data.bin", content)
        dest = tmp_path / "spool" / "1.staged"
        dest.parent.mkdir()
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            staged = src.fetch(ref, dest)
        assert staged.sha256 == hashlib.sha256(content).hexdigest()
        assert staged.size == size and staged.read_bytes() == content
        # small files are held in memory; bigger ones go to the spool, never both
        assert dest.exists() == (size > IN_MEMORY_BYTES) == (staged.data is None)

    @pytest.mark.parametrize("action", ["delete", "move", "leave"])
    def test_finish(self, folder: Path, tmp_path: Path, action: str) -> None:
        drop(folder, "a.csv")
        archive = folder / "archive"
        archive.mkdir()
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            src.finish(ref, action, str(archive) if action == "move" else None)
        assert (folder / "a.csv").exists() == (action == "leave")
        assert (archive / "a.csv").exists() == (action == "move")

    def test_names_with_spaces_and_unicode(self, folder: Path, tmp_path: Path) -> None:
        name = "Bestellung März 0412 Ünïcødé 注文.csv"
        drop(folder, name, b"x,y\n1,2\n")
        dest = tmp_path / "staged"
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            assert ref.name == name
            assert src.fetch(ref, dest).sha256 == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
            src.finish(ref, "delete")
        assert not (folder / name).exists()

    def test_a_thousand_small_files_in_one_poll(self, folder: Path, tmp_path: Path) -> None:
        for i in range(1000):
            drop(folder, f"ORD{i:04d}.csv", f"order,qty\nA{i},1\n".encode() * 100)
        spool = tmp_path / "spool"
        spool.mkdir()
        with self.source(folder, tmp_path, order="name") as src:
            refs = src.list_ready()
            assert [r.name for r in refs] == [f"ORD{i:04d}.csv" for i in range(1000)]
            digests = [src.fetch(ref, spool / f"{i}.staged").sha256
                       for i, ref in enumerate(refs)]
        assert digests[999] == hashlib.sha256(b"order,qty\nA999,1\n" * 100).hexdigest()
        assert len(set(digests)) == 1000
