"""``make chaos``: the long crash campaign, outside pytest, with its summary table.

    PYTHONPATH=tests .venv/bin/python -m chaos.campaign --kills 2000 [--seed N] [--lanes 2]

The table is rewritten after every round in ``--progress`` (default
``.tradelane-chaos.txt``), so a campaign stopped half way still says what it found.
Exit 0 when no promise was broken, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chaos.harness import run_campaigns
from support.sshd import sshd_available, start_sshd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=random.randrange(10**6))
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--progress", type=Path, default=Path(".tradelane-chaos.txt"))
    args = parser.parse_args()
    sshd = None if sshd_available() else start_sshd()
    if sshd is None:
        print("no sshd here: the campaign runs without its SFTP route", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="tradelane-chaos-"))
    start = time.monotonic()
    try:
        tally, _met = run_campaigns(workdir, sshd, seed=args.seed, kills=args.kills,
                                    lanes=args.lanes, progress=args.progress)
    finally:
        if sshd is not None:
            sshd.stop()
            shutil.rmtree(sshd.base, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(tally.table(args.seed, time.monotonic() - start))
    for problem in tally.problems:
        print(f"\n{problem}")
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())
