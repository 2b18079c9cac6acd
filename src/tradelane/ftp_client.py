"""One FTP or FTPS control connection, shared by ``sources/ftp.py`` and ``targets/ftp.py``.

The only place that knows ``ftplib``. It holds the security defaults:

- TLS, explicit (``AUTH TLS`` on the plain port) or implicit (TLS from the first byte, port
  990), verifies the server's certificate against the system CAs or a pinned CA bundle, and
  the host name; the data channel is protected too (``PROT P``), reusing the control
  channel's TLS session as vsftpd and FileZilla Server require;
- passive mode only, with the address of the control connection (a PASV answer naming
  another host is ignored: no FTP bounce);
- never ``REST``: a broken transfer starts again from the first byte, so a file is never
  stitched together from two versions;
- names travel as bytes (Latin-1 on the wire maps every byte to one character): a name that
  is not UTF-8 is still listed, fetched and removed exactly;
- the password comes from the environment or a file, and is never logged or put in a message.

``ftp_errors()`` turns ftplib, TLS and socket errors into the engine's categories.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradelane.errors import AuthenticationRefused, ConfigError, TransientError
from tradelane.models import Entry, EntryKind, decode_name
from tradelane.spec.settings import FtpConnection

WIRE = "latin-1"  # one character per byte: names are carried as raw bytes
BLOCK = 1 << 20  # read and write size of a data connection


class CertificateRejected(ConfigError):
    """The FTPS server's certificate is not trusted (unknown CA, expired, wrong host name)."""

    def __init__(self, connection: str, host: str, port: int, detail: str, trusted: str):
        self.connection, self.host, self.port = connection, host, port
        self.detail, self.trusted = detail, trusted
        super().__init__(
            f"ftp {connection}: the server certificate of {host}:{port} is not trusted"
            f" ({detail}); checked against {trusted}. Refusing to connect: nothing was sent"
            " or fetched. If the partner changed its certificate, get its CA and set ca_file.")


def wire(path: bytes) -> str:
    return path.decode(WIRE)


def raw(text: str) -> bytes:
    return text.encode(WIRE)


class _Client(ftplib.FTP_TLS):
    """``FTP_TLS`` with implicit TLS and TLS session reuse on the data channel."""

    implicit = False

    def connect(self, host: str = "", port: int = 0, timeout: float = -999,
                source_address: Any = None) -> str:
        if not self.implicit:
            return super().connect(host, port, timeout, source_address)
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        sock = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(sock, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket,
                                                                                  int | None]:
        # the plain data connection, wrapped below (FTP_TLS's own wrap lacks session reuse)
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321
        if self._prot_p:  # type: ignore[attr-defined]
            session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class _Plain(ftplib.FTP):
    pass


def password_of(name: str, conn: FtpConnection, root: Path) -> str:
    if conn.password_env:
        value = os.environ.get(conn.password_env)
        if value is None:
            raise ConfigError(f"ftp {name}: the environment variable {conn.password_env} (the"
                              " password) is not set")
        return value
    if conn.password_file:
        path = Path(conn.password_file)
        path = path if path.is_absolute() else root / path
        try:
            return path.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"ftp {name}: cannot read the password file {path}:"
                              f" {exc.strerror}") from None
    return ""


class FtpSession:
    """One control connection for one poll or one delivery; reconnects when it dropped."""

    def __init__(self, name: str, conn: FtpConnection, root: Path = Path(".")):
        self.name = name
        self.conn = conn
        self.root = root
        self.uri = f"ftp://{name}"
        self._ftp: ftplib.FTP | None = None
        self.features: set[str] = set()

    @property
    def ftp(self) -> ftplib.FTP:
        if self._ftp is None:
            self._connect_with_retries()
        assert self._ftp is not None
        return self._ftp

    @property
    def alive(self) -> bool:
        return self._ftp is not None

    def close(self) -> None:
        if self._ftp is not None:
            with contextlib.suppress(Exception):
                self._ftp.quit()
            with contextlib.suppress(Exception):
                self._ftp.close()
        self._ftp = None

    def __enter__(self) -> FtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def context(self) -> ssl.SSLContext:
        conn = self.conn
        cafile = None
        if conn.ca_file:
            path = Path(conn.ca_file)
            cafile = str(path if path.is_absolute() else self.root / path)
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ftp {self.name}: cannot read the CA bundle {cafile}:"
                              f" {exc}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect_with_retries(self) -> None:
        wait = self.conn.retry_backoff.total_seconds()
        for attempt in range(1, self.conn.connect_attempts + 1):
            try:
                self._connect()
                return
            except ConfigError:
                raise  # a refused certificate or login does not change by retrying
            except (OSError, EOFError, ftplib.Error) as exc:
                self.close()
                if attempt == self.conn.connect_attempts:
                    raise TransientError(
                        f"ftp {self.name}: cannot connect to {self.conn.host}:{self.port}"
                        f" after {attempt} attempt(s): {_describe(exc)}") from exc
                time.sleep(wait)
                wait *= 2

    @property
    def port(self) -> int:
        conn = self.conn
        return conn.port or (990 if conn.tls == "implicit" else 21)

    def _connect(self) -> None:
        conn = self.conn
        timeout = conn.timeout.total_seconds()
        ftp: ftplib.FTP
        if conn.tls == "none":
            ftp = _Plain(encoding=WIRE, timeout=timeout)
        else:
            ftp = _Client(context=self.context(), encoding=WIRE, timeout=timeout)
            ftp.implicit = conn.tls == "implicit"  # type: ignore[attr-defined]
        self._ftp = ftp
        try:
            ftp.connect(conn.host, self.port, timeout=conn.connect_timeout.total_seconds())
            ftp.sock.settimeout(timeout)
            if isinstance(ftp, _Client) and not ftp.implicit:
                ftp.auth()
            self._login(ftp)
            if isinstance(ftp, _Client):
                ftp.prot_p()
            ftp.set_pasv(True)
            ftp.voidcmd("TYPE I")
            self.features = _features(ftp)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise CertificateRejected(self.name, conn.host, self.port,
                                      exc.verify_message or str(exc),
                                      conn.ca_file or "the system's trusted CAs") from None

    def _login(self, ftp: ftplib.FTP) -> None:
        password = password_of(self.name, self.conn, self.root)
        try:
            ftp.login(self.conn.user, password)
        except ftplib.error_perm as exc:
            raise AuthenticationRefused(self.name, self.conn.user, self.conn.host, self.port,
                                        _describe(exc), protocol="ftp") from None

    # -- commands --------------------------------------------------------------------------

    def mdtm(self, path: bytes) -> int | None:
        """The file's mtime in ns (the server's UTC clock), None if it has none."""
        try:
            answer = self.ftp.sendcmd(f"MDTM {wire(path)}")
        except ftplib.error_perm:
            return None
        return parse_time(answer[4:].strip())

    def size(self, path: bytes) -> int | None:
        try:
            answer = self.ftp.sendcmd(f"SIZE {wire(path)}")
        except ftplib.error_perm:
            return None
        return int(answer[4:].strip())

    def lines(self, command: str) -> list[str]:
        out: list[str] = []
        self.ftp.retrlines(command, out.append)
        return out

    def list_folder(self, folder: bytes) -> list[Entry]:
        """Every entry of ``folder``: MLSD where the server has it (exact types and times),
        else LIST, with MDTM for the mtime of each regular file (LIST shows minutes)."""
        if "MLST" in self.features:
            return [e for line in self.lines(f"MLSD {wire(folder)}")
                    if (e := parse_mlsx(line)) is not None]
        entries = [e for line in self.lines(f"LIST {wire(folder)}")
                   if (e := parse_list(line)) is not None]
        return [self._with_mtime(folder, e) for e in entries]

    def stat(self, folder: bytes, name: bytes) -> Entry | None:
        """One entry, as a listing would show it (never following a symlink); None if gone."""
        path = folder.rstrip(b"/") + b"/" + name
        if "MLST" in self.features:
            try:
                answer = self.ftp.sendcmd(f"MLST {wire(path)}")
            except ftplib.error_perm:
                return None
            lines = answer.splitlines()
            found = parse_mlsx(lines[1].strip()) if len(lines) > 2 else None
            return None if found is None else _renamed(found, name)
        try:
            listed = self.lines(f"LIST {wire(path)}")
        except ftplib.error_perm:
            return None
        for line in listed:
            entry = parse_list(line)
            if entry is not None and _raw_name(entry) == name:
                return self._with_mtime(folder, entry)
        return None

    def _with_mtime(self, folder: bytes, entry: Entry) -> Entry:
        if entry.kind != "file":
            return entry
        mtime = self.mdtm(folder.rstrip(b"/") + b"/" + _raw_name(entry))
        if mtime is None:
            return entry
        return Entry(entry.name, entry.kind, entry.size, mtime, None, entry.raw_name)

    def download(self, path: bytes, size_hint: int | None = None) -> Iterator[bytes]:
        """The file's bytes, block by block (copies: each block is the caller's to keep)."""
        # a small file is read into a buffer its size, not a whole block set to zero
        length = BLOCK if size_hint is None else max(min(size_hint + 1, BLOCK), 1 << 16)
        block = memoryview(bytearray(length))
        with contextlib.closing(self.download_into(path, lambda: block)) as blocks:
            for filled in blocks:
                yield bytes(filled)

    def download_into(self, path: bytes, take: Callable[[], memoryview]) -> Iterator[memoryview]:
        """The file's bytes, each block received into a buffer from ``take()`` and yielded as
        the filled part of it (no copy; the caller decides when a buffer is free again). The
        transfer is closed properly when the iterator is exhausted or closed early (then the
        server's 426 is expected)."""
        ftp = self.ftp
        conn = ftp.transfercmd(f"RETR {wire(path)}")
        complete = False
        try:
            while True:  # whole buffers: fewer, larger hash and write calls downstream
                block = take()
                filled = 0
                while filled < len(block) and (got := conn.recv_into(block[filled:])):
                    filled += got
                if filled:
                    yield block[:filled]
                if filled < len(block):
                    break
            complete = True
        finally:
            _close_data(conn, complete)
            if complete:
                ftp.voidresp()
            else:
                self.close()  # an aborted transfer leaves the control channel in doubt

    def upload(self, path: bytes) -> DataSink:
        return DataSink(self, path)

    def rename(self, source: bytes, dest: bytes) -> None:
        self.ftp.rename(wire(source), wire(dest))

    def delete(self, path: bytes) -> bool:
        """True if deleted, False if it was not there."""
        try:
            self.ftp.delete(wire(path))
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return False
            raise
        return True


class DataSink:
    """A STOR data connection as a writable stream of bytes."""

    def __init__(self, session: FtpSession, path: bytes):
        self.session = session
        self.conn = session.ftp.transfercmd(f"STOR {wire(path)}")
        self.closed = False

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)

    def finish(self) -> None:
        """Close the upload cleanly and wait for the server's word that it is stored."""
        _close_data(self.conn, True)
        self.closed = True
        self.session.ftp.voidresp()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            _close_data(self.conn, False)
            with contextlib.suppress(Exception):
                self.session.ftp.getresp()


def _close_data(conn: socket.socket, clean: bool) -> None:
    with contextlib.suppress(OSError, ValueError):
        if clean and isinstance(conn, ssl.SSLSocket):
            conn.unwrap()  # a TLS close_notify: the server knows the file is complete
    with contextlib.suppress(OSError):
        conn.close()


@contextlib.contextmanager
def ftp_errors(name: str, doing: str,
               error: Callable[[str], TransientError]) -> Iterator[None]:
    """Network and server errors while ``doing`` something become ``error`` (transient);
    configuration errors (certificate, login) pass through."""
    try:
        yield
    except ConfigError:
        raise
    except TransientError as exc:
        if type(exc) is TransientError:  # the session's "cannot connect": say which side
            raise error(str(exc)) from exc
        raise
    except ssl.SSLCertVerificationError as exc:
        raise CertificateRejected(name, "?", 0, exc.verify_message or str(exc), "") from None
    except (OSError, EOFError, ftplib.Error) as exc:
        raise error(f"ftp {name}: {doing} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _features(ftp: ftplib.FTP) -> set[str]:
    try:
        answer = ftp.sendcmd("FEAT")
    except ftplib.Error:
        return set()
    return {line.strip().split(" ")[0].upper() for line in answer.splitlines()[1:-1]}


def parse_time(text: str) -> int | None:
    """``YYYYMMDDHHMMSS[.sss]`` (UTC, RFC 3659) -> ns since the epoch."""
    match = re.fullmatch(r"(\d{14})(?:\.(\d+))?", text)
    if not match:
        return None
    stamp = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    fraction = int((match[2] or "0").ljust(9, "0")[:9])
    return int(stamp.timestamp()) * 1_000_000_000 + fraction


_MLSX_TYPES: dict[str, EntryKind] = {"file": "file", "dir": "directory", "cdir": "directory",
                                     "pdir": "directory", "os.unix=symlink": "symlink",
                                     "os.unix=slink": "symlink"}


def parse_mlsx(line: str) -> Entry | None:
    """One MLSD/MLST line (``type=file;size=12;modify=20260412103000; name``)."""
    facts_text, sep, name = line.partition(" ")
    if not sep or not name:
        return None
    facts = {}
    for fact in facts_text.split(";"):
        key, _, value = fact.partition("=")
        if key:
            facts[key.lower()] = value
    kind_text = facts.get("type", "file").lower()
    if kind_text in ("cdir", "pdir"):
        return None
    kind: EntryKind = _MLSX_TYPES.get(kind_text, "other")
    if kind_text.startswith("os.unix=") and kind == "other":
        kind = "fifo" if "fifo" in kind_text else "other"
    size = int(facts.get("size", "0") or 0)
    mtime = parse_time(facts.get("modify", "")) or 0
    text, undecodable = decode_name(raw(name))
    return Entry(text, kind, size, mtime, None, undecodable)


_LIST = re.compile(r"^([-dlpcbsD])\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+"
                   r"(\w{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4}))\s(.*)$")
_LIST_KINDS: dict[str, EntryKind] = {"-": "file", "d": "directory", "l": "symlink",
                                     "p": "fifo", "c": "device", "b": "device",
                                     "s": "socket"}


def parse_list(line: str) -> Entry | None:
    """One line of a Unix-style LIST. The mtime is the minute it shows (MDTM refines it)."""
    match = _LIST.match(line)
    if not match:
        return None
    kind = _LIST_KINDS.get(match[1], "other")
    name = match[4]
    if kind == "symlink" and " -> " in name:
        name = name.split(" -> ", 1)[0]
    if name in (".", ".."):
        return None
    text, undecodable = decode_name(raw(name))
    return Entry(text, kind, int(match[2]), _list_time(match[3]), None, undecodable)


def _list_time(text: str) -> int:
    parts = text.split()
    now = datetime.now(UTC)
    try:
        if ":" in parts[2]:
            stamp = datetime.strptime(f"{parts[0]} {parts[1]} {now.year} {parts[2]}",
                                      "%b %d %Y %H:%M").replace(tzinfo=UTC)
            if stamp > now:
                stamp = stamp.replace(year=now.year - 1)
        else:
            stamp = datetime.strptime(" ".join(parts), "%b %d %Y").replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(stamp.timestamp()) * 1_000_000_000


def _raw_name(entry: Entry) -> bytes:
    return entry.raw_name if entry.raw_name is not None else entry.name.encode("utf-8")


def _renamed(entry: Entry, name: bytes) -> Entry:
    """MLST answers with the path; the entry is named by the base name asked for."""
    text, undecodable = decode_name(name)
    return Entry(text, entry.kind, entry.size, entry.mtime_ns, None, undecodable)
