"""A file's snapshot: in memory when small, in the spool when big, and never the partner's or
the user's own file touched."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelane.errors import MalformedInput
from tradelane.formats import reader_for
from tradelane.spec import RouteSpec
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


@pytest.mark.parametrize(("odd", "ascii"), [(b"", True), (b"\x7f", True), (b"\x00", False),
                                            ("é".encode(), False), (b"\x80", False)])
@pytest.mark.parametrize("size", [1000, 3 * IN_MEMORY_BYTES])  # held in memory, or spooled
def test_staging_notes_a_file_whose_every_byte_is_ascii_and_none_nul(
        tmp_path: Path, odd: bytes, ascii: bool, size: int) -> None:
    src = tmp_path / "in.csv"
    body = b"a,b\n" + b"1,2\n" * (size // 4)
    src.write_bytes(body + odd + b"3,4\n")  # the odd byte in the last chunk read
    staged = stage_file(src, tmp_path / "spool")
    assert staged.ascii is ascii
    assert (staged.data is None) is (size > IN_MEMORY_BYTES)


@pytest.mark.parametrize("odd", [b"\x00", b"\xff"])
def test_a_big_csv_with_one_bad_byte_at_its_end_is_still_refused_where_it_is(
        tmp_path: Path, odd: bytes) -> None:
    """The reader skips its encoding pass only for a file staging saw as plain ASCII."""
    src = tmp_path / "in.csv"
    rows = 3 * IN_MEMORY_BYTES // 4
    src.write_bytes(b"a,b\n" + b"1,2\n" * rows + b"3," + odd + b"\n")
    route = RouteSpec.model_validate({"name": "t", "source": {"folder": "in"},
                                      "format": {"type": "csv"}, "fields": {"a": {}, "b": {}},
                                      "target": {"folder": "out"}})
    staged = stage_file(src, tmp_path / "spool")
    with pytest.raises(MalformedInput) as info:
        list(reader_for(route).read(staged, route))
    at = f"byte {4 + 4 * rows + 2}"  # a NUL is reported at its byte, a bad byte with its line
    assert info.value.location == (at if odd == b"\x00" else f"line {rows + 2}, {at}")


def test_a_big_file_in_uneven_chunks_is_hashed_and_spooled_in_order(tmp_path: Path) -> None:
    """Past IN_MEMORY_BYTES a helper thread hashes while the chunks are written: the digest,
    the ASCII flag and the spool copy are still those of the bytes in their order, and the
    helper is gone once staging returns, or fails."""
    rng = random.Random(7)
    pieces = [bytes(rng.choice(b"abc,\n0123") for _ in range(rng.randrange(1, 300_000)))
              for _ in range(40)]
    pieces[31] = pieces[31][:-1] + b"\xe9"  # one non-ASCII byte, late
    content = b"".join(pieces)
    staged = stage_chunks(iter(pieces), tmp_path / "3.staged")
    assert staged.sha256 == hashlib.sha256(content).hexdigest() and staged.size == len(content)
    assert staged.ascii is False and (tmp_path / "3.staged").read_bytes() == content
    assert not [t for t in threading.enumerate() if t.name == "hash-staged"]

    def failing() -> Iterator[bytes]:
        yield from pieces[:20]
        raise OSError("the connection dropped")

    with pytest.raises(OSError, match="dropped"):
        stage_chunks(failing(), tmp_path / "4.staged")
    assert not (tmp_path / "4.staged").exists()
    assert not [t for t in threading.enumerate() if t.name == "hash-staged"]
