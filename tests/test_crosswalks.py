"""The Dublin Core and MODS crosswalks: schema-valid for every record shipped, right on real ones.

Every record of tests/data and of the demo catalogue is rendered as oai_dc and as MODS and
validated against the official schemas (kept in tests/data/schemas, resolved offline), and a few
real records are checked field by field: titles without ISBD punctuation, names with dates,
subject headings split, ISBNs, vernacular script from 880 fields, UNIMARC titles and languages.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from lxml import etree

from unishelf.marc.dublin_core import (DC_NS, OAI_DC_NS, SRW_DC_NS, dublin_core, oai_dc, srw_dc, strip_isbd,
                                       xml_text)
from unishelf.marc.marcxml import record_xml
from unishelf.marc.mods import MODS_NS, mods
from unishelf.marc.reading import Rejected, read_file
from unishelf.marc.record import Field, MarcRecord

from conftest import DATA, REPO

SCHEMAS = DATA / "schemas"
NS = {"dc": DC_NS, "oai_dc": OAI_DC_NS, "m": MODS_NS}
# Where the MODS schema imports its companions from, and the local copies to read instead.
LOCAL_COPIES = {"http://www.loc.gov/standards/xlink/xlink.xsd": "xlink.xsd",
                "http://www.loc.gov/mods/xml.xsd": "xml.xsd"}
RECORD_FILES = sorted(DATA.glob("*.mrc")) + [DATA / "marcxml-sample.xml"] + sorted(
    (REPO / "data" / "demo").glob("*.mrc")) + [REPO / "data" / "demo" / "WEST.xml",
                                               REPO / "data" / "demo" / "unimarc" / "EAST.mrc"]
EDGE_CASES = sorted((DATA / "edge-cases").iterdir())


class LocalSchemas(etree.Resolver):
    """Resolves the loc.gov schema locations in MODS to the copies in tests/data/schemas."""

    def resolve(self, url, public_id, context):
        name = LOCAL_COPIES.get(url)
        return self.resolve_filename(str(SCHEMAS / name), context) if name else None


def load_schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(LocalSchemas())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))


OAI_DC_SCHEMA = load_schema("oai_dc.xsd")
MODS_SCHEMA = load_schema("mods-3-7.xsd")


def records(path: Path):
    """(position, record, syntax) of every record the reader makes of a file."""
    fmt = "unimarc" if "unimarc" in path.name else "auto"
    for read in read_file(path, fmt):
        if not isinstance(read, Rejected):
            yield f"{path.name} {read.position}", read.record, read.syntax


def record_with_001(path: Path, control_number: str) -> tuple[MarcRecord, str]:
    for _, record, syntax in records(path):
        if (record.control("001") or "").strip() == control_number:
            return record, syntax
    raise LookupError(f"{control_number} not in {path}")


def reparsed(element) -> etree._Element:
    """The element (or text) as a harvester gets it: serialised, then parsed again."""
    return etree.fromstring(element.encode("utf-8") if isinstance(element, str)
                            else etree.tostring(element, encoding="utf-8"))


def invalid_renderings(paths) -> list[str]:
    failures = []
    for path in paths:
        for position, record, syntax in records(path):
            for name, element, schema in (("oai_dc", oai_dc(dublin_core(record, syntax)), OAI_DC_SCHEMA),
                                          ("mods", mods(record, syntax), MODS_SCHEMA)):
                if not schema.validate(reparsed(element)):
                    failures.append(f"{position} {name}: {schema.error_log.last_error}")
    return failures


def test_every_record_renders_schema_valid_oai_dc_and_mods():
    count = sum(1 for path in RECORD_FILES for _ in records(path))
    assert count > 2500
    failures = invalid_renderings(RECORD_FILES)
    assert not failures, f"{len(failures)} invalid: " + "\n".join(failures[:10])


def test_broken_records_render_valid_xml():
    failures = invalid_renderings(EDGE_CASES)
    assert not failures, "\n".join(failures[:10])


def test_characters_xml_forbids_are_replaced():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("001", value="bad\x01id"),
        Field("008", value="000101s1999    xxu           000 0 eng\x0b "),
        Field("100", indicators="1 ", subfields=[("a", "Smith,\x1b John,"), ("4", "aut\x00")]),
        Field("245", indicators="10", subfields=[("a", "Bell\x07 title /"), ("c", "by \ufffeSmith.")]),
        Field("650", indicators=" 7", subfields=[("a", "Topic\x1f"), ("2", "local\x02")]),
        Field("856", indicators="40", subfields=[("u", "http://example.org/a b"), ("y", "link\x03")]),
    ])
    for element in (oai_dc(dublin_core(record, "marc21")), srw_dc(dublin_core(record, "marc21")),
                    mods(record, "marc21")):
        text = element if isinstance(element, str) else etree.tostring(element, encoding="unicode")
        assert not any(c in text for c in "\x00\x01\x02\x03\x07\x0b\x1b\x1f\ufffe")
    assert reparsed(oai_dc(dublin_core(record, "marc21"))).findtext("dc:title", namespaces=NS) == "Bell title"
    assert MODS_SCHEMA.validate(reparsed(mods(record, "marc21"))), MODS_SCHEMA.error_log
    assert OAI_DC_SCHEMA.validate(reparsed(oai_dc(dublin_core(record, "marc21"))))


@pytest.mark.parametrize("forbidden", ["\x01", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
def test_no_character_xml_forbids_reaches_any_output(forbidden):
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("001", value=f"id{forbidden}"), Field("003", value=f"DLC{forbidden}"),
        Field("084", indicators="  ", subfields=[("a", "X1"), ("2", f"local{forbidden}")]),
        Field("245", indicators="10", subfields=[("a", f"Title{forbidden}"), ("c", f"by{forbidden} Smith.")]),
        Field("246", indicators="3 ", subfields=[("i", f"Label{forbidden}:"), ("a", "Other title")]),
        Field("856", indicators="40", subfields=[("u", f"http://example.org/{forbidden}"), ("y", f"y{forbidden}"),
                                                 ("z", f"z{forbidden}")]),
    ])
    pairs = dublin_core(record, "marc21")
    for name, text in (("oai_dc", oai_dc(pairs)), ("srw_dc", etree.tostring(srw_dc(pairs), encoding="unicode")),
                       ("mods", etree.tostring(mods(record, "marc21"), encoding="unicode")),
                       ("marcxml", record_xml(record))):
        assert forbidden not in text, name
        reparsed(text)
    assert MODS_SCHEMA.validate(reparsed(mods(record, "marc21"))), MODS_SCHEMA.error_log


@pytest.mark.parametrize("link", ["http://x/a b", "http://x/%zz", "http://x/{é}|<a>", "#a#b", "http://[v6",
                                  "::::", "www.loc.gov/catdir/toc/x.html"])
def test_links_become_uris_the_schema_accepts(link):
    record = MarcRecord("00000nam a2200000 a 4500", [Field("245", indicators="10", subfields=[("a", "T")]),
                                                    Field("856", indicators="40", subfields=[("u", link)])])
    assert MODS_SCHEMA.validate(reparsed(mods(record, "marc21"))), MODS_SCHEMA.error_log


@pytest.mark.parametrize("text, stripped", [
    ("History of Mary, Queen of Scots /", "History of Mary, Queen of Scots"),
    ("Shinri e no tojō :", "Shinri e no tojō"), ("Abbott, Jacob, 1803-1879.", "Abbott, Jacob, 1803-1879"),
    ("Henry Altemus Company,", "Henry Altemus Company"), ("Parallel title =", "Parallel title"),
    ("Calman, Henry L.", "Calman, Henry L."), ("To be continued...", "To be continued..."),
    ("New York ;", "New York"), ("[1900]", "[1900]"), ("1890-19.", "1890-19"), ("", ""),
])
def test_isbd_punctuation_closing_a_field_is_cut(text, stripped):
    assert strip_isbd(text) == stripped


def values(pairs, element):
    """The element's values, in NFC (LC records spell diacritics with combining characters)."""
    return [unicodedata.normalize("NFC", value) for name, value in pairs if name == element]


def test_marc21_dublin_core_follows_the_loc_crosswalk():
    record, syntax = record_with_001(DATA / "marc21-utf8-sample.mrc", "00004950")
    pairs = dublin_core(record, syntax)
    assert values(pairs, "title") == ["History of Mary, Queen of Scots", "Mary, Queen of Scots"]
    assert values(pairs, "creator") == ["Abbott, Jacob, 1803-1879", "Henry Altemus Company"]
    assert "Scotland -- History -- Mary Stuart, 1542-1567 -- Juvenile literature" in values(pairs, "subject")
    assert "Mary, Queen of Scots, 1542-1587 -- Juvenile literature" in values(pairs, "subject")
    assert values(pairs, "coverage") == ["Scotland"]
    assert values(pairs, "publisher") == ["Philadelphia : Henry Altemus Company"]
    assert values(pairs, "date") == ["[1900]"]
    assert values(pairs, "language") == ["eng"]
    assert "Text" in values(pairs, "type")
    assert values(pairs, "identifier") == ["http://hdl.loc.gov/loc.gdc/scd0001.00213905715"]
    names = [name for name, _ in pairs]
    assert names == sorted(names, key=["title", "creator", "subject", "description", "publisher", "contributor",
                                       "date", "type", "format", "identifier", "source", "language", "relation",
                                       "coverage", "rights"].index)


def test_oai_dc_and_srw_dc_wrap_the_same_elements():
    record, syntax = record_with_001(DATA / "marc21-utf8-sample.mrc", "00004950")
    pairs = dublin_core(record, syntax)
    for root, namespace in ((reparsed(oai_dc(pairs)), OAI_DC_NS), (reparsed(srw_dc(pairs)), SRW_DC_NS)):
        assert root.tag == f"{{{namespace}}}dc"
        assert [(etree.QName(child).localname, child.text) for child in root] == pairs
        assert {etree.QName(child).namespace for child in root} == {DC_NS}
        assert root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation").startswith(namespace)


def test_isbn_and_vernacular_script_in_dublin_core():
    record, syntax = record_with_001(DATA / "cjk-sample.mrc", "00271346")
    pairs = dublin_core(record, syntax)
    assert "URN:ISBN:4773364335" in values(pairs, "identifier")
    assert values(pairs, "title") == ["Shinri e no tojō : kujū ni michita shōgai Tanaka Shōzō, Hara Taneaki, "
                                      "Nitobe Inazō", "真理への途上 : 苦渋に満ちた生涯田中正造・原胤昭・新渡戶稲造"]
    assert values(pairs, "creator") == ["Amagai, Yukimaro, 1938-", "雨貝行麿, 1938-"]
    assert "東京 : 近代文芸社" in values(pairs, "publisher")
    assert values(pairs, "language") == ["jpn"]


def test_every_cjk_sample_record_keeps_its_vernacular_title():
    for _, record, syntax in records(DATA / "cjk-sample.mrc"):
        vernacular = [f for f in record.fields if f.tag == "880" and f.linked_tag == "245"]
        if vernacular:
            titles = values(dublin_core(record, syntax), "title")
            assert xml_text(strip_isbd(vernacular[0].get("a") or "")) in " ".join(titles)


INDENTED_MARCXML = """<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
  <record>
    <leader>00000nam a2200000 a 4500</leader>
    <controlfield tag="001">indented1</controlfield>
    <datafield tag="245" ind1="1" ind2="0">
      <subfield code="a">Water
        resources   of the
        Nile basin /</subfield>
      <subfield code="c">by
        A.\tAuthor.</subfield>
    </datafield>
    <datafield tag="650" ind1=" " ind2="0">
      <subfield code="a">
        Water-supply</subfield>
      <subfield code="z">Egypt.
      </subfield>
    </datafield>
  </record>
</collection>
"""


def test_whitespace_of_indented_marcxml_is_collapsed_in_dublin_core_and_mods(tmp_path):
    path = tmp_path / "indented.xml"
    path.write_text(INDENTED_MARCXML, encoding="utf-8")
    (read,) = read_file(path)
    assert "\n" in read.record.first("245").get("a")  # the record itself keeps what it was given
    pairs = dublin_core(read.record, read.syntax)
    assert values(pairs, "title") == ["Water resources of the Nile basin"]
    assert values(pairs, "subject") == ["Water-supply -- Egypt"]
    root = reparsed(mods(read.record, read.syntax))
    assert root.findtext("m:titleInfo/m:title", namespaces=NS) == "Water resources of the Nile basin"
    assert root.findtext("m:note[@type='statement of responsibility']", namespaces=NS) == "by A. Author"
    assert [e.text for e in root.find("m:subject", NS)] == ["Water-supply", "Egypt"]
    assert not [text for text in root.itertext() if "\n" in text or "\t" in text or "  " in text]


def test_unimarc_dublin_core():
    record, syntax = record_with_001(DATA / "unimarc-sample.mrc", "IT\\ICCU\\ANA\\0019370")
    pairs = dublin_core(record, syntax)
    assert values(pairs, "title") == ["L'altra faccia della spirale"]
    assert values(pairs, "creator")[0] == "Asimov, Isaac"
    assert values(pairs, "language") == ["ita"]
    assert values(pairs, "publisher") == ["Milano : A. Mondadori"]
    assert values(pairs, "date") == ["1996"]
    assert values(pairs, "identifier") == ["URN:ISBN:88-04-40682-8"]
    record, syntax = record_with_001(DATA / "unimarc-sample.mrc", "990002180740203961")
    pairs = dublin_core(record, syntax)
    assert values(pairs, "title") == ["'94中国发展报告"]
    assert values(pairs, "language") == ["chi"]
    assert "经济发展 -- 概况 -- 中国 -- 1994" in values(pairs, "subject")
    assert values(pairs, "creator") == ["叶震", "李强", "国家统计局"]


def mods_of(path: Path, control_number: str) -> etree._Element:
    return reparsed(mods(*record_with_001(path, control_number)))


def test_mods_titles_names_and_subjects():
    root = mods_of(DATA / "marc21-utf8-sample.mrc", "00004950")
    assert root.get("version") == "3.7"
    assert root.findtext("m:titleInfo[1]/m:title", namespaces=NS) == "History of Mary, Queen of Scots"
    assert root.find("m:titleInfo[@type='alternative']/m:title", NS).text == "Mary, Queen of Scots"
    author = root.find("m:name[@usage='primary']", NS)
    assert author.get("type") == "personal"
    assert author.xpath("m:namePart[not(@type)]/text()", namespaces=NS) == ["Abbott, Jacob"]
    assert author.findtext("m:namePart[@type='date']", namespaces=NS) == "1803-1879"
    publisher = root.find("m:name[@type='corporate']", NS)
    assert publisher.findtext("m:role/m:roleTerm", namespaces=NS) == "publisher"
    place = root.xpath("m:subject[m:geographic='Scotland']", namespaces=NS)[0]
    assert place.get("authority") == "lcsh"
    assert [(etree.QName(e).localname, e.text) for e in place] == [
        ("geographic", "Scotland"), ("topic", "History"), ("temporal", "Mary Stuart, 1542-1567"),
        ("genre", "Juvenile literature")]
    person = root.xpath("m:subject[m:name]", namespaces=NS)[0]
    assert person.findtext("m:name/m:namePart[@type='date']", namespaces=NS) == "1542-1587"
    assert root.findtext("m:typeOfResource", namespaces=NS) == "text"
    assert root.findtext("m:originInfo/m:dateIssued[@encoding='marc']", namespaces=NS) == "1900"
    assert root.findtext("m:originInfo/m:publisher", namespaces=NS) == "Henry Altemus Company"
    assert root.findtext("m:originInfo/m:place/m:placeTerm[@type='code']", namespaces=NS) == "pau"
    assert root.findtext("m:language/m:languageTerm", namespaces=NS) == "eng"
    assert root.findtext("m:classification[@authority='lcc']", namespaces=NS) == "DA787.A5 A3"
    assert root.findtext("m:relatedItem[@type='series']/m:titleInfo/m:title", namespaces=NS) == \
        "Altemus' young people's library"
    assert root.findtext("m:identifier[@type='lccn']", namespaces=NS) == "00004950"
    assert root.findtext("m:location/m:url", namespaces=NS) == "http://hdl.loc.gov/loc.gdc/scd0001.00213905715"
    assert root.findtext("m:recordInfo/m:recordIdentifier[@source='DLC']", namespaces=NS) == "00004950"
    assert root.findtext("m:note[@type='statement of responsibility']", namespaces=NS) == \
        "by Jacob Abbott ; with forty-five illustrations"
    order = [etree.QName(child).localname for child in root]
    assert order.index("titleInfo") < order.index("name") < order.index("subject") < order.index("recordInfo")


def test_mods_non_filing_characters():
    root = mods_of(DATA / "marc21-utf8-sample.mrc", "00005928")
    title = root.find("m:titleInfo", NS)
    assert title.findtext("m:nonSort", namespaces=NS) == "A "
    assert title.findtext("m:title", namespaces=NS).startswith("catalogue for advanced collectors")


def test_mods_isbn_and_alternate_script_pairs():
    root = mods_of(DATA / "cjk-sample.mrc", "00271346")
    assert root.findtext("m:identifier[@type='isbn']", namespaces=NS) == "4773364335"
    titles = root.findall("m:titleInfo", NS)
    assert [t.get("altRepGroup") for t in titles] == ["02", "02"]
    assert titles[1].get("script") == "Jpan"
    assert unicodedata.normalize("NFC", titles[1].findtext("m:title", namespaces=NS)) == "真理への途上"
    assert titles[1].findtext("m:subTitle", namespaces=NS) == "苦渋に満ちた生涯田中正造・原胤昭・新渡戶稲造"
    names = root.findall("m:name", NS)
    assert [n.findtext("m:namePart", namespaces=NS) for n in names] == ["Amagai, Yukimaro", "雨貝行麿"]
    assert {n.get("altRepGroup") for n in names} == {"01"}
    origins = root.xpath("m:originInfo[m:publisher]", namespaces=NS)
    assert [o.findtext("m:publisher", namespaces=NS) for o in origins] == ["Kindai Bungeisha", "近代文芸社"]


def test_linked_edition_and_imprint_each_pair_with_their_880_in_origin_infos_of_their_own():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("008", value="000101s1999    ja " + " " * 17 + "jpn  "),   # Japanese: $1 is Jpan
        Field("245", indicators="10", subfields=[("6", "880-01"), ("a", "Shinri e no tojō")]),
        Field("250", indicators="  ", subfields=[("6", "880-02"), ("a", "Dai 2-han.")]),
        Field("260", indicators="  ", subfields=[("6", "880-03"), ("a", "Tōkyō :"), ("b", "Kindai Bungeisha,"),
                                                 ("c", "1999.")]),
        Field("880", indicators="10", subfields=[("6", "245-01/$1"), ("a", "真理への途上")]),
        Field("880", indicators="  ", subfields=[("6", "250-02/$1"), ("a", "第2版.")]),
        Field("880", indicators="  ", subfields=[("6", "260-03/$1"), ("a", "東京 :"), ("b", "近代文芸社,"),
                                                 ("c", "1999.")]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    groups = {}
    for origin in root.xpath("m:originInfo[@altRepGroup]", namespaces=NS):
        groups.setdefault(origin.get("altRepGroup"), []).append(
            (origin.get("script"), origin.findtext("m:edition", namespaces=NS),
             origin.findtext("m:publisher", namespaces=NS)))
    assert groups == {"02": [(None, "Dai 2-han", None), ("Jpan", "第2版", None)],
                      "03": [(None, None, "Kindai Bungeisha"), ("Jpan", None, "近代文芸社")]}
    own = root.find("m:originInfo", NS)  # the record's: 008 and leader, in no pair
    assert own.get("altRepGroup") is None
    assert own.findtext("m:dateIssued[@encoding='marc']", namespaces=NS) == "1999"


def test_name_title_added_entries_become_related_works_and_plain_names_stay_names():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("245", indicators="00", subfields=[("a", "Collected plays /")]),
        Field("700", indicators="12", subfields=[("6", "880-04"), ("a", "Chekhov, Anton Pavlovich,"),
                                                 ("d", "1860-1904."), ("t", "Chaĭka."), ("l", "English.")]),
        Field("700", indicators="1 ", subfields=[("a", "Smith, John,"), ("e", "translator.")]),
        Field("710", indicators="2 ", subfields=[("i", "Container of (work):"), ("a", "Moscow Art Theatre."),
                                                 ("t", "Programmes."), ("n", "Part 2,"), ("p", "Winter season.")]),
        Field("880", indicators="12", subfields=[("6", "700-04/(N"), ("a", "Чехов, Антон Павлович,"),
                                                 ("d", "1860-1904."), ("t", "Чайка.")]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    assert [name.findtext("m:namePart", namespaces=NS) for name in root.findall("m:name", NS)] == ["Smith, John"]
    constituent = root.find("m:relatedItem[@type='constituent']", NS)
    assert [(title.get("altRepGroup"), title.get("script"), title.findtext("m:title", namespaces=NS))
            for title in constituent.findall("m:titleInfo", NS)] == [("04", None, "Chaĭka. English"),
                                                                    ("04", "Cyrl", "Чайка")]
    assert [(name.get("type"), name.get("altRepGroup"), name.findtext("m:namePart", namespaces=NS),
             name.findtext("m:namePart[@type='date']", namespaces=NS))
            for name in constituent.findall("m:name", NS)] == [
        ("personal", "04", "Chekhov, Anton Pavlovich", "1860-1904"),
        ("personal", "04", "Чехов, Антон Павлович", "1860-1904")]
    work = root.find("m:relatedItem[@otherType]", NS)
    assert work.get("type") is None and work.get("otherType") == "Container of (work)"
    assert work.findtext("m:name[@type='corporate']/m:namePart", namespaces=NS) == "Moscow Art Theatre"
    assert [(etree.QName(e).localname, e.text) for e in work.find("m:titleInfo", NS)] == [
        ("title", "Programmes"), ("partNumber", "Part 2"), ("partName", "Winter season")]


def test_unimarc_mods_core():
    root = mods_of(DATA / "unimarc-sample.mrc", "IT\\ICCU\\ANA\\0019370")
    assert root.findtext("m:titleInfo/m:nonSort", namespaces=NS) == "L'"  # between UNIMARC's NSB and NSE
    assert root.findtext("m:titleInfo/m:title", namespaces=NS) == "altra faccia della spirale"
    author = root.find("m:name[@usage='primary']", NS)
    assert author.findtext("m:namePart[@type='family']", namespaces=NS) == "Asimov"
    assert author.findtext("m:namePart[@type='given']", namespaces=NS) == "Isaac"
    assert author.findtext("m:role/m:roleTerm[@type='text']", namespaces=NS) == "author"
    assert root.findtext("m:language/m:languageTerm", namespaces=NS) == "ita"
    assert root.findtext("m:originInfo/m:publisher", namespaces=NS) == "A. Mondadori"
    assert root.findtext("m:originInfo/m:dateIssued[@keyDate='yes']", namespaces=NS) == "1996"
    assert root.findtext("m:identifier[@type='isbn']", namespaces=NS) == "88-04-40682-8"
    series = root.findall("m:relatedItem[@type='series']/m:titleInfo", NS)
    assert [(t.findtext("m:nonSort", namespaces=NS), t.findtext("m:title", namespaces=NS)) for t in series] == [
        (None, "Bestsellers"), ("Il ", "ciclo delle fondazioni")]
    assert root.findtext("m:physicalDescription/m:extent", namespaces=NS) == "V, 201 p. ; 20 cm"

    root = mods_of(DATA / "unimarc-sample.mrc", "990002180740203961")
    assert root.findtext("m:titleInfo/m:title", namespaces=NS) == "'94中国发展报告"
    assert root.findtext("m:language/m:languageTerm", namespaces=NS) == "chi"
    subject = root.find("m:subject", NS)
    assert [(etree.QName(e).localname, e.text) for e in subject] == [
        ("topic", "经济发展"), ("topic", "概况"), ("geographic", "中国"), ("temporal", "1994")]
    assert root.findtext("m:classification[@authority='clc']", namespaces=NS) == "F124"
    assert root.findtext("m:name/m:role/m:roleTerm", namespaces=NS) == "主编"


def test_odd_indicators_and_huge_numbers_do_not_stop_mods_and_traced_series_come_once():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("001", value="1"),
        Field("035", indicators="  ", subfields=[("a", "(OCoLC)" + "7" * 4400)]),
        Field("245", indicators="1\u00b2", subfields=[("a", "The title")]),
        Field("490", indicators="1 ", subfields=[("a", "Speed!")]),
        Field("830", indicators=" 0", subfields=[("a", "Speed! (Woodbridge, Conn.)")]),
    ])
    document = mods(record, "marc21")
    assert MODS_SCHEMA.validate(document), MODS_SCHEMA.error_log
    series = document.findall(f"{{{MODS_NS}}}relatedItem[@type='series']")
    assert len(series) == 1


def test_an_008_with_its_spaces_collapsed_gives_no_language_or_genres_from_wrong_positions():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("008", value="830425s1983 ii a b 001 0 urd"),     # 28 characters, as in WEST.xml
        Field("245", indicators="00", subfields=[("a", "A title")]),
    ])
    document = mods(record, "marc21")
    assert document.find(f".//{{{MODS_NS}}}languageTerm") is None
    assert document.findall(f"{{{MODS_NS}}}genre[@authority='marcgt']") == []
    assert ("language", "urd") not in dublin_core(record, "marc21")
    assert document.find(f".//{{{MODS_NS}}}dateIssued").text == "1983"


def test_a_title_only_name_title_entry_has_no_empty_name():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("245", indicators="00", subfields=[("a", "Collected plays /")]),
        Field("700", indicators=" 2", subfields=[("t", "Chaĭka.")]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    work = root.find("m:relatedItem[@type='constituent']", NS)
    assert work.findtext("m:titleInfo/m:title", namespaces=NS) == "Chaĭka"
    assert work.find("m:name", NS) is None


@pytest.mark.parametrize("title", [".", " ; ", " /"])
def test_a_name_entry_whose_title_is_only_punctuation_stays_a_name(title):
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("245", indicators="00", subfields=[("a", "Collected plays /")]),
        Field("700", indicators="1 ", subfields=[("a", "Smith, John,"), ("e", "translator."), ("t", title)]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    assert root.find("m:relatedItem", NS) is None
    name = root.find("m:name", NS)
    assert (name.findtext("m:namePart", namespaces=NS), name.findtext("m:role/m:roleTerm", namespaces=NS)) == \
        ("Smith, John", "translator")


@pytest.mark.parametrize("latin, vernacular", [([("t", "Chaĭka.")], []), ([], [("t", "Чайка.")])])
def test_a_linked_name_title_entry_and_its_880_are_one_work_when_either_has_the_title(latin, vernacular):
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("245", indicators="00", subfields=[("a", "Collected plays /")]),
        Field("700", indicators="12", subfields=[("6", "880-04"), ("a", "Chekhov, Anton Pavlovich,"), *latin]),
        Field("880", indicators="12", subfields=[("6", "700-04/(N"), ("a", "Чехов, Антон Павлович,"), *vernacular]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    assert root.find("m:name", NS) is None
    (work,) = root.findall("m:relatedItem[@type='constituent']", NS)
    assert [(name.get("altRepGroup"), name.get("script"), name.findtext("m:namePart", namespaces=NS))
            for name in work.findall("m:name", NS)] == [("04", None, "Chekhov, Anton Pavlovich"),
                                                       ("04", "Cyrl", "Чехов, Антон Павлович")]
    assert [title.get("altRepGroup") for title in work.findall("m:titleInfo", NS)] == ["04"]


def test_a_linked_extent_and_its_880_pair_in_physical_descriptions_of_their_own():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("008", value="000101s1999    ru            000 0 rus  "),
        Field("245", indicators="00", subfields=[("a", "Chaĭka")]),
        Field("300", indicators="  ", subfields=[("6", "880-05"), ("a", "201 p. ;"), ("c", "20 cm")]),
        Field("300", indicators="  ", subfields=[("a", "1 map")]),
        Field("338", indicators="  ", subfields=[("a", "volume")]),
        Field("880", indicators="  ", subfields=[("6", "300-05/(N"), ("a", "201 с. ;"), ("c", "20 см")]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    groups = {}
    for physical in root.findall("m:physicalDescription", NS):
        groups.setdefault(physical.get("altRepGroup"), []).append(
            (physical.get("script"), [(etree.QName(e).localname, e.text) for e in physical]))
    assert groups == {None: [(None, [("extent", "1 map"), ("form", "volume")])],
                      "05": [(None, [("extent", "201 p. ; 20 cm")]), ("Cyrl", [("extent", "201 с. ; 20 см")])]}


def test_no_attribute_is_written_blank():
    record = MarcRecord("00000nam a2200000 a 4500", [
        Field("003", value="\x01"),
        Field("001", value="1"),
        Field("245", indicators="00", subfields=[("a", "A title")]),
        Field("246", indicators="3 ", subfields=[("i", "\x02:"), ("a", "Other title")]),
        Field("650", indicators=" 7", subfields=[("a", "Topic"), ("2", " ")]),
        Field("700", indicators="1 ", subfields=[("i", "\x1f:"), ("a", "Smith, John."), ("t", "Works.")]),
        Field("856", indicators="40", subfields=[("u", "http://example.org/"), ("y", "\x03"), ("z", "\x04")]),
    ])
    root = reparsed(mods(record, "marc21"))
    assert MODS_SCHEMA.validate(root), MODS_SCHEMA.error_log
    assert root.find("m:relatedItem", NS).findtext("m:titleInfo/m:title", namespaces=NS) == "Works"
    assert [(element.tag, key) for element in root.iter() for key, value in element.attrib.items()
            if not value.strip()] == []
