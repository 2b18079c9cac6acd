"""``decompress`` (gzip, zip) before reading and ``compress`` (gzip) after writing.

Streaming, in bounded memory: the unpacked bytes go to the step's spool file as they come.
A file is refused (quarantined, with the reason) before it can fill a disk:

- bomb limits: the unpacked size may not pass ``max_size``, nor, once past 1 MB, ``max_ratio``
  times the packed bytes read so far; a zip's declared sizes are checked before anything is
  unpacked, and the real bytes counted while they are (declared sizes can lie);
- a zip holds exactly one file: the route reads one file, and quietly taking the first of
  several would lose the others. A zip of several files is quarantined with their names;
- zip-slip: a member named with ``..``, an absolute path or a drive is refused outright, even
  though nothing is ever unpacked under a member's name;
- encrypted zip members are refused (use the pgp steps).

``compress`` writes gzip with no name and mtime 0, so the same records give the same bytes
and a retried delivery is recognised as the same file.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tradelane.spec.steps import CompressStep, DecompressStep
from tradelane.staging import CHUNK, Staged, stage_chunks
from tradelane.steps import StepContext, StepFailed, spooled

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
RATIO_FROM = 1 << 20  # small files may compress extremely well: the ratio counts past this


class Decompress:
    extension = ""

    def __init__(self, spec: DecompressStep, ctx: StepContext):
        self.spec = spec

    def apply(self, staged: Staged, dest: Path) -> Staged:
        with staged.open() as src:
            head = src.read(4)
            src.seek(0)
            kind = self.spec.decompress
            if kind == "auto":
                if head.startswith(GZIP_MAGIC):
                    kind = "gzip"
                elif head.startswith(ZIP_MAGIC):
                    kind = "zip"
                else:
                    return staged  # not compressed: read as it is
            if kind == "gzip":
                if not head.startswith(GZIP_MAGIC):
                    raise StepFailed("decompress", "the file is not gzip data (it does not"
                                     " start with the gzip signature)", value=head.hex())
                return stage_chunks(self._gunzip(src), dest)
            return stage_chunks(self._unzip(src), dest)

    def _check(self, produced: int, consumed: int) -> None:
        spec = self.spec
        if produced > spec.max_size:
            raise StepFailed("decompress", f"it unpacks to more than max_size ({spec.max_size:,}"
                             " bytes): refused as a possible zip bomb", value=str(produced))
        if produced > RATIO_FROM and produced > spec.max_ratio * max(consumed, 1):
            raise StepFailed("decompress", f"it unpacks to more than max_ratio"
                             f" ({spec.max_ratio}) times its packed size ({produced:,} bytes"
                             f" from {consumed:,}): refused as a possible zip bomb",
                             value=str(produced))

    def _gunzip(self, src: BinaryIO) -> Iterator[bytes]:
        """Every gzip member in turn (``cat a.gz b.gz`` is one valid gzip file)."""
        inflater = zlib.decompressobj(wbits=31)
        fed = produced = 0
        started = False
        while data := src.read(CHUNK):
            fed += len(data)
            pending = data
            while pending:
                if inflater.eof:
                    if not pending.startswith(GZIP_MAGIC):
                        if pending.strip(b"\0"):
                            raise StepFailed("decompress", "data follows the gzip stream"
                                             " that is not gzip")
                        break
                    inflater = zlib.decompressobj(wbits=31)
                try:
                    out = inflater.decompress(pending, CHUNK)  # max_length bounds memory
                except zlib.error as exc:
                    raise StepFailed("decompress", f"the gzip data is corrupt ({exc})") from None
                started = True
                pending = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof
                                                       else b"")
                produced += len(out)
                self._check(produced, fed - len(pending))
                if out:
                    yield out
        while started and not inflater.eof and (out := inflater.decompress(b"", CHUNK)):
            produced += len(out)  # output zlib held back when max_length was reached
            self._check(produced, fed)
            yield out
        if not started or not inflater.eof:
            raise StepFailed("decompress", "the gzip data ends early: the file is truncated")

    def _unzip(self, src: BinaryIO) -> Iterator[bytes]:
        try:
            archive = zipfile.ZipFile(src)
        except (zipfile.BadZipFile, OSError) as exc:
            raise StepFailed("decompress", f"the file is not a readable zip ({exc})") from None
        with archive:
            infos = archive.infolist()
            for info in infos:
                _check_member_name(info.filename)
            files = [i for i in infos if not i.is_dir()]
            if len(files) != 1:
                names = ", ".join(i.filename for i in files[:10]) or "none"
                more = f" and {len(files) - 10} more" if len(files) > 10 else ""
                raise StepFailed("decompress", f"the zip holds {len(files)} files ({names}"
                                 f"{more}); a route reads one file per zip: ask the partner"
                                 " to send them separately", value=str(len(files)))
            info = files[0]
            if info.flag_bits & 0x1:
                raise StepFailed("decompress", f"{info.filename} in the zip is encrypted")
            self._check(info.file_size, info.compress_size)  # what it declares, first
            produced = 0
            try:
                with archive.open(info) as member:
                    while data := member.read(CHUNK):
                        produced += len(data)
                        self._check(produced, info.compress_size)
                        yield data
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise StepFailed("decompress", f"{info.filename} in the zip is corrupt"
                                 f" ({exc})") from None


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if (name.startswith(("/", "\\")) or ".." in path.parts
            or (len(name) > 1 and name[1] == ":")):
        raise StepFailed("decompress", f"the zip names a member {name!r} that would reach"
                         " outside its folder (zip-slip): the archive is refused",
                         value=name)


class Compress:
    extension = "gz"

    def __init__(self, spec: CompressStep, ctx: StepContext):
        self.spec = spec

    def apply(self, staged: Staged, dest: Path) -> Staged:
        with spooled(dest) as out, staged.open() as src, \
                gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as packed:
            while data := src.read(CHUNK):
                packed.write(data)
        return Staged(size=dest.stat().st_size, path=dest, in_spool=True)
