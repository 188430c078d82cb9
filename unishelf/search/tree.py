"""The one query tree that Z39.50 RPN, CQL and the command line all become.

The engine evaluates it against the store; protocol front ends only translate into it and turn
`QueryError`s into their own diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass

RELATIONS = ("<", "<=", "=", ">=", ">", "<>")
STRUCTURES = ("word", "phrase", "words", "any-words", "field")
TRUNCATIONS = ("none", "right", "left", "both", "masked")


class QueryError(ValueError):
    """The query asks for something the engine cannot do; `code` names what (see below)."""

    # codes: unsupported-index, unsupported-relation, unsupported-structure,
    # unsupported-truncation, bad-term, no-result-set, too-many-terms
    def __init__(self, code: str, message: str, subject: str = ""):
        super().__init__(message)
        self.code = code
        self.subject = subject


@dataclass(frozen=True)
class Term:
    """A search term on one access point.

    structure: word (one token; several tokens are read as a phrase), phrase (tokens adjacent
    in one field), words (all tokens, anywhere), any-words (at least one token, ranked), field
    (the whole field value). relation compares in the index order (dates and numbers by value).
    `*` and `?` in a masked term stand for any characters and for one character.
    """

    index: str
    text: str
    relation: str = "="
    structure: str = "word"
    truncation: str = "none"
    first_in_field: bool = False
    ranked: bool = False


@dataclass(frozen=True)
class Range:
    """index value between low and high, both inclusive (dates, numbers)."""

    index: str
    low: str
    high: str


@dataclass(frozen=True)
class And:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Or:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Not:
    """Records of left that are not in right (AND-NOT)."""

    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Prox:
    """Both sides in one field of the same access point, within `distance` words."""

    left: "Node"
    right: "Node"
    distance: int = 1
    ordered: bool = True
    exclusion: bool = False


@dataclass(frozen=True)
class ResultSetRef:
    name: str


@dataclass(frozen=True)
class AllRecords:
    """Every record of the databases searched (CQL's cql.allRecords; Not(AllRecords(), x) is NOT x)."""


@dataclass(frozen=True)
class RecordIds:
    """Records by their store number (CQL's rec.id; SRU and OAI-PMH show these numbers)."""

    ids: tuple[int, ...]


Node = Term | Range | And | Or | Not | Prox | ResultSetRef | AllRecords | RecordIds
