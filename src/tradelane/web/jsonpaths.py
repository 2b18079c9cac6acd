"""Where each value of a JSON text starts, by its JSON path: the console's preview marks a
JSON path error at its line. Kept in ``formats/json_locate.py``, which ``quarantine show``
uses too; re-exported here for the console."""

from tradelane.formats.json_locate import (
    MAX_DEPTH,
    key_step,
    line_of,
    path_lines,
    text_lines,
    value_offsets,
)

__all__ = ["MAX_DEPTH", "key_step", "line_of", "path_lines", "text_lines", "value_offsets"]
