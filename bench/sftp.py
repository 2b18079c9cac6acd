"""SFTP throughput of SftpSource against OpenSSH's own ``sftp`` client, over loopback.

Starts a throwaway sshd (the test fixture's code, as a plain function), then measures in
the same run, alternating the two clients so background load hits both alike:

- one 200 MB file: ``SftpSource.fetch`` vs ``sftp -b`` running ``get``;
- 1,000 files of 2 KB: one poll (connect, list, fetch every file) vs ``sftp -b`` running
  1,000 ``get`` lines over one connection.

Usage: ``.venv/bin/python bench/sftp.py [--rounds 3] [--size-mb 200] [--files 1000]``
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.sftp_routes import make_route, make_settings
from support.sshd import Sshd, sshd_available, start_sshd
from tradelane.sources.sftp import SftpSource
from tradelane.staging import Staged

#: rates of ours and OpenSSH's, the pair ratios, CPU seconds of ours and OpenSSH's
Result = tuple[float, float, list[float], float, float]


def openssh_batch(server: Sshd, lines: list[str], work: Path) -> None:
    batch = work / "batch.txt"
    batch.write_text("\n".join(lines) + "\n")
    subprocess.run(
        ["sftp", "-q", "-b", str(batch), "-i", str(server.client_key),
         "-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes",
         "-P", str(server.port), f"{server.user}@127.0.0.1"],
        check=True, capture_output=True,
    )


def source_for(server: Sshd, folder: Path, work: Path) -> SftpSource:
    return SftpSource(make_route(folder, min_age="0s", order="name"),
                      make_settings(server, work))


def timed(action: Callable[[], object], who: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``action``; CPU of ``who`` (RUSAGE_SELF: this process
    and its threads; RUSAGE_CHILDREN: OpenSSH's ``sftp`` and ``ssh``, not the server's)."""
    def cpu() -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    start, used = time.perf_counter(), cpu()
    action()
    return time.perf_counter() - start, cpu() - used


def bench_large(server: Sshd, work: Path, size_mb: int, rounds: int) -> Result:
    folder = server.root / "large"
    folder.mkdir()
    big = folder / "big.bin"
    with open(big, "wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(1 << 20))
    dest = work / "big.out"

    def ours() -> None:
        with source_for(server, folder, work) as src:
            [ref] = src.list_ready()
            src.fetch(ref, dest)

    def openssh() -> None:
        openssh_batch(server, [f"get {big} {dest}"], work)

    return _alternate(ours, openssh, rounds, size_mb)


def bench_small(server: Sshd, work: Path, count: int, rounds: int) -> Result:
    folder = server.root / "small"
    folder.mkdir()
    for i in range(count):
        (folder / f"ORD{i:05d}.csv").write_bytes(os.urandom(2048))
    spool = work / "spool"
    spool.mkdir()

    def ours() -> None:
        with source_for(server, folder, work) as src:
            refs = src.list_ready()
            assert len(refs) == count
            # small files are held in memory: write them out, as OpenSSH does
            for ref, staged in zip(refs, src.fetch_all([(ref, spool / ref.name) for ref in refs]),
                                   strict=True):
                staged = staged or src.fetch(ref, spool / ref.name)  # not shared out: as a route
                assert isinstance(staged, Staged)
                if staged.data is not None:
                    (spool / ref.name).write_bytes(staged.data)

    def openssh() -> None:
        openssh_batch(server, [f"get {folder}/ORD{i:05d}.csv {spool}/" for i in range(count)],
                      work)

    return _alternate(ours, openssh, rounds, count)


def _alternate(ours: Callable[[], None], theirs: Callable[[], None], rounds: int,
               units: float) -> Result:
    """Median rates of both, the ratio of each back-to-back pair (robust to load), and the
    median CPU seconds of both (steadier than the wall clock on a shared machine)."""
    mine, openssh, mine_cpu, openssh_cpu = [], [], [], []
    for _ in range(rounds):
        wall, cpu = timed(ours, resource.RUSAGE_SELF)
        mine.append(units / wall)
        mine_cpu.append(cpu)
        wall, cpu = timed(theirs, resource.RUSAGE_CHILDREN)
        openssh.append(units / wall)
        openssh_cpu.append(cpu)
    ratios = sorted(m / o for m, o in zip(mine, openssh, strict=True))
    return (statistics.median(mine), statistics.median(openssh), ratios,
            statistics.median(mine_cpu), statistics.median(openssh_cpu))


def _report(label: str, unit: str, result: Result) -> None:
    ours, theirs, ratios, ours_cpu, theirs_cpu = result
    print(f"{label:<18} SftpSource {ours:7.1f} {unit}   OpenSSH sftp {theirs:7.1f} {unit}"
          f"   ratio {statistics.median(ratios):.2f}x"
          f" (pairs {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"{'':<18} CPU s     {ours_cpu:7.2f}         OpenSSH      {theirs_cpu:7.2f}"
          f"         ratio {theirs_cpu / ours_cpu:.2f}x (client side; the server's not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    if reason := sshd_available():
        sys.exit(f"cannot run: {reason}")
    server = start_sshd()
    work = Path(tempfile.mkdtemp(prefix="tradelane-bench-"))
    try:
        _report(f"{args.size_mb} MB file", "MB/s",
                bench_large(server, work, args.size_mb, args.rounds))
        _report(f"{args.files} x 2 KB files", "files/s",
                bench_small(server, work, args.files, args.rounds))
        print(f"(median of {args.rounds} alternating rounds; loopback; {os.cpu_count()} cores)")
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
