"""One SSH connection to an SFTP server, shared by ``sources/sftp.py`` and ``targets/sftp.py``.

This is the only place (with those two modules and ``cli_sftp.py``) that knows paramiko. It
holds the security defaults: the host key is always checked, against ``known_hosts`` or a
pinned SHA256 fingerprint, before any credential is sent, and an unknown key is refused (the
equivalent of paramiko's ``RejectPolicy``; there is no ``AutoAddPolicy`` path). Login uses an
explicit key (or a password from the environment), never an agent or ``~/.ssh`` keys.

``sftp_errors()`` translates paramiko, socket and EOF errors into the engine's
``SourceUnavailable``/``TargetUnavailable``, raised ``from`` the original.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_HANDLE,
    CMD_NAME,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_STATUS,
    SFTP_FLAG_READ,
    int64,
)
from paramiko.sftp_attr import SFTPAttributes

from tradelane.errors import (
    AuthenticationRefused,
    ConfigError,
    HostKeyRejected,
    TransientError,
)
from tradelane.spec import SftpConnection

log = logging.getLogger(__name__)

#: Flow control tuned for bulk transfers: a large window and large packets keep paramiko's
#: per-packet Python work low (measured: 32 KiB packets reach ~0.45x OpenSSH, 254 KiB ~0.9x).
WINDOW_SIZE = 32 << 20
MAX_PACKET_SIZE = 254 << 10
#: OpenSSH's sftp-server answers reads up to 255 KiB; other servers get the classic 32 KiB.
OPENSSH_READ_SIZE = 255 << 10
SAFE_READ_SIZE = 32 << 10
#: AES-GCM needs no separate MAC pass; paramiko decrypts it fastest.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr",
                     "aes256-ctr")

_RSA_SIGNATURES = ["rsa-sha2-512", "rsa-sha2-256"]


class ChunkPipe(BufferedPipe):
    """A channel's receive buffer that keeps the chunks as they arrived.

    paramiko's own ``BufferedPipe`` holds one byte array: each read copies it twice and shifts
    everything after it to the front, which for a bulk download costs more CPU than the
    decryption. This one hands out the received chunks themselves, joining only when a read
    spans several. Same interface and locking; installed on every SFTP channel we open.
    """

    def __init__(self) -> None:
        super().__init__()
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def set_event(self, event: threading.Event) -> None:
        with self._lock:
            self._event = event
            if self._closed or self._size:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes | str) -> None:
        with self._lock:
            if self._event is not None:
                self._event.set()
            if data:
                chunk = data if isinstance(data, bytes) else bytes(data, "utf-8")
                self._chunks.append(chunk)
                self._size += len(chunk)
            self._cv.notify_all()

    def read_ready(self) -> bool:
        with self._lock:
            return self._size > 0

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._lock:
            if not self._size:
                if self._closed:
                    return b""
                if timeout == 0.0:
                    raise PipeTimeout()
                while not self._size and not self._closed:
                    then = time.time()
                    self._cv.wait(timeout)
                    if timeout is not None:
                        timeout -= time.time() - then
                        if timeout <= 0.0:
                            raise PipeTimeout()
            return self._take(nbytes)

    def _take(self, nbytes: int) -> bytes:
        parts: list[bytes] = []
        wanted = nbytes
        while wanted > 0 and self._chunks:
            chunk = self._chunks[0]
            if len(chunk) <= wanted:
                parts.append(self._chunks.popleft())
                wanted -= len(chunk)
            else:
                parts.append(chunk[:wanted])
                self._chunks[0] = chunk[wanted:]
                wanted = 0
        if not parts:
            return b""
        out = parts[0] if len(parts) == 1 else b"".join(parts)
        self._size -= len(out)
        if not self._size and self._event is not None and not self._closed:
            self._event.clear()
        return out

    def empty(self) -> bytes:
        with self._lock:
            return self._take(self._size)

    def __len__(self) -> int:
        with self._lock:
            return self._size


def fingerprint_of(key: paramiko.PKey) -> str:
    """``SHA256:...`` exactly as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The host's name as OpenSSH writes it in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


class SftpSession:
    """One SSH transport and its SFTP channel for one poll or one delivery.

    ``client`` reconnects (with exponential backoff) when the connection dropped, so a
    transfer that failed because sshd went away can succeed on the next call.
    """

    def __init__(self, name: str, conn: SftpConnection, root: Path = Path(".")):
        self.name = name
        self.conn = conn
        self.root = root
        self.uri = f"sftp://{name}"
        self._transport: paramiko.Transport | None = None
        self._client: paramiko.SFTPClient | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def client(self) -> paramiko.SFTPClient:
        if self._client is None or not self.alive:
            self.close()
            self._connect_with_retries()
        assert self._client is not None
        return self._client

    @property
    def alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    @property
    def read_size(self) -> int:
        banner = self._transport.remote_version if self._transport else ""
        return OPENSSH_READ_SIZE if "OpenSSH" in banner else SAFE_READ_SIZE

    def open_channel(self) -> paramiko.SFTPClient:
        """A further SFTP channel on the same connection, for work done in parallel."""
        if self._transport is None or not self._transport.is_active():
            raise paramiko.SSHException("not connected")
        channel = self._transport.open_session(window_size=WINDOW_SIZE,
                                               max_packet_size=MAX_PACKET_SIZE)
        channel.in_buffer = ChunkPipe()  # before the server can send anything
        channel.settimeout(self.conn.channel_timeout.total_seconds())
        channel.invoke_subsystem("sftp")
        return paramiko.SFTPClient(channel)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._client = None
        self._transport = None

    def __enter__(self) -> SftpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect_with_retries(self) -> None:
        wait = self.conn.retry_backoff.total_seconds()
        for attempt in range(1, self.conn.connect_attempts + 1):
            try:
                self._connect()
                return
            except (HostKeyRejected, AuthenticationRefused, ConfigError):
                raise  # retrying will not change the answer
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self.close()
                if attempt == self.conn.connect_attempts:
                    raise
                log.warning("sftp %s: connection attempt %d failed (%s); retrying in %.1fs",
                            self.name, attempt, describe(exc), wait)
                time.sleep(wait)
                wait *= 2

    def _connect(self) -> None:
        credential = self._credential()  # a missing key or variable fails before any network
        transport = self._handshake(self._host_key_types())
        self._transport = transport
        self._verify_host_key(transport.get_remote_server_key())
        self._login(transport, credential)
        keepalive = int(self.conn.keepalive.total_seconds())
        if keepalive:
            transport.set_keepalive(max(1, keepalive))
        self._client = self.open_channel()
        log.info("sftp %s: connected to %s:%d as %s", self.name, self.conn.host, self.conn.port,
                 self.conn.user)

    def _handshake(self, key_types: list[str] | None) -> paramiko.Transport:
        c = self.conn
        sock = socket.create_connection((c.host, c.port), timeout=c.connect_timeout.total_seconds())
        try:
            transport = paramiko.Transport(
                sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE
            )
            options = transport.get_security_options()
            supported = [x for x in PREFERRED_CIPHERS if x in options.ciphers]
            options.ciphers = supported + [x for x in options.ciphers if x not in supported]
            if key_types:
                options.key_types = [k for k in key_types if k in options.key_types]
            transport.banner_timeout = c.banner_timeout.total_seconds()
            transport.handshake_timeout = c.banner_timeout.total_seconds()
            transport.auth_timeout = c.auth_timeout.total_seconds()
            transport.channel_timeout = c.channel_timeout.total_seconds()
            transport.start_client(timeout=c.banner_timeout.total_seconds())
        except BaseException:
            sock.close()
            raise
        return transport

    @property
    def server_key(self) -> paramiko.PKey:
        """The (verified) host key of the current connection."""
        assert self._transport is not None
        return self._transport.get_remote_server_key()

    def offered_host_key(self) -> paramiko.PKey:
        """The key the server presents, without checking or logging in (for ``sftp trust``)."""
        transport = self._handshake(None)
        try:
            return transport.get_remote_server_key()
        finally:
            transport.close()

    # -- host key ---------------------------------------------------------------------------

    def known_host_keys(self) -> paramiko.HostKeys:
        assert self.conn.known_hosts
        path = self._path(self.conn.known_hosts)
        keys = paramiko.HostKeys()
        if path.exists():
            try:
                keys.load(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise ConfigError(
                    [f"sftp {self.name}: known_hosts: cannot read {path}: {exc}"]
                ) from exc
        return keys

    def _host_key_types(self) -> list[str] | None:
        """Ask for the key type we already know, so a server with several keys shows it."""
        if not self.conn.known_hosts:
            return None
        entry = self.known_host_keys().lookup(known_hosts_name(self.conn.host, self.conn.port))
        if not entry:
            return None
        types: list[str] = []
        for kind in entry:
            types += _RSA_SIGNATURES if kind == "ssh-rsa" else [kind]
        return types

    def _verify_host_key(self, key: paramiko.PKey) -> None:
        c = self.conn
        offered = fingerprint_of(key)
        if c.fingerprint:
            if offered != c.fingerprint:
                raise HostKeyRejected(self.name, c.host, c.port, key.get_name(), offered,
                                      [c.fingerprint], "the pinned fingerprint")
            return
        entry = self.known_host_keys().lookup(known_hosts_name(c.host, c.port)) or {}
        expected = [fingerprint_of(k) for k in entry.values()]
        if offered not in expected:
            raise HostKeyRejected(self.name, c.host, c.port, key.get_name(), offered,
                                  [f"{k.get_name()} {fingerprint_of(k)}" for k in entry.values()],
                                  str(self._path(c.known_hosts or "")))

    def trust(self, key: paramiko.PKey) -> Path:
        """Append ``key`` for this host to the known_hosts file; return the file."""
        assert self.conn.known_hosts
        path = self._path(self.conn.known_hosts)
        path.parent.mkdir(parents=True, exist_ok=True)
        host = known_hosts_name(self.conn.host, self.conn.port)
        with open(path, "a", encoding="ascii") as out:
            out.write(f"{host} {key.get_name()} {key.get_base64()}\n")
        return path

    # -- login ------------------------------------------------------------------------------

    def _credential(self) -> paramiko.PKey | str:
        c = self.conn
        if c.key_file or c.key_env:
            return self._private_key()
        return self._secret(c.password_env or "", "password")

    def _login(self, transport: paramiko.Transport, credential: paramiko.PKey | str) -> None:
        c = self.conn
        try:
            if isinstance(credential, paramiko.PKey):
                transport.auth_publickey(c.user, credential)
            else:
                transport.auth_password(c.user, credential)
        except paramiko.AuthenticationException as exc:
            raise AuthenticationRefused(self.name, c.user, c.host, c.port,
                                        describe(exc)) from exc
        if not transport.is_authenticated():
            raise AuthenticationRefused(self.name, c.user, c.host, c.port, "not authenticated")

    def _private_key(self) -> paramiko.PKey:
        c = self.conn
        passphrase = None
        if c.key_passphrase_env:
            passphrase = self._secret(c.key_passphrase_env, "passphrase")
        if c.key_file:
            path = self._path(c.key_file)
            try:
                return paramiko.PKey.from_path(path, passphrase)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                # The exception text names the file, never its content.
                raise ConfigError(
                    [f"sftp {self.name}: key_file: cannot load a private key from {path}:"
                     f" {type(exc).__name__}"]
                ) from None
        text = self._secret(c.key_env or "", "key")
        for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return kind.from_private_key(io.StringIO(text), passphrase)
            except (paramiko.SSHException, ValueError):
                continue
        raise ConfigError([f"sftp {self.name}: key_env: ${c.key_env} does not hold a private"
                           " key in OpenSSH or PEM format"])

    def _secret(self, variable: str, what: str) -> str:
        value = os.environ.get(variable)
        if not value:
            raise ConfigError([f"sftp {self.name}: the {what} variable ${variable} is not set"])
        return value

    def _path(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.root / path


def listdir_raw(client: paramiko.SFTPClient, path: str) -> Iterator[tuple[bytes, SFTPAttributes]]:
    """Every entry of ``path`` with its name as raw bytes.

    paramiko's own ``listdir_attr`` decodes names as strict UTF-8 and so fails the whole
    listing on one partner file named in Latin-1; reading the names as bytes lets the caller
    skip just that file. Uses paramiko's request layer directly (``_request``).
    """
    kind, msg = client._request(CMD_OPENDIR, path)
    if kind != CMD_HANDLE:
        raise paramiko.SFTPError(f"unexpected answer to opendir: {kind}")
    handle = msg.get_binary()
    try:
        while True:
            try:
                kind, msg = client._request(CMD_READDIR, handle)
            except EOFError:
                return
            if kind != CMD_NAME:
                raise paramiko.SFTPError(f"unexpected answer to readdir: {kind}")
            for _ in range(msg.get_int()):
                raw = msg.get_string()
                msg.get_string()  # the "ls -l" long name: not needed, maybe not UTF-8 either
                attrs = SFTPAttributes._from_msg(msg)
                if raw not in (b".", b".."):
                    yield raw, attrs
    finally:
        with contextlib.suppress(Exception):
            client._request(CMD_CLOSE, handle)


def rename_over(client: paramiko.SFTPClient, old: str, new: str) -> None:
    """Rename, replacing ``new`` atomically where the server supports it (OpenSSH's
    posix-rename@openssh.com); elsewhere a plain rename, which fails if ``new`` exists."""
    try:
        client.posix_rename(old, new)
    except OSError as exc:
        if exc.errno is not None:  # a real refusal (permission, missing folder): report it
            raise
        try:  # "operation unsupported": no posix-rename extension
            client.rename(old, new)
        except OSError:
            client.remove(new)  # SFTPv3 rename never replaces: not atomic, but only here
            client.rename(old, new)


class _Replies:
    """Collects answers to our pipelined requests as paramiko dispatches them."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[int, paramiko.Message]] = {}

    def _async_response(self, kind: int, msg: paramiko.Message, number: int) -> None:
        self.by_number[number] = (kind, msg)


def read_pipelined(client: paramiko.SFTPClient, path: str, size: int, *, request_size: int,
                   in_flight: int) -> Iterator[bytes]:
    """Yield the file's bytes in order, keeping ``in_flight`` read requests outstanding.

    paramiko's ``SFTPFile.prefetch`` does the same from a helper thread that polls every
    10 ms and dies noisily when the connection drops; this loop runs in the caller's thread,
    bounds memory to ``in_flight * request_size`` plus the channel window, and lets errors
    surface where they can be handled. Built on paramiko's request layer.
    """
    kind, msg = client._request(CMD_OPEN, path, SFTP_FLAG_READ, SFTPAttributes())
    if kind != CMD_HANDLE:
        raise paramiko.SFTPError(f"unexpected answer to open: {kind}")
    handle = msg.get_binary()
    replies = _Replies()
    pending: deque[tuple[int, int, int]] = deque()
    offset = 0
    try:
        while offset < size or pending:
            while offset < size and len(pending) < in_flight:
                length = min(request_size, size - offset)
                number = client._async_request(replies, CMD_READ, handle, int64(offset), length)
                pending.append((number, offset, length))
                offset += length
            number, at, length = pending.popleft()
            while number not in replies.by_number:
                client._read_response()
            kind, msg = replies.by_number.pop(number)
            if kind == CMD_STATUS:
                client._convert_status(msg)  # raises: EOF (file shrank) or the server's error
            data = msg.get_string()
            yield data
            while len(data) < length:  # a short read: the server caps request sizes
                at, length = at + len(data), length - len(data)
                kind, msg = client._request(CMD_READ, handle, int64(at), length)
                data = msg.get_string()
                yield data
    finally:
        with contextlib.suppress(Exception):
            client._async_request(type(None), CMD_CLOSE, handle)


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a network or SFTP error."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, PermissionError):
        return "permission denied by the server"
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder on the server"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, paramiko.BadAuthenticationType):
        return f"the server only allows {', '.join(exc.allowed_types) or 'other methods'}"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "…"


@contextlib.contextmanager
def sftp_errors(name: str, doing: str, unavailable: type[TransientError]) -> Iterator[None]:
    """Turn every paramiko, socket and EOF error inside into ``unavailable``, ``from`` it.

    ``doing`` completes "sftp NAME: ... failed", e.g. ``"listing /outbound"``. Host-key and
    login refusals are configuration errors and pass unchanged.
    """
    try:
        yield
    except ConfigError:  # a host key or login refused: a configuration problem, never retried
        raise
    except (OSError, EOFError, paramiko.SSHException) as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            message = f"sftp {name}: {doing}: permission denied by the server"
        else:
            message = f"sftp {name}: {doing} failed: {describe(exc)}"
        raise unavailable(message) from exc
