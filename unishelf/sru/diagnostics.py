"""SRU diagnostics: every refusal an SRU client can get, as info:srw/diagnostic/1/N.

The numbers and their meanings are the SRU diagnostics list (the same for SRU 1.1, 1.2 and 2.0).
The search engine's QueryError codes and the CQL parser's errors both become one of these, so a
client always gets a diagnostic inside a valid response, never an HTTP error.
"""
from __future__ import annotations

DIAGNOSTIC_PREFIX = "info:srw/diagnostic/1/"
# The diagnostics this server gives, with the names the SRU diagnostics list gives them.
MESSAGES = {
    1: "General system error",
    4: "Unsupported operation",
    5: "Unsupported version",
    6: "Unsupported parameter value",
    7: "Mandatory parameter not supplied",
    8: "Unsupported parameter",
    10: "Query syntax error",
    11: "Unsupported query type",
    13: "Invalid or unsupported use of parentheses",
    14: "Invalid or unsupported use of quotes",
    15: "Unsupported context set",
    16: "Unsupported index",
    19: "Unsupported relation",
    20: "Unsupported relation modifier",
    22: "Unsupported combination of relation and index",
    24: "Unsupported combination of relation and term",
    27: "Empty term unsupported",
    28: "Masking character not supported",
    37: "Unsupported boolean operator",
    38: "Too many boolean operators in query",
    40: "Unsupported proximity relation",
    42: "Unsupported proximity unit",
    46: "Unsupported boolean modifier",
    48: "Query feature unsupported",
    51: "Result set does not exist",
    61: "First record position out of range",
    63: "System error in retrieving records",
    65: "Record does not exist",
    66: "Unknown schema for retrieval",
    67: "Record not available in this schema",
    71: "Unsupported record packing",
    72: "XPath retrieval unsupported",
    80: "Sort not supported",
    84: "Too many sort keys to sort",
    87: "Unsupported schema for sort",
    88: "Unsupported path for sort",
    90: "Unsupported direction value",
    91: "Unsupported case value",
    92: "Unsupported missing value action",
    120: "Response position out of range",
    121: "Too many terms requested",
    235: "Database does not exist",
}
# Search engine QueryError code -> SRU diagnostic (unishelf/search/tree.py names the codes).
QUERY_ERRORS = {
    "unsupported-index": 16,
    "unsupported-use": 16,
    "unsupported-relation": 19,
    "unsupported-structure": 22,
    "unsupported-truncation": 28,
    "unsupported-position": 48,
    "unsupported-completeness": 48,
    "unsupported-attribute-set": 15,
    "unsupported-attribute-type": 48,
    "unsupported-prox": 48,
    "unsupported-operator": 37,
    "bad-term": 27,
    "no-result-set": 51,
    "present-out-of-range": 61,
    "unsupported-database": 235,
    "unsupported-sort": 88,
}


class SRUDiagnostic(Exception):
    """A diagnostic: `number` in the SRU list, `details` what it is about (a parameter, a name)."""

    def __init__(self, number: int, details: str = "", message: str | None = None):
        self.number = number
        self.details = details
        self.message = message or MESSAGES.get(number, "")
        super().__init__(f"{self.uri} {self.message}: {details}")

    @property
    def uri(self) -> str:
        return f"{DIAGNOSTIC_PREFIX}{self.number}"

    @classmethod
    def from_query_error(cls, error) -> "SRUDiagnostic":
        """The diagnostic for an engine QueryError (1, a general error, for one not listed)."""
        return cls(QUERY_ERRORS.get(error.code, 1), error.subject or str(error))

    @classmethod
    def from_cql_error(cls, error) -> "SRUDiagnostic":
        """The parser and the CQL mapping name their SRU diagnostic; their text says what is wrong."""
        return cls(error.diagnostic, error.details, str(error))
