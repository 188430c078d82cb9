from conftest import DATA
from unishelf.marc.reading import read_file
from unishelf.marc.render import brief, sutrs


def test_brief_records_keep_identification_and_description_only():
    item = next(i for i in read_file(DATA / "marc21-utf8-sample.mrc") if i.record.get_fields("650"))
    short = brief(item.record, "marc21")
    tags = {f.tag for f in short.fields}
    assert {"001", "008", "245"} <= tags and "650" not in tags
    assert short.leader == item.record.leader


def test_sutrs_has_labelled_lines_vernacular_script_and_holdings():
    item = next(i for i in read_file(DATA / "cjk-sample.mrc") if i.record.first("880"))
    text = sutrs(item.record, "marc21", {"EAST": [{"location": "Asia collection", "call_number": "Z1 .A1"}]})
    lines = text.splitlines()
    assert lines[0].startswith("Title: ")
    assert any("\u4e00" <= ch <= "\u9fff" or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7a3"
               for line in lines if line.startswith("Title: ") for ch in line)
    assert lines[-1] == "Held by: EAST (Asia collection, Z1 .A1)"


def test_sutrs_of_unimarc_records():
    item = next(iter(read_file(DATA / "unimarc-sample.mrc")))
    assert sutrs(item.record, "unimarc").startswith("Title: ")
