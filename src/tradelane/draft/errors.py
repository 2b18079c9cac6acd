"""What ``tradelane draft`` refuses, each with its exit code (the README's table)."""

from __future__ import annotations

from pathlib import Path

from tradelane.errors import EXIT_CONFIG, RequestError


class DraftExists(RequestError):
    """The route file is already there: a draft never writes over a mapping (exit 6)."""

    def __init__(self, path: Path, what: str = "mapping"):
        self.path = path
        super().__init__(f"{path} already exists; a draft never writes over a {what}: give"
                         " another --name, move the file away, or use --stdout")


class UnusableSample(RequestError):
    """The sample cannot be profiled: empty, binary, or of no format tradelane reads (exit 2,
    a usage problem: nothing was written)."""

    exit_code = EXIT_CONFIG

    def __init__(self, sample: Path | str, why: str):
        self.sample, self.why = str(sample), why
        super().__init__(f"cannot draft a route from {sample}: {why}")
