"""Fixtures of the step tests: OpenPGP keys (see ``pgp_keys.py``) and the project keyring."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgp_keys import Keys, kill_agent, make_key, new_home, share


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    base = Path(tempfile.mkdtemp(prefix="pgp-"))
    ours_home, partner_home, stranger_home = (new_home(base, n)
                                              for n in ("ours", "partner", "stranger"))
    ours = make_key(ours_home, "ours")
    locked = make_key(ours_home, "locked", passphrase="open sesame")
    partner = make_key(partner_home, "partner")
    expired = make_key(partner_home, "old", expire="1d", faked="20200101T000000!")
    stranger = make_key(stranger_home, "stranger")
    for fpr in (ours, locked):
        share(ours_home, fpr, partner_home)
        share(ours_home, fpr, stranger_home)
    for fpr in (partner, expired):
        share(partner_home, fpr, ours_home)
    yield Keys(base, ours, ours_home, partner, partner_home, stranger, stranger_home, expired,
               locked)
    for home in (ours_home, partner_home, stranger_home):
        kill_agent(home)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def keyring(keys: Keys, project) -> Iterator[Path]:
    """A copy of our keyring as the project's ``gnupg`` folder."""
    home = project.root / "gnupg"
    shutil.copytree(keys.ours_home, home, ignore=shutil.ignore_patterns("S.*"))
    home.chmod(0o700)
    yield home
    kill_agent(home)
