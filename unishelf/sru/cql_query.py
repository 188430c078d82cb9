"""CQL syntax trees (`cql.py`) to the one query tree the engine evaluates, as `config/cql.yaml` says.

The mapping is data: context sets, indexes and the access points they search, what each relation
becomes and which kinds of access point answer it, and the modifiers honoured all come from the
YAML. This code knows only what CQL itself defines: masking and anchoring, proximity, the
special indexes (all records, result sets) and how names default. Whatever cannot be answered
raises CQLError with its SRU diagnostic before anything is searched.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import NamedTuple

import yaml

from unishelf.marc import normalize
from unishelf.marc.access_points import AccessPoints, query_values
from unishelf.search.tree import STRUCTURES, AllRecords, And, Node, Not, Or, Prox, Range, RecordIds, ResultSetRef, Term

from . import cql
from .cql import CQLError

ALL_RECORDS, RESULT_SET, RECORD_ID = "@all-records", "@result-set", "@record-id"
SPECIAL_POINTS = (ALL_RECORDS, RESULT_SET, RECORD_ID)
ORDERING = ("<", "<=", ">", ">=")
RELATION_EFFECTS = ("ranked", "accepted", "masked", "unmasked", "whole-field")
SORT_EFFECTS = ("ascending", "descending", "accepted")
_BOOLEANS = {"and": And, "or": Or, "not": Not}


class CQLConfigError(ValueError):
    """config/cql.yaml is incomplete or names something that does not exist."""


class IndexInfo(NamedTuple):
    """A CQL index as SRU Explain lists it."""

    prefix: str
    name: str
    points: tuple[str, ...]   # access points searched together, or one special point
    title: str
    sortable: bool


@dataclass(frozen=True)
class _Relation:
    """What a CQL relation becomes in the query tree."""

    relation: str = "="
    structure: str = "phrase"
    negated: bool = False
    range: bool = False


class CQLMapping:
    """CQL indexes, relations and modifiers to the query tree, over one set of access points."""

    def __init__(self, data: dict, points: AccessPoints, source: str = "cql.yaml"):
        self.points = points
        self._source = source
        self._uris: dict[str, list[str]] = {}
        self._by_uri: dict[str, str] = {}
        for prefix, uris in self._section(data, "context_sets", dict).items():
            if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
                self._fail(f"context_sets.{prefix}", "must list one or more URIs")
            self._uris[prefix.lower()] = uris
            self._by_uri.update((uri.lower(), prefix.lower()) for uri in uris)
        for required in ("cql", "sort"):
            if required not in self._uris:
                self._fail("context_sets", f"needs the {required!r} context set")
        self._indexes = self._load_indexes(self._section(data, "indexes", dict))
        self._unprefixed = [p.lower() for p in self._section(data, "unprefixed", list)]
        for prefix in self._unprefixed:
            if prefix not in self._uris:
                self._fail("unprefixed", f"{prefix!r} is not a context set")
        bare = self._section(data, "bare_term_index", str)
        prefix, _, base = bare.partition(".")
        self._bare_term_index = cql.Name(prefix, base)
        if (prefix.lower(), base.lower()) not in self._indexes:
            self._fail("bare_term_index", f"{bare!r} is not one of the indexes")
        self._relations = self._load_relations(data)
        self._aliases = self._load_aliases(data)
        self._kinds = self._load_kinds(data)
        self._relation_modifiers = self._effects(data, "relation_modifiers", RELATION_EFFECTS)
        self._sort_modifiers = self._effects(data, "sort_modifiers", SORT_EFFECTS)

    @classmethod
    def from_file(cls, path: str | Path, points: AccessPoints) -> "CQLMapping":
        with open(path, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle) or {}, points, str(path))

    # -- loading ----------------------------------------------------------------------------------
    def _fail(self, key: str, problem: str):
        raise CQLConfigError(f"{self._source}: {key}: {problem}")

    def _section(self, data: dict, key: str, kind: type):
        value = data.get(key)
        if not isinstance(value, kind):
            self._fail(key, f"missing, or not a {kind.__name__}")
        return value

    def _load_indexes(self, sections: dict) -> dict[tuple[str, str], IndexInfo]:
        indexes = {}
        for prefix, entries in sections.items():
            if prefix.lower() not in self._uris:
                self._fail(f"indexes.{prefix}", "is not one of the context_sets")
            for name, entry in (entries or {}).items():
                where = f"indexes.{prefix}.{name}"
                if not isinstance(entry, dict) or set(entry) != {"point", "title"}:
                    self._fail(where, "needs exactly point and title")
                names = tuple(entry["point"]) if isinstance(entry["point"], list) else (entry["point"],)
                for point in names:
                    if point not in self.points and point not in SPECIAL_POINTS:
                        self._fail(f"{where}.point", f"{point!r} is not an access point of indexes.yaml "
                                                     f"nor one of {', '.join(SPECIAL_POINTS)}")
                if len(names) != 1 and set(names) & set(SPECIAL_POINTS):
                    self._fail(f"{where}.point", "a special point stands alone")
                sortable = len(names) == 1 and names[0] in self.points.sortable
                indexes[(prefix.lower(), name.lower())] = IndexInfo(prefix, name, names, str(entry["title"]),
                                                                   sortable)
        return indexes

    def _load_relations(self, data: dict) -> dict[str, _Relation]:
        relations = {}
        for name, spec in self._section(data, "relations", dict).items():
            where = f"relations.{name}"
            if spec == "range":
                relations[name.lower()] = _Relation(range=True)
                continue
            if not isinstance(spec, dict) or not set(spec) <= {"relation", "structure", "negated"}:
                self._fail(where, "must be range or {relation, structure, negated}")
            relation = _Relation(spec.get("relation", "="), spec.get("structure", "phrase"),
                                 bool(spec.get("negated", False)))
            if relation.relation not in ("=",) + ORDERING:
                self._fail(f"{where}.relation", f"{relation.relation!r} is not one of = {' '.join(ORDERING)}")
            if relation.structure not in STRUCTURES:
                self._fail(f"{where}.structure", f"{relation.structure!r} is not one of {', '.join(STRUCTURES)}")
            relations[name.lower()] = relation
        return relations

    def _load_aliases(self, data: dict) -> dict[str, str]:
        aliases = {}
        for alias, name in (data.get("relation_aliases") or {}).items():
            if name.lower() not in self._relations:
                self._fail(f"relation_aliases.{alias}", f"{name!r} is not one of the relations")
            aliases[alias.lower()] = name.lower()
        return aliases

    def _load_kinds(self, data: dict) -> dict[str, set[str]]:
        kinds = {}
        for kind, names in self._section(data, "relations_by_kind", dict).items():
            unknown = [n for n in names if n.lower() not in self._relations]
            if unknown:
                self._fail(f"relations_by_kind.{kind}", f"{unknown[0]!r} is not one of the relations")
            kinds[kind] = {n.lower() for n in names}
        for point in self.points.points.values():
            if point.kind not in kinds:
                self._fail("relations_by_kind", f"says nothing of {point.kind!r} (access point {point.name})")
        return kinds

    def _effects(self, data: dict, key: str, effects: tuple[str, ...]) -> dict[str, str]:
        table = self._section(data, key, dict)
        for name, effect in table.items():
            if effect not in effects:
                self._fail(f"{key}.{name}", f"{effect!r} is not one of {', '.join(effects)}")
        return {name.lower(): effect for name, effect in table.items()}

    # -- what Explain lists -----------------------------------------------------------------------
    def context_sets(self) -> dict[str, str]:
        """prefix -> the context set's URI."""
        return {prefix: uris[0] for prefix, uris in self._uris.items()}

    def indexes(self) -> list[IndexInfo]:
        """The indexes a query can use."""
        return list(self._indexes.values())

    # -- queries ------------------------------------------------------------------------------------
    def to_tree(self, node: cql.Node) -> Node:
        if isinstance(node, cql.SearchClause):
            return self._clause(node)
        if node.operator == "prox":
            distance, ordered = self._proximity(node.modifiers)
            return _prox(self.to_tree(node.left), self.to_tree(node.right), distance, ordered)
        if node.modifiers:
            modifier = node.modifiers[0].name
            raise CQLError(46, f"{node.operator} takes no modifier {modifier}", str(modifier))
        return _BOOLEANS[node.operator](self.to_tree(node.left), self.to_tree(node.right))

    def sort_keys(self, keys: tuple[cql.SortKey, ...]) -> list[tuple[str, bool]]:
        """(access point, ascending) for Engine.sort, from a query's sortBy keys."""
        return [self._sort_key(key) for key in keys]

    def _sort_key(self, key: cql.SortKey) -> tuple[str, bool]:
        info = self._index(key.index)
        if not info.sortable:
            raise CQLError(80, f"cannot sort by {key.index}", str(key.index))
        ascending = None
        for modifier in key.modifiers:
            name = modifier.name.base.lower()
            effect = None
            if self._context_set(modifier.name, "sort") == "sort" and modifier.comparison is None:
                effect = self._sort_modifiers.get(name)
            if effect is None:
                diagnostic = 91 if name == "respectcase" else 92 if name.startswith("missing") else 82
                raise CQLError(diagnostic, f"sort modifier {modifier.name} is not supported", str(modifier.name))
            if effect != "accepted":
                if ascending is not None and ascending != (effect == "ascending"):
                    raise CQLError(90, f"{key.index} is sorted both ascending and descending", str(key.index))
                ascending = effect == "ascending"
        return info.points[0], ascending is not False

    # -- names --------------------------------------------------------------------------------------
    def _context_set(self, name: cql.Name, default: str) -> str:
        """The configured prefix of the name's context set (`default` when it has none)."""
        if name.uri is not None:
            prefix = self._by_uri.get(name.uri.lower())
            if prefix is None:
                raise CQLError(15, f"context set {name.uri} is not supported", name.uri)
            return prefix
        if name.prefix is None:
            return default
        if name.prefix.lower() not in self._uris:
            raise CQLError(15, f"context set prefix {name.prefix!r} is not known", name.prefix)
        return name.prefix.lower()

    def _index(self, name: cql.Name) -> IndexInfo:
        if name.prefix is None and name.uri is None:
            prefixes = self._unprefixed
        else:
            prefixes = [self._context_set(name, "")]
        for prefix in prefixes:
            info = self._indexes.get((prefix, name.base.lower()))
            if info is not None:
                return info
        raise CQLError(16, f"index {name} is not supported", str(name))

    def _relation(self, name: cql.Name) -> str:
        key = name.base.lower()
        key = self._aliases.get(key, key)
        if self._context_set(name, "cql") != "cql" or key not in self._relations:
            raise CQLError(19, f"relation {name} is not supported", str(name))
        return key

    def _relation_effects(self, modifiers: tuple[cql.Modifier, ...]) -> set[str]:
        effects = set()
        for modifier in modifiers:
            effect = None
            if self._context_set(modifier.name, "cql") == "cql" and modifier.comparison is None:
                effect = self._relation_modifiers.get(modifier.name.base.lower())
            if effect is None:
                raise CQLError(20, f"relation modifier {modifier.name} is not supported", str(modifier.name))
            effects.add(effect)
        if {"masked", "unmasked"} <= effects:
            raise CQLError(21, "a term cannot be both masked and unmasked", "masked/unmasked")
        return effects

    # -- search clauses -----------------------------------------------------------------------------
    @staticmethod
    def _record_ids(clause: cql.SearchClause, index, relation: str) -> RecordIds:
        """rec.id = N, or rec.id any "N M ...": records by their number."""
        if relation not in ("=", "==", "any"):
            raise CQLError(19, f"{index} takes =, == or any, not {relation}", relation)
        words = clause.term.split()
        if not words or not all(word.isdigit() for word in words) or (relation != "any" and len(words) > 1):
            raise CQLError(36, f"{index} takes record numbers, not {clause.term!r}", clause.term)
        return RecordIds(tuple(int(word) for word in words))

    def _clause(self, clause: cql.SearchClause) -> Node:
        index = clause.index or self._bare_term_index
        info = self._index(index)
        relation = self._relation(clause.relation)
        effects = self._relation_effects(clause.modifiers)
        if info.points == (ALL_RECORDS,):
            return AllRecords()  # whatever the relation and term, as the cql context set says
        if info.points == (RESULT_SET,):
            return self._result_set(clause, index, relation)
        if info.points == (RECORD_ID,):
            return self._record_ids(clause, index, relation)
        meaning = self._relations[relation]
        points = [self.points[name] for name in info.points if relation in self._kinds[self.points[name].kind]]
        if not points:
            raise CQLError(22, f"{index} cannot be searched with {relation}", f"{index} {relation}")
        if "whole-field" in effects and (meaning.range or meaning.relation != "="
                                         or meaning.structure in ("words", "any-words")):
            raise CQLError(21, f"string cannot go with {relation}", f"{relation}/string")
        characters = cql.term_characters(clause.term)
        if "unmasked" in effects:
            characters = [(character, False) for character, _ in characters]
        if not "".join(character for character, _ in characters).strip():
            raise CQLError(27, f"the term of {index} is empty", str(index))
        node = reduce(Or, [self._point_node(point, meaning, effects, characters, str(index)) for point in points])
        return Not(AllRecords(), node) if meaning.negated else node

    def _result_set(self, clause: cql.SearchClause, index: cql.Name, relation: str) -> ResultSetRef:
        if relation not in ("=", "=="):
            raise CQLError(22, f"{index} takes only =", f"{index} {relation}")
        if clause.modifiers:
            raise CQLError(20, f"{index} takes no relation modifiers", str(clause.modifiers[0].name))
        name = "".join(character for character, _ in cql.term_characters(clause.term))
        if not name.strip():
            raise CQLError(27, f"the term of {index} is empty", str(index))
        return ResultSetRef(name)

    def _point_node(self, point, meaning: _Relation, effects: set[str], characters, index: str) -> Node:
        if meaning.range or meaning.relation in ORDERING:
            return _ordered(point, meaning, characters, index)
        structure = "field" if "whole-field" in effects else meaning.structure
        ranked = "ranked" in effects
        if structure in ("words", "any-words") and (point.kind != "text" or any(s for _, s in characters)):
            # each word with its own masking and anchors: all words (AND) or any word (OR)
            terms = [_term(point, word, "word" if structure == "words" else "any-words", ranked, index)
                     for word in _words(characters)]
            return reduce(And if structure == "words" else Or, terms)
        return _term(point, characters, structure, ranked, index)

    # -- proximity ------------------------------------------------------------------------------------
    def _proximity(self, modifiers: tuple[cql.Modifier, ...]) -> tuple[int, bool]:
        """(distance in words, ordered) from prox's modifiers: unit=word, distance<=N, <N, =1,
        ordered, unordered (the defaults: word, distance<=1, unordered)."""
        distance, ordering = 1, None
        for modifier in modifiers:
            in_cql_set = self._context_set(modifier.name, "cql") == "cql"
            name = modifier.name.base.lower() if in_cql_set else None
            value = (modifier.value or "").strip()
            if name == "unit":
                if modifier.comparison != "=" or value.lower() != "word":
                    raise CQLError(42, f"proximity unit {value or '?'} is not supported (only word)", value)
            elif name == "distance":
                if not (value.isascii() and value.isdigit()):
                    raise CQLError(41, f"proximity distance {value!r} is not a number of words", value)
                words = int(value)
                if modifier.comparison == "<=" or (modifier.comparison == "=" and words == 1):
                    distance = words
                elif modifier.comparison == "<":
                    distance = words - 1
                else:
                    raise CQLError(40, f"proximity distance{modifier.comparison}{value} is not supported "
                                       "(distance<=N, <N or =1)", str(modifier.comparison))
                if distance < 1:
                    raise CQLError(41, "proximity distance must allow at least one word", value)
            elif name in ("ordered", "unordered"):
                if modifier.comparison is not None:
                    raise CQLError(43, f"{name} takes no value", name)
                if ordering not in (None, name):
                    raise CQLError(44, "prox cannot be both ordered and unordered", "ordered/unordered")
                ordering = name
            else:
                raise CQLError(46, f"prox modifier {modifier.name} is not supported", str(modifier.name))
        return distance, ordering == "ordered"


def _prox(left: Node, right: Node, distance: int, ordered: bool) -> Prox:
    for side in (left, right):
        if isinstance(side, Term) and side.truncation != "none":
            raise CQLError(33, "proximity with masked terms is not supported", side.text)
        if isinstance(side, Term) and side.first_in_field:
            raise CQLError(34, "proximity with anchored terms is not supported", side.text)
        if not (isinstance(side, Term) and side.relation == "=" and side.structure in ("word", "phrase")):
            raise CQLError(39, "proximity is supported between two plain terms of one index", "")
    if left.index != right.index:
        raise CQLError(39, "proximity is supported between two plain terms of one index",
                       f"{left.index} {right.index}")
    return Prox(left, right, distance, ordered)


def _literal(characters) -> str:
    """The characters as plain text; literal * and ? become spaces (not indexed, like punctuation)."""
    return "".join(" " if character in "*?" else character for character, _ in characters)


def _words(characters) -> list[list]:
    """The term split at white space, each word a list of (character, is masking) pairs."""
    words, word = [], []
    for character, special in characters:
        if character.isspace():
            if word:
                words.append(word)
            word = []
        else:
            word.append((character, special))
    return words + [word] if word else words


def _anchors(characters, index: str):
    """(characters, anchored at the start, anchored at the end): ^ may only open or close a term."""
    first = bool(characters) and characters[0] == ("^", True)
    last = len(characters) > first and characters[-1] == ("^", True)
    inner = characters[first:len(characters) - last]
    if ("^", True) in inner:
        raise CQLError(32, f"^ in {index} anchors only at the start or end of a term", "^")
    return inner, first, last


def _pattern(characters, index: str) -> tuple[str, str]:
    """(text, truncation): `*foo`, `foo*` and `*foo*` are left, right and both truncation; any
    other `*` or `?` makes the term masked."""
    masks = [i for i, (_, special) in enumerate(characters) if special]
    if not masks:
        return _literal(characters), "none"
    last = len(characters) - 1
    if set(masks) <= {0, last} and len(masks) < len(characters) and all(characters[i][0] == "*" for i in masks):
        left, right = 0 in masks, last in masks
        core = characters[left:len(characters) - right]
        if not core[0][0].isspace() and not core[-1][0].isspace():
            return _literal(core), "both" if left and right else "left" if left else "right"
    text = "".join(character if special else " " if character in "*?" else character
                   for character, special in characters)
    if any(set(word) <= set("*?") for word in text.split()):
        raise CQLError(29, f"a word of the {index} term is only masking characters", text)
    return text, "masked"


def _term(point, characters, structure: str, ranked: bool, index: str) -> Node:
    characters, first, last = _anchors(characters, index)
    text, truncation = _pattern(characters, index)
    if not text.strip():
        raise CQLError(27, f"the term of {index} is empty", text)
    if point.kind != "text":  # one whole value: anchors add nothing
        return Term(point.name, text.strip(), "=", structure, truncation, ranked=ranked)
    if not normalize.fold_tokens(text):
        raise CQLError(27, f"the term of {index} has no searchable characters", text)
    whole = structure == "field" or (first and last)
    if (whole or last) and not point.whole_field:
        if structure == "field":
            raise CQLError(22, f"{index} is not indexed by whole field", f"{index} ==")
        raise CQLError(32, f"{index} cannot anchor a term at the end of a field", "^")
    if whole:
        return Term(point.name, text, "=", "field", truncation, ranked=ranked)
    if last:
        return _ending(point.name, text, truncation)
    return Term(point.name, text, "=", structure, truncation, first_in_field=first, ranked=ranked)


def _ending(index: str, text: str, truncation: str) -> Node:
    """`foo^`: fields that are the term, or whose last words are it."""
    if truncation in ("left", "both"):
        return Term(index, text, "=", "field", truncation)
    masked = text + "*" if truncation == "right" else text
    return Or(Term(index, text, "=", "field", truncation), Term(index, "* " + masked, "=", "field", "masked"))


def _ordered(point, meaning: _Relation, characters, index: str) -> Node:
    """< <= > >= and within: plain values in the index order (years, classification numbers)."""
    specials = {character for character, special in characters if special}
    if specials & {"*", "?"}:
        raise CQLError(28, f"masking does not go with ordering or ranges ({index})", "".join(specials))
    if specials:
        raise CQLError(31, f"anchoring does not go with ordering or ranges ({index})", "^")
    text = _literal(characters).strip()
    if meaning.range:
        bounds = text.split()
        if len(bounds) != 2 or not all(query_values(point.kind, bound) for bound in bounds):
            raise CQLError(36, f"within on {index} takes two values: \"low high\"", text)
        return Range(point.name, bounds[0], bounds[1])
    if not query_values(point.kind, text):
        raise CQLError(36, f"{text!r} is not a value of {index}", text)
    return Term(point.name, text, meaning.relation, meaning.structure)
