"""MARCXML (MARC21 slim) output, valid against MARC21slim.xsd whatever the MARC record held.

Real records break the schema's patterns: leaders with '^' or '3' in the indicator count,
indicators outside [0-9a-z ], subfield codes that are not ASCII, data fields without subfields,
characters XML 1.0 forbids. Harvesters and SRU clients that validate reject a whole response
for one such record, so the output is mended: leader positions the schema constrains are
reset to a legal value, bad indicators become blanks, and what cannot be written (a subfield
with an illegal code, a field with an illegal tag or no subfields) is left out.
"""
from __future__ import annotations

import functools
import re
from xml.sax.saxutils import escape

from .reading import escape_markup, xml_safe
from .record import MarcRecord

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
_CONTROL_TAG = re.compile(r"00[1-9A-Za-z]")
_DATA_TAG = re.compile(r"0[1-9A-Z][0-9A-Z]|0[1-9a-z][0-9a-z]|[1-9A-Z][0-9A-Z]{2}|[1-9a-z][0-9a-z]{2}")
_INDICATORS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz ")
_CODES = {c: escape(c, {'"': "&quot;"}) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
          "!\"#$%&'()*+,-./:;<=>?{}_^`~[]\\"}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# leader/00-19 -> (the characters MARC21slim.xsd allows there, the stand-in for any other)
_LEADER_RULES = ([("0123456789 ", " ")] * 5 + [(_ALNUM + " ", " "), (_ALNUM, "a")] + [(_ALNUM + " ", " ")] * 3
                 + [("2 ", "2")] * 2 + [("0123456789 ", " ")] * 5 + [(_ALNUM + " ", " ")] * 3)


def valid_leader(leader: str) -> str:
    leader = leader.ljust(24)[:24]
    mended = "".join(c if c in allowed else stand_in for c, (allowed, stand_in) in zip(leader, _LEADER_RULES))
    return mended + (leader[20:] if leader[20:] in ("4500", "    ") else "4500")


@functools.lru_cache(maxsize=4096)
def _tag_kind(tag: str) -> str | None:
    """"control" or "data" for a tag the schema allows as such, else None."""
    return "control" if _CONTROL_TAG.fullmatch(tag) else "data" if _DATA_TAG.fullmatch(tag) else None


def record_xml(record: MarcRecord, namespace: bool = True, schema_location: str = "") -> str:
    """One <record> element; with `namespace`, it declares the MARC21 slim namespace itself, and
    with `schema_location` also where its schema is (OAI-PMH asks that of metadata roots)."""
    if schema_location:
        start = (f'<record xmlns="{MARCXML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                 f'xsi:schemaLocation="{MARCXML_NS} {schema_location}">')
    else:
        start = f'<record xmlns="{MARCXML_NS}">' if namespace else "<record>"
    parts = [start, "<leader>", valid_leader(record.leader), "</leader>"]
    data_fields = []
    for field in record.fields:
        kind = _tag_kind(field.tag)
        if field.value is not None:
            if kind == "control":
                parts.append(f'<controlfield tag="{field.tag}">{escape_markup(field.value)}</controlfield>')
            continue
        subfields = [f'<subfield code="{_CODES[code]}">{escape_markup(value)}</subfield>'
                     for code, value in field.subfields if code in _CODES]
        if subfields and kind == "data":
            ind1, ind2 = (c if c in _INDICATORS else " " for c in field.indicators.ljust(2)[:2])
            data_fields.append(f'<datafield tag="{field.tag}" ind1="{ind1}" ind2="{ind2}">{"".join(subfields)}</datafield>')
    parts.extend(data_fields)
    parts.append("</record>")
    return xml_safe("".join(parts))


def collection_start() -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{MARCXML_NS}">\n'


def collection_end() -> str:
    return "</collection>\n"
