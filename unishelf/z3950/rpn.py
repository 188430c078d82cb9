"""The Type-1 (RPN) query of Z39.50, as plain data.

PQF text (`pqf.py`) and, later, the BER decoder of the Search APDU both produce these objects;
`unishelf.search.bib1` turns them into the engine's query tree. Keeping the RPN form separate
from the query tree lets Z39.50 diagnostics name the attribute that was refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field

BIB1_OID = "1.2.840.10003.3.1"


@dataclass(frozen=True)
class Attribute:
    """One AttributeElement: type=value, value numeric or a string (complex attributes)."""

    type: int
    value: int | str
    attribute_set: str | None = None  # OID as dotted string; None = the query's default set


@dataclass(frozen=True)
class AttributesPlusTerm:
    attributes: tuple[Attribute, ...]
    term: str
    term_type: str = "general"  # general, numeric, characterString, ...

    def get(self, attr_type: int) -> int | str | None:
        """The value of the first attribute of this type, or None."""
        for attribute in self.attributes:
            if attribute.type == attr_type:
                return attribute.value
        return None


@dataclass(frozen=True)
class ResultSetId:
    name: str


@dataclass(frozen=True)
class Proximity:
    exclusion: bool = False
    distance: int = 1
    ordered: bool = True
    relation: int = 2  # 1 <, 2 <=, 3 =, 4 >=, 5 >, 6 !=
    which_code: str = "known"  # known | private
    unit: int = 2  # known units: 1 character, 2 word, 3 sentence, 4 paragraph, 5 section, ...


@dataclass(frozen=True)
class Operation:
    """A binary RPN operator: op is 'and', 'or', 'and-not' or 'prox'."""

    op: str
    left: "Operand"
    right: "Operand"
    proximity: Proximity | None = None


Operand = AttributesPlusTerm | ResultSetId | Operation


@dataclass(frozen=True)
class RPNQuery:
    attribute_set: str
    root: Operand
    extra: dict = field(default_factory=dict, compare=False)
