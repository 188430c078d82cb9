"""Record forms for clients that do not take full MARC: brief records and readable text (SUTRS).

Z39.50 element set B and SUTRS, and later SRU and OAI-PMH brief forms, all come from here.
"""
from __future__ import annotations

from .record import Field, MarcRecord

# MARC21 fields of a brief record: identification, main entry, title, edition, imprint, extent.
BRIEF_MARC21 = {"001", "003", "005", "008", "010", "020", "022", "035", "040", "050", "082", "100", "110",
                "111", "130", "245", "250", "260", "264", "300", "490"}
BRIEF_UNIMARC = {"001", "005", "010", "011", "100", "101", "200", "205", "210", "215", "225", "700",
                 "701", "710"}
# MARC21 and UNIMARC sources of each SUTRS line: (label, [(tag, subfield codes)]).
SUTRS_LINES = {
    "marc21": [("Title", [("245", "abnp")]), ("Author", [("100", "abcdq"), ("110", "abn"), ("111", "acdn")]),
               ("Edition", [("250", "a")]), ("Published", [("260", "abc"), ("264", "abc")]),
               ("Description", [("300", "abc")]), ("Series", [("490", "av")]),
               ("ISBN", [("020", "a")]), ("ISSN", [("022", "a")]), ("LCCN", [("010", "a")]),
               ("Subject", [("600", "abcdvxyz"), ("610", "abvxyz"), ("650", "avxyz"), ("651", "avxyz")]),
               ("Call number", [("050", "ab"), ("082", "a")])],
    "unimarc": [("Title", [("200", "aehi")]), ("Author", [("700", "ab"), ("701", "ab"), ("710", "ab")]),
                ("Edition", [("205", "a")]), ("Published", [("210", "acd")]), ("Description", [("215", "acd")]),
                ("Series", [("225", "a")]), ("ISBN", [("010", "a")]), ("ISSN", [("011", "a")]),
                ("Subject", [("606", "axyz")]), ("Classification", [("690", "a"), ("676", "a")])],
}


def brief(record: MarcRecord, syntax: str) -> MarcRecord:
    """The record with only its brief fields (and their linked 880s)."""
    keep = BRIEF_MARC21 if syntax == "marc21" else BRIEF_UNIMARC
    return MarcRecord(record.leader, [f for f in record.fields if f.linked_tag in keep])


def sutrs(record: MarcRecord, syntax: str, holdings: dict[str, list[dict]] | None = None) -> str:
    """A readable plain-text record: labelled lines, vernacular script beside the romanised form."""
    lines = []
    for label, sources in SUTRS_LINES[syntax]:
        for tag, codes in sources:
            for field in record.fields:
                if field.linked_tag == tag:
                    text = _clean(field, codes)
                    if text:
                        lines.append(f"{label}: {text}")
    for library, items in sorted((holdings or {}).items()):
        for item in items:
            details = ", ".join(item[k] for k in ("location", "call_number", "status") if item.get(k))
            lines.append(f"Held by: {library}" + (f" ({details})" if details else ""))
    return "\n".join(lines) + "\n"


def _clean(field: Field, codes: str) -> str:
    return field.text(codes).strip(" /:;,.=") if field.value is None else field.value.strip()
