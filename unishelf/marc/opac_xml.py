"""The opac record schema: a MARCXML record with every member library's holdings.

Written in YAZ's OPAC XML (`etc/opacxml.xsd` in YAZ, the form YAZ gives Z39.50 OPAC records in
XML): <opacRecord> holds <bibliographicRecord> and <holdings>, one <holding> per item, with the
library as nucCode as in the Z39.50 OPAC syntax (unishelf/z3950/opac.py), so a client reads the
same holdings over both protocols.
"""
from __future__ import annotations

from unishelf.marc.holdings import available_now
from unishelf.marc.reading import xml_escaped

# opacxml.xsd's <holding> children that a store's holdings item fills, in the schema's order.
HOLDING_ELEMENTS = (("library", "nucCode"), ("location", "localLocation"), ("call_number", "callNumber"),
                    ("note", "publicNote"))


def _holding(library: str, item: dict) -> str:
    values = {"library": library, **item}
    parts = [f"<{element}>{xml_escaped(values[key])}</{element}>" for key, element in HOLDING_ELEMENTS if values.get(key)]
    available = available_now(item)
    circulation = [f'<availableNow value="{int(available)}"/>']
    if item.get("status") and not available:
        circulation.append(f"<restrictions>{xml_escaped(item['status'])}</restrictions>")
    if item.get("barcode"):
        circulation.append(f"<itemId>{xml_escaped(item['barcode'])}</itemId>")
    circulation.append('<renewable value="1"/><onHold value="0"/>')
    circulations = f"<circulations><circulation>{''.join(circulation)}</circulation></circulations>"
    return f"<holding>{''.join(parts)}{circulations}</holding>"


def opac_record(marcxml: str, holdings: dict[str, list[dict]]) -> str:
    """<opacRecord> around a MARCXML <record>, the holdings of each library in code order."""
    items = "".join(_holding(library, item) for library, entries in sorted(holdings.items()) for item in entries)
    return f"<opacRecord><bibliographicRecord>{marcxml}</bibliographicRecord><holdings>{items}</holdings></opacRecord>"
