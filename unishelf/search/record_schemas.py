"""The XML record schemas clients can ask for: marcxml, dc, mods and opac.

SRU clients name one as recordSchema; Z39.50 clients as the element set name of the XML record
syntax, as YAZ-based servers (Zebra, Koha's) offer them. Both protocols render a schema here, so
a record reads the same over either; each turns a refusal into its own diagnostic.

A client names a schema by its short name or its identifier; responses always give the
identifier. MARCXML (and the OPAC schema, which holds MARCXML) is offered for MARC 21 records
only, as OAI-PMH does: UNIMARC in the MARC 21 slim schema would mislabel every tag, so such a
record is refused (`RecordSchema.unavailable`). Dublin Core and MODS read both syntaxes. MARCXML
is the rendering the store keeps for OAI-PMH (`marc21`, made when the record was stored) where
there is one, so most responses only copy stored text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lxml import etree

from unishelf.marc.dublin_core import dublin_core, srw_dc
from unishelf.marc.marcxml import record_xml
from unishelf.marc.mods import mods
from unishelf.marc.opac_xml import opac_record
from unishelf.marc.record import parse_iso2709
from unishelf.marc.store import Reader, StoredRecord

STORED_MARCXML = "marc21"   # the name of the store's MARCXML rendering (unishelf/oaipmh/formats.py)
MARCXML_LOCATION = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"


@dataclass(frozen=True)
class RecordSchema:
    name: str
    identifier: str
    title: str
    location: str
    syntaxes: tuple[str, ...]
    render: Callable[[StoredRecord, Reader], str]   # the record as XML text in this schema
    aliases: tuple[str, ...] = ()

    def unavailable(self, stored: StoredRecord) -> str | None:
        """Why the record cannot be given in this schema (its syntax cannot go there), or None."""
        if stored.syntax not in self.syntaxes:
            return f"{stored.syntax.upper()} record {stored.id} as {self.name}"
        return None


def _marcxml(stored: StoredRecord, reader: Reader) -> str:
    rendered = reader.rendered(stored.id, STORED_MARCXML)
    if rendered is not None:
        return rendered.decode("utf-8")
    return record_xml(parse_iso2709(stored.raw), schema_location=MARCXML_LOCATION)


def _dc(stored: StoredRecord, reader: Reader) -> str:
    return etree.tostring(srw_dc(dublin_core(parse_iso2709(stored.raw), stored.syntax)), encoding="unicode")


def _mods(stored: StoredRecord, reader: Reader) -> str:
    return etree.tostring(mods(parse_iso2709(stored.raw), stored.syntax), encoding="unicode")


def _opac(stored: StoredRecord, reader: Reader) -> str:
    return opac_record(_marcxml(stored, reader), reader.holdings(stored.id))


SCHEMAS = (
    RecordSchema("marcxml", "info:srw/schema/1/marcxml-v1.1", "MARC 21 XML (MARCXML)",
                 MARCXML_LOCATION, ("marc21",), _marcxml,
                 aliases=("marc21", "info:srw/schema/1/marcxml-v1.2", "http://www.loc.gov/MARC21/slim")),
    RecordSchema("dc", "info:srw/schema/1/dc-v1.1", "Dublin Core",
                 "http://www.loc.gov/standards/sru/resources/dc-schema.xsd", ("marc21", "unimarc"), _dc,
                 aliases=("info:srw/schema/1/dc-schema",)),
    RecordSchema("mods", "info:srw/schema/1/mods-v3.7", "MODS 3.7",
                 "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd", ("marc21", "unimarc"), _mods,
                 aliases=("http://www.loc.gov/mods/v3",)),
    # No identifier is registered for YAZ's OPAC XML; this is the one Kuali OLE's SRU uses.
    RecordSchema("opac", "info:srw/schema/1/opacxml-v1.0", "MARCXML with holdings (YAZ OPAC XML)",
                 "https://github.com/indexdata/yaz/blob/master/etc/opacxml.xsd", ("marc21",), _opac,
                 aliases=("opacxml",)),
)
_BY_NAME = {key.lower(): schema for schema in SCHEMAS
            for key in (schema.name, schema.identifier, *schema.aliases)}


def find_record_schema(name: str) -> RecordSchema | None:
    """The schema a short name, identifier or alias names (names ignore case)."""
    return _BY_NAME.get(name.lower())
