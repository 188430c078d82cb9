"""Evaluating the query tree against the store.

Posting lists are roaring bitmaps, so AND, OR and NOT are bitmap operations. Word postings do not
carry positions: a phrase (or a CJK run longer than a character pair) is looked up as the
intersection of its words and then checked against the folded field text kept in each record's
index entry. Truncation and relations walk the sorted term keys of LMDB.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field, replace

from pyroaring import BitMap

from unishelf.marc import normalize
from unishelf.marc.access_points import AccessPoints, query_values
from unishelf.marc.store import ALL_KEY, Reader, Store, add_postings, kind_key, posting_list, term_key

from .tree import AllRecords, And, Node, Not, Or, Prox, QueryError, Range, RecordIds, ResultSetRef, Term

MAX_RANKED_WORDS = 12  # the rarest query words that rank; more add little and cost 2^n groups at worst
_MASKED_TOKEN = re.compile(f"[{normalize.CJK_CHARS}]+|[^\\W_{normalize.CJK_CHARS}*?]*[*?][^\\W_*?]*[*?]*|"
                           f"[^\\W_{normalize.CJK_CHARS}]+")


@dataclass(frozen=True)
class Database:
    """A searchable database: records of one kind, optionally only those a library holds."""

    name: str
    kind: str = "bib"
    library: str | None = None


class ScanEntries(list):
    """Scan's (term, occurrences) pairs, knowing where the start term stands among them: fewer
    terms than asked may come before it, when it falls near or before the start of the index."""

    def __init__(self, entries, start_position: int):
        super().__init__(entries)
        self.start_position = start_position   # 1-based place of the first term at or after the start


@dataclass
class ResultSet:
    bitmap: BitMap
    order: list[int] | None = None      # explicit order (sorted); else ranked groups or record id
    groups: list[tuple[float, BitMap]] = field(default_factory=list)  # ranked: best score first

    def __len__(self) -> int:
        return len(self.bitmap)

    def ids(self, start: int = 0, count: int | None = None) -> list[int]:
        """Record ids at positions start .. start+count-1 (0-based)."""
        stop = len(self) if count is None else min(len(self), start + count)
        if self.order is not None:
            return self.order[start:stop]
        if self.groups:
            ids: list[int] = []
            offset = 0
            for _, members in self.groups:  # ties within a group stay in record id order
                size = len(members)
                if offset + size > start and offset < stop:
                    ids.extend(members[i] for i in range(max(start - offset, 0), min(stop - offset, size)))
                offset += size
            return ids
        return [self.bitmap[i] for i in range(start, stop)]

    def score(self, record_id: int) -> float:
        """The relevance score of a record of a ranked result (0 where not ranked)."""
        return next((score for score, members in self.groups if record_id in members), 0.0)


class Engine:
    def __init__(self, store: Store, points: AccessPoints, databases: dict[str, Database] | None = None):
        self.store = store
        self.points = points
        self.databases = databases or {"unicat": Database("unicat")}
        self._by_lower_name = {name.lower(): db for name, db in self.databases.items()}
        self._by_lower_name.setdefault("default", self.databases.get("unicat", Database("unicat")))

    def search(self, node: Node, databases=("unicat",), result_sets: dict | None = None) -> ResultSet:
        with self.store.reading() as reader:
            return self.search_in(reader, node, databases, result_sets)

    def search_in(self, reader: Reader, node: Node, databases=("unicat",),
                  result_sets: dict | None = None) -> ResultSet:
        """`search` in the caller's transaction (a writer deciding from what it is about to change)."""
        evaluation = _Evaluation(self, reader, result_sets or {})
        scope = evaluation.databases(databases)
        bitmap = evaluation.evaluate(node) & scope
        if evaluation.ranked_tokens:
            return evaluation.ranked(bitmap)
        return ResultSet(bitmap)

    def database(self, name: str) -> Database | None:
        """A database by name, ignoring case; 'Default' (what YAZ clients send) is unicat."""
        return self.databases.get(name) or self._by_lower_name.get(name.lower())

    def scan(self, index: str, start: str, databases=("unicat",), count: int = 20, position: int = 1,
             whole_field: bool = False, step: int = 0) -> ScanEntries:
        """Index terms around `start`, each with the number of records it occurs in.

        `position` (1-based) is where the first term at or after `start` stands in the list, so
        position 1 lists forwards and a larger one shows terms before it too, as Z39.50 Scan's
        preferredPositionInResponse asks. Words by default; whole fields (headings) on request.
        Terms that occur in no record of the databases are left out; `step` terms are skipped
        between two listed ones (Scan's stepSize).
        """
        with self.store.reading() as reader:
            evaluation = _Evaluation(self, reader, {})
            point = evaluation.point(index)
            scope = evaluation.databases(databases)
            if point.kind == "text":
                if whole_field and not point.whole_field:
                    raise QueryError("unsupported-structure", f"{index} is not indexed by whole field", index)
                register = "f" if whole_field else "w"
                key_text = normalize.field_key(start) if whole_field else " ".join(normalize.fold_tokens(start))
            else:
                register = "w"
                key_text = (query_values(point.kind, start) or [normalize.fold(start).strip()])[0]
            prefix = term_key(index, register, "")
            pivot = term_key(index, register, key_text)

            def entries(keys):
                for key, value in keys:
                    occurrences = posting_list(value).intersection_cardinality(scope)
                    if occurrences:
                        yield key[len(prefix):].decode("utf-8", "replace"), occurrences

            every = step + 1
            before = list(itertools.islice(entries(reader.terms_before(pivot, prefix)), every - 1,
                                           every * max(position - 1, 0), every))
            after = list(itertools.islice(entries(reader.terms_from(pivot, prefix)), 0,
                                          every * max(count - len(before), 0), every))
            return ScanEntries(before[::-1] + after, len(before) + 1)

    def scope(self, database: str) -> BitMap:
        """Every record of a database."""
        with self.store.reading() as reader:
            return _Evaluation(self, reader, {}).databases([database])

    def count(self, database: str) -> int:
        return len(self.scope(database))

    def sort(self, result: ResultSet, keys: list[tuple[str, bool]]) -> ResultSet:
        """A new result set ordered by (access point, ascending) keys: title, author, date."""
        positions = []
        for name, _ in keys:
            if name not in self.points.sortable:
                raise QueryError("unsupported-sort", f"cannot sort by {name!r}", name)
            positions.append(self.points.sortable.index(name))
        with self.store.reading() as reader:
            rows = {r: reader.sortkeys(r) for r in result.bitmap}
        order = list(result.ids())
        for position, (_, ascending) in reversed(list(zip(positions, keys))):
            order.sort(key=lambda r: rows[r][position] if len(rows[r]) > position else "",
                       reverse=not ascending)
        return ResultSet(result.bitmap, order, result.groups)


def masked_match(mask: str, text: str) -> bool:
    """Whether `text` matches `mask` (MASK_ANY: any run of characters, MASK_ONE: one), in time
    bounded by their lengths' product: a regex of several .* takes exponential time on a term
    that almost matches, and one query would hold up a serving process for minutes."""
    m = t = 0
    star, resume = -1, 0
    while t < len(text):
        if m < len(mask) and mask[m] == normalize.MASK_ANY:
            star, resume = m, t
            m += 1
        elif m < len(mask) and (mask[m] == normalize.MASK_ONE or mask[m] == text[t]):
            m += 1
            t += 1
        elif star >= 0:
            m, resume = star + 1, resume + 1
            t = resume
        else:
            return False
    while m < len(mask) and mask[m] == normalize.MASK_ANY:
        m += 1
    return m == len(mask)


class _Evaluation:
    def __init__(self, engine: Engine, reader: Reader, result_sets: dict):
        self.engine = engine
        self.points = engine.points
        self.reader = reader
        self.result_sets = result_sets
        self.ranked_tokens: list[tuple[str, str]] = []

    def databases(self, names) -> BitMap:
        scope = BitMap()
        for name in names:
            database = self.engine.database(name)
            if database is None:
                raise QueryError("unsupported-database", f"database {name!r} does not exist", name)
            part = self.reader.bitmap(kind_key(database.kind))
            if database.library:
                part &= self.reader.bitmap(term_key("library", "w", normalize.fold(database.library)))
            scope |= part
        return scope

    def evaluate(self, node: Node) -> BitMap:
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, And):
            return self.evaluate(node.left) & self.evaluate(node.right)
        if isinstance(node, Or):
            return self.evaluate(node.left) | self.evaluate(node.right)
        if isinstance(node, Not):
            return self.evaluate(node.left) - self.evaluate(node.right)
        if isinstance(node, Range):
            return self.range(node)
        if isinstance(node, ResultSetRef):
            if node.name not in self.result_sets:
                raise QueryError("no-result-set", f"result set {node.name!r} does not exist", node.name)
            return BitMap(self.result_sets[node.name].bitmap)
        if isinstance(node, Prox):
            return self.prox(node)
        if isinstance(node, AllRecords):
            return self.reader.bitmap(ALL_KEY)  # search() keeps those of the databases searched
        if isinstance(node, RecordIds):
            return BitMap(node.ids) & self.reader.bitmap(ALL_KEY)
        raise QueryError("unsupported-operator", f"cannot evaluate {type(node).__name__}")

    # -- terms ----------------------------------------------------------------------------------
    def point(self, name: str):
        if name not in self.points:
            raise QueryError("unsupported-index", f"no access point {name!r}", name)
        return self.points[name]

    def term(self, term: Term) -> BitMap:
        point = self.point(term.index)
        if term.relation == "<>":
            return self.reader.bitmap(ALL_KEY) - self.term(
                Term(term.index, term.text, "=", term.structure, term.truncation))
        if point.kind != "text":
            return self.code_term(point, term)
        if (term.structure == "any-words" or term.ranked) and term.structure != "field":
            self.ranked_tokens += [(term.index, t) for t in normalize.fold_tokens(term.text)]
        if point.also and term.structure != "field":
            result = self.text_term(point, term)
            for member in point.also:
                result |= self.text_term(self.point(member), replace(term, index=member))
            return result
        return self.text_term(point, term)

    def text_term(self, point, term: Term) -> BitMap:
        if term.structure == "field":
            if not point.whole_field:
                raise QueryError("unsupported-structure", f"{term.index} is not indexed by whole field",
                                 term.index)
            return self.field_term(term)
        tokens = (_MASKED_TOKEN.findall(normalize.fold(term.text)) if term.truncation == "masked"
                  else normalize.fold_tokens(term.text))
        if not tokens:
            raise QueryError("bad-term", f"term {term.text!r} has no searchable characters", term.text)
        if term.relation != "=":
            if len(tokens) != 1:
                raise QueryError("unsupported-relation", "ordering relations take one word", term.relation)
            return self.compare(term.index, "w", tokens[0], term.relation)
        if term.structure == "any-words":
            result = BitMap()
            for token in tokens:
                result |= self.token(term.index, token, term.truncation)
            return result
        if term.structure in ("phrase", "word") and term.truncation == "none" and len(tokens) > 1:
            pairs = self.pair_postings(term.index, tokens)
            if pairs is not None:
                if len(tokens) == 2 and not term.first_in_field:
                    return pairs  # the pair index holds exactly the records with the phrase
                return self.verify(pairs, term, tokens)
        last = len(tokens) - 1
        result = None
        for i, token in enumerate(tokens):
            truncation = term.truncation
            if term.structure != "words" and truncation in ("right", "left", "both"):
                truncation = _token_truncation(truncation, i == 0, i == last)
            bitmap = self.token(term.index, token, truncation)
            result = bitmap if result is None else result & bitmap
            if not result:
                return result
        if term.structure == "words":
            return result
        if term.first_in_field or normalize.needs_verification(tokens):
            return self.verify(result, term, tokens)
        return result

    def pair_postings(self, index: str, tokens: list[str]) -> BitMap | None:
        """Records holding every adjacent word pair of the phrase, where the index has them all
        (it has none with a word outside `AccessPoints.pair_words`)."""
        pairs = normalize.word_pairs(tokens, self.points.pair_words)
        if not self.point(index).word_pairs or len(pairs) != len(tokens) - 1:
            return None
        result = None
        for pair in pairs:
            bitmap = self.reader.bitmap(term_key(index, "p", pair))
            result = bitmap if result is None else result & bitmap
            if not result:
                break
        return result

    def token(self, index: str, token: str, truncation: str) -> BitMap:
        if truncation == "none" or normalize.is_cjk(token):
            result = None
            for query_term in normalize.query_terms(token):
                bitmap = self.reader.bitmap(term_key(index, "w", query_term))
                result = bitmap if result is None else result & bitmap
            return result
        return self.matching_terms(index, "w", token, truncation)

    def matching_terms(self, index: str, register: str, text: str, truncation: str) -> BitMap:
        """Union of the postings of every term that `text` matches under the truncation."""
        prefix = term_key(index, register, "")
        result = BitMap()
        if truncation == "right":
            start = term_key(index, register, text)
            for _, value in self.reader.terms_from(start, start):
                add_postings(result, value)
            return result
        if truncation == "masked":
            literal = re.split(r"[*?]", text)[0]
            start = term_key(index, register, literal)
            for key, value in self.reader.terms_from(start, start):
                if masked_match(text, key[len(prefix):].decode("utf-8", "replace")):
                    add_postings(result, value)
            return result
        else:
            escaped = re.escape(text)
            pattern = re.compile(escaped + r"\Z" if truncation == "left" else escaped, re.S)
            literal = ""
        start = term_key(index, register, literal)
        for key, value in self.reader.terms_from(start, start):
            if pattern.search(key[len(prefix):].decode("utf-8", "replace")):
                add_postings(result, value)
        return result

    def field_term(self, term: Term) -> BitMap:
        text = (" ".join(_MASKED_TOKEN.findall(normalize.fold(term.text))) if term.truncation == "masked"
                else normalize.field_key(term.text))
        if term.relation != "=":
            return self.compare(term.index, "f", text, term.relation)
        if term.truncation == "none":
            return self.reader.bitmap(term_key(term.index, "f", text))
        return self.matching_terms(term.index, "f", text, term.truncation)

    def code_term(self, point, term: Term) -> BitMap:
        values = query_values(point.kind, term.text)
        if term.truncation != "none" or not values:
            text = normalize.fold(term.text).strip()
            if point.kind in ("isbn", "issn", "lccn"):
                text = re.sub(r"[\s-]", "", text)
            if term.truncation == "none":
                return BitMap()
            return self.matching_terms(term.index, "w", text, term.truncation)
        if term.relation != "=":
            return self.compare(term.index, "w", values[0], term.relation)
        return self.reader.bitmap(term_key(term.index, "w", values[0]))

    def compare(self, index: str, register: str, value: str, relation: str) -> BitMap:
        prefix = term_key(index, register, "")
        pivot = term_key(index, register, value)
        result = BitMap()
        if relation in (">", ">="):
            for key, data in self.reader.terms_from(pivot, prefix):
                if relation == ">" and key == pivot:
                    continue
                add_postings(result, data)
        elif relation in ("<", "<="):
            if relation == "<=":
                result |= self.reader.bitmap(pivot)
            for _, data in self.reader.terms_before(pivot, prefix):
                add_postings(result, data)
        else:
            raise QueryError("unsupported-relation", f"relation {relation!r} is not supported", relation)
        return result

    def range(self, node: Range) -> BitMap:
        point = self.point(node.index)
        low = (query_values(point.kind, node.low) or [node.low])[0]
        high = (query_values(point.kind, node.high) or [node.high])[0]
        return self.compare(node.index, "w", low, ">=") & self.compare(node.index, "w", high, "<=")

    def verify(self, candidates: BitMap, term: Term, tokens: list[str]) -> BitMap:
        """The candidates with a value of the term's index holding its tokens as a phrase (at the
        field's start if the term says so). A record whose stored entry lacks the phrase's text
        (`normalize.phrase_literal`) is passed over without decoding the entry."""
        pattern = normalize.phrase_pattern(tokens, left_open=term.truncation in ("left", "both"),
                                           right_open=term.truncation in ("right", "both"))
        matcher = pattern.match if term.first_in_field else pattern.search
        literal = normalize.phrase_literal(tokens)
        containing = literal.encode("utf-8") if literal else None
        return BitMap(r for r in candidates
                      if any(matcher(v) for v in self.reader.entry(r, containing).get(term.index, ())))

    def prox(self, node: Prox) -> BitMap:
        left, right = node.left, node.right
        if not (isinstance(left, Term) and isinstance(right, Term) and left.index == right.index):
            raise QueryError("unsupported-prox", "proximity needs two terms of one access point")
        candidates = self.evaluate(left) & self.evaluate(right)
        left_tokens = normalize.fold_tokens(left.text)
        right_tokens = normalize.fold_tokens(right.text)
        matches = BitMap()
        for record_id in candidates:
            for value in self.reader.entry(record_id).get(left.index, ()):
                words = value.split(" ")
                lefts = _positions(words, left_tokens)
                rights = _positions(words, right_tokens)
                near = any(0 < (r - l if node.ordered else abs(r - l)) <= node.distance
                           for l in lefts for r in rights)
                if near:
                    matches.add(record_id)
                    break
        return candidates - matches if node.exclusion else matches

    # -- ranking ----------------------------------------------------------------------------------
    def ranked(self, bitmap: BitMap) -> ResultSet:
        """Order by the summed IDF of the query words a record holds (coordination-level ranking).

        Records holding the same subset of the words score the same, so the ranking is a few
        bitmap operations per subset instead of work per record: a 30,000-hit query ranks in
        milliseconds. Ties keep record id order.
        """
        total = len(self.reader.bitmap(ALL_KEY)) or 1
        weighted = []
        for index, token in dict.fromkeys(self.ranked_tokens):
            postings = self.token_postings(index, token) & bitmap
            if postings:
                df = len(postings)
                weighted.append((math.log(1 + total / df), postings))
        weighted.sort(key=lambda pair: -pair[0])
        weighted = weighted[:MAX_RANKED_WORDS]
        groups = {0.0: BitMap(bitmap)}
        for weight, postings in weighted:
            regrouped: dict[float, BitMap] = {}
            for score, members in groups.items():
                inside = members & postings
                outside = members - postings
                if inside:
                    regrouped.setdefault(score + weight, BitMap()).update(inside)
                if outside:
                    regrouped.setdefault(score, BitMap()).update(outside)
            groups = regrouped
        return ResultSet(bitmap, groups=[(score, groups[score]) for score in sorted(groups, reverse=True)])

    def token_postings(self, index: str, token: str) -> BitMap:
        """Records with the word in the access point or, for a union like 'any', in its members."""
        result = self.token(index, token, "none")
        for member in self.point(index).also:
            result = result | self.token(member, token, "none")
        return result


def _token_truncation(truncation: str, first: bool, last: bool) -> str:
    """In a phrase, left truncation applies to its first word and right truncation to its last."""
    left = truncation in ("left", "both") and first
    right = truncation in ("right", "both") and last
    return "both" if left and right else "left" if left else "right" if right else "none"


def _positions(words: list[str], tokens: list[str]) -> list[int]:
    n = len(tokens)
    return [i for i in range(len(words) - n + 1) if words[i:i + n] == tokens]

