"""A union catalogue record as the Item-Id of an ILL-Request, so staff can ask for an item by its
record id instead of typing its title, author and numbers."""
from __future__ import annotations

from unishelf.marc.catalogue import Catalogue
from unishelf.marc.store import StoredRecord

# Item-Id component -> MARC sources, first found wins: (tag, subfield codes)
ITEM_SOURCES = {
    "marc21": {
        "title": [("245", "abnp")], "author": [("100", "abcdq"), ("110", "abn"), ("111", "acdn")],
        "edition": [("250", "a")], "place-of-publication": [("264", "a"), ("260", "a")],
        "publisher": [("264", "b"), ("260", "b")], "publication-date": [("264", "c"), ("260", "c")],
        "series-title-number": [("490", "av")], "iSBN": [("020", "a")], "iSSN": [("022", "a")],
        "call-number": [("050", "ab"), ("082", "a")],
    },
    "unimarc": {
        "title": [("200", "aehi")], "author": [("700", "ab"), ("701", "ab"), ("710", "ab")],
        "edition": [("205", "a")], "place-of-publication": [("210", "a")], "publisher": [("210", "c")],
        "publication-date": [("210", "d")], "series-title-number": [("225", "av")],
        "iSBN": [("010", "a")], "iSSN": [("011", "a")],
    },
}
TRAILING = " /:;,.="


def item_from_record(stored: StoredRecord) -> dict:
    """Item-Id components from the record, and where it was verified."""
    record = Catalogue.parse_stored(stored)
    item = {}
    for component, sources in ITEM_SOURCES.get(stored.syntax, ITEM_SOURCES["marc21"]).items():
        for tag, codes in sources:
            field = record.first(tag)
            text = field.text(codes).strip(TRAILING) if field is not None else ""
            if text:
                item[component] = text
                break
    item["verification-reference-source"] = f"union catalogue record {stored.id}"
    return item
