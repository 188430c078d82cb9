"""Explain records (Z39.50-2003 RecordSyntax-explain, record syntax 1.2.840.10003.5.100).

Each function turns one small dataclass into the BER of an Explain-Record CHOICE alternative,
ready for `explain_external`, which wraps it the way a Present response carries records. Only
the four kinds of record the server publishes are modelled:

    targetInfo [0], databaseInfo [1], recordSyntaxInfo [4], attributeDetails [8]

Every field the ASN.1 marks mandatory is written (TargetInfo namedResultSets and
multipleDBsearch, DatabaseInfo user-fee and available, ...); commonInfo, OPTIONAL everywhere, is
left out. Nearly all fields of the module are IMPLICIT context tags; the exceptions are the
untagged-CHOICE-typed ones (DatabaseInfo recordCount, AttributeValue value: StringOrNumeric),
whose tags are necessarily EXPLICIT, i.e. wrap the chosen alternative's own tag.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from unishelf.ber import SINGLE_ASN1_TYPE, External, decode, oid_content, tlv
from unishelf.ber import context_boolean as _bool
from unishelf.ber import context_constructed as _cons
from unishelf.ber import context_integer as _int
from unishelf.ber import context_primitive as _prim
from unishelf.ber import context_string as _text

EXPLAIN_OID = "1.2.840.10003.5.100"

# Explain-Record CHOICE alternatives ([n] IMPLICIT <type>).
TARGET_INFO, DATABASE_INFO, RECORD_SYNTAX_INFO, ATTRIBUTE_DETAILS = 0, 1, 4, 8
USE_TYPE = 1  # the Use attribute type, the only one AttributeDetails describes here


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetInfo:
    name: str
    recent_news: str | None = None
    max_result_sets: int | None = None
    max_result_size: int | None = None
    named_result_sets: bool = True
    multiple_db_search: bool = True
    description: str | None = None


@dataclass(frozen=True)
class DatabaseInfo:
    name: str
    title: str | None = None
    description: str | None = None
    record_count: int | None = None  # sent as recordCount actualNumber
    available: bool = True
    user_fee: bool = False  # mandatory in the ASN.1
    explain_database: bool = False  # set for IR-Explain-1 itself


@dataclass(frozen=True)
class AttributeDetails:
    """The Use attributes of one attribute set a database supports.

    `use_attributes` holds (value, description): an int value is sent as numeric, a str as string.
    """

    database: str
    attribute_set_oid: str
    use_attributes: list[tuple[int | str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordSyntaxInfo:
    oid: str
    name: str
    description: str | None = None


# ---------------------------------------------------------------------------------------------
# Encoding helpers (context tags; cf. apdu.py)
# ---------------------------------------------------------------------------------------------







def _oid(number: int, value: str) -> bytes:
    return _prim(number, oid_content(value))


def _null(number: int) -> bytes:
    return _prim(number, b"")


def _seq(content: bytes) -> bytes:
    return tlv(b"\x30", content)


def _human(number: int, text: str, language: str | None = None) -> bytes:
    """[number] IMPLICIT HumanString, one text: SEQUENCE OF SEQUENCE {language [0], text [1]}."""
    language_bytes = b"" if language is None else _text(0, language)
    return _cons(number, _seq(language_bytes + _text(1, text)))


def _opt(encoder, number: int, value) -> bytes:
    return b"" if value is None else encoder(number, value)


def _string_or_numeric(value: int | str) -> bytes:
    """StringOrNumeric CHOICE: string [1] IMPLICIT InternationalString, numeric [2] INTEGER."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"StringOrNumeric must be int or str, not {value!r}")
    return _int(2, value) if isinstance(value, int) else _text(1, value)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def target_info(info: TargetInfo) -> bytes:
    """Explain-Record targetInfo [0] IMPLICIT TargetInfo."""
    return _cons(TARGET_INFO, (
        _text(1, info.name)                                    # name
        + _opt(_human, 2, info.recent_news)                    # recent-news
        + _bool(4, info.named_result_sets)                     # namedResultSets
        + _bool(5, info.multiple_db_search)                    # multipleDBsearch
        + _opt(_int, 6, info.max_result_sets)                  # maxResultSets
        + _opt(_int, 7, info.max_result_size)                  # maxResultSize
        + _opt(_human, 12, info.description)))                 # description


def database_info(info: DatabaseInfo) -> bytes:
    """Explain-Record databaseInfo [1] IMPLICIT DatabaseInfo."""
    count = b"" if info.record_count is None else _cons(14, _int(0, info.record_count))
    return _cons(DATABASE_INFO, (
        _text(1, info.name)                                    # name (DatabaseName)
        + (_null(2) if info.explain_database else b"")         # explainDatabase
        + _bool(5, info.user_fee)                              # user-fee
        + _bool(6, info.available)                             # available
        + _opt(_human, 7, info.title)                          # titleString
        + _opt(_human, 9, info.description)                    # description
        + count))                                              # recordCount: actualNumber


def record_syntax_info(info: RecordSyntaxInfo) -> bytes:
    """Explain-Record recordSyntaxInfo [4] IMPLICIT RecordSyntaxInfo."""
    return _cons(RECORD_SYNTAX_INFO, (
        _oid(1, info.oid)                                      # recordSyntax
        + _text(2, info.name)                                  # name
        + _opt(_human, 4, info.description)))                  # description


def _attribute_value(value: int | str, description: str | None) -> bytes:
    """AttributeValue: value [0] StringOrNumeric (EXPLICIT: a CHOICE), description [1]."""
    return _seq(_cons(0, _string_or_numeric(value)) + _opt(_human, 1, description))


def attribute_details(info: AttributeDetails) -> bytes:
    """Explain-Record attributeDetails [8] IMPLICIT AttributeDetails.

    One AttributeSetDetails (the given set) with one AttributeTypeDetails (Use, type 1) listing
    the use attributes as AttributeValues.
    """
    values = b"".join(_attribute_value(value, description)
                      for value, description in info.use_attributes)
    type_details = _seq(_int(0, USE_TYPE) + _cons(2, values))   # attributeType, attributeValues
    set_details = _seq(_oid(0, info.attribute_set_oid)          # attributeSet
                       + _cons(1, type_details))                # attributesByType
    return _cons(ATTRIBUTE_DETAILS, (
        _text(1, info.database)                                # databaseName
        + _cons(2, set_details)))                              # attributesBySet


def explain_external(record: bytes) -> External:
    """An Explain-Record as a retrieval record: single-ASN1-type EXTERNAL, OID ...5.100."""
    return External(EXPLAIN_OID, SINGLE_ASN1_TYPE, decode(record))
