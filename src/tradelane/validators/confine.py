"""Schemas stay inside the project's ``schemas/`` folder: the file a step names and every
file it pulls in (XSD import/include/redefine, xsl:import/include, ``$ref``) must resolve
there. A URL, an absolute path or a ``..`` that climbs out is a configuration error, found
by ``check`` before any file is read, and refused again when a library asks for it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from tradelane.errors import ConfigError
from tradelane.spec.validate import SCHEMAS_FOLDER


class OutsideSchemas(ConfigError):
    """A schema names a file outside the project's ``schemas/`` folder, or a URL."""

    def __init__(self, schema: str, reference: str, why: str):
        self.schema, self.reference, self.why = schema, reference, why
        super().__init__(f"{schema}: refers to {reference!r}, {why}; schemas and what they"
                         f" import must be files inside the project's {SCHEMAS_FOLDER}/ folder"
                         " (no network, no absolute paths)")


class SchemaFolder:
    """The project's ``schemas/`` folder, and the test of whether a reference stays in it."""

    def __init__(self, project_root: Path):
        self.root = (project_root / SCHEMAS_FOLDER).resolve()
        self.project_root = project_root

    def step_file(self, relative: str) -> Path:
        """The file a step names (relative to the project root), checked to be inside."""
        path = (self.project_root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise OutsideSchemas(relative, relative, f"which is not in {SCHEMAS_FOLDER}/")
        if not path.is_file():
            raise ConfigError(f"{relative}: no such schema file in {SCHEMAS_FOLDER}/")
        return path

    def reference(self, reference: str, base: Path, schema: str) -> Path:
        """Where ``reference`` (written in the file ``base``) points, if it stays inside."""
        parsed = urlparse(reference)
        if parsed.scheme and parsed.scheme != "file" and len(parsed.scheme) > 1:
            raise OutsideSchemas(schema, reference, "a network address")
        if parsed.scheme == "file" or reference.startswith(("/", "\\")):
            target = Path(unquote(parsed.path if parsed.scheme else reference))
            if not target.resolve().is_relative_to(self.root):
                raise OutsideSchemas(schema, reference, "an absolute path")
        else:
            target = base.parent / unquote(parsed.path or reference)
        resolved = target.resolve()
        if not resolved.is_relative_to(self.root):
            raise OutsideSchemas(schema, reference, f"which is outside {SCHEMAS_FOLDER}/")
        if not resolved.is_file():
            raise ConfigError(f"{schema}: refers to {reference!r}, which does not exist")
        return resolved

    def name(self, path: Path) -> str:
        """``schemas/…`` for messages."""
        try:
            return f"{SCHEMAS_FOLDER}/{path.resolve().relative_to(self.root)}"
        except ValueError:
            return str(path)
