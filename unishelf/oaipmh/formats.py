"""The metadata formats the repository disseminates, and which record syntaxes each can carry.

MARCXML is offered as `marc21` (LoC, Koha, FOLIO) and as `marcxml` (DSpace, Evergreen), and only
for MARC21 records: UNIMARC in the MARC21 slim schema would mislabel every tag. oai_dc and MODS
come from the crosswalks, which read both syntaxes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lxml import etree

from unishelf.marc.dublin_core import dublin_core, oai_dc
from unishelf.marc.marcxml import MARCXML_NS, record_xml
from unishelf.marc.mods import mods
from unishelf.marc.record import MarcRecord

MARCXML_SCHEMA = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str
    syntaxes: tuple[str, ...]
    render: Callable[[MarcRecord, str], str]

    def carries(self, syntax: str) -> bool:
        return syntax in self.syntaxes


def _marcxml(record: MarcRecord, syntax: str) -> str:
    return record_xml(record, schema_location=MARCXML_SCHEMA)


def _oai_dc(record: MarcRecord, syntax: str) -> str:
    return etree.tostring(oai_dc(dublin_core(record, syntax)), encoding="unicode")


def _mods(record: MarcRecord, syntax: str) -> str:
    return etree.tostring(mods(record, syntax), encoding="unicode")


_MARCXML = dict(schema=MARCXML_SCHEMA, namespace=MARCXML_NS, syntaxes=("marc21",), render=_marcxml)
FORMATS = {f.prefix: f for f in (
    MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                   "http://www.openarchives.org/OAI/2.0/oai_dc/", ("marc21", "unimarc"), _oai_dc),
    MetadataFormat("marc21", **_MARCXML),
    MetadataFormat("marcxml", **_MARCXML),
    MetadataFormat("mods", "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd",
                   "http://www.loc.gov/mods/v3", ("marc21", "unimarc"), _mods),
)}
