"""ANSI X12: the transaction sets (ST01) and their version (GS08), the record segment, and
the segments present as header and record fields (``N1[ST].2``, ``PO1.2``)."""

from __future__ import annotations

import re
from collections import Counter

from tradelane.draft.errors import UnusableSample
from tradelane.draft.model import MAX_RECORDS, MAX_SEGMENTS, Draft, FieldDraft, Guess
from tradelane.draft.segments import Position, Segment, section_fields, split_records
from tradelane.draft.sniff import Sample
from tradelane.errors import RejectError
from tradelane.formats.x12_syntax import SegmentStream

ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1"})
#: The segment that starts each line item of the usual transaction sets.
RECORDS = {"850": "PO1", "855": "PO1", "860": "POC", "810": "IT1", "856": "HL", "997": "AK2",
           "999": "AK2", "214": "LX", "835": "CLP", "837": "CLM", "846": "LIN", "832": "LIN",
           "940": "W01", "945": "W12", "204": "S5", "990": "B1", "824": "OTI", "820": "ENT"}
NAMES = {"850": "purchase order", "855": "purchase order acknowledgment", "810": "invoice",
         "856": "ship notice", "997": "functional acknowledgment", "999": "implementation"
         " acknowledgment", "214": "shipment status", "835": "claim payment", "837": "claim",
         "846": "inventory advice", "832": "price catalog", "940": "warehouse shipping order",
         "945": "warehouse shipping advice", "204": "load tender", "860": "PO change"}
#: Names of common segments (X12 publishes its dictionary under licence; none ships here).
SEGMENT_NAMES = {
    "ST": "transaction set header", "SE": "transaction set trailer", "BEG": "beginning"
    " segment for purchase order", "BIG": "beginning segment for invoice", "BSN": "beginning"
    " segment for ship notice", "B10": "beginning segment for transportation carrier shipment"
    " status", "BPR": "financial information", "TRN": "trace", "CUR": "currency", "REF":
    "reference information", "PER": "administrative communications contact", "DTM":
    "date/time reference", "N1": "party identification", "N2": "additional name", "N3":
    "party location", "N4": "geographic location", "PO1": "baseline item data", "PID":
    "product/item description", "PO4": "item physical details", "IT1": "baseline item data"
    " (invoice)", "TDS": "total monetary value summary", "CTT": "transaction totals", "HL":
    "hierarchical level", "LIN": "item identification", "SN1": "item detail (shipment)",
    "TD1": "carrier details (quantity and weight)", "TD5": "carrier details (routing)",
    "PRF": "purchase order reference", "AK1": "functional group response header", "AK2":
    "transaction set response header", "AK3": "data segment note", "AK4": "data element note",
    "AK5": "transaction set response trailer", "AK9": "functional group response trailer",
    "LX": "transaction set line number", "AT7": "shipment status details", "MS1": "equipment,"
    " shipment or real property location", "MS2": "equipment or container owner and type",
    "CLP": "claim payment information", "CAS": "claims adjustment", "NM1": "individual or"
    " organizational name", "SVC": "service payment information", "ISS": "invoice shipment"
    " summary", "SAC": "service, promotion, allowance or charge information", "ITD": "terms of"
    " sale", "FOB": "F.O.B. related instructions", "TD3": "carrier details (equipment)"}
ENDS = frozenset({"CTT", "SE"})
_MAX_FIELDS = 40
_CODE = re.compile(r"[A-Z0-9]{1,3}")
_DATE_ELEMENTS = {("BEG", 5), ("DTM", 2), ("BIG", 1), ("BIG", 3), ("BSN", 3), ("GS", 4)}


def _sets(sample: Sample, draft: Draft) -> tuple[list[list[Segment]], Counter[str]]:
    """The transaction sets read within the limits, and the GS08 versions. A file that
    latin-1 (the reader's default) cannot cut into segments but whose bytes are UTF-8 (a
    terminator like U+2026) is read as UTF-8, and the draft says so."""
    try:
        return _read(sample, draft, "latin-1")
    except UnusableSample:
        if sample.encoding != "utf-8" or sample.data.isascii():
            raise
        found = _read(sample, draft, "utf-8")
        draft.format.append(Guess("encoding", "utf-8", "latin-1 finds no segment terminator"
                                  f" after ISA16; {sample.encoding_why}"))
        return found


def _read(sample: Sample, draft: Draft, encoding: str
          ) -> tuple[list[list[Segment]], Counter[str]]:
    sets: list[list[Segment]] = []
    versions: Counter[str] = Counter()
    current: list[Segment] | None = None
    seen = 0
    try:
        for block in SegmentStream(sample.path, encoding=encoding):
            d = block.delims
            for i, tag in enumerate(block.tags):
                seen += 1
                elements = [e.split(d.component) for e in block.elements(i)[1:]]
                if tag == "GS" and len(elements) > 7:
                    versions[elements[7][0]] += 1
                if tag == "ST":
                    current = []
                if current is not None:
                    current.append((tag, elements))
                if tag == "SE" and current is not None:
                    sets.append(current)
                    current = None
            if len(sets) >= MAX_RECORDS or seen >= MAX_SEGMENTS:
                draft.truncated = True
                draft.extent = f"the first {seen:,} segments, {len(sets):,} sets"
                break
    except RejectError as exc:
        if not sets and current is None:
            raise UnusableSample(sample.path, f"it cannot be read as X12: {exc}") from None
        draft.notes.append(f"the sample is broken, tradelane will refuse it: {exc}")
    if current:
        sets.append(current)
    return sets, versions


def draft_x12(sample: Sample) -> Draft:
    draft = Draft(kind="x12")
    sets, versions = _sets(sample, draft)
    if not sets:
        raise UnusableSample(sample.path, "it holds no ST..SE transaction set")
    codes: Counter[str] = Counter(s[0][1][0][0] if s[0][1] else "" for s in sets)
    main = codes.most_common(1)[0][0]
    version = ", ".join(versions) or "no GS"
    draft.format.append(Guess("transactions", sorted(codes), ", ".join(
        f"{n} x {c} ({NAMES.get(c, 'transaction set')})" for c, n in codes.most_common())
        + f" in the sample; version {version}"))
    body = [s for s in sets if s[0][1] and s[0][1][0][0] == main]
    counts = Counter(tag for s in body for tag, _ in s)
    record = RECORDS.get(main)
    why = f"{counts.get(record or '', 0)} {record} segments: the line items of a {main}"
    if record not in counts:
        repeated = [t for t, n in counts.most_common() if n > len(body) and t not in ENVELOPE]
        record = repeated[0] if repeated else None
        why = f"{counts[record]} {record} segments, the most repeated" if record else ""
    heads: list[list[Segment]] = []
    records: list[list[Segment]] = []
    for tx in body:
        head, recs = split_records(tx, record, ENVELOPE, ENDS)
        heads.append(head)
        records.extend(recs)
    del records[MAX_RECORDS:]  # the profile's bound, as for every format
    if record:
        draft.format.append(Guess("records", record, why))
    else:
        draft.notes.append(f"no repeated segment: each {main} set is one record")
    draft.records_seen = len(records) if record else len(body)
    taken: set[str] = set()
    header, left = section_fields(heads, _describe, _coded, taken, limit=_MAX_FIELDS,
                                  special=_dates, header=True) if record else ([], [])
    fields, more = section_fields(records if record else heads, _describe, _coded, taken,
                                  limit=_MAX_FIELDS, special=_dates)
    draft.header, draft.fields = header, fields
    if left or more:
        draft.notes.append(f"{len(left) + len(more)} more values are not mapped, e.g."
                           f" {', '.join((left + more)[:4])}")
    if not draft.fields:
        draft.fields.append(FieldDraft("set_control", "_message", why="ST02"))
    draft.summary = [f"segments in the sample's {main} sets (count: name):"] + [
        f"  {tag} {n}: {SEGMENT_NAMES[tag]}" if tag in SEGMENT_NAMES else f"  {tag} {n}"
        for tag, n in counts.items()]
    return draft


def _describe(tag: str, element: int) -> Position | None:
    return None  # no X12 dictionary ships with tradelane: the values alone decide


def _coded(tag: str, values: set[str]) -> bool:
    """X12 qualifiers are short codes (N1*ST, REF*PO): a city or a name is no qualifier."""
    return all(_CODE.fullmatch(v) for v in values)


def _dates(tag: str, element: int, component: int, elements: list[list[str]]
           ) -> tuple[str, str] | None:
    return ("date", "%Y%m%d") if (tag, element) in _DATE_ELEMENTS else None
