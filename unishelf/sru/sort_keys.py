"""The sortKeys parameter (SRU 1.1 and 2.0) as the CQL sortBy keys it means.

Each key is `path,schema,ascending,caseSensitive,missingValue`, keys separated by spaces, only
the path required. The path is a CQL index name (`dc.title`); the keys then go through the same
CQL mapping as a query's sortBy. What the engine cannot honour is diagnosed as SRU says: a
case-sensitive sort (91), a missing value other than lowest (92), an unknown schema (87).
"""
from __future__ import annotations

from . import cql
from .diagnostics import SRUDiagnostic
from .record_schemas import record_schema

MISSING_VALUES = ("", "lowValue")   # a record without the key sorts as lowest


def parse_sort_keys(text: str) -> tuple[cql.SortKey, ...]:
    return tuple(_sort_key(key) for key in text.split())


def _sort_key(key: str) -> cql.SortKey:
    path, schema, ascending, case_sensitive, missing, *rest = key.split(",") + [""] * 4
    if not path or any(rest):
        raise SRUDiagnostic(6, "sortKeys", f"{key!r} is not path,schema,ascending,caseSensitive,missingValue")
    if schema:
        try:
            record_schema(schema)
        except SRUDiagnostic:
            raise SRUDiagnostic(87, schema) from None
    if ascending not in ("", "0", "1"):
        raise SRUDiagnostic(90, ascending)
    if case_sensitive not in ("", "0"):
        raise SRUDiagnostic(91, case_sensitive)
    if missing not in MISSING_VALUES:
        raise SRUDiagnostic(92, missing)
    prefix, dot, base = path.partition(".")
    name = cql.Name(prefix, base) if dot else cql.Name(None, path)
    direction = cql.Name(None, "descending" if ascending == "0" else "ascending")
    return cql.SortKey(name, (cql.Modifier(direction),))
