"""YAZ's Prefix Query Format (PQF) to and from the RPN dataclasses of `rpn.py`.

PQF is the text form of a Type-1 query that YAZ tools (yaz-client, zoomsh) and most Z39.50
documentation use, so tests, configuration and logs can state queries the way those tools do:

    @attrset bib-1 @and @attr 1=4 "bob dylan" @prox 0 3 1 2 k 2 @attr 1=1003 dylan zimmerman

Semantics follow YAZ's parser (src/pquery.c), checked against libyaz 5.34:
- `@attr` and `@term` written before an operator apply to every term below it; an inner `@attr`
  of the same type replaces the outer one (YAZ keeps the last attribute of each type);
- attributes before `@set` are dropped, since a result-set reference carries none;
- backslash escapes in terms, result-set names and attribute values are YAZ's: \\t \\n \\r \\f,
  \\xHH and \\ooo bytes (read as UTF-8, else Latin-1) and \\c for any other character c;
- terms may be quoted with "..." or {...}.
Where YAZ silently accepts nonsense (an unknown `@word` taken as a term, an unterminated quote,
an unknown term type, `@attr 1=` read as 1=0, `@prox` exclusion 'void'), this parser raises
PQFError instead. Two YAZ quirks are deliberately not copied: an attribute without a set name does
not inherit the set of the `@attr` before it, and `@term` does not leak into later sibling terms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from unishelf.z3950.rpn import (
    BIB1_OID,
    Attribute,
    AttributesPlusTerm,
    Operand,
    Operation,
    Proximity,
    ResultSetId,
    RPNQuery,
)

_ATTSET_ARC = "1.2.840.10003.3."
# YAZ's attribute-set names (src/oid.csv); the first name of an OID is the one format_pqf writes.
ATTRIBUTE_SETS: dict[str, str] = {
    "Bib-1": BIB1_OID,
    "Exp-1": _ATTSET_ARC + "2",
    "Ext-1": _ATTSET_ARC + "3",
    "CCL-1": _ATTSET_ARC + "4",
    "GILS": _ATTSET_ARC + "5",
    "GILS-attset": _ATTSET_ARC + "5",
    "STAS-attset": _ATTSET_ARC + "6",
    "Collections-attset": _ATTSET_ARC + "7",
    "CIMI-attset": _ATTSET_ARC + "8",
    "Geo-attset": _ATTSET_ARC + "9",
    "ZBIG": _ATTSET_ARC + "10",
    "Util": _ATTSET_ARC + "11",
    "XD-1": _ATTSET_ARC + "12",
    "Zthes": _ATTSET_ARC + "13",
    "Fin-1": _ATTSET_ARC + "14",
    "Dan-1": _ATTSET_ARC + "15",
    "Holdings": _ATTSET_ARC + "16",
    "MARC": _ATTSET_ARC + "17",
    "Bib-2": _ATTSET_ARC + "18",
    "ZeeRex": _ATTSET_ARC + "19",
    "Thesaurus-attset": _ATTSET_ARC + "1000.81.1",
    "IDXPATH": _ATTSET_ARC + "1000.81.2",
    "EXTLITE": _ATTSET_ARC + "1000.81.3",
}


def _set_name_key(name: str) -> str:
    """YAZ matches OID names ignoring case and hyphens: 'bib1', 'BIB-1' and 'Bib-1' are one set."""
    return name.lower().replace("-", "")


_ATTRIBUTE_SET_BY_KEY = {_set_name_key(name): oid for name, oid in ATTRIBUTE_SETS.items()}
_ATTRIBUTE_SET_NAME = {oid: name for name, oid in reversed(ATTRIBUTE_SETS.items())}

# PQF's @term names and the Z39.50 Term CHOICE each selects.
_TERM_TYPES = {
    "general": "general",
    "numeric": "numeric",
    "string": "characterString",
    "oid": "oid",
    "datetime": "dateTime",
    "null": "null",
}
_TERM_TYPE_NAMES = {term_type: name for name, term_type in _TERM_TYPES.items()}
_OPERATIONS = {"and": "and", "or": "or", "not": "and-not", "prox": "prox"}
_OPERATOR_WORDS = {op: "@" + name for name, op in _OPERATIONS.items()}
_OPERATOR_NAMES = {*_OPERATIONS, "attr", "attrset", "set", "term"}
_WHICH_CODES = {"k": "known", "known": "known", "1": "known",
                "p": "private", "private": "private", "2": "private"}
_FLAGS = {"0": False, "1": True}

_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]+")
_DOTTED_OID = re.compile(r"[0-9]+(?:\.[0-9]+)+")
# One token: a "quoted" or {braced} string, an opening quote never closed, or a bare word, where a
# backslash escapes the next character (so `a\ b` is one word). Whitespace between is skipped by
# finditer's search, as nothing else matches it.
_TOKEN = re.compile(
    r'"(?P<quoted>[^"\\]*(?:\\.[^"\\]*)*)"'
    r"|\{(?P<braced>[^}\\]*(?:\\.[^}\\]*)*)\}"
    r'|(?P<unclosed>["{])'
    r"|(?P<word>(?:[^ \t\n\r\f\v\\]+|\\.?)+)",
    re.DOTALL,
)
# A run of byte escapes (decoded together, so \xc3\xa9 is one UTF-8 character), or one \c escape.
_ESCAPE = re.compile(r"((?:\\(?:x[0-9A-Fa-f]{2}|[0-3][0-7]{2}))+)|\\(.)", re.DOTALL)
_CONTROL_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
# What format_pqf may write unquoted: nothing the tokenizer would read differently.
_BARE_WORD = re.compile(r'[^\s"{\\@\x00-\x1f\x7f][^\s"{\\\x00-\x1f\x7f]*')
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')
_ESCAPE_FOR = {'"': '\\"', "\\": "\\\\",
               **{char: "\\" + letter for letter, char in _CONTROL_ESCAPES.items()}}


class PQFError(ValueError):
    """Malformed PQF text; `offset` is the character offset in the text where the fault lies."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} (at offset {offset})")
        self.offset = offset


class _Token(NamedTuple):
    text: str  # unescaped string, or an operator's name without the '@'
    offset: int
    is_operator: bool

    def describe(self) -> str:
        return "@" + self.text if self.is_operator else repr(self.text)


def _decode_escapes(match: re.Match) -> str:
    byte_escapes, escaped_char = match.groups()
    if escaped_char is not None:
        return _CONTROL_ESCAPES.get(escaped_char, escaped_char)
    data = bytes(int(escape[1:], 16) if escape[0] == "x" else int(escape, 8)
                 for escape in byte_escapes[1:].split("\\"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(_decode_escapes, text) if "\\" in text else text


def _tokenize(text: str) -> list[_Token]:
    """Split PQF text into tokens in one regex scan; only an unquoted word may be an operator."""
    tokens = []
    for match in _TOKEN.finditer(text):
        kind, offset = match.lastgroup, match.start()
        if kind == "unclosed":
            closer = '"' if match.group() == '"' else "}"
            raise PQFError(f"unterminated {match.group()}...{closer} string", offset)
        raw = match.group(kind)
        if kind == "word" and raw.startswith("@"):
            if raw[1:] not in _OPERATOR_NAMES:
                raise PQFError(f"unknown operator {raw!r}; write a term that starts with @ "
                               f"as \"{raw}\" or \\{raw}", offset)
            tokens.append(_Token(raw[1:], offset, True))
        else:
            tokens.append(_Token(_unescape(raw), offset, False))
    return tokens


def _resolve_attribute_set(token: _Token) -> str:
    """An attribute-set name or dotted OID as the dotted OID the RPN classes hold."""
    oid = _ATTRIBUTE_SET_BY_KEY.get(_set_name_key(token.text))
    if oid is not None:
        return oid
    if _DOTTED_OID.fullmatch(token.text):
        return ".".join(str(int(arc)) for arc in token.text.split("."))
    raise PQFError(f"unknown attribute set {token.text!r}", token.offset)


@dataclass(slots=True)
class _OpenOperation:
    """An operator whose operands are still being read, with the scope its operands inherit."""

    operator: _Token
    proximity: Proximity | None
    attributes: tuple[Attribute, ...]
    term_type: str
    left: Operand | None = None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0

    def _next(self) -> _Token | None:
        if self.position == len(self.tokens):
            return None
        token = self.tokens[self.position]
        self.position += 1
        return token

    def _argument(self, operator: _Token, expected: str) -> _Token:
        """The string token an operator needs next; an operator or the end there is an error."""
        token = self._next()
        if token is None:
            raise PQFError(f"@{operator.text} expects {expected}, found the end of the query",
                           len(self.text))
        if token.is_operator:
            raise PQFError(f"@{operator.text} expects {expected}, found {token.describe()}",
                           token.offset)
        return token

    def parse(self) -> RPNQuery:
        if not self.tokens:
            raise PQFError("empty query", 0)
        attribute_set = BIB1_OID
        first = self.tokens[0]
        if first.is_operator and first.text == "attrset":
            self.position = 1
            attribute_set = _resolve_attribute_set(self._argument(first, "an attribute-set name"))
        root = self._operand()
        extra = self._next()
        if extra is not None:
            raise PQFError(f"unexpected {extra.describe()} after the end of the query", extra.offset)
        return RPNQuery(attribute_set, root)

    def _operand(self) -> Operand:
        """One query structure, read with an explicit stack so deep nesting cannot overflow."""
        open_operations: list[_OpenOperation] = []
        attributes: tuple[Attribute, ...] = ()
        term_type = "general"
        while True:
            token = self._next()
            if token is None:
                raise self._missing_operand(open_operations)
            if not token.is_operator:
                operand = AttributesPlusTerm(attributes, self._term_text(token, term_type), term_type)
            elif token.text == "attr":
                attribute = self._attribute(token)
                attributes = tuple(a for a in attributes if a.type != attribute.type) + (attribute,)
                continue
            elif token.text == "term":
                term_type = self._term_type(token)
                continue
            elif token.text == "set":
                operand = ResultSetId(self._argument(token, "a result-set name").text)
            elif token.text == "attrset":
                raise PQFError("@attrset is allowed only at the start of the query", token.offset)
            else:
                proximity = self._proximity(token) if token.text == "prox" else None
                open_operations.append(_OpenOperation(token, proximity, attributes, term_type))
                continue
            while open_operations and open_operations[-1].left is not None:
                done = open_operations.pop()
                operand = Operation(_OPERATIONS[done.operator.text], done.left, operand, done.proximity)
            if not open_operations:
                return operand
            open_operations[-1].left = operand
            attributes, term_type = open_operations[-1].attributes, open_operations[-1].term_type

    def _missing_operand(self, open_operations: list[_OpenOperation]) -> PQFError:
        if not open_operations:
            return PQFError("the query ends where a term, @set or operator was expected", len(self.text))
        innermost = open_operations[-1]
        which = "first" if innermost.left is None else "second"
        return PQFError(f"@{innermost.operator.text} at offset {innermost.operator.offset} "
                        f"is missing its {which} operand", len(self.text))

    def _term_text(self, token: _Token, term_type: str) -> str:
        if term_type == "numeric" and not _INTEGER.fullmatch(token.text):
            raise PQFError(f"@term numeric needs an integer term, found {token.text!r}", token.offset)
        return token.text

    def _attribute(self, operator: _Token) -> Attribute:
        """`@attr [SET] TYPE=VALUE`: VALUE all digits is numeric, anything else a string (as YAZ)."""
        spec = self._argument(operator, "[SET] TYPE=VALUE")
        attribute_set = None
        if "=" not in spec.text:
            set_token = spec
            spec = self._argument(operator, f"TYPE=VALUE after {set_token.text!r}")
            if "=" not in spec.text:
                raise PQFError(f"@attr expects [SET] TYPE=VALUE, found {set_token.text!r} "
                               f"followed by {spec.text!r}", set_token.offset)
            attribute_set = _resolve_attribute_set(set_token)
        type_text, _, value_text = spec.text.partition("=")
        if not _DIGITS.fullmatch(type_text):
            raise PQFError(f"attribute type must be a number, found {type_text!r}", spec.offset)
        if not value_text:
            raise PQFError(f"attribute {type_text}= has no value", spec.offset)
        value = int(value_text) if _DIGITS.fullmatch(value_text) else value_text
        return Attribute(int(type_text), value, attribute_set)

    def _term_type(self, operator: _Token) -> str:
        names = ", ".join(_TERM_TYPES)
        token = self._argument(operator, f"a term type ({names})")
        if token.text not in _TERM_TYPES:
            raise PQFError(f"unknown term type {token.text!r}; expected one of {names}", token.offset)
        return _TERM_TYPES[token.text]

    def _proximity(self, operator: _Token) -> Proximity:
        """The six @prox arguments: EXCLUSION DISTANCE ORDERED RELATION WHICH-CODE UNIT."""
        def lookup(expected: str, choices: dict):
            token = self._argument(operator, expected)
            if token.text not in choices:
                raise PQFError(f"@prox expects {expected}, found {token.text!r}", token.offset)
            return choices[token.text]

        def number(expected: str) -> int:
            token = self._argument(operator, expected)
            if not _DIGITS.fullmatch(token.text):
                raise PQFError(f"@prox expects {expected}, found {token.text!r}", token.offset)
            return int(token.text)

        return Proximity(
            exclusion=lookup("exclusion 0 or 1", _FLAGS),
            distance=number("a distance (number)"),
            ordered=lookup("ordered 0 or 1", _FLAGS),
            relation=number("a relation (number)"),
            which_code=lookup("which-code k(nown) or p(rivate)", _WHICH_CODES),
            unit=number("a unit (number)"),
        )


def parse_pqf(text: str) -> RPNQuery:
    """Parse PQF text into an RPNQuery; raises PQFError naming the fault and its offset."""
    return _Parser(text).parse()


def _quote(text: str) -> str:
    """Text as one PQF string token: bare if the tokenizer reads it back unchanged, else quoted."""
    if _BARE_WORD.fullmatch(text):
        return text
    escaped = _NEEDS_ESCAPE.sub(lambda m: _ESCAPE_FOR.get(m.group(), f"\\x{ord(m.group()):02x}"), text)
    return f'"{escaped}"'


def _attribute_set_text(oid: str) -> str:
    if oid in _ATTRIBUTE_SET_NAME:
        return _ATTRIBUTE_SET_NAME[oid]
    if not _DOTTED_OID.fullmatch(oid):
        raise ValueError(f"attribute set {oid!r} is not a dotted OID")
    return oid


def _attribute_words(attribute: Attribute) -> list[str]:
    value = attribute.value
    if isinstance(value, str) and (not value or _DIGITS.fullmatch(value)):
        raise ValueError(f"PQF cannot write the string attribute value {value!r}: "
                         "it would read back as a number or as missing")
    if isinstance(value, int) and value < 0 or attribute.type < 0:
        raise ValueError(f"PQF cannot write negative numbers in {attribute!r}: "
                         "a value would read back as a string, a type not at all")
    words = ["@attr"]
    if attribute.attribute_set is not None:
        words.append(_quote(_attribute_set_text(attribute.attribute_set)))
    words.append(_quote(f"{attribute.type}={value}"))
    return words


def _term_words(operand: AttributesPlusTerm) -> list[str]:
    types = [attribute.type for attribute in operand.attributes]
    if len(set(types)) != len(types):
        raise ValueError(f"PQF cannot write two attributes of one type on a term: {operand!r}")
    words = [word for attribute in operand.attributes for word in _attribute_words(attribute)]
    if operand.term_type != "general":
        if operand.term_type not in _TERM_TYPE_NAMES:
            raise ValueError(f"PQF has no @term for term type {operand.term_type!r}")
        words += ["@term", _TERM_TYPE_NAMES[operand.term_type]]
    words.append(_quote(operand.term))
    return words


def _operator_word(operation: Operation) -> str:
    if (operation.op == "prox") != (operation.proximity is not None):
        raise ValueError(f"operation {operation.op!r} with proximity {operation.proximity!r}")
    if operation.op not in _OPERATOR_WORDS:
        raise ValueError(f"PQF has no operator for {operation.op!r}")
    if operation.op != "prox":
        return _OPERATOR_WORDS[operation.op]
    proximity = operation.proximity
    which = {"known": "k", "private": "p"}.get(proximity.which_code)
    if which is None:
        raise ValueError(f"unknown proximity which_code {proximity.which_code!r}")
    return (f"@prox {int(proximity.exclusion)} {proximity.distance} {int(proximity.ordered)} "
            f"{proximity.relation} {which} {proximity.unit}")


def format_pqf(query: RPNQuery | Operand) -> str:
    """Canonical PQF for a query or operand, so parse_pqf(format_pqf(q)) == q.

    Each term carries its own @attr and @term; @attrset is written only when not Bib-1. Raises
    ValueError for what PQF cannot say: two attributes of one type on a term (YAZ keeps the
    last), a string attribute value of digits or nothing, a negative numeric one, an unknown
    operator, term type, which-code or attribute-set form.
    """
    words = []
    root = query
    if isinstance(query, RPNQuery):
        root = query.root
        if query.attribute_set != BIB1_OID:
            words += ["@attrset", _quote(_attribute_set_text(query.attribute_set))]
    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, Operation):
            words.append(_operator_word(node))
            pending += (node.right, node.left)
        elif isinstance(node, ResultSetId):
            words += ["@set", _quote(node.name)]
        elif isinstance(node, AttributesPlusTerm):
            words += _term_words(node)
        else:
            raise TypeError(f"not an RPN operand: {node!r}")
    return " ".join(words)
