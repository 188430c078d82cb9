"""MARC 21 and UNIMARC records as unqualified Dublin Core: OAI-PMH's oai_dc and SRU's dc schema.

MARC 21 follows the Library of Congress "MARC to Dublin Core Crosswalk" (unqualified), the way
LoC's MARC21slim2OAIDC stylesheet applies it: names go to dc:creator (harvesters look for them
there; the crosswalk itself would use dc:contributor), the ISBD punctuation that closes a field
is cut, and dc:type comes from the leader in the DCMI Type vocabulary. UNIMARC takes the fields
that carry the same things. 880 fields (vernacular script) are read as the field they link to,
so a Chinese title comes out beside its romanised form.

OAI-PMH renders every record of a 250,000-record harvest through here, so it is one pass over the
fields with a table of tag handlers: no XPath, no XSLT.
"""
from __future__ import annotations

import re

from lxml import etree

from .reading import escape_markup, xml_safe
from .record import Field, MarcRecord

DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
SRW_DC_NS = "info:srw/schema/1/dc-schema"
SRW_DC_SCHEMA = "http://www.loc.gov/standards/sru/resources/dc-schema.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# The fifteen elements, in the order records list them.
ELEMENTS = ("title", "creator", "subject", "description", "publisher", "contributor", "date", "type",
            "format", "identifier", "source", "language", "relation", "coverage", "rights")
_RANK = {name: rank for rank, name in enumerate(ELEMENTS)}
_DC_TAG = {name: f"{{{DC_NS}}}{name}" for name in ELEMENTS}
_SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"

_ISBD_CLOSING = frozenset(" /:;=,\u200e\u200f")  # and bidi marks left at the end
_INITIAL = re.compile(r"(?:^|[\s.(\-])[^\W\d_]\.$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{3}$")
_XML_WHITESPACE = re.compile("[ \t\n\r]+")


def xml_text(text: str) -> str:
    """A value as the crosswalks write it: XML-safe, and each run of whitespace one space, as
    XPath's normalize-space does (MARCXML often indents a subfield's text over several lines).
    The ends are the caller's: a non-sorting article keeps the space after it."""
    if text.isprintable() and "  " not in text:  # most values: no control character, nothing to do
        return text
    return _XML_WHITESPACE.sub(" ", xml_safe(text))


def strip_isbd(text: str) -> str:
    """`text` without the ISBD punctuation that closes a MARC field (" /", " :", " ;", " =", ","
    and a final "."), as LoC's chopPunctuation does, except that the period of an initial
    ("Smith, J.") or an ellipsis stays."""
    end = len(text)
    while end:
        last = text[end - 1]
        if last in _ISBD_CLOSING or last.isspace():
            end -= 1
        elif last == "." and not text.endswith("..", 0, end) and not _INITIAL.search(text, 0, end):
            end -= 1
        else:
            break
    return text[:end].strip()


def language_codes(text: str) -> list[str]:
    """The ISO 639-2 codes in a language code subfield; old records run several together."""
    text = text.strip().lower()
    return [code for code in (text[i:i + 3] for i in range(0, len(text), 3)) if _LANGUAGE_CODE.match(code)]


def first_word(text: str) -> str:
    """An ISBN or ISSN without the qualifier catalogues add after it ("0262032937 (pbk.)")."""
    return text.strip().split(" ", 1)[0].strip(" :;,.")


def heading(field: Field, main: str, subdivisions: str = "vxyz") -> str:
    """A subject heading: the main subfields joined by spaces, each subdivision after " -- "."""
    parts = []
    head = []
    for code, value in field.subfields:
        if code in main:
            head.append(value)
        elif code in subdivisions:
            if head:
                parts.append(strip_isbd(" ".join(head)))
                head = []
            parts.append(strip_isbd(value))
    if head:
        parts.append(strip_isbd(" ".join(head)))
    return " -- ".join(p for p in parts if p)


def letters(field: Field) -> str:
    """The field's text from its lower-case letter subfields: not $6 linkage, $8, $5, nor
    CNMARC's upper-case pinyin subfields."""
    return " ".join([v for c, v in field.subfields if "a" <= c <= "z"]).strip()


class _Values:
    """What one record contributes, with the 008/100 date kept in case no imprint has one."""

    __slots__ = ("pairs", "fallback_date")

    def __init__(self):
        self.pairs: list[tuple[str, str]] = []
        self.fallback_date = ""

    def add(self, name: str, text: str | None):
        if text:
            self.pairs.append((name, strip_isbd(text)))

    def add_as_is(self, name: str, text: str | None):
        if text:
            self.pairs.append((name, text))


# --- MARC 21 -------------------------------------------------------------------------------

def _marc21_008(f: Field, out: _Values):
    data = f.value or ""
    date = data[7:11]
    if date.isdigit():
        out.fallback_date = date
    if len(data) < 38:   # spaces collapsed (seen in real MARCXML): the language is not where it should be
        return
    for code in language_codes(data[35:38]):
        out.pairs.append(("language", code))


def _marc21_041(f: Field, out: _Values):
    for code, value in f.subfields:
        if code in "abdefghj":
            for language in language_codes(value):
                out.pairs.append(("language", language))


def _isbn(f: Field, out: _Values):
    for value in f.get_all("a"):
        if first_word(value):
            out.pairs.append(("identifier", "URN:ISBN:" + first_word(value)))


def _issn(f: Field, out: _Values):
    for value in f.get_all("a"):
        if first_word(value):
            out.pairs.append(("identifier", "URN:ISSN:" + first_word(value)))


def _marc21_024(f: Field, out: _Values):
    for value in f.get_all("a"):
        out.add("identifier", value)


def _classification(codes: str):
    def handler(f: Field, out: _Values):
        out.add("subject", f.text(codes))
    return handler


def _name(codes: str):
    def handler(f: Field, out: _Values):
        out.add("creator", f.text(codes))
    return handler


def _marc21_title(f: Field, out: _Values):
    out.add("title", without_sort_marks(f.text("abfgknps")))


def _marc21_variant_title(f: Field, out: _Values):
    out.add("title", without_sort_marks(f.text("abfnp")))


def _marc21_imprint(f: Field, out: _Values):
    if f.linked_tag == "264" and f.indicators[1:2] not in ("1", "0", " "):
        return
    out.add("publisher", f.text("ab"))
    for date in f.get_all("c"):
        out.add("date", date)


def _marc21_note(f: Field, out: _Values):
    out.add_as_is("description", letters(f))


def _marc21_contents(f: Field, out: _Values):
    out.add_as_is("description", f.text("agrt"))


def _marc21_rights(f: Field, out: _Values):
    out.add_as_is("rights", letters(f))


def _marc21_language_note(f: Field, out: _Values):
    out.add("language", f.text("ab"))


def _marc21_physical_medium(f: Field, out: _Values):
    out.add("format", letters(f))


def _marc21_additional_form(f: Field, out: _Values):
    out.add_as_is("relation", letters(f))


def _marc21_original(f: Field, out: _Values):
    out.add_as_is("description", letters(f))
    out.add("source", f.get("t"))


def _marc21_link(element: str):
    def handler(f: Field, out: _Values):
        out.add(element, without_sort_marks(f.text("ot")))
    return handler


def _subject(main: str):
    def handler(f: Field, out: _Values):
        out.add("subject", heading(f, main))
    return handler


def _place_subject(f: Field, out: _Values):
    """651, 648: the heading is a subject, its place or period the coverage."""
    out.add("subject", heading(f, "a"))
    out.add("coverage", f.get("a"))


def _genre(f: Field, out: _Values):
    out.add("type", heading(f, "abc"))


def _keywords(f: Field, out: _Values):
    for value in f.get_all("a"):
        out.add("subject", value)


def _marc21_place(f: Field, out: _Values):
    out.add("coverage", " -- ".join(strip_isbd(v) for c, v in f.subfields if c in "abcdfgh"))


def _marc21_856(f: Field, out: _Values):
    for value in f.get_all("u"):
        out.add_as_is("identifier", value)
    for value in f.get_all("q"):
        out.add_as_is("format", value)


_MARC21_NOTES_ELSEWHERE = {"505": _marc21_contents, "506": _marc21_rights, "530": _marc21_additional_form,
                           "534": _marc21_original, "540": _marc21_rights, "546": _marc21_language_note}

MARC21_HANDLERS = {
    "008": _marc21_008, "020": _isbn, "022": _issn, "024": _marc21_024, "041": _marc21_041,
    "050": _classification("ab"), "060": _classification("ab"), "080": _classification("a"),
    "082": _classification("a"),
    "100": _name("abcdq"), "110": _name("abcdn"), "111": _name("acdenq"),
    "700": _name("abcdq"), "710": _name("abcdn"), "711": _name("acdenq"), "720": _name("a"),
    "245": _marc21_title, "246": _marc21_variant_title,
    "260": _marc21_imprint, "264": _marc21_imprint, "340": _marc21_physical_medium,
    **{str(tag): _marc21_note for tag in range(500, 600)},
    **_MARC21_NOTES_ELSEWHERE,
    "600": _subject("abcdfgklmnopqrstu"), "610": _subject("abcdfgklmnoprstu"),
    "611": _subject("acdefgklnpqstu"), "630": _subject("adfgklmnoprst"), "650": _subject("abcd"),
    "653": _keywords,
    "648": _place_subject, "651": _place_subject, "662": _marc21_place, "751": _marc21_place,
    "752": _marc21_place, "655": _genre,
    **{str(tag): _marc21_link("relation") for tag in range(760, 788)},
    "786": _marc21_link("source"),
    "856": _marc21_856,
}

# LoC crosswalk, appendix 2: leader/06 to the DCMI Type vocabulary (o, m, p, r give no type).
MARC21_TYPES = {"a": "Text", "c": "Text", "d": "Text", "t": "Text", "e": "Image", "f": "Image",
                "g": "Image", "k": "Image", "i": "Sound", "j": "Sound"}
# UNIMARC leader/06 codes with the same meaning.
UNIMARC_TYPES = {"a": "Text", "b": "Text", "c": "Text", "d": "Text", "e": "Image", "f": "Image",
                 "g": "Image", "k": "Image", "i": "Sound", "j": "Sound"}
COLLECTION_LEVELS = frozenset("cs")


# --- UNIMARC -------------------------------------------------------------------------------

def unimarc_title(field: Field) -> tuple[str, str, list[str], list[str]]:
    """200/5XX: (title proper, other title information, part numbers, part names). The title
    proper keeps the marks (NSB/NSE) around an initial article that sorting skips."""
    title = " ; ".join(strip_isbd(v) for v in field.get_all("a"))
    rest = " : ".join(strip_isbd(v) for v in field.get_all("e"))
    return (title, without_sort_marks(rest), [strip_isbd(v) for v in field.get_all("h")],
            [strip_isbd(v) for v in field.get_all("i")])


def without_sort_marks(text: str) -> str:
    """The text without the marks around a non-filing article (NSB/NSE: UNIMARC's and MARC's)."""
    return text.replace("\x88", "").replace("\x89", "").replace("\x98", "").replace("\x9c", "")


def unimarc_personal_name(field: Field) -> str:
    """700-702, 600: "Surname, Forename numeration, additions, dates"."""
    name = (field.get("a") or "").strip(" ,")
    forename = (field.get("b") or "").strip(" ,")
    if forename:
        name = f"{name}, {forename}" if name else forename
    for code, separator in (("d", " "), ("c", ", "), ("f", ", ")):
        for value in field.get_all(code):
            value = strip_isbd(value.strip(" ,"))
            if value:
                name = f"{name}{separator}{value}"
    return without_sort_marks(name)


def unimarc_corporate_name(field: Field) -> str:
    """710-712, 601: the name and its subdivisions, qualifiers and meeting details."""
    return without_sort_marks(" ".join(strip_isbd(v) for c, v in field.subfields if c in "abcdefgh"))


def unimarc_link_title(field: Field) -> str:
    """The title of a 4XX linking field: $t, or the $a of an embedded 200 field."""
    title = field.get("t")
    if title:
        return title
    embedded = None
    for code, value in field.subfields:
        if code == "1":
            embedded = value[:3]
        elif code == "a" and embedded in ("200", "500"):
            return value
    return ""


def _unimarc_100(f: Field, out: _Values):
    data = f.get("a") or ""
    if data[9:13].isdigit():
        out.fallback_date = data[9:13]


def _unimarc_101(f: Field, out: _Values):
    for code in f.get_all("a"):
        for language in language_codes(code):
            out.pairs.append(("language", language))


def _unimarc_title(f: Field, out: _Values):
    title, rest, numbers, names = unimarc_title(f)
    text = " : ".join(p for p in (without_sort_marks(title), rest) if p)
    for part in numbers + names:
        text = f"{text}. {part}" if text else part
    out.add("title", text)


def _unimarc_variant_title(f: Field, out: _Values):
    out.add("title", without_sort_marks(f.get("a") or ""))


def _unimarc_imprint(f: Field, out: _Values):
    if f.tag == "214" and f.indicators[1:2] not in ("1", "0", " "):
        return
    place = " ; ".join(strip_isbd(v) for v in f.get_all("a"))
    publisher = " ; ".join(strip_isbd(v) for v in f.get_all("c"))
    if publisher:
        out.add("publisher", f"{place} : {publisher}" if place else publisher)
    for date in f.get_all("d"):
        out.add("date", date)


def _unimarc_personal(f: Field, out: _Values):
    out.add("creator", unimarc_personal_name(f))


def _unimarc_corporate(f: Field, out: _Values):
    out.add("creator", unimarc_corporate_name(f))


def _unimarc_family(f: Field, out: _Values):
    out.add("creator", f.get("a"))


def _unimarc_note(f: Field, out: _Values):
    out.add_as_is("description", letters(f))


def _unimarc_subject_heading(f: Field, main: str) -> str:
    return without_sort_marks(heading(f, main, "jxyz"))


def _unimarc_subject(main: str):
    def handler(f: Field, out: _Values):
        out.add("subject", _unimarc_subject_heading(f, main))
    return handler


def _unimarc_place_subject(f: Field, out: _Values):
    out.add("subject", _unimarc_subject_heading(f, "a"))
    out.add("coverage", without_sort_marks(f.get("a") or ""))


def _unimarc_genre(f: Field, out: _Values):
    out.add("type", _unimarc_subject_heading(f, "a"))


def _unimarc_personal_subject(f: Field, out: _Values):
    subdivisions = " -- ".join(strip_isbd(v) for c, v in f.subfields if c in "jxyz")
    name = unimarc_personal_name(f)
    out.add("subject", f"{name} -- {subdivisions}" if subdivisions and name else name or subdivisions)


def _unimarc_link(f: Field, out: _Values):
    out.add("relation", without_sort_marks(unimarc_link_title(f)))


UNIMARC_HANDLERS = {
    "010": _isbn, "011": _issn, "100": _unimarc_100, "101": _unimarc_101,
    "200": _unimarc_title, **{tag: _unimarc_variant_title for tag in ("510", "517", "532", "540", "541")},
    "210": _unimarc_imprint, "214": _unimarc_imprint,
    **{str(tag): _unimarc_note for tag in range(300, 400)},
    **{str(tag): _unimarc_link for tag in range(410, 489)},
    "600": _unimarc_personal_subject, "601": _unimarc_subject("abcdefgh"), "602": _unimarc_subject("af"),
    "604": _unimarc_subject("at"), "605": _unimarc_subject("ahiklmnq"), "606": _unimarc_subject("a"),
    "607": _unimarc_place_subject, "608": _unimarc_genre, "610": _keywords,
    "675": _classification("a"), "676": _classification("a"), "680": _classification("ab"),
    "686": _classification("a"), "690": _classification("a"),
    "700": _unimarc_personal, "701": _unimarc_personal, "702": _unimarc_personal,
    "710": _unimarc_corporate, "711": _unimarc_corporate, "712": _unimarc_corporate,
    "720": _unimarc_family, "721": _unimarc_family, "722": _unimarc_family,
    "856": _marc21_856,
}


def dublin_core(record: MarcRecord, syntax: str) -> list[tuple[str, str]]:
    """(element, value) pairs, grouped in the order of `ELEMENTS`, each group in field order;
    each value written by `xml_text` and stripped, and one repeated under the same element given
    once."""
    unimarc = syntax == "unimarc"
    handlers = UNIMARC_HANDLERS if unimarc else MARC21_HANDLERS
    out = _Values()
    for field in record.fields:
        handler = handlers.get(field.linked_tag if field.tag == "880" else field.tag)
        if handler is not None:
            handler(field, out)
    leader = record.leader
    kind = (UNIMARC_TYPES if unimarc else MARC21_TYPES).get(leader[6:7])
    if kind:
        out.pairs.append(("type", kind))
    if leader[7:8] in COLLECTION_LEVELS:
        out.pairs.append(("type", "Collection"))
    pairs = [(name, text) for name, value in out.pairs if (text := xml_text(value).strip())]
    if out.fallback_date and not any(name == "date" for name, _ in pairs):
        pairs.append(("date", out.fallback_date))
    pairs.sort(key=lambda pair: _RANK[pair[0]])
    return list(dict.fromkeys(pairs))


_OAI_DC_START = (f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xmlns:xsi="{XSI_NS}" '
                 f'xsi:schemaLocation="{OAI_DC_NS} {OAI_DC_SCHEMA}">')


def oai_dc(pairs: list[tuple[str, str]]) -> str:
    """The <oai_dc:dc> metadata root OAI-PMH requires, with its schema location, as text: a
    harvest renders hundreds of thousands, and building the text is four times cheaper than an
    lxml tree. `pairs` are `dublin_core`'s, already fit for XML."""
    parts = [_OAI_DC_START]
    for name, value in pairs:
        parts.append(f"<dc:{name}>{escape_markup(value)}</dc:{name}>")
    parts.append("</oai_dc:dc>")
    return "".join(parts)


def srw_dc(pairs: list[tuple[str, str]]) -> etree._Element:
    """SRU's Dublin Core record (schema info:srw/schema/1/dc-v1.1): <srw_dc:dc> around DC
    elements in the default namespace, as YAZ and Zebra write it; `pairs` as for `oai_dc`."""
    root = etree.Element(f"{{{SRW_DC_NS}}}dc", nsmap={"srw_dc": SRW_DC_NS, None: DC_NS, "xsi": XSI_NS})
    root.set(_SCHEMA_LOCATION, f"{SRW_DC_NS} {SRW_DC_SCHEMA}")
    _append(root, pairs)
    return root


def _append(root: etree._Element, pairs: list[tuple[str, str]]):
    sub_element = etree.SubElement
    for name, value in pairs:
        sub_element(root, _DC_TAG[name]).text = value
