"""Fixtures of the AS2 tests (defined in as2_fixtures.py, beside their helpers)."""

from as2_fixtures import as2, keys, peer  # noqa: F401
