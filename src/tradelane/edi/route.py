"""Structure validation as an EDIFACT route runs it: called by the reader for every message.

``StructureCheck(fmt, base_dir)(msg, stream)`` validates one message against its directory (the
route's ``format.directory``, or the one its UNH names), narrowed by the route's implementation
guide (``format.guide``, relative to the mapping file's folder ``base_dir``) for its type.
Violations whose rule is ``reject`` raise a ``StructureInvalid`` with every one of them (or,
under ``isolate_messages``, mark the message so that it is split out whole and answered in the
CONTRL); ``warn`` ones become notes of the file, added to the reader's documents by
``annotate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from tradelane.edi.errors import StructureInvalid
from tradelane.edi.guides import route_guide
from tradelane.edi.options import StructureValidation
from tradelane.edi.validation import StructureValidator

#: Warnings kept per file (the checking stage keeps a few of the notes and counts the rest).
MAX_WARNINGS = 200


class StructureCheck:
    def __init__(self, fmt: Any, base_dir: Path | None = None):
        options = getattr(fmt, "validate_structure", None) or StructureValidation()
        guide = route_guide(fmt, base_dir)  # format.guide, beside the mapping file
        on = options.enabled or (guide is not None and guide.spec.severity != "off")
        self.validator = StructureValidator(getattr(fmt, "directory", None),
                                            options.severities(), guide) if on else None
        self.isolate = bool(getattr(fmt, "isolate_messages", False))
        self.notes: list[str] = []
        self.warnings = 0

    def __call__(self, msg: Any, stream: Any) -> None:
        if self.validator is None or msg.error is not None:
            return
        result = self.validator.check(msg)  # segment numbers only: finding bytes costs
        if result.skipped:
            self._note(f"not validated against a directory: {result.skipped}")
            return
        reject, warn = result.by_severity(self.validator.severity)
        for v in warn:
            self.warnings += 1
            self._note(f"{msg.type} {result.directory}: {v.issue().location}: {v.why}"
                       f" (syntax error {v.code})")
        if reject:  # again, with the byte of each violation for the reason file
            result = self.validator.check(msg, stream.locator.byte_of)
            reject, _ = result.by_severity(self.validator.severity)
            error = StructureInvalid(reject, result.directory, msg.type)
            if not self.isolate:
                raise error
            msg.error = error

    def _note(self, text: str) -> None:
        if len(self.notes) < MAX_WARNINGS and text not in self.notes:
            self.notes.append(text)

    def annotate(self, docs: Iterable[Any]) -> Iterator[Any]:
        """Each document with the warnings of the messages read so far."""
        for doc in docs:
            if self.notes:
                doc = replace(doc, notes=(*doc.notes, *self.notes))
                self.notes = []
            yield doc
