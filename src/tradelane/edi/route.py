"""Structure validation as an EDIFACT route runs it: called by the reader for every message.

``StructureCheck(fmt, base_dir)(msg, stream)`` validates one message against its directory (the
route's ``format.directory``, or the one its UNH names), narrowed by the route's implementation
guide (``format.guide``, relative to the mapping file's folder ``base_dir``) for its type.
Violations whose rule is ``reject`` raise a ``StructureInvalid`` with every one of them (or,
under ``isolate_messages``, mark the message so that it is split out whole and answered in the
CONTRL); ``warn`` ones become notes of the file, added to the reader's documents by
``annotate``.

Outside ``isolate_messages`` the messages are validated in batches: ``annotate`` validates the
messages read since the last document before it hands out the next (``unproven`` screens the
batch, ``check`` says what is wrong with the few it could not clear), so a rejected message
still stops the file before any document holding it is given out. When the reader fails
first (a broken envelope further on), the held messages are validated before its error is
passed on: a message that breaks its standard earlier in the file is the error reported.
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
        self.pending: list[Any] = []  # messages read, not yet validated (batch mode)
        self.stream: Any = None

    def __call__(self, msg: Any, stream: Any) -> None:
        if self.validator is None or msg.error is not None:
            return
        if not self.isolate:
            self.stream = stream
            self.pending.append(msg)  # validated with its batch, by annotate
            return
        msg.error = self._check(msg, stream)  # split out by the reader at once if bad

    def _check(self, msg: Any, stream: Any) -> StructureInvalid | None:
        """One message in full: its warnings noted, its rejection returned."""
        assert self.validator is not None
        result = self.validator.check(msg)  # segment numbers only: finding bytes costs
        if result.skipped:
            self._note(f"not validated against a directory: {result.skipped}")
            return None
        reject, warn = result.by_severity(self.validator.severity)
        for v in warn:
            self.warnings += 1
            self._note(f"{msg.type} {result.directory}: {v.issue().location}: {v.why}"
                       f" (syntax error {v.code})")
        if not reject:
            return None
        # again, with the byte of each violation for the reason file
        result = self.validator.check(msg, stream.locator.byte_of)
        reject, _ = result.by_severity(self.validator.severity)
        return StructureInvalid(reject, result.directory, msg.type)

    def _flush(self) -> StructureInvalid | None:
        """Validates the messages held; the first one's rejection, if one is rejected."""
        pending, self.pending = self.pending, []
        if not pending or self.validator is None:
            return None
        for msg in self.validator.unproven(pending):
            error = self._check(msg, self.stream)
            if error is not None:
                return error
        return None

    def _note(self, text: str) -> None:
        if len(self.notes) < MAX_WARNINGS and text not in self.notes:
            self.notes.append(text)

    def annotate(self, docs: Iterable[Any]) -> Iterator[Any]:
        """Each document, once the messages read so far are validated, with their warnings."""
        reader = iter(docs)
        try:
            while True:
                try:
                    doc = next(reader)
                except StopIteration:
                    doc = None
                except Exception:
                    error = self._flush()
                    if error is not None:  # an earlier message broke its standard
                        raise error from None
                    raise
                error = self._flush()
                if error is not None:
                    raise error
                if doc is None:
                    return
                if self.notes:
                    doc = replace(doc, notes=(*doc.notes, *self.notes))
                    self.notes = []
                yield doc
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()  # the reader's file, now rather than when collected
