"""UBL invoices for the schema tests and ``bench/schema.py``: one Invoice with N lines, in
the subset of UBL 2.1 that ``tests/data/schemas/ubl/invoice.xsd`` describes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>INV-{number}</cbc:ID>
  <cbc:IssueDate>2026-11-30</cbc:IssueDate>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">{total}</cbc:LineExtensionAmount>
    <cbc:PayableAmount currencyID="EUR">{total}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
"""
LINE = """  <cac:InvoiceLine>
    <cbc:ID>{n}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">{amount}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Widget {n}</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">2.50</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
"""
TAIL = "</Invoice>\n"


def amounts(lines: int) -> list[str]:
    return [f"{(n % 7 + 1) * 2.5:.2f}" for n in range(1, lines + 1)]


def invoice(lines: int = 3, *, total: str | None = None, number: int = 1) -> str:
    each = amounts(lines)
    body = "".join(LINE.format(n=n, qty=n % 7 + 1, amount=a) for n, a in enumerate(each, 1))
    sum_ = total if total is not None else f"{sum(float(a) for a in each):.2f}"
    return HEAD.format(number=number, total=sum_) + body + TAIL


def chunks(megabytes: float) -> Iterator[bytes]:
    """An invoice of about ``megabytes`` MB, in pieces (never held whole)."""
    target = int(megabytes * (1 << 20))
    yield HEAD.format(number=1, total="0.00").encode()
    written, n, block = 0, 0, []
    while written < target:
        n += 1
        text = LINE.format(n=n, qty=n % 7 + 1, amount=f"{(n % 7 + 1) * 2.5:.2f}")
        block.append(text)
        written += len(text)
        if len(block) == 1000:
            yield "".join(block).encode()
            block = []
    yield ("".join(block) + TAIL).encode()


def write_big(path: Path, megabytes: float) -> Path:
    with open(path, "wb") as out:
        out.writelines(chunks(megabytes))
    return path
