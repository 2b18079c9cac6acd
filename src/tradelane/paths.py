"""Safe local names for partner files, and atomic, durable writes."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from tradelane.errors import ConfigError, UnsafeFileName

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
MAX_NAME_BYTES = 160  # leaves room for "<id>-" and ".reason.json" under NAME_MAX (255)

TEMP_SUFFIXES = (".part", ".tmp", ".filepart", ".partial", ".crdownload")
#: The end of every temp name the engine itself writes: the start-up sweep removes old ones.
TEMP_MARK = ".tradelane.tmp"


def check_listed_name(name: str) -> None:
    """A name a listing gave must name an entry of that folder, nothing outside it (a hostile
    server can list anything)."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise UnsafeFileName(name, "the name would reach outside the folder")


def check_partner_name(name: str, raw: bytes | None = None) -> None:
    """Raise ``UnsafeFileName`` for names that must never be processed as given; ``raw`` is
    the name's bytes when they are not UTF-8."""
    if raw is not None:
        raise UnsafeFileName(name, f"the name is not valid UTF-8 text (its bytes: {raw.hex()})")
    if not name or name in (".", ".."):
        raise UnsafeFileName(name, "the name is empty or a directory reference")
    if "/" in name or "\\" in name:
        raise UnsafeFileName(name, "the name contains a path separator")
    if _CONTROL.search(name):
        raise UnsafeFileName(name, "the name contains control characters (e.g. a newline)")
    if "\ufffd" in name or any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        raise UnsafeFileName(name, "the name is not valid text in the server's encoding")


def is_temp_name(name: str) -> bool:
    """Names that uploaders use while a file is still being written."""
    return name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES)


def safe_component(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A local file name derived from a partner's name: same when it is already safe.

    Unsafe characters become ``_``, a leading ``-`` or ``.`` is dropped (so the name is never
    read as an option or hidden), and long names are shortened while keeping the extension,
    with a short hash so two long names never collapse into one.
    """
    clean = unicodedata.normalize("NFC", _UNSAFE_CHARS.sub("_", name)).lstrip("-. ") or "file"
    if len(clean.encode()) <= max_bytes:
        return clean
    stem, dot, ext = clean.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = clean, ""
    tag = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    suffix = f"~{tag}" + (f".{ext}" if ext else "")
    budget = max_bytes - len(suffix.encode())
    short = stem.encode()[:budget].decode("utf-8", "ignore")
    return short + suffix


def split_name(name: str) -> tuple[str, str]:
    """(stem, extension without dot) of a file name."""
    stem, dot, ext = name.rpartition(".")
    return (stem, ext) if dot and stem else (name, "")


class FolderSyncs:
    """New files and renames made durable together, while the caller goes on working.

    ``atomic_writer(..., syncs=s)`` hands its written temp file to a background thread,
    which fsyncs it and only then renames it into place; ``move_durably(..., s)`` renames at
    once and notes the folder. ``flush()`` waits for the files, fsyncs each folder once and
    raises the first error (then and on every later flush). Whoever holds one flushes
    before recording that the files exist: a chunk of outputs costs one wait instead of an
    fsync between every two files.
    """

    def __init__(self) -> None:
        self._folders: set[Path] = set()
        self._pending: dict[Path, Future[None]] = {}  # final path -> its fsync and rename
        self._failed: OSError | None = None  # kept: every later flush raises it too
        self._lock = threading.Lock()

    def add(self, folder: Path) -> None:
        with self._lock:
            self._folders.add(folder)

    def pending(self, path: Path) -> bool:
        """True if ``path`` is about to appear: a file written here, not yet renamed."""
        with self._lock:
            return path in self._pending

    def finish(self, fh: BinaryIO, tmp: Path, path: Path) -> None:
        """fsync ``fh`` (the open temp file), close it, rename it to ``path``; in the
        background."""
        future = _sync_thread().submit(_sync_and_rename, fh, tmp, path)
        with self._lock:
            self._pending[path] = future
            self._folders.add(path.parent)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            folders, self._folders = self._folders, set()
        for future in pending:
            try:
                future.result()
            except OSError as exc:
                self._failed = self._failed or exc
        for folder in sorted(folders):
            fsync_dir(folder)
        if self._failed is not None:
            raise self._failed


_SYNC_THREAD: ThreadPoolExecutor | None = None


def _sync_thread() -> ThreadPoolExecutor:
    """One thread per process does the fsyncs (they release the interpreter lock)."""
    global _SYNC_THREAD
    if _SYNC_THREAD is None:
        _SYNC_THREAD = ThreadPoolExecutor(1, thread_name_prefix="fsync")
    return _SYNC_THREAD


def _sync_and_rename(fh: BinaryIO, tmp: Path, path: Path) -> None:
    try:
        with fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


_TEMP_NUMBERS = itertools.count()


@contextlib.contextmanager
def atomic_writer(path: Path, *, syncs: FolderSyncs | None = None) -> Iterator[BinaryIO]:
    """Write to a temp name in the same folder (made if missing), fsync, then rename over
    ``path``.

    On any exception the temp file is removed and ``path`` is untouched. With ``syncs``, the
    fsync and the rename happen in the background and ``syncs.flush()`` waits for them.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_TEMP_NUMBERS)}{TEMP_MARK}")
    # closed below, or by the sync thread
    fh = if_folder_missing(lambda: open(tmp, "wb"), path.parent)  # noqa: SIM115
    try:
        yield fh
        if syncs is not None:
            syncs.finish(fh, tmp, path)
            return
        with fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # closing flushes the buffer, which fails again on a full disk: the file is closed
        # anyway, and the temp file must still go
        with contextlib.suppress(OSError):
            fh.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path, syncs: FolderSyncs | None) -> None:
    if syncs is None:
        fsync_dir(folder)
    else:
        syncs.add(folder)


def move_durably(src: Path, dest: Path, syncs: FolderSyncs | None = None) -> Path:
    """Move a file (rename when possible, else copy + fsync + unlink) and return ``dest``.

    ``dest``'s folder is made if missing.
    """
    try:
        if_folder_missing(lambda: os.replace(src, dest), dest.parent)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another filesystem
            raise
        import shutil

        with open(src, "rb") as fin, atomic_writer(dest) as fout:  # durable before unlink
            shutil.copyfileobj(fin, fout, 1 << 20)
        src.unlink()
    _sync_folder(dest.parent, syncs)
    return dest


def if_folder_missing(action: Callable[[], T], folder: Path) -> T:
    """Run ``action``; if it fails because ``folder`` does not exist, make it and run it again.

    Most files land in folders that exist: trying first saves a mkdir and a stat per file.
    The second try also answers a folder a peer made meanwhile; if something else is missing
    (the source file), it fails again with the same error.
    """
    try:
        return action()
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return action()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_inside(path: Path, folder: Path) -> bool:
    """True if ``path`` (links resolved) lies in ``folder``."""
    try:
        path.resolve().relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
    return True


def beside_mapping(relative: str, base_dir: Path | None, kind: str, example: str) -> Path:
    """A file a route names (a guide, segment rules): relative to the mapping file and never
    outside its folder, links resolved; a ConfigError in words otherwise."""
    base = (base_dir or Path.cwd()).resolve()
    if Path(relative).is_absolute():
        raise ConfigError(f"{relative!r}: give the path relative to the mapping file,"
                          f" e.g. {example}")
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ConfigError(f"{relative!r} is outside the mappings folder ({base}): a {kind}"
                          " lives next to its route")
    return path
