"""The OPAC record syntax (Z39.50-2003 RecordSyntax-opac, 1.2.840.10003.5.102): a bibliographic
record with the holdings and circulation data of every member library that holds it.

Encoded by hand from the published ASN.1 (OPACRecord, HoldingsRecord, HoldingsAndCircData,
CircRecord); only the fields a union catalogue knows are written.
"""
from __future__ import annotations

from unishelf.ber import External, context_boolean, context_constructed, context_string, external_content, tlv
from unishelf.marc.holdings import available_now

OPAC_OID = "1.2.840.10003.5.102"
# HoldingsAndCircData fields (context tags) from a holdings item of the store.
HOLDINGS_FIELDS = (("library", 8), ("location", 9), ("call_number", 11), ("note", 14))


def _circulation(item: dict) -> bytes:
    """CircRecord: availableNow, itemId, renewable and onHold (the three BOOLEANs are required)."""
    available = available_now(item)
    parts = [context_boolean(1, available)]
    if item.get("status") and not available:
        parts.append(context_string(4, item["status"]))  # restrictions
    if item.get("barcode"):
        parts.append(context_string(5, item["barcode"]))
    parts.append(context_boolean(6, True))
    parts.append(context_boolean(7, False))
    return tlv(b"\x30", b"".join(parts))


def _holdings_and_circ(library: str, item: dict) -> bytes:
    values = {"library": library, **item}
    parts = [context_string(number, values[name]) for name, number in HOLDINGS_FIELDS if values.get(name)]
    parts.append(context_constructed(19, _circulation(item)))
    return context_constructed(2, b"".join(parts))  # HoldingsRecord.holdingsAndCirc


def opac_record(bibliographic: External, holdings: dict[str, list[dict]]) -> bytes:
    """OPACRecord content: the record as an EXTERNAL and one HoldingsAndCircData per item."""
    parts = [context_constructed(1, external_content(bibliographic))]
    items = [_holdings_and_circ(library, item) for library, entries in sorted(holdings.items()) for item in entries]
    if items:
        parts.append(context_constructed(2, b"".join(items)))
    return tlv(b"\x30", b"".join(parts))
