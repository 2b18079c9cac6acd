"""Partner file names are never used as paths unchecked; writes land whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import UnsafeFileName
from tradelane.paths import (
    FolderSyncs,
    atomic_writer,
    check_partner_name,
    if_folder_missing,
    is_temp_name,
    move_durably,
    safe_component,
)


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.csv", "..", ".", "", "x\\y.csv",
                                  "line\nbreak.csv", "nul\x00.csv", "bad\udcff.csv"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeFileName) as info:
        check_partner_name(name)
    assert info.value.issues[0].rule == "safe_name"


@pytest.mark.parametrize("name", ["orders..2026.csv", "-rf.csv", "Müller äöü.csv", "x" * 250])
def test_odd_but_harmless_names_are_accepted(name: str) -> None:
    check_partner_name(name)


def test_safe_component_never_starts_with_a_dash_or_dot_and_stays_short() -> None:
    assert safe_component("-rf.csv") == "rf.csv"
    assert safe_component("..hidden") == "hidden"
    long = safe_component("y" * 300 + ".csv")
    assert long.endswith(".csv") and len(long.encode()) <= 160
    assert safe_component("z" * 300 + ".csv") != safe_component("z" * 301 + ".csv")
    assert safe_component("Bestellung Müller.csv") == "Bestellung Müller.csv"


@pytest.mark.parametrize("name", ["a.csv.part", "a.tmp", "a.filepart", ".upload.csv", "..csv"])
def test_temp_and_hidden_names_are_never_listed(name: str) -> None:
    assert is_temp_name(name)


def test_group_synced_writes_land_whole_and_failures_are_kept(tmp_path: Path) -> None:
    syncs = FolderSyncs()
    with atomic_writer(tmp_path / "a.json", syncs=syncs) as fh:
        fh.write(b"[1, 2]")
    (tmp_path / "b.json").mkdir()  # a folder where the next file should go: its rename fails
    with atomic_writer(tmp_path / "b.json", syncs=syncs) as fh:
        fh.write(b"[3]")
    with pytest.raises(IsADirectoryError):
        syncs.flush()
    assert (tmp_path / "a.json").read_bytes() == b"[1, 2]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]  # no temp left
    with pytest.raises(IsADirectoryError):  # whoever flushes later still hears of it
        syncs.flush()


def test_writes_and_moves_make_missing_folders_but_never_invent_a_source(tmp_path: Path) -> None:
    out = tmp_path / "outbox" / "orders" / "a.json"
    with atomic_writer(out) as fh:
        fh.write(b"[]")
    assert out.read_bytes() == b"[]"

    src = tmp_path / "in.csv"
    src.write_bytes(b"x")
    dest = move_durably(src, tmp_path / "archive" / "orders" / "2026-11-27" / "in.csv")
    assert dest.read_bytes() == b"x" and not src.exists()

    with pytest.raises(FileNotFoundError):
        move_durably(src, tmp_path / "archive" / "other" / "in.csv")  # gone already


def test_a_folder_a_peer_makes_meanwhile_is_not_taken_for_a_missing_source(
        tmp_path: Path) -> None:
    """Two workers archive the first files of the day at once: one's rename fails for want of
    the dated folder, the other makes it before the first looks. The first must try again,
    not report its source missing (it was: the original then stayed with an alert)."""
    folder = tmp_path / "archive" / "orders" / "2026-12-07"
    tries: list[int] = []

    def rename() -> str:
        tries.append(1)
        if len(tries) == 1:
            folder.mkdir(parents=True)  # the peer, between the failure and the look
            raise FileNotFoundError(2, "No such file or directory")
        return "moved"

    assert if_folder_missing(rename, folder) == "moved"
    assert len(tries) == 2
