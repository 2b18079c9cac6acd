"""The ``tradelane`` command: ``main`` holds the app and the file/ops commands; ``serve``,
``console`` and ``sftp`` hold theirs. Presentation only: every decision is in the engine."""

from tradelane.cli.main import app

__all__ = ["app"]
