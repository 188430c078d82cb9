"""The IR-Explain-1 database: what clients learn about this server before they search it.

Its records are made from the configuration and the store (databases with their record counts,
the Bib-1 access points, the record syntaxes) each time it is searched, so they never go stale.
Queries use the Exp-1 attribute set: use 1 (ExplainCategory) and 3 (DatabaseName), combined
with AND, OR and AND-NOT.
"""
from __future__ import annotations

from dataclasses import dataclass

from unishelf.z3950.rpn import AttributesPlusTerm, Operation, RPNQuery

from . import explain

EXPLAIN_DATABASE = "IR-Explain-1"
EXP1_OID = "1.2.840.10003.3.2"
BIB1_OID = "1.2.840.10003.3.1"
USE_CATEGORY, USE_DATABASE = 1, 3
RECORD_SYNTAXES = [
    ("1.2.840.10003.5.10", "USMARC", "MARC21 bibliographic records (ISO 2709, UTF-8)"),
    ("1.2.840.10003.5.1", "UNIMARC", "UNIMARC and CNMARC records as loaded"),
    ("1.2.840.10003.5.109.10", "XML", "MARCXML (MARC21 slim)"),
    ("1.2.840.10003.5.101", "SUTRS", "a readable brief record with holdings"),
    ("1.2.840.10003.5.102", "OPAC", "the record with every member library's holdings"),
]


class ExplainQueryError(ValueError):
    """The query uses something IR-Explain-1 does not index; `condition` is the Bib-1 diagnostic."""

    def __init__(self, condition: int, addinfo: str):
        super().__init__(addinfo)
        self.condition = condition
        self.addinfo = addinfo


@dataclass(frozen=True)
class ExplainEntry:
    category: str   # TargetInfo, DatabaseInfo, AttributeDetails, RecordSyntaxInfo
    database: str   # the database it describes ("" for the target and record syntaxes)
    record: bytes   # the ExplainRecord, BER


def explain_entries(catalog) -> list[ExplainEntry]:
    config = catalog.config
    engine = catalog.engine
    entries = [ExplainEntry("TargetInfo", "", explain.target_info(explain.TargetInfo(
        name="unishelf union catalogue",
        description="Union catalogue of the member libraries, with their holdings",
        max_result_sets=config.limit("result_sets"),
        max_result_size=config.limit("result_set_records"))))]
    uses = [(number, name) for number, name in catalog.bib1.use.items()]
    for name, database in engine.databases.items():
        title = f"Holdings of member library {name}" if database.library else (
            "Union catalogue" if database.kind == "bib" else "Authority records")
        entries.append(ExplainEntry("DatabaseInfo", name, explain.database_info(explain.DatabaseInfo(
            name=name, title=title, description=title, record_count=engine.count(name)))))
        entries.append(ExplainEntry("AttributeDetails", name, explain.attribute_details(explain.AttributeDetails(
            database=name, attribute_set_oid=BIB1_OID,
            use_attributes=[(int(n) if n.isdigit() else n, point) for n, point in uses]))))
    for oid, name, description in RECORD_SYNTAXES:
        entries.append(ExplainEntry("RecordSyntaxInfo", "", explain.record_syntax_info(
            explain.RecordSyntaxInfo(oid=oid, name=name, description=description))))
    return entries


def search_explain(query: RPNQuery, entries: list[ExplainEntry]) -> list[ExplainEntry]:
    """The entries the query selects, in database order."""
    if query.attribute_set not in (EXP1_OID, BIB1_OID):
        raise ExplainQueryError(121, query.attribute_set)
    chosen = _evaluate(query.root, entries)
    return [entry for entry in entries if id(entry) in chosen]


def _evaluate(operand, entries) -> set[int]:
    if isinstance(operand, Operation):
        left, right = _evaluate(operand.left, entries), _evaluate(operand.right, entries)
        if operand.op == "and":
            return left & right
        if operand.op == "or":
            return left | right
        if operand.op == "and-not":
            return left - right
        raise ExplainQueryError(110, operand.op)
    if not isinstance(operand, AttributesPlusTerm):
        raise ExplainQueryError(18, "result sets cannot be combined with IR-Explain-1")
    use = operand.get(1)
    term = operand.term.strip().lower()
    if use in (USE_CATEGORY, None):
        return {id(e) for e in entries if e.category.lower() == term}
    if use == USE_DATABASE:
        return {id(e) for e in entries if e.database.lower() == term}
    raise ExplainQueryError(114, str(use))
