"""Transports against a reference client, over loopback, in the same run.

One section per transport (``TRANSPORTS``); each starts its own throwaway server (the test
fixtures' code, as plain functions) and alternates ours and the reference client, so that
background load hits both alike.

- ``ftp``: FtpSource against ``curl`` (ftp:// download), plain FTP and explicit FTPS
  (``--tls``): one 200 MB file (``FtpSource.fetch`` vs ``curl -o``), and 1,000 files of
  2 KB (one poll: connect, list, fetch every file, vs one ``curl`` fetching the 1,000 URLs
  over one connection, from a URL range).

- ``as2``: AS2 messages per second, tradelane's sender against django-pyas2's own client,
  both to one django-pyas2 server (``bench/as2.py``; ``--messages``).

Usage: ``.venv/bin/python bench/transports.py [ftp] [as2] [--tls none|explicit] [--rounds 3]
[--size-mb 200] [--files 1000]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.vsftpd import Vsftpd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ftp"))

#: rates of ours and the reference's, the pair ratios, CPU seconds of ours and theirs
Result = tuple[float, float, list[float], float, float]


def timed(action: Callable[[], object], who: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``action``; CPU of ``who`` (RUSAGE_SELF: this process
    and its threads; RUSAGE_CHILDREN: the reference client, not the server)."""
    def cpu() -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    start, used = time.perf_counter(), cpu()
    action()
    return time.perf_counter() - start, cpu() - used


def alternate(ours: Callable[[], None], theirs: Callable[[], None], rounds: int,
              units: float, reset: Callable[[], None] = lambda: None) -> Result:
    """Median rates of both, the ratio of each back-to-back pair (robust to load), and the
    median CPU seconds of both. Who goes first changes every round, and ``reset`` (untimed)
    runs before each side: e.g. removing the last side's output, so that neither pays for
    deleting or truncating the other's files."""
    mine, ref, mine_cpu, ref_cpu = [], [], [], []
    for number in range(rounds):
        sides = [(True, ours, resource.RUSAGE_SELF), (False, theirs, resource.RUSAGE_CHILDREN)]
        for is_ours, action, who in sides if number % 2 == 0 else sides[::-1]:
            reset()
            wall, cpu = timed(action, who)
            (mine if is_ours else ref).append(units / wall)
            (mine_cpu if is_ours else ref_cpu).append(cpu)
    ratios = sorted(m / o for m, o in zip(mine, ref, strict=True))
    return (statistics.median(mine), statistics.median(ref), ratios,
            statistics.median(mine_cpu), statistics.median(ref_cpu))


def report(label: str, unit: str, ours_name: str, ref_name: str, result: Result) -> None:
    ours, theirs, ratios, ours_cpu, theirs_cpu = result
    print(f"{label:<22} {ours_name} {ours:7.1f} {unit}   {ref_name} {theirs:7.1f} {unit}"
          f"   ratio {statistics.median(ratios):.2f}x"
          f" (pairs {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"{'':<22} CPU s {ours_cpu:7.2f}   {ref_name} {theirs_cpu:7.2f}"
          " (client side; the server's not counted)")


# -- FTP ---------------------------------------------------------------------------------------


def bench_ftp(args: argparse.Namespace) -> None:
    from ftp_routes import make_route, make_settings

    from support.vsftpd import PASSWORD_ENV, start_vsftpd, vsftpd_available
    from tradelane.sources.ftp import FtpSource

    if reason := vsftpd_available():
        sys.exit(f"cannot run: {reason}")
    server = start_vsftpd(args.tls)
    work = Path(tempfile.mkdtemp(prefix="tradelane-bench-"))
    old_umask = os.umask(0)  # folders the server's ftp user can write, as in the tests
    try:
        def source(folder: Path) -> FtpSource:
            return FtpSource(make_route(server, folder, min_age="0s", order="name"),
                             make_settings(server, work))

        def curl(*args_: str) -> None:
            tls = ["--ssl-reqd", "--cacert", str(server.ca)] if server.tls != "none" else []
            # curl's default CWD method: with --ftp-method nocwd its many-file loop waits
            # ~130 ms per file (Nagle's algorithm against delayed ACKs) on this machine
            login = f"anonymous:{os.environ[PASSWORD_ENV]}"
            subprocess.run(["curl", "-s", "-S", "--fail", "--ftp-pasv", "-u", login, *tls,
                            *args_], check=True, capture_output=True)

        url = f"ftp://127.0.0.1:{server.port}"
        label = "FTPS" if args.tls != "none" else "FTP"
        report(f"{label} {args.size_mb} MB file", "MB/s", "FtpSource", "curl",
               _ftp_large(server, work, args, source, curl, url))
        report(f"{label} {args.files} x 2 KB", "files/s", "FtpSource", "curl",
               _ftp_small(server, work, args, source, curl, url))
        print(f"(median of {args.rounds} alternating rounds; vsftpd on loopback;"
              f" {os.cpu_count()} cores)")
    finally:
        os.umask(old_umask)
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _ftp_large(server: Vsftpd, work: Path, args: argparse.Namespace,
               source: Callable[[Path], object], curl: Callable[..., None], url: str) -> Result:
    folder = server.folder()
    big = folder / "big.bin"
    with open(big, "wb") as out:
        for _ in range(args.size_mb):
            out.write(os.urandom(1 << 20))
    os.utime(big, (time.time() - 60, time.time() - 60))
    os.sync()  # the setup's writes are not flushed during the first timed round
    dest = work / "big.out"

    def ours() -> None:
        with source(folder) as src:  # type: ignore[attr-defined]
            [ref] = src.list_ready()
            src.fetch(ref, dest)  # the spool copy stays, as curl's output does

    def theirs() -> None:
        curl("-o", str(dest), f"{url}{big}")

    return alternate(ours, theirs, args.rounds, args.size_mb,
                     reset=lambda: dest.unlink(missing_ok=True))


def _ftp_small(server: Vsftpd, work: Path, args: argparse.Namespace,
               source: Callable[[Path], object], curl: Callable[..., None], url: str) -> Result:
    from tradelane.staging import Staged

    folder = server.folder()
    for i in range(args.files):
        (folder / f"ORD{i:05d}.csv").write_bytes(os.urandom(2048))
        os.utime(folder / f"ORD{i:05d}.csv", (time.time() - 60, time.time() - 60))
    spool = work / "spool"
    os.sync()

    def reset() -> None:
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir()

    def ours() -> None:
        with source(folder) as src:  # type: ignore[attr-defined]
            refs = src.list_ready()
            assert len(refs) == args.files
            # as the pipeline takes a chunk; small files are held in memory: written out here,
            # as curl writes them
            for ref, staged in zip(refs, src.fetch_all([(r, spool / r.name) for r in refs]),
                                   strict=True):
                assert isinstance(staged, Staged), staged
                if staged.data is not None:
                    (spool / ref.name).write_bytes(staged.data)

    def theirs() -> None:
        curl("-o", f"{spool}/ORD#1.csv", f"{url}{folder}/ORD[00000-{args.files - 1:05d}].csv")

    return alternate(ours, theirs, args.rounds, args.files, reset)


#: One entry per transport; later transports (AS2) add theirs.
TRANSPORTS: dict[str, Callable[[argparse.Namespace], None]] = {"ftp": bench_ftp}


def bench_as2(args: argparse.Namespace) -> None:
    """AS2 messages per second against django-pyas2's own client (bench/as2.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from as2 import bench_as2 as run

    run(args)


TRANSPORTS["as2"] = bench_as2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transports", nargs="*", metavar="TRANSPORT",
                        help=f"which to measure: {', '.join(TRANSPORTS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100, help="AS2: messages per round")
    parser.add_argument("--tls", choices=["none", "explicit"], default="none",
                        help="FTP: plain FTP or explicit FTPS (PROT P)")
    args = parser.parse_args()
    for name in args.transports or list(TRANSPORTS):
        if name not in TRANSPORTS:
            parser.error(f"no transport {name!r} (known: {', '.join(TRANSPORTS)})")
        TRANSPORTS[name](args)


if __name__ == "__main__":
    main()
