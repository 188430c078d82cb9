"""CQL 1.2, the query language of SRU, parsed into a small immutable syntax tree.

Sans-I/O: text in, dataclasses out. The grammar is the CQL 1.2 BNF
(https://www.loc.gov/standards/sru/cql/spec.html): prefix assignments at any level, booleans
and/or/not/prox with modifiers, search clauses `index relation/modifiers term` or a bare term,
and a trailing `sortBy` with sort keys. Keywords are case-insensitive and are also valid terms
where the grammar allows a term (`title = and`).

What the names mean is `cql_query`'s business; the parser only resolves the prefixes the query
assigns itself (`> dc = "info:..."`), so each name carries the context set URI the query gave
it. Terms keep their backslash escapes, because masking (`*`, `?`, `^`) depends on them; read
them with `term_characters`. Every error is a `CQLError` with its SRU diagnostic number
(info:srw/diagnostic/1/N), and nesting and boolean counts are capped, so no query can exhaust
the recursion of the parser or of whatever walks the tree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NESTING = 64     # parentheses within parentheses
MAX_BOOLEANS = 256   # boolean operators in one query
BOOLEANS = ("and", "or", "not", "prox")
KEYWORDS = frozenset(BOOLEANS + ("sortby",))
MASKING = "*?^"
_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(r'(?P<symbol>==|<>|<=|>=|[=<>])|(?P<punctuation>[()/])|(?P<quoted>")'
                    r'|(?P<word>(?:\\\S|\\(?!\S)|[^\s()=<>"/\\])+)')


class CQLError(ValueError):
    """The query cannot be parsed or answered; `diagnostic` is the SRU diagnostic number."""

    def __init__(self, diagnostic: int, message: str, details: str = ""):
        super().__init__(message)
        self.diagnostic = diagnostic
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Name:
    """An index, relation or modifier name; `uri` is the context set the query assigned to it."""

    prefix: str | None
    base: str
    uri: str | None = None

    def __str__(self) -> str:
        return f"{self.prefix}.{self.base}" if self.prefix is not None else self.base


@dataclass(frozen=True)
class Modifier:
    """`/name` or `/name comparison value`, after a relation, a boolean or a sort key."""

    name: Name
    comparison: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class SearchClause:
    """`index relation/modifiers term`; a bare term has no index and the relation `=`.

    A symbol relation (`=`, `<>`, ...) is a Name without prefix whose base is the symbol.
    """

    index: Name | None
    relation: Name
    modifiers: tuple[Modifier, ...]
    term: str


@dataclass(frozen=True)
class Boolean:
    operator: str   # and, or, not, prox (lower case)
    modifiers: tuple[Modifier, ...]
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class SortKey:
    index: Name
    modifiers: tuple[Modifier, ...] = ()


@dataclass(frozen=True)
class Query:
    root: "Node"
    sort: tuple[SortKey, ...] = ()


Node = SearchClause | Boolean


@dataclass(frozen=True)
class _Token:
    kind: str    # symbol, punctuation ( ) /, quoted, word, end
    text: str
    at: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def parse(text: str) -> Query:
    return _Parser(text).query()


def term_characters(term: str) -> list[tuple[str, bool]]:
    """The term's characters, each with whether it is a masking character (`*`, `?`, `^`).

    A backslash makes the next character plain (`\\*` is a literal asterisk); a lone backslash
    at the end stands for itself.
    """
    characters = []
    escaped = False
    for character in term:
        if escaped:
            characters.append((character, False))
            escaped = False
        elif character == "\\":
            escaped = True
        else:
            characters.append((character, character in MASKING))
    if escaped:
        characters.append(("\\", False))
    return characters


def _tokens(text: str) -> list[_Token]:
    tokens = []
    at = _SPACE.match(text).end()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match.lastgroup == "quoted":
            end, content = _quoted(text, at)
            tokens.append(_Token("quoted", content, at))
        else:
            end = match.end()
            tokens.append(_Token(match.lastgroup, match.group(), at))
        at = _SPACE.match(text, end).end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[int, str]:
    """(end, content) of the quoted string opening at `start`; escapes are kept."""
    at = start + 1
    while at < len(text):
        if text[at] == "\\":
            at += 2
        elif text[at] == '"':
            return at + 1, text[start + 1:at]
        else:
            at += 1
    raise CQLError(14, f"the quote at {start} is not closed", str(start))


def _plain(text: str) -> str:
    """A name or modifier value without its backslash escapes."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.at = 0
        self.booleans = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def query(self) -> Query:
        scope = self.prefix_assignments(())
        root = self.scoped_clause(scope, 0)
        sort: tuple[SortKey, ...] = ()
        if self.peek().is_keyword("sortby"):
            self.take()
            sort = self.sort_keys(scope)
        token = self.peek()
        if token.kind != "end":
            raise self.unexpected(token, "a boolean operator or the end of the query")
        return Query(root, sort)

    def prefix_assignments(self, scope: tuple) -> tuple:
        """`> prefix = uri` and `> uri` (the default context set), innermost first in scope."""
        while self.peek().kind == "symbol" and self.peek().text == ">":
            self.take()
            first = _plain(self.term("a prefix or a context set URI").text)
            if self.peek().kind == "symbol" and self.peek().text == "=":
                self.take()
                scope = ((first.lower(), _plain(self.term("a context set URI").text)),) + scope
            else:
                scope = ((None, first),) + scope
        return scope

    def scoped_clause(self, scope: tuple, depth: int) -> Node:
        node = self.search_clause(scope, depth)
        while self.peek().is_keyword(*BOOLEANS):
            token = self.take()
            self.booleans += 1
            if self.booleans > MAX_BOOLEANS:
                raise CQLError(38, f"more than {MAX_BOOLEANS} boolean operators", str(MAX_BOOLEANS))
            modifiers = self.modifiers(scope)
            node = Boolean(token.text.lower(), modifiers, node, self.search_clause(scope, depth))
        return node

    def search_clause(self, scope: tuple, depth: int) -> Node:
        token = self.peek()
        if token.kind == "punctuation" and token.text == "(":
            if depth >= MAX_NESTING:
                raise CQLError(13, f"parentheses nested more than {MAX_NESTING} deep", str(token.at))
            self.take()
            node = self.scoped_clause(self.prefix_assignments(scope), depth + 1)
            closing = self.peek()
            if closing.kind != "punctuation" or closing.text != ")":
                raise CQLError(13, f"expected ) at {closing.at} for the ( at {token.at}", str(closing.at))
            self.take()
            return node
        first = self.term("a search term or clause")
        following = self.peek()
        if following.kind == "symbol":
            relation = Name(None, self.take().text)
        elif following.kind == "word" and following.text.lower() not in KEYWORDS:
            relation = self.name(self.take(), scope, default=False)
        else:
            return SearchClause(None, Name(None, "="), (), first.text)
        modifiers = self.modifiers(scope)
        term = self.term("a search term after the relation")
        return SearchClause(self.name(first, scope, default=True), relation, modifiers, term.text)

    def modifiers(self, scope: tuple) -> tuple[Modifier, ...]:
        modifiers = []
        while self.peek().kind == "punctuation" and self.peek().text == "/":
            self.take()
            name = self.name(self.term("a modifier name after /"), scope, default=False)
            if self.peek().kind == "symbol":
                comparison = self.take().text
                value = _plain(self.term(f"a value after {comparison}").text)
                modifiers.append(Modifier(name, comparison, value))
            else:
                modifiers.append(Modifier(name))
        return tuple(modifiers)

    def sort_keys(self, scope: tuple) -> tuple[SortKey, ...]:
        keys = [SortKey(self.name(self.term("a sort key after sortBy"), scope, default=True),
                        self.modifiers(scope))]
        while self.peek().kind in ("word", "quoted"):
            keys.append(SortKey(self.name(self.take(), scope, default=True), self.modifiers(scope)))
        return tuple(keys)

    def term(self, expected: str) -> _Token:
        token = self.peek()
        if token.kind not in ("word", "quoted"):
            raise self.unexpected(token, expected)
        return self.take()

    def name(self, token: _Token, scope: tuple, default: bool) -> Name:
        """The name with the URI the query assigned to its prefix (or, for an index without
        prefix, the query's default context set)."""
        prefix, dot, base = _plain(token.text).partition(".")
        if not dot:
            prefix, base = "", prefix
        key = prefix.lower() if prefix else None
        uri = next((u for p, u in scope if p == key), None) if key is not None or default else None
        return Name(prefix or None, base, uri)

    def unexpected(self, token: _Token, expected: str) -> CQLError:
        if token.kind == "end":
            return CQLError(10, f"expected {expected}, the query ended", str(token.at))
        if token.kind == "punctuation" and token.text in "()":
            return CQLError(13, f"unexpected {token.text} at {token.at}", str(token.at))
        return CQLError(10, f"expected {expected}, not {token.text!r} at {token.at}", str(token.at))
