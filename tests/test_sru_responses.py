"""SRU response documents, ZeeRex Explain records and OPAC XML, validated against the published
schemas (tests/data/schemas: OASIS SRU 2.0, LoC's SRU 1.x, ZeeRex, MARCXML, MODS, DC, YAZ OPAC XML)."""
from __future__ import annotations

import pytest
from lxml import etree

from conftest import DATA
from unishelf.sru import responses
from unishelf.sru.cql_query import CQLMapping
from unishelf.sru.diagnostics import SRUDiagnostic
from unishelf.sru.explain import zeerex
from unishelf.marc.holdings import available_now
from unishelf.marc.opac_xml import opac_record
from unishelf.search.record_schemas import SCHEMAS
from unishelf.sru.record_schemas import record_schema
from unishelf.sru.settings import SRUSettings

SCHEMA_DIR = DATA / "schemas"
MARCXML = '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader></record>'
NS = {"zs1": "http://www.loc.gov/zing/srw/", "zs2": "http://docs.oasis-open.org/ns/search-ws/sruResponse",
      "scan2": "http://docs.oasis-open.org/ns/search-ws/scan", "e": "http://explain.z3950.org/dtd/2.0/",
      "d1": "http://www.loc.gov/zing/srw/diagnostic/", "d2": "http://docs.oasis-open.org/ns/search-ws/diagnostic"}
VERSIONS = ("1.1", "1.2", "2.0")


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), etree.XMLParser(no_network=True)))


SRU_SCHEMAS = {"1.x": _schema("sru-1.x-all.xsd"), "2.0": _schema("sru-2.0-all.xsd")}
OPAC_SCHEMA = _schema("opacxml.xsd")


def validate(text: str, version: str) -> etree._Element:
    """The response parsed, after asserting it is valid against its version's schemas."""
    root = etree.fromstring(text.encode("utf-8"))
    schema = SRU_SCHEMAS["2.0" if version == "2.0" else "1.x"]
    assert schema.validate(root), f"{schema.error_log.last_error}\n{text[:3000]}"
    return root


def prefix(version: str) -> str:
    return "zs2" if version == "2.0" else "zs1"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_search_retrieve_response_with_records_a_result_set_and_diagnostics_is_valid(version):
    records = [responses.record_element(version, "info:srw/schema/1/marcxml-v1.1", MARCXML, "xml", 1),
               responses.surrogate_element(version, SRUDiagnostic(67, "UNIMARC record 2 as marcxml"), "xml", 2)]
    text = responses.search_retrieve_response(version, 40, records, [SRUDiagnostic(61, "50")], ("a1b2", 300), 3)
    root = validate(text, version)
    p = prefix(version)
    assert root.findtext(f"{p}:numberOfRecords", namespaces=NS) == "40"
    assert root.findtext(f"{p}:resultSetId", namespaces=NS) == "a1b2"
    ttl = "resultSetTTL" if version == "2.0" else "resultSetIdleTime"
    assert root.findtext(f"{p}:{ttl}", namespaces=NS) == "300"
    assert root.findtext(f"{p}:nextRecordPosition", namespaces=NS) == "3"
    assert (root.findtext("zs1:version", namespaces=NS) == version) is (version != "2.0")
    escaping = "recordXMLEscaping" if version == "2.0" else "recordPacking"
    assert [r.findtext(f"{p}:{escaping}", namespaces=NS) for r in root.iterfind(f".//{p}:record", NS)] == ["xml", "xml"]
    diagnostic = "d2" if version == "2.0" else "d1"
    surrogate = root.find(f".//{p}:record[2]/{p}:recordData/{diagnostic}:diagnostic", NS)
    assert surrogate.findtext(f"{diagnostic}:uri", namespaces=NS) == "info:srw/diagnostic/1/67"
    assert root.find(f".//{p}:record[2]/{p}:recordSchema", NS).text == "info:srw/schema/1/diagnostics-v1.1"
    fatal = root.find(f"{p}:diagnostics/{diagnostic}:diagnostic", NS)
    assert [fatal.findtext(f"{diagnostic}:{n}", namespaces=NS) for n in ("uri", "details", "message")] == [
        "info:srw/diagnostic/1/61", "50", "First record position out of range"]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_result_leaves_out_records_and_next_position(version):
    root = validate(responses.search_retrieve_response(version, 0, [], []), version)
    assert [etree.QName(child).localname for child in root] == (["numberOfRecords"] if version == "2.0"
                                                                else ["version", "numberOfRecords"])


@pytest.mark.parametrize("version", VERSIONS)
def test_string_packing_carries_the_record_as_escaped_text(version):
    text = responses.search_retrieve_response(
        version, 1, [responses.record_element(version, "info:srw/schema/1/marcxml-v1.1", MARCXML, "string", 1)], [])
    root = validate(text, version)
    data = root.find(f".//{prefix(version)}:recordData", NS)
    assert len(data) == 0 and data.text == MARCXML


def test_the_stylesheet_is_an_xml_stylesheet_processing_instruction():
    text = responses.search_retrieve_response("1.2", 0, [], [], stylesheet='/style.xsl?a=1&b="2"')
    root = validate(text, "1.2")
    instruction = root.getprevious()
    assert instruction.target == "xml-stylesheet" and instruction.get("type") == "text/xsl"
    # pseudo-attributes are read as attributes are: with their entity references (W3C xml-stylesheet)
    assert instruction.get("href") == '/style.xsl?a=1&amp;b="2"'


@pytest.mark.parametrize("version", VERSIONS)
def test_scan_responses_are_valid_with_and_without_terms(version):
    root = validate(responses.scan_response(version, [("water", 4), ("wave & <tide>", 1)], []), version)
    namespace = NS["scan2"] if version == "2.0" else NS["zs1"]
    assert root.tag == f"{{{namespace}}}scanResponse"
    terms = list(root.iter(f"{{{namespace}}}term"))
    assert [t.findtext(f"{{{namespace}}}value") for t in terms] == ["water", "wave & <tide>"]
    assert [t.findtext(f"{{{namespace}}}numberOfRecords") for t in terms] == ["4", "1"]
    validate(responses.scan_response(version, [], [SRUDiagnostic(16, "dc.nothing")]), version)


def test_diagnostic_text_is_escaped_and_forbidden_characters_dropped():
    text = responses.search_retrieve_response("2.0", 0, [], [SRUDiagnostic(10, 'a < b & "c"\x01', "bad & worse")])
    root = validate(text, "2.0")
    assert root.findtext(".//d2:details", namespaces=NS) == 'a < b & "c" '
    assert root.findtext(".//d2:message", namespaces=NS) == "bad & worse"


@pytest.fixture(scope="module")
def mapping(loaded):
    return CQLMapping.from_file(loaded.config.path("cql"), loaded.points)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("escaping", ["xml", "string"])
def test_explain_records_are_valid_zeerex_in_both_packings(loaded, mapping, version, escaping):
    record = zeerex(loaded, mapping, SRUSettings(), "unicat", "sru.example.org", 8080, version)
    root = validate(responses.explain_response(version, record, escaping, []), version)
    data = root.find(f".//{prefix(version)}:recordData", NS)
    explain = etree.fromstring(data.text.encode()) if escaping == "string" else data[0]
    schema = "2.0" if version == "2.0" else "1.x"
    assert SRU_SCHEMAS[schema].validate(explain), SRU_SCHEMAS[schema].error_log.last_error
    assert root.findtext(f".//{prefix(version)}:recordSchema", namespaces=NS) == "http://explain.z3950.org/dtd/2.0/"


def test_explain_describes_server_database_indexes_schemas_and_limits(loaded, mapping):
    settings = SRUSettings(default_records=7, max_records=70, max_terms=77, max_result_set_ttl=777)
    explain = etree.fromstring(zeerex(loaded, mapping, settings, "NORTH", "sru.example.org", 8080, "1.2"))
    server = explain.find("e:serverInfo", NS)
    assert (server.get("protocol"), server.get("version")) == ("SRU", "1.2")
    assert [server.findtext(f"e:{n}", namespaces=NS) for n in ("host", "port", "database")] == [
        "sru.example.org", "8080", "NORTH"]
    assert server.find("e:database", NS).get("numRecs") == str(loaded.engine.count("NORTH"))
    assert explain.findtext("e:databaseInfo/e:title", namespaces=NS) == (
        "Holdings of member library Northern University Library")
    sets = {s.get("name"): s.get("identifier") for s in explain.iterfind("e:indexInfo/e:set", NS)}
    assert sets == mapping.context_sets()
    listed = {(i.find("e:map/e:name", NS).get("set"), i.findtext("e:map/e:name", namespaces=NS)): i
              for i in explain.iterfind("e:indexInfo/e:index", NS)}
    assert set(listed) == {(info.prefix, info.name) for info in mapping.indexes()}
    assert listed[("dc", "title")].get("sort") == "true" and listed[("dc", "subject")].get("sort") == "false"
    assert listed[("dc", "title")].findtext("e:title", namespaces=NS) == "Title"
    assert listed[("dc", "identifier")].get("scan") == "false" and listed[("dc", "title")].get("scan") == "true"
    assert "dc.title" in [k.text for k in explain.iterfind("e:indexInfo/e:sortKeyword", NS)]
    assert [s.get("name") for s in explain.iterfind("e:schemaInfo/e:schema", NS)] == [s.name for s in SCHEMAS]
    config = {(c.tag.split("}")[1], c.get("type")): c.text for c in explain.find("e:configInfo", NS)}
    assert config[("default", "numberOfRecords")] == "7" and config[("setting", "maximumRecords")] == "70"
    assert config[("setting", "maximumTerms")] == "77" and config[("setting", "resultSetTTL")] == "777"
    assert config[("default", "retrieveSchema")] == "info:srw/schema/1/marcxml-v1.1"
    assert explain.find("e:searchInfo", NS) is None
    version_2 = etree.fromstring(zeerex(loaded, mapping, settings, "unicat", "h", 1, "2.0"))
    assert version_2.find("e:searchInfo", NS) is not None


def test_opac_records_hold_every_librarys_items_in_yaz_opac_xml():
    holdings = {"SOUTH": [{"location": "Main", "call_number": "QA76 .K5", "barcode": "31", "status": "on loan",
                           "note": "2 & 3"}],
                "NORTH": [{"location": "Stacks", "call_number": "QA76", "barcode": "", "status": ""}]}
    record = etree.fromstring(opac_record(MARCXML, holdings))
    assert OPAC_SCHEMA.validate(record), OPAC_SCHEMA.error_log.last_error
    assert record.find("bibliographicRecord")[0].tag == "{http://www.loc.gov/MARC21/slim}record"
    north, south = record.iterfind("holdings/holding")
    assert [north.findtext(n) for n in ("nucCode", "localLocation", "callNumber")] == ["NORTH", "Stacks", "QA76"]
    assert north.find("circulations/circulation/availableNow").get("value") == "1"
    assert south.find("circulations/circulation/availableNow").get("value") == "0"
    assert south.findtext("circulations/circulation/restrictions") == "on loan"
    assert south.findtext("circulations/circulation/itemId") == "31" and south.findtext("publicNote") == "2 & 3"
    assert OPAC_SCHEMA.validate(etree.fromstring(opac_record(MARCXML, {})))


@pytest.mark.parametrize("status, available", [("", True), ("0", True), ("Available", True), ("on shelf", True),
                                               ("1", False), ("on loan", False)])
def test_availability_follows_the_item_status(status, available):
    assert available_now({"status": status}) is available


def test_schemas_are_found_by_name_identifier_or_alias_and_unknown_ones_are_66():
    assert record_schema("info:srw/schema/1/dc-v1.1").name == "dc"
    assert record_schema("http://www.loc.gov/mods/v3").name == "mods"
    with pytest.raises(SRUDiagnostic) as raised:
        record_schema("ead")
    assert (raised.value.number, raised.value.details) == (66, "ead")
