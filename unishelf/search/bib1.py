"""Bib-1 RPN (Z39.50-2003 Annex 3 attributes) to the query tree.

Use attributes map to access points through `config/bib1.yaml`; an access point's own name is
also accepted as a string use attribute (`@attr 1=title`), as Zebra accepts index names. What
cannot be honoured raises QueryError with a code that `DIAGNOSTICS` turns into the Bib-1
diagnostic a Z39.50 client expects.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from unishelf.z3950.rpn import BIB1_OID, AttributesPlusTerm, Operation, ResultSetId, RPNQuery

from .tree import And, Node, Not, Or, Prox, QueryError, ResultSetRef, Term

# QueryError code -> Bib-1 diagnostic (Z39.50-2003 Appendix 4, bib-1 diagnostic set).
DIAGNOSTICS = {
    "unsupported-attribute-type": 113,
    "unsupported-index": 114,
    "unsupported-use": 114,
    "unsupported-relation": 117,
    "unsupported-structure": 118,
    "unsupported-position": 119,
    "unsupported-truncation": 120,
    "unsupported-attribute-set": 121,
    "unsupported-completeness": 122,
    "unsupported-attribute-combination": 123,
    "unsupported-prox": 132,
    "no-result-set": 30,
    "result-set-exists": 21,
    "too-many-result-sets": 112,
    "present-out-of-range": 13,
    "bad-term": 108,
    "unsupported-database": 109,
    "unsupported-sort": 207,
    "unsupported-operator": 110,
}
RELATIONS = {1: "<", 2: "<=", 3: "=", 4: ">=", 5: ">", 6: "<>"}
STRUCTURES = {1: "phrase", 2: "word", 3: "field", 4: "word", 5: "word", 6: "words", 100: "word",
              101: "phrase", 102: "phrase", 104: "field", 105: "words", 106: "words",
              107: "field", 108: "field", 109: "word"}
TRUNCATIONS = {1: "right", 2: "left", 3: "both", 100: "none", 101: "masked", 104: "masked"}
KNOWN_TYPES = {1, 2, 3, 4, 5, 6}


class Bib1Mapping:
    def __init__(self, use: dict, access_points):
        self.use = {str(k): v for k, v in use.items()}
        self.access_points = access_points

    @classmethod
    def from_file(cls, path: str | Path, access_points) -> "Bib1Mapping":
        with open(path, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle)["use"], access_points)

    def to_tree(self, query: RPNQuery) -> Node:
        if query.attribute_set != BIB1_OID:
            raise QueryError("unsupported-attribute-set", "only Bib-1 is supported", query.attribute_set)
        return self.node(query.root)

    def node(self, operand) -> Node:
        if isinstance(operand, ResultSetId):
            return ResultSetRef(operand.name)
        if isinstance(operand, Operation):
            left, right = self.node(operand.left), self.node(operand.right)
            if operand.op == "and":
                return And(left, right)
            if operand.op == "or":
                return Or(left, right)
            if operand.op == "and-not":
                return Not(left, right)
            proximity = operand.proximity
            if proximity.unit != 2 or proximity.which_code != "known" or proximity.relation not in (2, 3):
                raise QueryError("unsupported-prox", "proximity in words with relation <= is supported")
            return Prox(left, right, proximity.distance, proximity.ordered, proximity.exclusion)
        return self.term(operand)

    def term(self, apt: AttributesPlusTerm) -> Term:
        for attribute in apt.attributes:
            if attribute.attribute_set not in (None, BIB1_OID):
                raise QueryError("unsupported-attribute-set", "only Bib-1 attributes are supported",
                                 attribute.attribute_set)
            if attribute.type not in KNOWN_TYPES:
                raise QueryError("unsupported-attribute-type", f"attribute type {attribute.type}",
                                 str(attribute.type))
        use = apt.get(1)
        index = "any" if use is None else self.use.get(str(use), use if isinstance(use, str) else None)
        if index is None or index not in self.access_points:
            raise QueryError("unsupported-use", f"use attribute {use} is not indexed", str(use))
        relation_value = 3 if apt.get(2) is None else apt.get(2)
        ranked = relation_value == 102
        relation = "=" if ranked else RELATIONS.get(relation_value)
        if relation is None:
            raise QueryError("unsupported-relation", f"relation {relation_value}", str(relation_value))
        position = 3 if apt.get(3) is None else apt.get(3)
        if position not in (1, 2, 3):
            raise QueryError("unsupported-position", f"position {position}", str(position))
        structure_value = apt.get(4)
        structure = "phrase" if structure_value is None else STRUCTURES.get(structure_value)
        if structure is None:
            raise QueryError("unsupported-structure", f"structure {structure_value}", str(structure_value))
        truncation_value = 100 if apt.get(5) is None else apt.get(5)
        truncation = TRUNCATIONS.get(truncation_value)
        if truncation is None:
            raise QueryError("unsupported-truncation", f"truncation {truncation_value}", str(truncation_value))
        completeness = 1 if apt.get(6) is None else apt.get(6)
        if completeness not in (1, 2, 3):
            raise QueryError("unsupported-completeness", f"completeness {completeness}", str(completeness))
        if completeness in (2, 3):
            structure = "field"
        text = apt.term
        if truncation == "masked":
            # 101: '#' masks any run of characters; 104 (Z39.58): '?' any run, '#' one character.
            text = text.replace("#", "*") if truncation_value == 101 else text.replace("?", "*").replace("#", "?")
        if ranked and structure in ("phrase", "word"):
            structure = "any-words"
        return Term(index, text, relation, structure, truncation, first_in_field=position in (1, 2),
                    ranked=ranked)
