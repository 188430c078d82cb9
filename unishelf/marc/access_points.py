"""Access points: which parts of a record each index holds, read from `config/indexes.yaml`.

`AccessPoints.extract` turns a record into its index entry: for every access point the
normalised values (whole-field strings for text, canonical forms for identifiers). The store keeps
that entry per record, so the words of an old version can be taken out of the index when the
record changes, and phrases can be checked without parsing MARC again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import normalize
from .record import MarcRecord

KINDS = ("text", "isbn", "issn", "lccn", "number", "year", "code", "class")
_SOURCE = re.compile(r"^(?:(?P<special>@[a-z-]+)|(?P<tag>\d{3}|LDR)(?P<codes>[a-z0-9]*)"
                     r"(?:/(?P<start>\d+)(?:-(?P<end>\d+))?)?(?:\[(?P<cond>\d=[^\]]+)\])?)$")
_NOT_DIGIT_OR_X = re.compile(r"[^0-9Xx]")
_LEADING_NON_DIGITS = re.compile(r"^\D*")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")


class IndexConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    tag: str | None
    codes: str
    start: int | None
    end: int | None
    condition: tuple[str, str] | None
    special: str | None


@dataclass(frozen=True)
class AccessPoint:
    name: str
    kind: str
    sortable: bool
    whole_field: bool  # text: also index each field whole (phrase starts, exact match, scan)
    word_pairs: bool   # text: also index adjacent word pairs, so phrases need no checking
    sources: dict  # syntax -> tuple[Source, ...]
    also: tuple[str, ...] = ()  # access points searched together with this one (see "any")


def read_word_list(path: Path) -> frozenset[str]:
    """A word list file: one folded word a line; lines starting with # are comments."""
    with open(path, encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip() and not line.startswith("#"))


def _parse_source(text: str, where: str) -> Source:
    match = _SOURCE.match(text)
    if not match:
        raise IndexConfigError(f"{where}: {text!r} is not a source like '245ab', '008/7-10' or '@all'")
    start = match["start"]
    end = match["end"] or start
    condition = tuple(match["cond"].split("=", 1)) if match["cond"] else None
    return Source(match["tag"], match["codes"] or "", int(start) if start else None,
                  int(end) + 1 if end else None, condition, match["special"])


class AccessPoints:
    def __init__(self, definitions: dict, material_types: dict, pair_words: frozenset[str] | None = None):
        """`pair_words`: the words whose adjacent pairs are indexed (None: every pair). A phrase
        with a word outside them is found by its words and checked against the index entry; a
        store keeps the list it was made with (`Store.pair_words`)."""
        self.pair_words = pair_words
        self.points: dict[str, AccessPoint] = {}
        for name, spec in definitions.items():
            where = f"access_points.{name}"
            kind = spec.get("kind")
            if kind not in KINDS:
                raise IndexConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
            sources = {syntax: tuple(_parse_source(s, f"{where}.{syntax}") for s in spec.get(syntax, []))
                       for syntax in ("marc21", "unimarc")}
            self.points[name] = AccessPoint(name, kind, bool(spec.get("sort")),
                                            bool(spec.get("whole_field", True)),
                                            bool(spec.get("word_pairs", False)), sources,
                                            tuple(spec.get("also", ())))
        for point in self.points.values():
            for member in point.also:
                if member not in definitions or definitions[member].get("kind") != "text":
                    raise IndexConfigError(f"access_points.{point.name}.also: {member!r} is not a text access point")
        self.material_types = material_types
        self.sortable = [p.name for p in self.points.values() if p.sortable]
        self._plans = {syntax: self._plan(syntax) for syntax in ("marc21", "unimarc")}
        self._uncovered = {(point.name, syntax): self._uncovered_codes(point, syntax)
                           for point in self.points.values() for syntax in ("marc21", "unimarc")}
        self._holdings_points = {syntax: self._drawn_from_holdings(syntax) for syntax in ("marc21", "unimarc")}

    @classmethod
    def from_file(cls, path: str | Path, store=None) -> "AccessPoints":
        """The access points `path` defines; for a `store`, with its pair words (`Store.pair_words`)."""
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        pair_words = None
        if data.get("pair_words"):
            pair_words = read_word_list(Path(path).parent / data["pair_words"])
        if store is not None:
            pair_words = store.pair_words(pair_words)
        return cls(data["access_points"], data.get("material_types", {}), pair_words)

    def __contains__(self, name: str) -> bool:
        return name in self.points

    def __getitem__(self, name: str) -> AccessPoint:
        return self.points[name]

    def extract(self, record: MarcRecord, syntax: str, libraries: list[str]) -> dict[str, list[str]]:
        """The record's index entry: access point -> distinct normalised values, in order.

        One pass over the fields with a per-tag plan (see `_plan`), rather than a search of the
        record per source: records have ~30 fields and the access points ~140 sources.
        """
        by_tag, specials = self._plans[syntax]
        found: dict[str, list[str]] = {}
        years: dict[str, list[tuple[int, str]]] = {}
        for f in record.fields:
            for name, kind, source, rank in by_tag.get(f.linked_tag, ()):
                if source.condition and f.get(source.condition[0]) != source.condition[1]:
                    continue
                if f.value is not None:
                    text = f.value
                elif source.start is not None:
                    text = f.subfields[0][1] if f.subfields else ""
                else:
                    text = f.text(source.codes or None)
                if source.start is not None:
                    text = text[source.start:source.end]
                if not text:
                    continue
                if kind == "year":
                    years.setdefault(name, []).extend((rank, year) for year in normalise(kind, text))
                else:
                    found.setdefault(name, []).extend(normalise(kind, text))
        for name, kind, special in specials:
            for text in self._special_values(special, record, syntax, libraries, name):
                found.setdefault(name, []).extend(normalise(kind, text))
        for name, ranked in years.items():
            if ranked:  # the year from the first source giving one
                found[name] = [min(ranked, key=lambda pair: pair[0])[1]]
        entry = {}
        for point in self.points:
            if point in found:
                distinct = dict.fromkeys(found[point])
                distinct.pop("", None)
                if distinct:
                    entry[point] = list(distinct)
        return entry

    def holdings_points(self, syntax: str) -> tuple[str, ...] | None:
        """The access points drawn from the holding libraries alone, or None when one draws on
        them together with the record's fields or sorts by them: then a change of holdings
        needs the record extracted again."""
        return self._holdings_points[syntax]

    def with_libraries(self, entry: dict[str, list[str]], syntax: str, libraries: list[str]) -> dict[str, list[str]]:
        """`entry` (see `extract`) as extracting the record again with these holding libraries
        would give it, without the record: only the `holdings_points` change."""
        changed = {name: list(dict.fromkeys(value for library in libraries
                                            for value in normalise(self.points[name].kind, library) if value))
                   for name in self._holdings_points[syntax]}
        return {name: values for name in self.points
                if (values := changed[name] if name in changed else entry.get(name))}

    def _drawn_from_holdings(self, syntax: str) -> tuple[str, ...] | None:
        names = []
        for point in self.points.values():
            from_holdings = [source.special == "@holdings" for source in point.sources.get(syntax, ())]
            if not any(from_holdings):
                continue
            if not all(from_holdings) or point.sortable:
                return None
            names.append(point.name)
        return tuple(names)

    def _plan(self, syntax: str):
        """tag -> [(access point, kind, source, rank of the source)], and the special sources."""
        by_tag: dict[str, list] = {}
        specials = []
        for point in self.points.values():
            for rank, source in enumerate(point.sources.get(syntax, ())):
                if source.special:
                    specials.append((point.name, point.kind, source.special))
                else:
                    by_tag.setdefault(source.tag, []).append((point.name, point.kind, source, rank))
        return by_tag, specials

    def _special_values(self, special: str, record: MarcRecord, syntax: str, libraries, point: str):
        if special == "@holdings":
            return libraries
        if special == "@leader-type":
            return [self.material_type(record.leader, syntax)]
        if special == "@oclc":
            return oclc_numbers(record)
        uncovered = self._uncovered[(point, syntax)]  # @rest
        values = []
        for f in record.fields:
            if f.value is not None:
                continue
            wanted = uncovered.get(f.linked_tag, _EVERY_LETTER)
            if wanted is not None:
                text = " ".join([v for c, v in f.subfields if wanted[c]])
                if text:
                    values.append(text)
        return values

    def _uncovered_codes(self, point: AccessPoint, syntax: str) -> dict[str, UncoveredLetters | None]:
        """tag -> which of its subfields the point's `also` access points leave to it (None: they
        index the whole field); a tag none of them indexes leaves every letter (`_EVERY_LETTER`)."""
        covered: dict[str, str | None] = {}
        for member in point.also:
            for source in self.points[member].sources.get(syntax, ()):
                if source.special or source.condition:
                    continue
                if not source.codes or source.start is not None:
                    covered[source.tag] = None
                elif covered.get(source.tag, "") is not None:
                    covered[source.tag] = covered.get(source.tag, "") + source.codes
        return {tag: None if codes is None else UncoveredLetters(codes) for tag, codes in covered.items()}

    def material_type(self, leader: str, syntax: str) -> str:
        types = self.material_types.get(syntax, {}).get(leader[6:7], {})
        return types.get(leader[7:8], types.get("default", "other"))


class UncoveredLetters(dict):
    """Subfield code -> whether @rest takes the subfield: a letter that `covered` (the codes other
    access points index) lacks. Filled as codes are met, so any code, the non-ASCII ones of
    broken records too, is judged once, as `str.isalpha` judges it; then each is one lookup."""

    __slots__ = ("covered",)

    def __init__(self, covered: str):
        super().__init__()
        self.covered = covered

    def __missing__(self, code: str) -> bool:
        self[code] = taken = code.isalpha() and code not in self.covered
        return taken


_EVERY_LETTER = UncoveredLetters("")


def normalise(kind: str, text: str) -> list[str]:
    """The values that `text` contributes to an access point of this kind."""
    if kind == "text":
        key = normalize.field_key(text)
        return [key] if key else []
    if kind == "isbn":
        isbn = isbn13(text)
        return [isbn] if isbn else []
    if kind == "issn":
        compact = _NOT_DIGIT_OR_X.sub("", text.split(" ")[0]).upper()
        return [compact] if len(compact) == 8 else []
    if kind == "lccn":
        lccn = normalise_lccn(text)
        return [lccn] if lccn else []
    if kind == "year":
        return _YEAR.findall(text)[:1]

    if kind == "class":
        return [normalize.fold(text).strip()] if text.strip() else []
    return [normalize.fold(text).strip()] if text.strip(" |#^") else []


def query_values(kind: str, text: str) -> list[str]:
    """What a search term becomes: like `normalise`, but any year up to four digits is taken."""
    if kind == "year":
        text = text.strip()
        return [text.zfill(4)] if text.isdigit() and len(text) <= 4 else []
    return normalise(kind, text)


def isbn13(text: str) -> str | None:
    """The ISBN-13 (digits only) of an ISBN-10 or ISBN-13 written with hyphens, spaces, '(pbk.)'."""
    digits = _NOT_DIGIT_OR_X.sub("", text.split("(")[0].strip().split(" ")[0]).upper()
    if len(digits) == 10 and digits[:9].isdigit():
        core = "978" + digits[:9]
    elif len(digits) == 13 and digits.isdigit():
        return digits
    else:
        return None
    weighted = sum(map(int, core[0::2])) + 3 * sum(map(int, core[1::2]))   # weights 1, 3, 1, 3, ...
    return core + str((10 - weighted % 10) % 10)


def normalise_lccn(text: str) -> str | None:
    """LC's LCCN normalisation: no blanks; 'n 79-1234' becomes 'n79001234'."""
    value = text.replace(" ", "").split("/")[0]
    if "-" in value:
        prefix, _, serial = value.partition("-")
        if serial.isdigit():
            value = prefix + serial.rjust(6, "0")
    return value.lower() or None


def oclc_numbers(record: MarcRecord) -> list[str]:
    numbers = []
    for f in record.get_fields("035"):
        for value in f.get_all("a"):
            if value.startswith("(OCoLC)"):
                digits = _LEADING_NON_DIGITS.sub("", value[7:])
                if digits.isdigit():
                    numbers.append(str(int(digits)))
    if (record.control("003") or "").strip() == "OCoLC":
        digits = _LEADING_NON_DIGITS.sub("", record.control("001") or "")
        if digits.isdigit():
            numbers.append(str(int(digits)))
    return numbers


def sort_title(record: MarcRecord) -> str:
    """245 $a without its non-filing characters (second indicator), UNIMARC 200 $a otherwise."""
    field = record.first("245")
    if field is not None:
        skip = int(field.indicators[1]) if field.indicators[1:2].isdigit() else 0
        return normalize.field_key((field.get("a") or "")[skip:])
    field = record.first("200")
    return normalize.field_key(field.get("a") or "") if field is not None else ""
