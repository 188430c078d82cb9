"""MARC 21 and UNIMARC records as MODS 3.7, for OAI-PMH's mods format and SRU's mods schema.

MARC 21 follows the Library of Congress "MARC 21 to MODS 3 Mapping" for the elements harvesters
use: titles (non-filing characters, subtitles, parts, uniform, alternative and translated
titles), names with dates and roles, type of resource and genre, publication (008 and 260/264),
language, physical description, abstract, contents, notes, subjects split into topic, place,
period and genre with their thesaurus, classification, series, linked works and works named
by name/title added entries, identifiers, links and holdings locations, and the record's own
description. UNIMARC gets the same core.

An 880 field (vernacular script) becomes the element of the field it links to; both elements
carry the $6 occurrence number as altRepGroup, the 880 one also its script as ISO 15924. A
linked edition, imprint or extent takes an originInfo or physicalDescription of its own rather
than the record's, which could hold only one pair; a name/title added entry's 880 joins the
entry's relatedItem.

As with Dublin Core, one pass over the fields with a table of tag handlers builds the tree; the
top-level elements are put in LoC's order at the end.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from lxml import etree

from .dublin_core import (XSI_NS, first_word, language_codes, letters, strip_isbd, unimarc_corporate_name,
                          unimarc_link_title, unimarc_personal_name, unimarc_title, without_sort_marks,
                          xml_text)
from .reading import xml_safe
from .record import Field, MarcRecord

MODS_NS = "http://www.loc.gov/mods/v3"
MODS_VERSION = "3.7"
MODS_SCHEMA = "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd"

_ELEMENTS = """abstract accessCondition area city citySection classification copyrightDate country county
dateCreated dateIssued descriptionStandard edition extent extraTerrestrialArea form frequency genre
geographic geographicCode hierarchicalGeographic identifier internetMediaType issuance language
languageOfCataloging languageTerm location mods name namePart nonSort note occupation originInfo partName
partNumber physicalDescription physicalLocation place placeTerm publisher recordChangeDate
recordContentSource recordCreationDate recordIdentifier recordInfo recordOrigin relatedItem role
roleTerm shelfLocator state subTitle subject targetAudience temporal title titleInfo topic
tableOfContents typeOfResource url""".split()
_TAG = {name: f"{{{MODS_NS}}}{name}" for name in _ELEMENTS}
# Top-level elements in about the order LoC's MARC21slim2MODS writes them; field order within each.
_ORDER = ("titleInfo", "name", "typeOfResource", "genre", "originInfo", "language", "physicalDescription",
          "abstract", "tableOfContents", "targetAudience", "note", "subject", "classification",
          "relatedItem", "identifier", "location", "accessCondition", "recordInfo")
_RANK = {_TAG[name]: rank for rank, name in enumerate(_ORDER)}
_NO_ALTERNATES = {_TAG["relatedItem"]}  # the one top-level element without altRepGroup and script

_SUB_ELEMENT = etree.SubElement
_LINK = re.compile(r"^(\d{3})-(\d{2})(?:/([^/]*))?")
_MARC_DATE = re.compile(r"^[0-9u]{4}$")
_ISO_DATE = re.compile(r"^\d{8}")
_OCLC = re.compile(r"^\(OCoLC\)\D*(\d+)")
_STRAY_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")
_URI_HEAD = re.compile("^[^/?#]*")  # the scheme, or a relative reference's first segment
_SCHEME = re.compile("^[A-Za-z][A-Za-z0-9+.-]*:")
_LANGUAGE_AUTHORITIES = frozenset(("rfc3066", "iso639-2b", "iso639-3", "rfc4646", "rfc5646"))

# $6 script identification codes (MARC 21 "Script identification codes") as ISO 15924 codes;
# "$1" (CJK) is refined from the record's language.
SCRIPTS = {"(3": "Arab", "(4": "Arab", "(B": "Latn", "!E": "Latn", "(N": "Cyrl", "(Q": "Cyrl",
           "(2": "Hebr", "(S": "Grek", "$1": "Hani"}
CJK_SCRIPTS = {"jpn": "Jpan", "kor": "Kore"}


def _add(parent, name: str, text: str | None = None, attrib: dict | None = None):
    """A new child element, its text and attribute values written by `xml_text`; an attribute
    left blank (a $2 of a space, a label of control characters) is left out: it says nothing."""
    element = _SUB_ELEMENT(parent, _TAG[name], attrib and {
        key: written for key, value in attrib.items() if (written := xml_text(value)).strip()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _text(parent, name: str, text: str | None, attrib: dict | None = None):
    """The element with `text`, or nothing when there is no text."""
    text = xml_text(text).strip() if text else ""
    return _add(parent, name, text, attrib) if text else None


def _dropped_if_empty(element):
    if len(element) == 0:
        element.getparent().remove(element)
        return None
    return element


class _Mods:
    """One record's MODS tree while its fields are read: the elements several fields add to."""

    __slots__ = ("root", "syntax", "leader", "fields", "language", "imprinted", "works", "_titled_works", "_origin",
                 "_physical", "_info", "_identifier", "_identifier_source", "_languages")

    def __init__(self, leader: str, syntax: str, fields: list[Field]):
        self.root = etree.Element(_TAG["mods"], nsmap={None: MODS_NS, "xsi": XSI_NS})
        self.syntax = syntax
        self.leader = leader
        self.fields = fields
        self.language = ""
        self.imprinted = False  # whether the record's own originInfo has its publication statement
        self.works: dict[str, etree._Element] = {}  # linked name/title entries' relatedItem by $6 occurrence
        self._titled_works: set[str] | None = None
        self._origin = self._physical = self._info = self._identifier = None
        self._identifier_source = ""
        self._languages: set[tuple[str, str]] = set()

    def origin(self):
        if self._origin is None:
            self._origin = _add(self.root, "originInfo")
        return self._origin

    def physical(self):
        if self._physical is None:
            self._physical = _add(self.root, "physicalDescription")
        return self._physical

    def titled_works(self) -> set[str]:
        """The $6 occurrences of the 700, 710 and 711 fields (and their 880s) with a title, read
        once a linked added entry comes: its 880 is still ahead."""
        if self._titled_works is None:
            self._titled_works = {_linkage(f)[0] for f in self.fields
                                  if f.linked_tag in ("700", "710", "711") and _has_title(f)}
        return self._titled_works

    def info(self):
        if self._info is None:
            self._info = _add(self.root, "recordInfo")
        return self._info

    def record_identifier(self, value: str):
        self._identifier = _text(self.info(), "recordIdentifier", value)
        if self._identifier is not None and self._identifier_source:
            self._identifier.set("source", self._identifier_source)

    def identifier_source(self, value: str):
        self._identifier_source = xml_text(value).strip()
        if self._identifier is not None and self._identifier_source:
            self._identifier.set("source", self._identifier_source)

    def add_language(self, code: str, authority: str = "iso639-2b", part: str = ""):
        if (code, part) in self._languages:
            return None
        self._languages.add((code, part))
        language = _add(self.root, "language", attrib={"objectPart": part} if part else None)
        _add(language, "languageTerm", code, {"authority": authority, "type": "code"})
        return language

    def script(self, code: str) -> str:
        if code == "$1":
            return CJK_SCRIPTS.get(self.language, "Hani")
        return SCRIPTS.get(code, "")

    def finish(self) -> etree._Element:
        """The root, without shared elements nothing went into, its children in LoC's order."""
        root = self.root
        for element in (self._origin, self._physical):
            if element is not None and len(element) == 0:
                root.remove(element)
        root[:] = sorted(root, key=lambda element: _RANK[element.tag])
        return root


# --- shared pieces ----------------------------------------------------------------------------

def _split_nonsort(text: str) -> tuple[str, str]:
    """(non-filing part, rest) of a title marked with NSB/NSE control characters."""
    for start, end in (("\x88", "\x89"), ("\x98", "\x9c")):
        if text.startswith(start) and end in text:
            nonsort, _, rest = text[1:].partition(end)
            return nonsort, without_sort_marks(rest)
    return "", without_sort_marks(text)


def _title_info(parent, title: str, nonsort: str = "", subtitle: str = "", numbers=(), names=(),
                attrib: dict | None = None):
    """<titleInfo>; an initial article between NSB and NSE marks becomes its <nonSort>."""
    if not nonsort:
        nonsort, title = _split_nonsort(title)
    title_info = _add(parent, "titleInfo", attrib=attrib)
    if nonsort.strip():
        _add(title_info, "nonSort", nonsort)
    _text(title_info, "title", title)
    _text(title_info, "subTitle", subtitle)
    for number in numbers:
        _text(title_info, "partNumber", strip_isbd(number))
    for name in names:
        _text(title_info, "partName", strip_isbd(name))
    return _dropped_if_empty(title_info)


def _marc_dates(origin, element: str, date1: str, date2: str, date_type: str):
    """008/07-14 as MARC-encoded dates: the first is the key date, a range gets start and end."""
    if not _MARC_DATE.match(date1):
        return
    ranged = date_type in "cdikmqu" and _MARC_DATE.match(date2) and date2 != date1
    attrib = {"encoding": "marc", "keyDate": "yes"}
    if ranged:
        attrib["point"] = "start"
    _add(origin, element, date1, attrib)
    if ranged:
        _add(origin, element, date2, {"encoding": "marc", "point": "end"})
    elif date_type == "t" and _MARC_DATE.match(date2):
        _add(origin, "copyrightDate", date2, {"encoding": "marc"})


def _role(name, text: str = "", code: str = "", authority: str = "marcrelator"):
    if not text and not code:
        return
    role = _add(name, "role")
    if text:
        _add(role, "roleTerm", text, {"type": "text", "authority": authority} if authority else {"type": "text"})
    if code:
        _add(role, "roleTerm", code, {"type": "code", "authority": authority} if authority else {"type": "code"})


def _uri(text: str) -> str:
    """856 $u as an xs:anyURI libxml2 accepts: spaces, non-ASCII and the characters URIs may
    not hold percent-encoded (those XML forbids first made spaces: a lone surrogate has no
    UTF-8 to encode), stray "%" and "#" escaped; "" when it cannot be a URI at all."""
    value = quote(xml_safe(text).strip(), safe="!#$&'()*+,/:;=?@~%")
    value = _STRAY_PERCENT.sub("%25", value)
    fragment = value.find("#")
    if fragment >= 0:
        value = value[:fragment + 1] + value[fragment + 1:].replace("#", "%23")
    head = _URI_HEAD.match(value)
    if ":" in head.group(0) and not _SCHEME.match(head.group(0)):
        return ""
    return value


def _url(location, value: str, attrib: dict | None):
    value = _uri(value)
    if value:
        _add(location, "url", value, attrib)


def _subdivisions(subject, field: Field, codes: dict[str, str]):
    for code, value in field.subfields:
        name = codes.get(code)
        if name:
            _text(subject, name, strip_isbd(value))


# --- MARC 21 ------------------------------------------------------------------------------------

# Leader/06 to typeOfResource, leader/06-07 to the 008 layout (BK books, SE continuing resources...).
MARC21_RESOURCE_TYPES = {"a": "text", "t": "text", "e": "cartographic", "f": "cartographic",
                         "c": "notated music", "d": "notated music", "i": "sound recording-nonmusical",
                         "j": "sound recording-musical", "k": "still image", "g": "moving image",
                         "r": "three dimensional object", "m": "software, multimedia", "o": "mixed material",
                         "p": "mixed material"}
MARC21_MANUSCRIPTS = frozenset("dfpt")
# 008/24-27 (BK) nature of contents, 008/21 (SE) type of continuing resource: MARC genre terms.
BOOK_CONTENTS = {"b": "bibliography", "c": "catalog", "d": "dictionary", "e": "encyclopedia",
                 "f": "handbook", "g": "legal article", "i": "index", "k": "discography",
                 "l": "legislation", "m": "theses", "n": "survey of literature", "o": "review",
                 "p": "programmed text", "q": "filmography", "r": "directory", "s": "statistics",
                 "t": "technical report", "v": "legal case and case notes", "w": "law report or digest",
                 "z": "treaty"}
CONTINUING_TYPES = {"d": "database", "l": "loose-leaf", "m": "series", "n": "newspaper", "p": "periodical",
                    "w": "web site"}
# 008/23 or 008/29 form of item (marcform), 008/22 target audience (marctarget).
FORMS = {"a": "microfilm", "b": "microfiche", "c": "microopaque", "d": "large print", "f": "braille",
         "o": "online", "q": "direct electronic", "r": "regular print reproduction", "s": "electronic"}
AUDIENCES = {"a": "preschool", "b": "primary", "c": "pre-adolescent", "d": "adolescent", "e": "adult",
             "f": "specialized", "g": "general", "j": "juvenile"}
ISSUANCE = {"a": "monographic", "c": "monographic", "d": "monographic", "m": "monographic",
            "b": "continuing", "s": "continuing", "i": "integrating resource"}
DESCRIPTION_STANDARDS = {"a": "aacr", "c": "isbd", "i": "isbd"}
SUBJECT_AUTHORITIES = {"0": "lcsh", "1": "lcshac", "2": "mesh", "3": "nal", "5": "csh", "6": "rvm"}
MARC21_SUBDIVISIONS = {"v": "genre", "x": "topic", "y": "temporal", "z": "geographic"}
PLACE_PARTS = {"a": "country", "b": "state", "c": "county", "d": "city", "f": "citySection", "g": "area",
               "h": "extraTerrestrialArea"}
LANGUAGE_PARTS = {"a": "", "b": "summary", "d": "sung or spoken text", "e": "libretto",
                  "f": "table of contents", "g": "accompanying material", "j": "subtitles or captions"}
STANDARD_NUMBERS = {"0": "isrc", "1": "upc", "2": "ismn", "3": "ean", "4": "sici"}
PUBLISHER_NUMBERS = {"0": "issue number", "1": "matrix number", "2": "music plate", "3": "music publisher",
                     "4": "videorecording identifier"}
EVENTS = {"0": "production", "2": "distribution", "3": "manufacture"}
MARC21_IMPRINT = {"a": "place", "b": "publisher", "c": "date"}
NOTE_TYPES = {"501": "with", "502": "thesis", "504": "bibliography", "508": "creation/production credits",
              "510": "citation/reference", "511": "performers", "515": "numbering", "518": "venue",
              "524": "preferred citation", "530": "additional physical form", "533": "reproduction",
              "534": "original version", "535": "original location", "536": "funding",
              "538": "system details", "541": "acquisition", "545": "biographical/historical",
              "546": "language", "561": "ownership", "562": "version identification",
              "581": "publications", "583": "action", "585": "exhibitions", "588": "source of description"}
NAME_TYPES = {"00": "personal", "10": "corporate", "11": "conference"}  # X00, X10, X11
ABSTRACT_LABELS = {" ": "Summary", "0": "Subject", "1": "Review", "2": "Scope and content", "3": "Abstract",
                   "4": "Content advice"}
LINK_TYPES = {"760": "series", "762": "constituent", "765": "original", "772": "host", "773": "host",
              "774": "constituent", "775": "otherVersion", "776": "otherFormat", "780": "preceding",
              "785": "succeeding", "786": "original"}
CLASSIFICATIONS = {"050": ("lcc", "ab"), "060": ("nlm", "ab"), "080": ("udc", "abx")}


def _material(leader: str) -> str:
    record_type, level = leader[6:7], leader[7:8]
    if record_type == "a" and level in ("b", "i", "s"):
        return "SE"
    return {"a": "BK", "t": "BK", "c": "MU", "d": "MU", "i": "MU", "j": "MU", "e": "MP", "f": "MP",
            "g": "VM", "k": "VM", "o": "VM", "r": "VM", "m": "CF", "p": "MM"}.get(record_type, "")


def _marc21_leader(mods: _Mods):
    leader = mods.leader
    resource = MARC21_RESOURCE_TYPES.get(leader[6:7])
    if resource:
        attrib = {}
        if leader[7:8] == "c":
            attrib["collection"] = "yes"
        if leader[6:7] in MARC21_MANUSCRIPTS:
            attrib["manuscript"] = "yes"
        _add(mods.root, "typeOfResource", resource, attrib)
    issuance = ISSUANCE.get(leader[7:8])
    if issuance:
        _add(mods.origin(), "issuance", issuance)


def _marc21_001(mods: _Mods, f: Field, alternate: bool):
    mods.record_identifier(f.value or "")


def _marc21_003(mods: _Mods, f: Field, alternate: bool):
    mods.identifier_source(f.value or "")


def _marc21_005(mods: _Mods, f: Field, alternate: bool):
    value = f.value or ""
    if _ISO_DATE.match(value):
        _add(mods.info(), "recordChangeDate", value[:14] if value[8:14].isdigit() else value[:8],
             {"encoding": "iso8601"})


def _marc21_008(mods: _Mods, f: Field, alternate: bool):
    data = (f.value or "").ljust(40)
    material = _material(mods.leader)
    if data[:6].isdigit():
        _add(mods.info(), "recordCreationDate", data[:6], {"encoding": "marc"})
    dated = "dateCreated" if mods.leader[6:7] in MARC21_MANUSCRIPTS else "dateIssued"
    _marc_dates(mods.origin(), dated, data[7:11], data[11:15], data[6])
    if len(f.value or "") < 38:   # spaces collapsed (seen in real MARCXML): positions past the dates lie
        return
    place = data[15:18].strip()
    if place.isalpha() and place.islower():
        _add(_add(mods.origin(), "place"), "placeTerm", place, {"type": "code", "authority": "marccountry"})
    codes = language_codes(data[35:38])
    if codes:
        mods.language = codes[0]
        mods.add_language(codes[0])
    form = FORMS.get(data[29] if material in ("MP", "VM") else data[23] if material else "")
    if form:
        _add(mods.physical(), "form", form, {"authority": "marcform"})
    if material in ("BK", "MU", "VM", "CF") and data[22] in AUDIENCES:
        _add(mods.root, "targetAudience", AUDIENCES[data[22]], {"authority": "marctarget"})
    genres = []
    if material == "BK":
        genres = [BOOK_CONTENTS[c] for c in data[24:28] if c in BOOK_CONTENTS]
        if data[29] == "1":
            genres.append("conference publication")
        if data[30] == "1":
            genres.append("festschrift")
        if data[34] in "abcd":
            genres.append("biography")
    elif material == "SE" and data[21] in CONTINUING_TYPES:
        genres.append(CONTINUING_TYPES[data[21]])
    for genre in dict.fromkeys(genres):
        _add(mods.root, "genre", genre, {"authority": "marcgt"})


def _marc21_lccn(mods: _Mods, f: Field, alternate: bool):
    for code, value in f.subfields:
        if code in "az" and value.strip():
            _add(mods.root, "identifier", value.strip(),
                 {"type": "lccn", "invalid": "yes"} if code == "z" else {"type": "lccn"})


def _standard_number(kind: str, valid: str, invalid: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        for code, value in f.subfields:
            if code in valid or code in invalid:
                number = first_word(value)
                if number:
                    _add(mods.root, "identifier", number,
                         {"type": kind, "invalid": "yes"} if code in invalid else {"type": kind})
    return handler


def _marc21_024(mods: _Mods, f: Field, alternate: bool):
    kind = f.get("2") if f.indicators[0] == "7" else STANDARD_NUMBERS.get(f.indicators[0])
    for code, value in f.subfields:
        if code in "az" and value.strip():
            attrib = {"type": kind} if kind else {}
            if code == "z":
                attrib["invalid"] = "yes"
            _add(mods.root, "identifier", value.strip(), attrib)


def _marc21_028(mods: _Mods, f: Field, alternate: bool):
    kind = PUBLISHER_NUMBERS.get(f.indicators[0], "publisher number")
    _text(mods.root, "identifier", f.text("a"), {"type": kind})


def _oclc(mods: _Mods, f: Field, alternate: bool):
    for value in f.get_all("a"):
        match = _OCLC.match(value.strip())
        if match:
            _add(mods.root, "identifier", match.group(1).lstrip("0") or "0", {"type": "oclc"})


def _marc21_040(mods: _Mods, f: Field, alternate: bool):
    info = mods.info()
    _text(info, "recordContentSource", f.get("a"), {"authority": "marcorg"})
    for code in language_codes(f.get("b") or ""):
        _add(_add(info, "languageOfCataloging"), "languageTerm", code,
             {"authority": "iso639-2b", "type": "code"})
    for standard in f.get_all("e"):
        _text(info, "descriptionStandard", standard)


def _marc21_041(mods: _Mods, f: Field, alternate: bool):
    authority = f.get("2") if f.indicators[1] == "7" else "iso639-2b"
    if authority not in _LANGUAGE_AUTHORITIES:
        return
    for code, value in f.subfields:
        part = LANGUAGE_PARTS.get(code)
        if part is not None:
            for language in language_codes(value):
                mods.add_language(language, authority, part)


def _marc21_043(mods: _Mods, f: Field, alternate: bool):
    subject = _add(mods.root, "subject")
    for code, value in f.subfields:
        value = value.strip().rstrip("-")
        if value and code in "ac":
            _add(subject, "geographicCode", value, {"authority": "marcgac" if code == "a" else "iso3166"})
    return _dropped_if_empty(subject)


def _marc21_classification(mods: _Mods, f: Field, alternate: bool):
    authority, codes = CLASSIFICATIONS[f.linked_tag]
    return _text(mods.root, "classification", f.text(codes), {"authority": authority})


def _marc21_082(mods: _Mods, f: Field, alternate: bool):
    attrib = {"authority": "ddc"}
    if f.get("2"):
        attrib["edition"] = f.get("2")
    for value in f.get_all("a"):
        _text(mods.root, "classification", value.replace("/", ""), attrib)


def _marc21_084(mods: _Mods, f: Field, alternate: bool):
    scheme = f.get("2")
    for value in f.get_all("a"):
        _text(mods.root, "classification", value, {"authority": scheme} if scheme else None)


def _marc21_086(mods: _Mods, f: Field, alternate: bool):
    scheme = {"0": "sudocs", "1": "candocs"}.get(f.indicators[0]) or f.get("2")
    _text(mods.root, "classification", f.get("a"), {"authority": scheme} if scheme else None)


def _marc21_name_element(parent, f: Field, kind: str, attrib: dict | None = None):
    """A MARC 21 name (X00, X10, X11, 720) as <name>: its parts, dates and roles."""
    name = _add(parent, "name", attrib=attrib)
    relator = "e"
    if kind == "personal":
        _text(name, "namePart", strip_isbd(f.text("aq")))
        for code, value in f.subfields:
            if code in "bc":
                _text(name, "namePart", strip_isbd(value), {"type": "termsOfAddress"})
            elif code == "d":
                _text(name, "namePart", strip_isbd(value), {"type": "date"})
    elif kind == "corporate":
        for code, value in f.subfields:
            if code in "ab":
                _text(name, "namePart", strip_isbd(value))
        _text(name, "namePart", strip_isbd(f.text("cdn")))
    elif kind == "conference":
        relator = "j"
        _text(name, "namePart", strip_isbd(f.text("acdenq")))
    else:
        _text(name, "namePart", strip_isbd(f.text("a")))
    for code, value in f.subfields:
        if code == relator:
            _role(name, text=strip_isbd(value))
        elif code == "4":
            _role(name, code=value.strip())
    return name


def _marc21_name(mods: _Mods, f: Field, alternate: bool):
    tag = f.linked_tag
    kind = NAME_TYPES.get(tag[1:])
    attrib = {"type": kind} if kind else {}
    if kind == "personal" and f.indicators[0] == "3":
        attrib["type"] = "family"
    if tag[0] == "1":
        attrib["usage"] = "primary"
    return _marc21_name_element(mods.root, f, kind or "", attrib)


def _has_title(f: Field) -> bool:
    """Whether a name field's $t has a title. One of punctuation only (".", " ; ") names no work:
    LoC's relatedItem for a name/title entry is the work its title names, so such a field keeps
    LoC's mapping of an entry without $t, a name, rather than losing the name with the work."""
    return bool(strip_isbd(xml_text(f.text("t"))))


def _marc21_added_entry(mods: _Mods, f: Field, alternate: bool):
    """700, 710, 711: a name; with a title ($t), the work it names, as LoC maps it: a
    <relatedItem> ("constituent" for an analytic, second indicator 2) with the author's name and
    the work's title. An 880 joins its counterpart's relatedItem, altRepGroup pairing the names
    and the titles; a linked pair is a work when either field has a title, so that its names
    pair with each other, not one in the relatedItem with one outside."""
    occurrence = _linkage(f)[0]
    if not (_has_title(f) or occurrence and occurrence in mods.titled_works()):
        return _marc21_name(mods, f, alternate)
    related = mods.works.get(occurrence)
    if related is None:
        attrib = {"type": "constituent"} if f.indicators[1:2] == "2" else {}
        relationship = strip_isbd(f.text("i"))
        if relationship:
            attrib["otherType"] = relationship
        related = _add(mods.root, "relatedItem", attrib=attrib)
        if occurrence:
            mods.works[occurrence] = related
    return _name_and_title(related, f, NAME_TYPES[f.linked_tag[1:]])


def _name_and_title(parent, f: Field, kind: str):
    """(<name>, <titleInfo>) of a name/title field: the name from the subfields before $t (none
    when $t comes first), the work's title from $t on."""
    family = kind == "personal" and f.indicators[0] == "3"
    name = _dropped_if_empty(_marc21_name_element(
        parent, Field(f.tag, indicators=f.indicators, subfields=_before(f.subfields, "t")), kind,
        {"type": "family" if family else kind}))
    title = Field(f.tag, subfields=_from(f.subfields, "t"))
    return name, _title_info(parent, strip_isbd(title.text("tfklmors")), numbers=title.get_all("n"),
                             names=title.get_all("p"))


def _marc21_title_statement(mods: _Mods, f: Field, alternate: bool):
    title = f.text("afgks")
    skip = int(f.indicators[1]) if f.indicators[1:2] in tuple("0123456789") else 0
    nonsort, title = _split_nonsort(title)
    if not nonsort and 0 < skip < len(title):
        nonsort, title = title[:skip], title[skip:]
    element = _title_info(mods.root, strip_isbd(title), nonsort, strip_isbd(f.text("b")),
                          f.get_all("n"), f.get_all("p"))
    responsibility = _text(mods.root, "note", strip_isbd(f.text("c")), {"type": "statement of responsibility"})
    return element, responsibility


def _marc21_title(kind: str, codes: str = "a"):
    def handler(mods: _Mods, f: Field, alternate: bool):
        attrib = {"type": kind}
        label = f.get("i")
        if label:
            attrib["displayLabel"] = strip_isbd(label)
        return _title_info(mods.root, strip_isbd(f.text(codes)), subtitle=strip_isbd(f.text("b")),
                           numbers=f.get_all("n"), names=f.get_all("p"), attrib=attrib)
    return handler


def _marc21_edition(mods: _Mods, f: Field, alternate: bool):
    """250 in the record's originInfo, or in one of its own where altRepGroup pairs it with the
    other field of a linked pair: the record's originInfo can be in one pair only."""
    own = alternate or bool(_linkage(f)[0])
    origin = _add(mods.root, "originInfo") if own else mods.origin()
    _text(origin, "edition", strip_isbd(f.text("ab")))
    return _dropped_if_empty(origin) if own else None


def _imprint_origin(mods: _Mods, f: Field, alternate: bool, rda: bool):
    """(originInfo, shared) for an imprint field (260, 264, UNIMARC 210, 214): the record's own
    for the first publication statement and for copyright dates, a new one for either field of a
    linked pair (as for 250), a later statement, or production, distribution and manufacture
    (RDA's 264 second indicator)."""
    ind2 = f.indicators[1:2]
    copyright = rda and ind2 == "4"
    event = EVENTS.get(ind2) if rda else None
    if not alternate and not event and (copyright or not mods.imprinted):
        mods.imprinted = mods.imprinted or not copyright
        if not _linkage(f)[0]:
            return mods.origin(), True
    if rda and not event and not copyright:
        event = "publication"
    return _add(mods.root, "originInfo", attrib={"eventType": event} if event else None), False


def _imprint(roles: dict[str, str]):
    """An imprint field handler; `roles` names the subfields with the place, publisher and date."""
    def handler(mods: _Mods, f: Field, alternate: bool):
        rda = f.linked_tag in ("264", "214")
        origin, shared = _imprint_origin(mods, f, alternate, rda)
        ind2 = f.indicators[1:2]
        copyright = rda and ind2 == "4"
        manuscripts = UNIMARC_MANUSCRIPTS if mods.syntax == "unimarc" else MARC21_MANUSCRIPTS
        dated = ("copyrightDate" if copyright else
                 "dateCreated" if mods.leader[6:7] in manuscripts or rda and ind2 == "0" else "dateIssued")
        for code, value in f.subfields:
            role = roles.get(code)
            if role == "date":
                _text(origin, dated, strip_isbd(value))
            elif role == "place" and not copyright:
                text = strip_isbd(value)
                if text:
                    _add(_add(origin, "place"), "placeTerm", text, {"type": "text"})
            elif role == "publisher" and not copyright:
                _text(origin, "publisher", strip_isbd(value))
        return None if shared else _dropped_if_empty(origin)
    return handler


def _marc21_extent(mods: _Mods, f: Field, alternate: bool):
    """300 in the record's physicalDescription, or (as 250) in one of its own for either field of
    a linked pair: the record's holds the 008 form and 336-338 of no pair."""
    if not (alternate or _linkage(f)[0]):
        _text(mods.physical(), "extent", f.text("abcefg"))
        return None
    physical = _add(mods.root, "physicalDescription")
    _text(physical, "extent", f.text("abcefg"))
    return _dropped_if_empty(physical)


def _marc21_frequency(mods: _Mods, f: Field, alternate: bool):
    _text(mods.origin(), "frequency", strip_isbd(f.text("a")))


def _rda_term(name: str, authority: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        parent = mods.root if name == "genre" else mods.physical()
        for value in f.get_all("a"):
            _text(parent, name, value, {"authority": authority})
    return handler


def _series_titles(related, f: Field, codes: str):
    _title_info(related, strip_isbd(f.text(codes)), numbers=f.get_all("n") + f.get_all("v"),
                names=f.get_all("p"))


def _marc21_series(mods: _Mods, f: Field, alternate: bool):
    if f.linked_tag == "490" and f.indicators[0:1] == "1":   # traced: its 8XX is the series (as LoC's MARC21slim2MODS)
        return None
    related = _add(mods.root, "relatedItem", attrib={"type": "series"})
    tag = f.linked_tag
    if tag in ("800", "810", "811"):
        kind = {"800": "personal", "810": "corporate", "811": "conference"}[tag]
        _marc21_name_element(related, Field(tag, indicators=f.indicators,
                                   subfields=_before(f.subfields, "t")), kind, {"type": kind})
        _series_titles(related, Field(tag, subfields=_from(f.subfields, "t")), "tfklmors")
    elif tag == "490":
        for title in f.get_all("a"):
            _title_info(related, strip_isbd(title), numbers=f.get_all("v"))
    else:
        _series_titles(related, f, "adfgklmors")
    for issn in f.get_all("x"):
        _text(related, "identifier", first_word(issn), {"type": "issn"})
    return _dropped_if_empty(related)


def _before(subfields, code: str):
    """The subfields before the first `code` (the name part of a name/title field)."""
    out = []
    for pair in subfields:
        if pair[0] == code:
            break
        out.append(pair)
    return out


def _from(subfields, code: str):
    """The subfields from the first `code` on (the title part of a name/title field)."""
    for index, pair in enumerate(subfields):
        if pair[0] == code:
            return subfields[index:]
    return []


def _marc21_note(mods: _Mods, f: Field, alternate: bool):
    kind = NOTE_TYPES.get(f.linked_tag)
    return _text(mods.root, "note", letters(f), {"type": kind} if kind else None)


def _marc21_contents(mods: _Mods, f: Field, alternate: bool):
    return _text(mods.root, "tableOfContents", f.text("agrt"))


def _marc21_abstract(mods: _Mods, f: Field, alternate: bool):
    label = ABSTRACT_LABELS.get(f.indicators[0])
    return _text(mods.root, "abstract", f.text("ab"), {"displayLabel": label} if label else None)


def _marc21_audience(mods: _Mods, f: Field, alternate: bool):
    return _text(mods.root, "targetAudience", f.text("ab"))


def _access_condition(kind: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        return _text(mods.root, "accessCondition", letters(f), {"type": kind})
    return handler


def _subject(mods: _Mods, f: Field):
    ind2 = f.indicators[1:2]
    authority = f.get("2") if ind2 == "7" else SUBJECT_AUTHORITIES.get(ind2)
    return _add(mods.root, "subject", attrib={"authority": authority} if authority else None)


def _marc21_name_subject(kind: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        subject = _subject(mods, f)
        _name_and_title(subject, f, kind)
        _subdivisions(subject, f, MARC21_SUBDIVISIONS)
        return subject
    return handler


def _marc21_title_subject(mods: _Mods, f: Field, alternate: bool):
    subject = _subject(mods, f)
    _title_info(subject, strip_isbd(f.text("adfgklmors")), numbers=f.get_all("n"), names=f.get_all("p"))
    _subdivisions(subject, f, MARC21_SUBDIVISIONS)
    return _dropped_if_empty(subject)


def _marc21_term_subject(element: str, codes: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        subject = _subject(mods, f)
        _text(subject, element, strip_isbd(f.text(codes)))
        _subdivisions(subject, f, MARC21_SUBDIVISIONS)
        return _dropped_if_empty(subject)
    return handler


def _marc21_keywords(mods: _Mods, f: Field, alternate: bool):
    for value in f.get_all("a"):
        text = strip_isbd(value)
        if text:
            _add(_add(mods.root, "subject"), "topic", text)


def _marc21_genre(mods: _Mods, f: Field, alternate: bool):
    authority = f.get("2") if f.indicators[1:2] == "7" else SUBJECT_AUTHORITIES.get(f.indicators[1:2])
    return _text(mods.root, "genre", strip_isbd(f.text("abc")), {"authority": authority} if authority else None)


def _marc21_hierarchical_place(mods: _Mods, f: Field, alternate: bool):
    scheme = f.get("2")
    subject = _add(mods.root, "subject", attrib={"authority": scheme} if scheme else None)
    place = _add(subject, "hierarchicalGeographic")
    for code, value in f.subfields:
        part = PLACE_PARTS.get(code)
        if part:
            _text(place, part, strip_isbd(value))
    _dropped_if_empty(place)
    return _dropped_if_empty(subject)


def _marc21_link(mods: _Mods, f: Field, alternate: bool):
    kind = LINK_TYPES.get(f.linked_tag)
    related = _add(mods.root, "relatedItem", attrib={"type": kind} if kind else None)
    _title_info(related, strip_isbd(f.text("t")))
    author = strip_isbd(f.text("a"))
    if author:
        _add(_add(related, "name"), "namePart", author)
    for code, value in f.subfields:
        number = {"x": "issn", "z": "isbn", "w": "local"}.get(code)
        if number:
            _text(related, "identifier", value if code == "w" else first_word(value), {"type": number})
    return _dropped_if_empty(related)


def _marc21_holdings(mods: _Mods, f: Field, alternate: bool):
    location = _add(mods.root, "location")
    _text(location, "physicalLocation", " ".join(v for c, v in f.subfields if c in "abc"))
    _text(location, "shelfLocator", " ".join(v for c, v in f.subfields if c in "khijm"))
    return _dropped_if_empty(location)


def _electronic_location(mods: _Mods, f: Field, alternate: bool):
    location = _add(mods.root, "location")
    attrib = {}
    label = f.get("y") or f.get("3")
    if label:
        attrib["displayLabel"] = label.strip()
    note = " ".join(f.get_all("z")).strip()
    if note:
        attrib["note"] = note
    for value in f.get_all("u"):
        _url(location, value, attrib)
    for media_type in f.get_all("q"):
        _text(mods.physical(), "internetMediaType", media_type)
    return _dropped_if_empty(location)


MARC21_HANDLERS = {
    "001": _marc21_001, "003": _marc21_003, "005": _marc21_005, "008": _marc21_008,
    "010": _marc21_lccn, "020": _standard_number("isbn", "a", "z"), "022": _standard_number("issn", "a", "yz"),
    "024": _marc21_024, "028": _marc21_028, "035": _oclc, "040": _marc21_040, "041": _marc21_041,
    "043": _marc21_043, "050": _marc21_classification, "060": _marc21_classification,
    "080": _marc21_classification, "082": _marc21_082, "084": _marc21_084, "086": _marc21_086,
    "100": _marc21_name, "110": _marc21_name, "111": _marc21_name,
    "700": _marc21_added_entry, "710": _marc21_added_entry, "711": _marc21_added_entry, "720": _marc21_name,
    "130": _marc21_title("uniform", "adfgklmors"), "240": _marc21_title("uniform", "adfgklmors"),
    "730": _marc21_title("uniform", "adfgklmors"), "210": _marc21_title("abbreviated"),
    "242": _marc21_title("translated"), "246": _marc21_title("alternative"),
    "740": _marc21_title("alternative"), "245": _marc21_title_statement,
    "250": _marc21_edition, "260": _imprint(MARC21_IMPRINT), "264": _imprint(MARC21_IMPRINT),
    "300": _marc21_extent,
    "310": _marc21_frequency, "336": _rda_term("genre", "rdacontent"), "337": _rda_term("form", "rdamedia"),
    "338": _rda_term("form", "rdacarrier"),
    "440": _marc21_series, "490": _marc21_series, "800": _marc21_series, "810": _marc21_series,
    "811": _marc21_series, "830": _marc21_series,
    **{str(tag): _marc21_note for tag in range(500, 600)},
    "505": _marc21_contents, "506": _access_condition("restriction on access"), "520": _marc21_abstract,
    "521": _marc21_audience, "540": _access_condition("use and reproduction"),
    "600": _marc21_name_subject("personal"), "610": _marc21_name_subject("corporate"),
    "611": _marc21_name_subject("conference"), "630": _marc21_title_subject,
    "648": _marc21_term_subject("temporal", "a"), "650": _marc21_term_subject("topic", "abcd"),
    "651": _marc21_term_subject("geographic", "a"), "653": _marc21_keywords,
    "656": _marc21_term_subject("occupation", "a"), "655": _marc21_genre,
    "662": _marc21_hierarchical_place, "752": _marc21_hierarchical_place,
    **{str(tag): _marc21_link for tag in range(760, 788)},
    "852": _marc21_holdings, "856": _electronic_location,
}


# --- UNIMARC ------------------------------------------------------------------------------------

UNIMARC_RESOURCE_TYPES = {"a": "text", "b": "text", "c": "notated music", "d": "notated music",
                          "e": "cartographic", "f": "cartographic", "g": "moving image",
                          "i": "sound recording-nonmusical", "j": "sound recording-musical", "k": "still image",
                          "l": "software, multimedia", "m": "mixed material", "r": "three dimensional object"}
UNIMARC_MANUSCRIPTS = frozenset("bdf")
UNIMARC_ISSUANCE = {"a": "monographic", "c": "monographic", "m": "monographic", "s": "continuing",
                    "i": "integrating resource"}
UNIMARC_IMPRINT = {"a": "place", "c": "publisher", "d": "date"}
UNIMARC_EXTENT_PARTS = {"a": "", "c": " : ", "d": " ; ", "e": " + "}
UNIMARC_SUBDIVISIONS = {"j": "genre", "x": "topic", "y": "geographic", "z": "temporal"}
# UNIMARC relator codes (Appendix C) of the commonest roles, with the MARC relator term.
UNIMARC_ROLES = {"070": "author", "080": "author of introduction, etc.", "220": "compiler", "230": "composer",
                 "340": "editor", "440": "illustrator", "730": "translator"}
UNIMARC_LINK_TYPES = {"410": "series", "411": "series", "461": "host", "463": "host", "462": "constituent",
                      "464": "constituent", "451": "otherVersion", "452": "otherFormat", "454": "original",
                      "455": "original", "456": "otherFormat", "470": "reviewOf",
                      **{str(tag): "preceding" for tag in range(430, 438)},
                      **{str(tag): "succeeding" for tag in range(440, 449)}}
UNIMARC_CLASSIFICATIONS = {"675": "udc", "676": "ddc", "680": "lcc", "690": "clc"}
UNIMARC_TITLES = {"500": "uniform", "510": "translated", "517": "alternative", "531": "abbreviated",
                  "532": "alternative", "540": "alternative", "541": "translated"}


def _unimarc_leader(mods: _Mods):
    leader = mods.leader
    resource = UNIMARC_RESOURCE_TYPES.get(leader[6:7])
    if resource:
        attrib = {}
        if leader[7:8] == "c":
            attrib["collection"] = "yes"
        if leader[6:7] in UNIMARC_MANUSCRIPTS:
            attrib["manuscript"] = "yes"
        _add(mods.root, "typeOfResource", resource, attrib)
    issuance = UNIMARC_ISSUANCE.get(leader[7:8])
    if issuance:
        _add(mods.origin(), "issuance", issuance)


def _unimarc_100(mods: _Mods, f: Field, alternate: bool):
    data = (f.get("a") or "").ljust(36)
    if data[:8].isdigit():
        _add(mods.info(), "recordCreationDate", data[:8], {"encoding": "iso8601"})
    date_type = data[8]
    # 100$a/8: continuing resources (a, b, c) and monographs issued over years (f, g) have ranges,
    # h a copyright date second; as MARC 21 008/06 "m", "t" or "s".
    _marc_dates(mods.origin(), "dateIssued", data[9:13], data[13:17],
                "m" if date_type in "abcfg" else "t" if date_type == "h" else "s")
    for code in language_codes(data[22:25]):
        _add(_add(mods.info(), "languageOfCataloging"), "languageTerm", code,
             {"authority": "iso639-2b", "type": "code"})


def _unimarc_101(mods: _Mods, f: Field, alternate: bool):
    for code, value in f.subfields:
        part = {"a": "", "d": "summary", "i": "accompanying material", "j": "subtitles or captions"}.get(code)
        if part is not None:
            for language in language_codes(value):
                if not mods.language:
                    mods.language = language
                mods.add_language(language, "iso639-2b", part)


def _unimarc_102(mods: _Mods, f: Field, alternate: bool):
    for value in f.get_all("a"):
        value = value.strip()
        if value.isalpha():
            _add(_add(mods.origin(), "place"), "placeTerm", value, {"type": "code", "authority": "iso3166"})


def _unimarc_title_proper(mods: _Mods, f: Field, alternate: bool):
    title, rest, numbers, names = unimarc_title(f)
    element = _title_info(mods.root, title, subtitle=rest, numbers=numbers, names=names)
    responsibility = " ; ".join(strip_isbd(v) for c, v in f.subfields if c in "fg")
    _text(mods.root, "note", responsibility, {"type": "statement of responsibility"})
    return element


def _unimarc_variant_title(mods: _Mods, f: Field, alternate: bool):
    title, rest, numbers, names = unimarc_title(f)
    return _title_info(mods.root, title, subtitle=rest, numbers=numbers, names=names,
                       attrib={"type": UNIMARC_TITLES[f.linked_tag]})


def _unimarc_edition(mods: _Mods, f: Field, alternate: bool):
    _text(mods.origin(), "edition", strip_isbd(f.text("a")))


def _unimarc_extent(mods: _Mods, f: Field, alternate: bool):
    """215 in ISBD order: extent : other details ; dimensions + accompanying material."""
    extent = ""
    for code, value in f.subfields:
        separator = UNIMARC_EXTENT_PARTS.get(code)
        value = strip_isbd(value) if separator is not None else ""
        if value:
            extent = f"{extent}{separator}{value}" if extent else value
    _text(mods.physical(), "extent", extent)


def _unimarc_series(mods: _Mods, f: Field, alternate: bool):
    related = _add(mods.root, "relatedItem", attrib={"type": "series"})
    title, rest, numbers, names = unimarc_title(f)
    _title_info(related, title, subtitle=rest, numbers=numbers + f.get_all("v"), names=names)
    for issn in f.get_all("x"):
        _text(related, "identifier", first_word(issn), {"type": "issn"})
    return _dropped_if_empty(related)


def _unimarc_note(mods: _Mods, f: Field, alternate: bool):
    text = letters(f)
    tag = f.linked_tag
    if tag == "330":
        return _text(mods.root, "abstract", text)
    if tag == "327":
        return _text(mods.root, "tableOfContents", text)
    return _text(mods.root, "note", text, {"type": "bibliography"} if tag == "320" else None)


def _unimarc_link(mods: _Mods, f: Field, alternate: bool):
    kind = UNIMARC_LINK_TYPES.get(f.linked_tag)
    related = _add(mods.root, "relatedItem", attrib={"type": kind} if kind else None)
    _title_info(related, strip_isbd(unimarc_link_title(f)), numbers=f.get_all("v"))
    for code, value in f.subfields:
        if code in "xy":
            _text(related, "identifier", first_word(value), {"type": "issn" if code == "x" else "isbn"})
    return _dropped_if_empty(related)


def _unimarc_name_element(parent, f: Field, kind: str, attrib: dict | None = None):
    """A UNIMARC name (70X, 71X, 72X, 60X) as <name> with its parts, dates and roles."""
    name = _add(parent, "name", attrib=attrib)
    if kind == "personal" and f.indicators[1:2] == "1":  # entered under surname
        _text(name, "namePart", strip_isbd(without_sort_marks((f.get("a") or "").strip(" ,"))), {"type": "family"})
        _text(name, "namePart", strip_isbd((f.get("b") or "").strip(" ,")), {"type": "given"})
    elif kind == "personal":
        _text(name, "namePart", strip_isbd(without_sort_marks(" ".join(f.get_all("a") + f.get_all("b")))))
    if kind == "personal":
        for code, value in f.subfields:
            if code in "cd":
                _text(name, "namePart", strip_isbd(value.strip(" ,")), {"type": "termsOfAddress"})
            elif code == "f":
                _text(name, "namePart", strip_isbd(value.strip(" ,")), {"type": "date"})
    elif kind == "family":
        _text(name, "namePart", strip_isbd(f.get("a") or ""))
        _text(name, "namePart", strip_isbd(f.get("f") or ""), {"type": "date"})
    else:
        _text(name, "namePart", unimarc_corporate_name(f))
    if len(name) == 0:
        _text(name, "namePart", unimarc_personal_name(f))
    for value in f.get_all("4"):
        value = value.strip()
        if value.isdigit():
            _role(name, text=UNIMARC_ROLES.get(value, ""), code=value, authority="")
        elif value:
            _role(name, text=strip_isbd(value), authority="")
    return name


def _unimarc_name(mods: _Mods, f: Field, alternate: bool):
    tag = f.linked_tag
    if tag[1] == "0":
        kind = "personal"
    elif tag[1] == "1":
        kind = "conference" if f.indicators[0] == "1" else "corporate"
    else:
        kind = "family"
    attrib = {"type": kind}
    if tag[2] == "0":
        attrib["usage"] = "primary"
    return _unimarc_name_element(mods.root, f, kind, attrib)


def _unimarc_subject(mods: _Mods, f: Field):
    scheme = f.get("2")
    return _add(mods.root, "subject", attrib={"authority": scheme} if scheme else None)


def _unimarc_name_subject(kind: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        subject = _unimarc_subject(mods, f)
        corporate = "conference" if kind == "corporate" and f.indicators[0] == "1" else kind
        _unimarc_name_element(subject, Field(f.tag, indicators=f.indicators, subfields=_before(f.subfields, "t")),
                     kind, {"type": corporate})
        title = " ".join(v for c, v in _from(f.subfields, "t") if c == "t")
        if title:
            _title_info(subject, strip_isbd(title))
        _subdivisions(subject, f, UNIMARC_SUBDIVISIONS)
        return subject
    return handler


def _unimarc_term_subject(element: str):
    def handler(mods: _Mods, f: Field, alternate: bool):
        subject = _unimarc_subject(mods, f)
        if element == "titleInfo":
            title, rest, numbers, names = unimarc_title(f)
            _title_info(subject, title, subtitle=rest, numbers=numbers, names=names)
        else:
            _text(subject, element, strip_isbd(without_sort_marks(f.get("a") or "")))
        _subdivisions(subject, f, UNIMARC_SUBDIVISIONS)
        return _dropped_if_empty(subject)
    return handler


def _unimarc_classification(mods: _Mods, f: Field, alternate: bool):
    tag = f.linked_tag
    attrib = {"authority": f.get("2") if tag == "686" else UNIMARC_CLASSIFICATIONS[tag]}
    if tag == "676" and f.get("v"):
        attrib["edition"] = f.get("v")
    if not attrib["authority"]:
        del attrib["authority"]
    return _text(mods.root, "classification", f.text("ab") if tag == "680" else f.get("a"), attrib)


def _unimarc_801(mods: _Mods, f: Field, alternate: bool):
    info = mods.info()
    if info.find(_TAG["recordContentSource"]) is None:
        _text(info, "recordContentSource", f.get("b"))


UNIMARC_HANDLERS = {
    "001": _marc21_001, "005": _marc21_005, "010": _standard_number("isbn", "a", "z"),
    "011": _standard_number("issn", "a", "yz"), "035": _oclc, "100": _unimarc_100, "101": _unimarc_101,
    "102": _unimarc_102, "200": _unimarc_title_proper, **{tag: _unimarc_variant_title for tag in UNIMARC_TITLES},
    "205": _unimarc_edition, "210": _imprint(UNIMARC_IMPRINT), "214": _imprint(UNIMARC_IMPRINT),
    "215": _unimarc_extent,
    "225": _unimarc_series, **{str(tag): _unimarc_note for tag in range(300, 400)},
    **{str(tag): _unimarc_link for tag in range(410, 489)},
    "600": _unimarc_name_subject("personal"), "601": _unimarc_name_subject("corporate"),
    "602": _unimarc_name_subject("family"), "604": _unimarc_name_subject("personal"),
    "605": _unimarc_term_subject("titleInfo"), "606": _unimarc_term_subject("topic"),
    "607": _unimarc_term_subject("geographic"), "608": _unimarc_term_subject("genre"),
    "610": _marc21_keywords,
    **{tag: _unimarc_classification for tag in ("675", "676", "680", "686", "690")},
    **{str(tag): _unimarc_name for tag in (700, 701, 702, 710, 711, 712, 720, 721, 722)},
    "801": _unimarc_801, "856": _electronic_location,
}


def mods(record: MarcRecord, syntax: str) -> etree._Element:
    """The record as a <mods> element (MODS 3.7, with its schema location)."""
    unimarc = syntax == "unimarc"
    tree = _Mods(record.leader, syntax, record.fields)
    root = tree.root
    root.set("version", MODS_VERSION)
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{MODS_NS} {MODS_SCHEMA}")
    (_unimarc_leader if unimarc else _marc21_leader)(tree)
    handlers = UNIMARC_HANDLERS if unimarc else MARC21_HANDLERS
    for field in record.fields:
        alternate = field.tag == "880"
        handler = handlers.get(field.linked_tag if alternate else field.tag)
        if handler is None:
            continue
        made = handler(tree, field, alternate)
        # $6 (linkage) is always a field's first subfield
        if made is not None and field.subfields and field.subfields[0][0] == "6":
            for element in made if isinstance(made, tuple) else (made,):
                if element is not None:
                    _mark_alternate(tree, element, field, alternate)
    info = tree.info()
    standard = DESCRIPTION_STANDARDS.get(record.leader[18:19]) if not unimarc else None
    if standard and info.find(_TAG["descriptionStandard"]) is None:
        _add(info, "descriptionStandard", standard)
    _add(info, "recordOrigin",
         f"Converted from {'UNIMARC' if unimarc else 'MARC 21'} to MODS {MODS_VERSION} by unishelf")
    return tree.finish()


def _linkage(field: Field) -> tuple[str, str]:
    """(occurrence number, script identification code) of the $6 that links a field and its 880,
    always a field's first subfield; the number is "" where it pairs nothing ("00": an 880 alone)."""
    match = _LINK.match(field.subfields[0][1]) if field.subfields and field.subfields[0][0] == "6" else None
    if match is None or (field.tag != "880" and match.group(1) != "880"):
        return "", ""
    occurrence = match.group(2)
    return "" if occurrence == "00" else occurrence, match.group(3) or ""


def _mark_alternate(tree: _Mods, element, field: Field, alternate: bool):
    """altRepGroup (the $6 occurrence) on both forms of a linked pair, and the 880's script."""
    if element.tag in _NO_ALTERNATES:
        return
    occurrence, script = _linkage(field)
    script = tree.script(script) if alternate else ""
    if script:
        element.set("script", script)
    if occurrence:
        element.set("altRepGroup", occurrence)
