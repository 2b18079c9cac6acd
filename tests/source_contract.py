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
from tradelane.errors import FileNotReady
from tradelane.ledger import FileRecord, utcnow
from tradelane.models import FileRef, FileState
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


def record_for(ref: FileRef, sha256: str | None) -> FileRecord:
    """The ledger's record of a listed file, as the pipeline hands it to a post-action."""
    now = utcnow()
    return FileRecord(id=1, route=ref.route, source=ref.source, name=ref.name, size=ref.size,
                      mtime_ns=ref.mtime_ns, sha256=sha256, state=FileState.DELIVERED,
                      attempt=1, mapping_version=None, received_at=now, updated_at=now,
                      lease_owner=None, lease_until=None, next_attempt_at=None, stage=None,
                      message=None, error_count=None, path=None, outputs=[], parent_id=None,
                      token=ref.token, raw_name=ref.raw_name)


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

    def test_remove_and_move_to(self, folder: Path, tmp_path: Path) -> None:
        drop(folder, "a.csv")
        drop(folder, "b.csv")
        (folder / "done").mkdir()
        with self.source(folder, tmp_path) as src:
            a, b = src.list_ready()
            src.remove(a)
            src.remove(a)  # gone already is fine
            src.move_to(b, str(folder / "done"))
        assert sorted(p.name for p in folder.iterdir()) == ["done"]
        assert (folder / "done" / "b.csv").exists()

    @pytest.mark.parametrize("action", ["archive", "delete", "move", "leave"])
    def test_after_delivery(self, folder: Path, tmp_path: Path, action: str) -> None:
        content = b"order,qty\nA1,3\n"
        drop(folder, "a.csv", content)
        drop(folder, "a.csv.ok", b"")
        (folder / "done").mkdir()
        archive = tmp_path / "archive" / "1-a.csv"
        spec = {"after": action, "done_marker": "{name}.ok"}
        if action == "move":
            spec["move_to"] = str(folder / "done")
        with self.source(folder, tmp_path, **spec) as src:
            [ref] = src.list_ready()
            staged = src.fetch(ref, tmp_path / "spool")
            after = src.after_delivery(record_for(ref, staged.sha256), staged, archive)
        left = sorted(p.name for p in folder.iterdir() if p.is_file())
        assert left == (["a.csv", "a.csv.ok"] if action == "leave" else [])  # marker goes too
        assert archive.exists() == (action == "archive")
        if action == "archive":
            assert archive.read_bytes() == content and after.kept == archive
        assert (folder / "done" / "a.csv").exists() == (action == "move")

    def test_a_changed_original_is_never_archived_or_removed(self, folder: Path,
                                                             tmp_path: Path) -> None:
        """Rows added to the file after it was read were never delivered: the original stays
        (it is a new file for the next poll) and the archive gets exactly what was delivered."""
        path = drop(folder, "a.csv", b"order,qty\nA1,3\n")
        archive = tmp_path / "archive" / "1-a.csv"
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            staged = src.fetch(ref, tmp_path / "spool")
            with open(path, "ab") as out:
                out.write(b"A2,5\n")
            os.utime(path, (time.time() - 30, time.time() - 30))
            after = src.after_delivery(record_for(ref, staged.sha256), staged, archive)
        assert path.read_bytes() == b"order,qty\nA1,3\nA2,5\n"
        assert archive.read_bytes() == b"order,qty\nA1,3\n"
        assert "changed after it was delivered" in after.done

    def test_after_reject_removes_the_original(self, folder: Path, tmp_path: Path) -> None:
        drop(folder, "bad.csv")
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            staged = src.fetch(ref, tmp_path / "spool")
            src.after_reject(record_for(ref, staged.sha256))
        assert list(folder.iterdir()) == []

    def test_a_symlink_is_listed_as_unusual_and_never_read(self, folder: Path,
                                                           tmp_path: Path) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_bytes(b"root:x:0:0\n")
        (folder / "passwd.csv").symlink_to(secret)
        drop(folder, "a.csv")
        with self.source(folder, tmp_path) as src:
            listing = src.list_ready()
            assert [r.name for r in listing] == ["a.csv"]
            assert [(e.name, e.kind) for e in listing.unusual] == [("passwd.csv", "symlink")]
            # the listed file swapped for a symlink before it is opened: never followed
            (folder / "a.csv").unlink()
            (folder / "a.csv").symlink_to(secret)
            with pytest.raises(FileNotReady, match=r"symbolic link|not a regular file"):
                src.fetch(listing[0], tmp_path / "spool")

    def test_a_fifo_never_blocks(self, folder: Path, tmp_path: Path) -> None:
        os.mkfifo(folder / "pipe.csv")
        drop(folder, "a.csv")
        with self.source(folder, tmp_path) as src:
            listing = src.list_ready()
            assert [(e.name, e.kind) for e in listing.unusual] == [("pipe.csv", "fifo")]
            (folder / "a.csv").unlink()
            os.mkfifo(folder / "a.csv")
            # an open() that blocked would hang here until the suite's timeout
            with pytest.raises(FileNotReady, match=r"fifo|not a regular file"):
                src.fetch(listing[0], tmp_path / "spool")

    def test_a_file_that_changed_or_vanished_since_listing_is_not_read(
            self, folder: Path, tmp_path: Path) -> None:
        grows = drop(folder, "grows.csv")
        drop(folder, "gone.csv")
        with self.source(folder, tmp_path) as src:
            refs = {r.name: r for r in src.list_ready()}
            with open(grows, "ab") as out:
                out.write(b"A9,9\n")
            (folder / "gone.csv").unlink()
            with pytest.raises(FileNotReady, match="changed since it was listed"):
                src.fetch(refs["grows.csv"], tmp_path / "spool1")
            with pytest.raises(FileNotReady, match="disappeared"):
                src.fetch(refs["gone.csv"], tmp_path / "spool2")
            assert src.stat(refs["gone.csv"]) is None

    def test_a_name_that_is_not_utf8_is_listed_with_its_bytes(self, folder: Path,
                                                              tmp_path: Path) -> None:
        raw = os.fsencode(folder) + b"/M\xfcller.csv"
        with open(raw, "wb") as fh:
            fh.write(b"order,qty\nA1,3\n")
        os.utime(raw, (time.time() - 60, time.time() - 60))
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            assert ref.raw_name == b"M\xfcller.csv" and ref.name == "M\\xfcller.csv"
            assert src.fetch(ref, tmp_path / "spool").read_bytes() == b"order,qty\nA1,3\n"
            src.remove(ref)
        assert list(folder.iterdir()) == []

    def test_names_with_spaces_and_unicode(self, folder: Path, tmp_path: Path) -> None:
        name = "Bestellung März 0412 Ünïcødé 注文.csv"
        drop(folder, name, b"x,y\n1,2\n")
        dest = tmp_path / "staged"
        with self.source(folder, tmp_path) as src:
            [ref] = src.list_ready()
            assert ref.name == name
            assert src.fetch(ref, dest).sha256 == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
            src.remove(ref)
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
