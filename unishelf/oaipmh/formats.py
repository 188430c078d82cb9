"""The metadata formats the repository disseminates, and which record syntaxes each can carry.

MARCXML is offered as `marc21` (LoC, Koha, FOLIO) and as `marcxml` (DSpace, Evergreen), and only
for MARC21 records: UNIMARC in the MARC21 slim schema would mislabel every tag. oai_dc and MODS
come from the crosswalks, which read both syntaxes. The formats in config `oai.prerender` are
rendered when a record is stored (RENDERERS), so a harvest only joins stored bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from unishelf.marc.dublin_core import dublin_core, oai_dc
from unishelf.marc.marcxml import MARCXML_NS, record_xml
from unishelf.marc.mods import mods
from unishelf.marc.record import MarcRecord

MARCXML_SCHEMA = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"


def _marcxml(record: MarcRecord, syntax: str) -> str | None:
    return record_xml(record, schema_location=MARCXML_SCHEMA) if syntax == "marc21" else None


def _oai_dc(record: MarcRecord, syntax: str) -> str:
    return oai_dc(dublin_core(record, syntax))


def _mods(record: MarcRecord, syntax: str) -> str:
    return etree.tostring(mods(record, syntax), encoding="unicode")


# rendering name -> function(record, syntax): the metadata element as text, None if it cannot be
RENDERERS = {"marc21": _marcxml, "oai_dc": _oai_dc, "mods": _mods}


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str
    syntaxes: tuple[str, ...]
    rendering: str             # the RENDERERS entry (and stored rendering) it uses

    def carries(self, syntax: str) -> bool:
        return syntax in self.syntaxes

    def render(self, record: MarcRecord, syntax: str) -> str:
        return RENDERERS[self.rendering](record, syntax)


FORMATS = {f.prefix: f for f in (
    MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                   "http://www.openarchives.org/OAI/2.0/oai_dc/", ("marc21", "unimarc"), "oai_dc"),
    MetadataFormat("marc21", MARCXML_SCHEMA, MARCXML_NS, ("marc21",), "marc21"),
    MetadataFormat("marcxml", MARCXML_SCHEMA, MARCXML_NS, ("marc21",), "marc21"),
    MetadataFormat("mods", "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd",
                   "http://www.loc.gov/mods/v3", ("marc21", "unimarc"), "mods"),
)}
