"""SRU's side of the record schemas (`unishelf/search/record_schemas.py`): their diagnostics.

An unknown recordSchema is diagnostic 66; a record its schema cannot carry (UNIMARC as MARCXML)
is a surrogate diagnostic 67 in its place, and the other records still come.
"""
from __future__ import annotations

from unishelf.marc.store import Reader, StoredRecord
from unishelf.search.record_schemas import RecordSchema, find_record_schema

from .diagnostics import SRUDiagnostic

DIAGNOSTIC_RECORD_SCHEMA = "info:srw/schema/1/diagnostics-v1.1"  # a surrogate diagnostic's recordSchema
UNKNOWN_SCHEMA = 66
NOT_IN_SCHEMA = 67


def record_schema(name: str) -> RecordSchema:
    """The schema `name` names (see `find_record_schema`); else SRU diagnostic 66."""
    schema = find_record_schema(name)
    if schema is None:
        raise SRUDiagnostic(UNKNOWN_SCHEMA, name)
    return schema


def schema_record(schema: RecordSchema, stored: StoredRecord, reader: Reader) -> str:
    """The record as XML text in the schema; SRUDiagnostic 67 where its syntax cannot go."""
    if reason := schema.unavailable(stored):
        raise SRUDiagnostic(NOT_IN_SCHEMA, reason)
    return schema.render(stored, reader)
