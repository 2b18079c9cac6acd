"""UN/EDIFACT: message types and their directory (from UNH), the record segment group, and
the segments present with their names in the directory, as header and record fields.

The file is tokenized by the engine's own streaming tokenizer and read up to the profiling
limits; an envelope fault is not this module's business (validate reports it), but a file the
tokenizer cannot read at all is.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial

from tradelane.draft.errors import UnusableSample
from tradelane.draft.model import MAX_RECORDS, MAX_SEGMENTS, Draft, FieldDraft, Guess
from tradelane.draft.segments import (
    Position,
    Segment,
    as_components,
    section_fields,
    split_records,
)
from tradelane.draft.sniff import Sample
from tradelane.edi import directory as dirs
from tradelane.errors import RejectError
from tradelane.formats.edi_errors import CharsetViolation, UnknownSyntaxIdentifier
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.spec.fields import FieldSpec

SERVICE = frozenset({"UNA", "UNB", "UNG", "UNE", "UNZ", "UNH", "UNT"})
ENDS = frozenset({"UNS", "UNT"})
#: 2379 date/time format qualifiers -> (type, strptime format)
DATE_CODES = {"102": ("date", "%Y%m%d"), "101": ("date", "%y%m%d"),
              "203": ("datetime", "%Y%m%d%H%M"), "204": ("datetime", "%Y%m%d%H%M%S")}
_MAX_FIELDS = 40
#: (record tag, header fields, record fields, paths left out, records read)
_Fields = tuple[str | None, list[FieldDraft], list[FieldDraft], list[str], int]


def _messages(sample: Sample, draft: Draft) -> tuple[list[list[Segment]], str]:
    """The messages (UNH..UNT, as segments) read within the limits, and the syntax id. A
    partner whose bytes are not in the character set its UNB declares (UNOA with UTF-8
    umlauts, a syntax identifier of its own) is read with the encoding the bytes show, and
    the draft says so (format.encoding)."""
    try:
        return _read(sample, draft, None)
    except (CharsetViolation, UnknownSyntaxIdentifier) as exc:
        messages, syntax = _read(sample, draft, sample.encoding)
        draft.format.append(Guess("encoding", sample.encoding, f"{exc.message}; the bytes"
                                  f" read as {sample.encoding}: {sample.encoding_why}"))
        return messages, syntax


def _read(sample: Sample, draft: Draft, encoding: str | None
          ) -> tuple[list[list[Segment]], str]:
    messages: list[list[Segment]] = []
    current: list[Segment] | None = None
    seen = 0
    syntax = ""
    try:
        stream = SegmentStream(sample.path, encoding=encoding)
        syntax = f"{stream.syntax.identifier}:{stream.syntax.version}"
        for block in stream:
            for i, tag in enumerate(block.tags):
                seen += 1
                if tag == "UNH":
                    current = []
                if current is not None:
                    elements = block.elements(i)[1:]
                    current.append((tag, [as_components(e) for e in elements]))
                if tag == "UNT" and current is not None:
                    messages.append(current)
                    current = None
            if len(messages) >= MAX_RECORDS or seen >= MAX_SEGMENTS:
                draft.truncated = True
                draft.extent = f"the first {seen:,} segments, {len(messages):,} messages"
                break
    except (CharsetViolation, UnknownSyntaxIdentifier):
        if encoding is None:
            raise
        raise UnusableSample(sample.path, "its bytes fit neither the character set it"
                             f" declares nor {encoding}") from None
    except RejectError as exc:
        if not messages and current is None:
            raise UnusableSample(sample.path, f"it cannot be read as EDIFACT: {exc}") from None
        draft.notes.append(f"the sample is broken, tradelane will refuse it: {exc}")
    if current:
        messages.append(current)  # a message cut short still shows its segments
    return messages, syntax


def draft_edifact(sample: Sample) -> Draft:
    draft = Draft(kind="edifact")
    messages, syntax = _messages(sample, draft)
    if not messages:
        raise UnusableSample(sample.path, "it holds no UNH..UNT message")
    types: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    for message in messages:
        s009 = message[0][1][1] if len(message[0][1]) > 1 else []
        s009 = s009 + [""] * (5 - len(s009))
        types[s009[0]] += 1
        keys[dirs.directory_for(s009[1], s009[2], s009[4], syntax.partition(":")[2])] += 1
    main = types.most_common(1)[0][0]
    draft.format.append(Guess("messages", sorted(types), ", ".join(
        f"{n} {t} message(s)" for t, n in types.most_common()) + f" in the sample (UNB {syntax})"))
    bodies = [m for m in messages if _type(m) == main]
    message_def, fields = _with_directory(draft, keys, types, main, bodies, messages)
    record, draft.header, draft.fields, left, count = fields
    if record:
        draft.format.append(Guess("records", record, f"{count} {record} segments start the"
                                  f" repeated group of {main}" + (
                                      f" ({_group(message_def, record)})"
                                      if message_def else "")))
        draft.records_seen = count
    else:
        draft.notes.append(f"no repeated segment group: each {main} message is one record")
        draft.records_seen = len(bodies)
    if left:
        draft.notes.append(f"{len(left)} more values are not mapped, e.g. {', '.join(left[:4])}")
    if not draft.fields:
        draft.fields.append(FieldDraft("message_ref", "_message", why="UNH 0062"))
    if message_def is not None and "take" in FieldSpec.model_fields:
        for field in draft.header + draft.fields:  # the first, as the profile read it
            if _may_repeat(message_def, field.source.split(".")[0].split("[")[0]):
                field.extra["take"] = "first"
    draft.summary = _present(bodies, message_def, main)
    return draft


def _with_directory(draft: Draft, keys: Counter[str], types: Counter[str], main: str,
                    bodies: list[list[Segment]], messages: list[list[Segment]]
                    ) -> tuple[dirs.MessageDef | None, _Fields]:
    """The directory the messages name (its UN base when an EANCOM subset lacks the
    sample's qualifiers), added to the draft, and the fields read with its definitions."""
    key = keys.most_common(1)[0][0]
    if len(keys) == 1 and key in dirs.directories() and all(
            t in dirs.messages(key) for t in types):
        message_def = dirs.load(key, main)
        why = f"every UNH names {key} ({message_def.name})"
        fields = _fields(bodies, message_def, messages)
        bad = _foreign_codes(message_def, fields[1] + fields[2])
        if bad and message_def.base != key:  # an EANCOM subset narrower than its data
            why += (f"; the sample's qualifiers {', '.join(bad[:3])} are not in {key}'s code"
                    f" lists, so its UN directory {message_def.base}")
            key, message_def = message_def.base, dirs.load(message_def.base, main)
            fields = _fields(bodies, message_def, messages)
        draft.format.append(Guess("directory", key, why))
        bad = _foreign_codes(message_def, fields[1] + fields[2])
        if bad:  # check would refuse them: leave them for the human, named
            draft.notes.append(f"qualifiers not in {key}'s code lists, not mapped:"
                               f" {', '.join(sorted(set(bad)))}")
            keep = [f for f in fields[1] + fields[2]
                    if not _foreign_codes(message_def, [f])]
            fields = (fields[0], [f for f in fields[1] if f in keep],
                      [f for f in fields[2] if f in keep], fields[3], fields[4])
        if key.startswith("EAN"):
            draft.format.append(Guess(
                "validate_structure", {"code_list": "warn"},
                "EANCOM schemas narrow some code lists further than the EANCOM manuals"))
    else:
        message_def = None
        known = key in dirs.directories()
        draft.notes.append(f"UNH names {', '.join(keys)}: " + (
            "not one directory for every message type; structure is checked against each"
            " message's own" if known else "no UN/EDIFACT directory tradelane ships, so"
            " segments and paths are not checked against one"))
        fields = _fields(bodies, None, messages)
    return message_def, fields


def _fields(bodies: list[list[Segment]], message_def: dirs.MessageDef | None,
            messages: list[list[Segment]]
            ) -> _Fields:
    """(record tag, header fields, record fields, paths left out, records) read with this
    directory's definitions."""
    record = _record_tag(messages, message_def)
    heads: list[list[Segment]] = []
    records: list[list[Segment]] = []
    for message in bodies:
        head, recs = split_records(message, record, SERVICE, ENDS)
        heads.append(head)
        records.extend(recs)
    del records[MAX_RECORDS:]  # the profile's bound, as for every format
    describe = partial(_describe, message_def)
    coded = partial(_coded, message_def)
    taken: set[str] = set()
    header, left = section_fields(heads, describe, coded, taken, limit=_MAX_FIELDS,
                                  special=_dates, header=True) if record else ([], [])
    fields, more = section_fields(records if record else heads, describe, coded, taken,
                                  limit=_MAX_FIELDS, special=_dates)
    return record, header, fields, left + more, len(records)


def _foreign_codes(message_def: dirs.MessageDef, fields: list[FieldDraft]) -> list[str]:
    """Qualifiers of these fields' paths that the directory's code lists do not hold."""
    bad = []
    for field in fields:
        tag, _, rest = field.source.partition("[")
        if not rest:
            continue
        code = rest.split("]")[0]
        defs = message_def.segments(tag)
        first = defs[0].positions[0] if defs and defs[0].positions else None
        element = first and (first.element or (first.composite.components[0].element
                                               if first.composite else None))
        if element is not None and element.codes is not None and code not in element.codes:
            bad.append(f"{tag}[{code}]")
    return bad


def _may_repeat(message_def: dirs.MessageDef, tag: str) -> bool:
    """Whether more than one segment ``tag`` may occur in a message."""
    places = 0
    for groups, node in message_def.walk():
        if isinstance(node, dirs.SegmentNode) and node.tag == tag:
            places += 1
            if node.max_occurs != 1 or groups:
                return True
    return places > 1


def _type(message: list[Segment]) -> str:
    s009 = message[0][1][1] if len(message[0][1]) > 1 else [""]
    return s009[0]


def _record_tag(messages: list[list[Segment]], message_def: dirs.MessageDef | None
                ) -> str | None:
    counts: Counter[str] = Counter(tag for m in messages for tag, _ in m)
    repeated = {tag for m in messages for tag, n in Counter(t for t, _ in m).items() if n > 1}
    if message_def is None:
        return "LIN" if "LIN" in counts else None
    triggers = Counter(node.trigger for _path, node in message_def.walk()
                       if isinstance(node, dirs.GroupNode))
    if "LIN" in counts and triggers["LIN"] == 1:
        return "LIN"  # the line item of nearly every commercial message
    order = {tag: i for i, tag in enumerate(t for m in messages for t, _ in m)}
    # a tag that starts two groups would not say which records are meant
    candidates = [t for t, n in triggers.items() if n == 1 and t in repeated
                  and t not in SERVICE]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (counts[t], order.get(t, 0)))


def _group(message_def: dirs.MessageDef | None, trigger: str) -> str:
    for _path, node in (message_def.walk() if message_def else []):
        if isinstance(node, dirs.GroupNode) and node.trigger == trigger:
            return f"segment group {node.name}"
    return "a segment group"


def _describe(message_def: dirs.MessageDef | None, tag: str, element: int) -> Position | None:
    if message_def is None:
        return None
    defs = message_def.segments(tag)
    if not defs or element > len(defs[0].positions):
        return None
    pos = defs[0].positions[element - 1]
    if pos.composite is not None:
        parts = tuple((c.element.name, c.element.representation == "n")
                      for c in pos.composite.components)
        return Position(pos.composite.name, True, None, parts)
    assert pos.element is not None
    return Position(pos.element.name, False, pos.element.representation == "n")


def _coded(message_def: dirs.MessageDef | None, tag: str, values: set[str]) -> bool:
    """Whether the segment's first value is a code (a qualifier) in its definition; without
    one, whether the values look like codes (short, upper case)."""
    if message_def is None:
        return all(re.fullmatch(r"[A-Z0-9]{1,3}", v) for v in values)
    defs = message_def.segments(tag)
    if not defs or not defs[0].positions:
        return False
    first = defs[0].positions[0]
    element = first.element or (first.composite.components[0].element
                                if first.composite else None)
    return element is not None and element.codes is not None


def _dates(tag: str, element: int, component: int, elements: list[list[str]]
           ) -> tuple[str, str] | None:
    if tag == "DTM" and element == 1 and component == 2 and elements and len(elements[0]) > 2:
        return DATE_CODES.get(elements[0][2])
    return None


def _present(messages: list[list[Segment]], message_def: dirs.MessageDef | None,
             main: str) -> list[str]:
    """The segments the sample's messages hold, with their directory names."""
    counts: Counter[str] = Counter(tag for m in messages for tag, _ in m)
    lines = [f"segments in the sample's {main} messages (count: name in the directory):"]
    for tag, n in counts.items():
        defs = message_def.segments(tag) if message_def else []
        name = defs[0].name if defs else ("service segment" if tag in SERVICE else
                                          "not in the directory" if message_def else "")
        lines.append(f"  {tag} {n}: {name}".rstrip(": "))
    return lines
