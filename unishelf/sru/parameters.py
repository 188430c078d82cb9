"""SRU request parameters (GET query string or POST form) to a checked `Request`, sans-I/O.

The version comes from the `version` parameter (1.1, 1.2 or 2.0; 2.0, which dropped the
parameter, when it is absent). The operation comes from `operation`, or, as SRU 2.0 has it,
from what the request carries: a query is a searchRetrieve, a scanClause a scan, anything else
an explain. Each version accepts its own parameters; another one is diagnostic 8 unless it is an
extension (`x-...`): YAZ's x-pquery and x-pScanClause (a PQF query or scan term instead of CQL,
as Zebra takes them, and as zoomsh sends a query not marked `cql:`) are honoured, others
ignored. Anything wrong leaves `Request.error` set, the first problem found, and the request as
far as it was read, so the response can still be the right operation in the right version.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from unishelf.search.record_schemas import RecordSchema

from .diagnostics import SRUDiagnostic
from .record_schemas import record_schema
from .settings import SRUSettings

VERSIONS = ("1.1", "1.2", "2.0")
DEFAULT_VERSION = "2.0"
OPERATIONS = ("searchRetrieve", "scan", "explain")
# operation -> version -> the parameters it takes besides operation, version and stylesheet.
# httpAccept and responseType (2.0) are accepted and ignored: every response is SRU's XML.
_SEARCH_1 = {"query", "startRecord", "maximumRecords", "recordPacking", "recordSchema", "recordXPath",
             "resultSetTTL"}
_SEARCH_2 = {"query", "queryType", "startRecord", "maximumRecords", "recordXMLEscaping", "recordPacking",
             "recordSchema", "resultSetTTL", "sortKeys", "renderedBy", "httpAccept", "responseType"}
_SCAN = {"scanClause", "responsePosition", "maximumTerms"}
PARAMETERS = {
    "searchRetrieve": {"1.1": _SEARCH_1 | {"sortKeys"}, "1.2": _SEARCH_1, "2.0": _SEARCH_2},
    "scan": {"1.1": _SCAN, "1.2": _SCAN, "2.0": _SCAN | {"queryType", "httpAccept", "responseType"}},
    "explain": {"1.1": {"recordPacking"}, "1.2": {"recordPacking"},
                "2.0": {"recordXMLEscaping", "recordPacking", "httpAccept", "responseType"}},
}
PQF_QUERY, PQF_SCAN_CLAUSE = "x-pquery", "x-pScanClause"
ESCAPINGS = ("xml", "string")   # 1.x recordPacking, 2.0 recordXMLEscaping
PACKINGS = ("packed",)          # 2.0 recordPacking: records are always given whole


@dataclass(frozen=True)
class Request:
    operation: str
    version: str
    stylesheet: str | None = None
    error: SRUDiagnostic | None = None
    escaping: str = "xml"                    # records as XML, or as escaped strings
    query: str = ""
    query_type: str = "cql"                  # or "pqf": query and scan_clause are Bib-1 PQF
    start_record: int = 1
    maximum_records: int = 10
    schema: RecordSchema | None = None
    result_set_ttl: int | None = None
    sort_keys: str | None = None             # SRU 1.1 and 2.0 sortKeys, as given
    scan_clause: str = ""
    response_position: int = 1
    maximum_terms: int = 20


def parse_request(arguments: dict[str, list[str]], settings: SRUSettings) -> Request:
    """The request the arguments make (empty values count as absent; the first of a repeat wins)."""
    values = {name: given[0] for name, given in arguments.items() if given and given[0] != ""}
    version, version_error = _version(values.get("version"))
    operation = values.get("operation") or ("searchRetrieve" if {"query", PQF_QUERY} & set(values) else
                                            "scan" if {"scanClause", PQF_SCAN_CLAUSE} & set(values) else "explain")
    request = Request(operation if operation in OPERATIONS else "searchRetrieve", version,
                      stylesheet=values.get("stylesheet"), maximum_records=settings.default_records,
                      maximum_terms=settings.default_terms)
    try:
        if version_error:
            raise version_error
        if operation not in OPERATIONS:
            raise SRUDiagnostic(4, operation)
        allowed = PARAMETERS[operation][version] | {"operation", "version", "stylesheet"}
        unknown = [name for name in values if name not in allowed and not name.startswith("x-")]
        if unknown:
            raise SRUDiagnostic(8, unknown[0])
        request = replace(request, escaping=_escaping(values, version))
        if operation == "searchRetrieve":
            return _search_retrieve(request, values, settings)
        if operation == "scan":
            return _scan(request, values, settings)
        return request
    except SRUDiagnostic as diagnostic:
        return replace(request, error=diagnostic)


def _version(given: str | None) -> tuple[str, SRUDiagnostic | None]:
    """The version to answer in, and diagnostic 5 (naming the highest version) if it is not one
    of ours: a lower one is answered in 1.1, a higher or unreadable one in 2.0."""
    if given is None:
        return DEFAULT_VERSION, None
    if given in VERSIONS:
        return given, None
    try:
        lower = float(given) < float(VERSIONS[0])
    except ValueError:
        lower = False
    return (VERSIONS[0] if lower else DEFAULT_VERSION), SRUDiagnostic(5, VERSIONS[-1], f"Unsupported version {given}")


def _escaping(values: dict[str, str], version: str) -> str:
    if version == "2.0":
        packing = values.get("recordPacking", PACKINGS[0])
        if packing not in PACKINGS:
            raise SRUDiagnostic(71, packing)
        name = "recordXMLEscaping"
    else:
        name = "recordPacking"
    escaping = values.get(name, ESCAPINGS[0]).lower()
    if escaping not in ESCAPINGS:
        raise SRUDiagnostic(71, escaping)
    return escaping


def _number(values: dict[str, str], name: str, default: int | None, minimum: int) -> int | None:
    if name not in values:
        return default
    text = values[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) < minimum:
        raise SRUDiagnostic(6, name, f"{name} must be a whole number of at least {minimum}, not {text!r}")
    return int(text)


def _query(values: dict[str, str], cql_name: str, pqf_name: str) -> tuple[str, str]:
    """(text, query type) of a CQL parameter or of its PQF extension (CQL wins when both come)."""
    if cql_name in values:
        return values[cql_name], "cql"
    if pqf_name in values:
        return values[pqf_name], "pqf"
    raise SRUDiagnostic(7, cql_name)


def _search_retrieve(request: Request, values: dict[str, str], settings: SRUSettings) -> Request:
    query, query_type = _query(values, "query", PQF_QUERY)
    if values.get("queryType", "cql") != "cql":
        raise SRUDiagnostic(6, "queryType", f"only CQL queries are answered, not {values['queryType']!r}")
    if values.get("renderedBy", "client") != "client":
        raise SRUDiagnostic(6, "renderedBy", "stylesheets are rendered by the client")
    if "recordXPath" in values:
        raise SRUDiagnostic(72, values["recordXPath"])
    ttl = _number(values, "resultSetTTL", None, 0)
    return replace(request, query=query, query_type=query_type,
                   start_record=_number(values, "startRecord", 1, 1),
                   maximum_records=min(_number(values, "maximumRecords", settings.default_records, 0),
                                       settings.max_records),
                   schema=record_schema(values.get("recordSchema", settings.default_schema)),
                   result_set_ttl=None if ttl is None else min(ttl, settings.max_result_set_ttl),
                   sort_keys=values.get("sortKeys"))


def _scan(request: Request, values: dict[str, str], settings: SRUSettings) -> Request:
    clause, query_type = _query(values, "scanClause", PQF_SCAN_CLAUSE)
    if values.get("queryType", "cql") != "cql":
        raise SRUDiagnostic(6, "queryType", f"only CQL scan clauses are answered, not {values['queryType']!r}")
    terms = _number(values, "maximumTerms", settings.default_terms, 1)
    if terms > settings.max_terms:
        raise SRUDiagnostic(121, str(settings.max_terms))
    position = _number(values, "responsePosition", 1, 0)
    if position > terms + 1:
        raise SRUDiagnostic(120, str(position))
    return replace(request, scan_clause=clause, query_type=query_type, maximum_terms=terms,
                   response_position=position)
