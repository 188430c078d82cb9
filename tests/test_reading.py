"""Reading real MARC files: encodings, lying leaders, broken records."""
from __future__ import annotations

import pymarc
import pytest

from conftest import DATA
from unishelf.marc.reading import ReadRecord, Rejected, read_file, xml_safe
from unishelf.marc.record import parse_iso2709, split_records, write_iso2709


def test_utf8_records_keep_their_bytes_and_parse_like_pymarc():
    data = (DATA / "marc21-utf8-sample.mrc").read_bytes()
    ours = list(read_file(DATA / "marc21-utf8-sample.mrc"))
    theirs = list(pymarc.MARCReader(data, to_unicode=True, force_utf8=True))
    assert len(ours) == len(theirs) == 300
    for item, record, (_, chunk) in zip(ours, theirs, split_records(data)):
        assert item.raw == chunk
        assert item.record.leader == str(record.leader)
        assert [f.tag for f in item.record.fields] == [f.tag for f in record.get_fields()]
        assert item.record.first("245").text() == " ".join(s.value for s in record["245"].subfields)


def test_marc8_records_are_converted_to_utf8_like_pymarc():
    items = list(read_file(DATA / "marc8-sample.mrc"))
    with open(DATA / "marc8-sample.mrc", "rb") as handle:
        theirs = list(pymarc.MARCReader(handle, to_unicode=True, force_utf8=False, hide_utf8_warnings=True))
    assert len(items) == len(theirs) == 54
    for item, record in zip(items, theirs):
        assert isinstance(item, ReadRecord)
        # stored as UTF-8 and says so; pure ASCII records are the same in both and kept as they were
        assert item.raw[9:10] == b"a" or item.raw.isascii()
        assert item.record.first("245").text() == " ".join(s.value for s in record["245"].subfields)
        reparsed = parse_iso2709(item.raw, lambda raw: raw.decode("utf-8"))
        assert reparsed.fields == item.record.fields


def test_marc8_cjk_is_decoded():
    texts = [f.text() for item in read_file(DATA / "marc8-sample.mrc") for f in item.record.get_fields("880")]
    assert any("\u4e00" <= ch <= "\u9fff" for text in texts for ch in text)


def test_marcxml_and_unimarc_read():
    xml = list(read_file(DATA / "marcxml-sample.xml"))
    assert len(xml) == 40 and all(isinstance(i, ReadRecord) for i in xml)
    unimarc = list(read_file(DATA / "unimarc-sample.mrc"))
    assert unimarc and all(i.syntax == "unimarc" for i in unimarc)
    assert any("\u4e00" <= ch <= "\u9fff" for i in unimarc for f in i.record.fields for ch in f.text())


def test_write_iso2709_round_trips():
    for item in read_file(DATA / "marc21-utf8-sample.mrc"):
        assert write_iso2709(item.record) == item.raw


EDGE_CASES = sorted((DATA / "edge-cases").iterdir())


@pytest.mark.parametrize("path", EDGE_CASES, ids=lambda p: p.name)
def test_broken_files_never_raise_and_every_record_is_accounted_for(path):
    results = list(read_file(path))
    chunks = list(split_records(path.read_bytes()))
    assert len(results) == len(chunks)
    for result in results:
        assert isinstance(result, (ReadRecord, Rejected))
        if isinstance(result, Rejected):
            assert result.reason and result.position.startswith("record ")


def test_lying_leader_utf8_bytes_with_blank_leader09_is_read_as_utf8():
    (item,) = read_file(DATA / "edge-cases" / "utf8_without_leader_flag.dat")
    assert any("MARC-8" in w for w in item.warnings)
    assert "\ufffd" not in "".join(f.text() for f in item.record.fields)


def test_malformed_marcxml_record_is_rejected_alone(tmp_path):
    good = (DATA / "marcxml-sample.xml").read_text("utf-8")
    broken = good.replace("</record>", "</record><record><leader>x</leader><datafield tag='245'></record>", 1)
    path = tmp_path / "broken.xml"
    path.write_text(broken, "utf-8")
    results = list(read_file(path))
    assert sum(isinstance(r, Rejected) for r in results) == 1
    assert sum(isinstance(r, ReadRecord) for r in results) == 40


def test_xml_forbidden_characters_are_replaced(tmp_path):
    text = (DATA / "marcxml-sample.xml").read_text("utf-8").replace("<subfield code=\"a\">", "<subfield code=\"a\">\x1f", 1)
    path = tmp_path / "control.xml"
    path.write_text(text, "utf-8")
    results = list(read_file(path))
    assert all(isinstance(r, ReadRecord) for r in results)
    assert any("XML 1.0" in w for r in results for w in r.warnings)


def test_a_marcxml_record_with_a_field_longer_than_iso_2709_counts_is_stored_and_reads_back(tmp_path):
    long_note = "x" * 12_000
    path = tmp_path / "long.xml"
    path.write_text('<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000nam a2200000 a 4500</leader>'
                    '<controlfield tag="001">1</controlfield><datafield tag="505" ind1="0" ind2=" ">'
                    f'<subfield code="a">{long_note}</subfield></datafield><datafield tag="245" ind1="0" ind2="0">'
                    '<subfield code="a">Fine</subfield></datafield></record></collection>', encoding="utf-8")
    [read] = read_file(path)
    assert isinstance(read, ReadRecord)
    again = parse_iso2709(read.raw)
    assert again.first("505").get("a") == long_note and again.first("245").get("a") == "Fine"


def test_a_record_larger_than_iso_2709_counts_is_written_and_read_back_whole():
    from unishelf.marc.record import Field, MarcRecord
    fields = [Field("001", value="big")] + [Field("505", indicators="0 ", subfields=[("a", f"{n} " + "y" * 9000)])
                                           for n in range(14)] + [Field("880", indicators="  ", subfields=[("a", "last")])]
    record = MarcRecord("00000nam a2200000 a 4500", fields)
    again = parse_iso2709(write_iso2709(record))
    assert [f.tag for f in again.fields] == [f.tag for f in fields]
    assert [f.get("a") for f in again.fields[1:]] == [f.get("a") for f in fields[1:]]


def test_xml_safe_replaces_what_xml_forbids_in_ascii_and_other_text():
    assert xml_safe("plain\ttext\nwith\rwhitespace") == "plain\ttext\nwith\rwhitespace"
    assert xml_safe("C0\x00\x08\x0b\x0c\x0e\x1f end") == "C0       end"    # the ASCII way
    assert xml_safe("é\x01\ud800\ufffe\uffff") == "é    "                  # the pattern's way
    every_ascii = "".join(map(chr, range(128)))
    assert xml_safe(every_ascii) == " " * 9 + "\t\n  \r" + " " * 18 + every_ascii[32:]
