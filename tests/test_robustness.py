"""Whatever a partner sends, the engine neither crashes nor loses the file.

Every demo route is fed damaged versions of its own golden input (truncated, bytes flipped, junk,
a NUL, wrong encoding...). Each must end delivered, quarantined or held as a duplicate,
never failed or pending, and its bytes must survive in the archive or the quarantine.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from support.project import REPO, ProjectDir, copy_partners
from tradelane.models import Outcome

ROUTES = sorted(p.name for p in (REPO / "tests" / "cases").iterdir()
                if (REPO / "mappings" / f"{p.name}.yaml").exists())


def damaged(sample: bytes, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    flipped = bytearray(sample)
    for _ in range(5):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    cut = rng.randrange(1, len(sample))
    return {
        "truncated": sample[:cut],
        "flipped": bytes(flipped),
        "junk": bytes(rng.randrange(256) for _ in range(2048)),
        "nul": sample[:cut] + b"\x00" + sample[cut:],
        "doubled": sample + sample,
        "latin1": sample.decode("utf-8", "replace").encode("latin-1", "replace"),
        "utf16": sample.decode("utf-8", "replace").encode("utf-16"),
        "one_byte": sample[:1],
    }


@pytest.mark.parametrize("route", ROUTES)
def test_damaged_inputs_are_delivered_or_quarantined_never_lost(route: str,
                                                                tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "project")
    shutil.copy(REPO / "tradelane.yaml", project.root / "tradelane.yaml")
    shutil.copytree(REPO / "mappings", project.root / "mappings", dirs_exist_ok=True)
    copy_partners(project.root)
    [sample_path] = (REPO / "tests" / "cases" / route).glob("input.*")
    sample = sample_path.read_bytes()
    pattern = project.load().route(route).source.pattern
    variants = damaged(sample, seed=len(route))
    for i, (kind, content) in enumerate(variants.items()):
        name = pattern.replace("*", f"{kind}{i}").replace("?", "x")
        project.drop(route, name, content)

    results = project.run([route]).results

    assert len(results) == len(variants)
    for result in results:
        assert result.outcome in (Outcome.DELIVERED, Outcome.QUARANTINED, Outcome.DUPLICATE), \
            (result.name, result.outcome, result.message)
    kept = [p.read_bytes() for folder in ("archive", "quarantine")
            for p in (project.root / folder).rglob("*")
            if p.is_file() and not p.name.endswith(".reason.json")]
    for content in variants.values():
        assert content in kept  # every file's bytes survive somewhere
    for reason in (project.root / "quarantine").rglob("*.reason.json"):
        data = json.loads(reason.read_text(encoding="utf-8"))
        assert data["message"] and data["error_count"] >= 1 and data["stage"]
