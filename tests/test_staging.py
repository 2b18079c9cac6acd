"""A file's snapshot: in memory when small, in the spool when big, and never the partner's or
the user's own file touched."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelane.staging import IN_MEMORY_BYTES, Staged, stage_chunks, stage_file


@pytest.mark.parametrize("size", [0, 10, IN_MEMORY_BYTES, IN_MEMORY_BYTES + 1])
def test_a_snapshot_is_kept_whole_and_its_spool_copy_goes_away(tmp_path: Path,
                                                              size: int) -> None:
    content = os.urandom(size)
    original = tmp_path / "partner.csv"
    original.write_bytes(content)
    spool = tmp_path / "1.staged"
    staged = stage_file(original, spool)
    assert staged.sha256 == hashlib.sha256(content).hexdigest()
    assert staged.in_spool == spool.exists() == (size > IN_MEMORY_BYTES)
    staged.keep(tmp_path / "archive" / "partner.csv")
    assert (tmp_path / "archive" / "partner.csv").read_bytes() == content
    staged.discard()
    assert not spool.exists() and original.read_bytes() == content


def test_a_file_read_where_it_is_is_copied_and_never_removed(tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_bytes(b"a,b\n1,2\n")
    staged = Staged.file(mine)
    staged.keep(tmp_path / "copy.csv")
    staged.discard()
    assert mine.read_bytes() == (tmp_path / "copy.csv").read_bytes() == b"a,b\n1,2\n"


def test_a_failed_copy_leaves_no_spool_file(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * (IN_MEMORY_BYTES + 1)  # past the limit: the spool copy is started
        raise OSError("the source went away")

    spool = tmp_path / "2.staged"
    with pytest.raises(OSError, match="went away"):
        stage_chunks(chunks(), spool)
    assert not spool.exists()
