"""MARCXML (MARC21 slim) output, safe for XML 1.0 whatever bytes the MARC record held."""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .reading import XML_FORBIDDEN
from .record import MarcRecord

MARCXML_NS = "http://www.loc.gov/MARC21/slim"


def _text(value: str) -> str:
    return escape(XML_FORBIDDEN.sub(" ", value))


def record_xml(record: MarcRecord, namespace: bool = True) -> str:
    """One <record> element; with `namespace`, it declares the MARC21 slim namespace itself."""
    parts = [f'<record xmlns="{MARCXML_NS}">' if namespace else "<record>",
             f"<leader>{_text(record.leader)}</leader>"]
    for field in record.fields:
        tag = quoteattr(XML_FORBIDDEN.sub(" ", field.tag))
        if field.value is not None:
            parts.append(f"<controlfield tag={tag}>{_text(field.value)}</controlfield>")
            continue
        ind1 = quoteattr(XML_FORBIDDEN.sub(" ", field.indicators[0]))
        ind2 = quoteattr(XML_FORBIDDEN.sub(" ", field.indicators[1]))
        parts.append(f"<datafield tag={tag} ind1={ind1} ind2={ind2}>")
        parts.extend(f"<subfield code={quoteattr(XML_FORBIDDEN.sub(' ', code))}>{_text(value)}</subfield>"
                     for code, value in field.subfields)
        parts.append("</datafield>")
    parts.append("</record>")
    return "".join(parts)


def collection_start() -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{MARCXML_NS}">\n'


def collection_end() -> str:
    return "</collection>\n"
