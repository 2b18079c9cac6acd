"""The first look at a sample: read a bounded head of it, find its encoding and its kind.

Encoding: a byte order mark says it outright; text that decodes as UTF-8 and has bytes
above 127 is UTF-8 (other encodings seldom decode by chance); otherwise bytes 0x80-0x9F
that Windows-1252 maps to letters and quotes (the German „ of an ERP export) make it cp1252,
and bytes 0xA0-0xFF alone latin-1 (where the two agree).
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tradelane.draft.errors import UnusableSample
from tradelane.draft.model import MAX_BYTES

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Sample:
    """The head of the sample file, decoded."""

    path: Path
    data: bytes  # at most MAX_BYTES
    size: int  # of the whole file
    encoding: str
    encoding_why: str
    text: str  # decoded, BOM removed; a character cut at the end is left out

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


def read_sample(path: Path, limit: int = MAX_BYTES) -> Sample:
    """The first ``limit`` bytes of ``path``, decoded with the encoding they show."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            data = fh.read(limit)
    except OSError as exc:
        raise UnusableSample(path, f"it cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise UnusableSample(path, "it is empty")
    encoding, why = guess_encoding(data)
    if encoding.startswith("utf-16") or encoding.startswith("utf-32"):
        text = data.decode(encoding, errors="replace")
    else:
        if b"\x00" in data:
            raise UnusableSample(path, "it holds NUL bytes: a binary file, or UTF-16 without a"
                                 " byte order mark")
        decoder = codecs.getincrementaldecoder(encoding)("replace")
        text = decoder.decode(data[3:] if data.startswith(codecs.BOM_UTF8) else data,
                              final=size <= len(data))
    return Sample(path, data, size, encoding, why, text.lstrip("\ufeff"))


def guess_encoding(data: bytes) -> tuple[str, str]:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, f"the file starts with a {name.upper()} byte order mark"
    high = sum(b > 127 for b in data)
    if not high:
        return "utf-8", "plain ASCII (UTF-8 reads it)"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=False)
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1].hex().upper()
        c1 = [b for b in data if 0x80 <= b <= 0x9F]
        if c1:
            shown = "".join(sorted({bytes([b]).decode("cp1252", "replace") for b in c1}))[:8]
            return "cp1252", (f"not UTF-8 (byte 0x{bad} at offset {exc.start}); {len(c1)}"
                              f" bytes 0x80-0x9F read as Windows-1252 {shown!r}")
        return "latin-1", (f"not UTF-8 (byte 0x{bad} at offset {exc.start}); only bytes"
                           " 0xA0-0xFF, where latin-1 and cp1252 agree")
    return "utf-8", f"{high} bytes above 127, all valid UTF-8"


_JSON_LINE = re.compile(r"^\s*[\[{]")


def guess_kind(sample: Sample) -> tuple[str, str]:
    """The format of the sample (csv, fixed, json, jsonl, xml, edifact, x12) and why."""
    head = sample.text.lstrip()
    if re.match(r"UNA.{6}", head, re.DOTALL) or head[:3] in ("UNB", "UNH"):
        return "edifact", f"it starts with {head[:3]}"
    if head.startswith("ISA") and len(head) > 3 and not head[3].isalnum():
        return "x12", "it starts with an ISA segment"
    if head.startswith("<"):
        return "xml", "it starts with '<'"
    if head[:1] in "[{":
        lines = [ln for ln in head.splitlines()[:50] if ln.strip()]
        if len(lines) > 1 and all(_JSON_LINE.match(ln) and _one_value(ln) for ln in lines):
            return "jsonl", f"each of the first {len(lines)} lines is a JSON value"
        return "json", f"it starts with {head[0]!r}"
    return "text", "plain text"


def _one_value(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
