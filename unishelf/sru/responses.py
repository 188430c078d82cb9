"""SRU response documents in each version's XML, valid against that version's schema.

SRU 1.1 and 1.2 answer in LoC's ZiNG namespace (srw-types.xsd), with a <version> element and
<recordPacking> xml|string; SRU 2.0 in the OASIS searchRetrieve namespaces, with
<recordXMLEscaping> instead and resultSetTTL for resultSetIdleTime; its scanResponse is in the
OASIS scan namespace, as YAZ writes it. Both schemas want a <records> or <terms> list to hold
at least one item, so an empty one is left out. The text is written directly, not through a
tree: records arrive as XML text already, and a response is built on every request.
"""
from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from unishelf.marc.reading import XML_FORBIDDEN, xml_escaped

from .diagnostics import SRUDiagnostic
from .record_schemas import DIAGNOSTIC_RECORD_SCHEMA

EXPLAIN_RECORD_SCHEMA = "http://explain.z3950.org/dtd/2.0/"


@dataclass(frozen=True)
class Dialect:
    """What one SRU version's responses look like."""

    response_namespace: str
    diagnostic_namespace: str
    scan_namespace: str
    has_version: bool          # 1.x: a <version> element first
    escaping_element: str      # recordPacking (1.x) or recordXMLEscaping (2.0)
    ttl_element: str           # resultSetIdleTime (1.x) or resultSetTTL (2.0)


ZING = Dialect("http://www.loc.gov/zing/srw/", "http://www.loc.gov/zing/srw/diagnostic/",
               "http://www.loc.gov/zing/srw/", True, "recordPacking", "resultSetIdleTime")
OASIS = Dialect("http://docs.oasis-open.org/ns/search-ws/sruResponse",
                "http://docs.oasis-open.org/ns/search-ws/diagnostic",
                "http://docs.oasis-open.org/ns/search-ws/scan", False, "recordXMLEscaping", "resultSetTTL")


def dialect(version: str) -> Dialect:
    return OASIS if version == "2.0" else ZING


def _document(root: str, namespace: str, version: str, body: str, stylesheet: str | None) -> str:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if stylesheet:
        head += f"<?xml-stylesheet type=\"text/xsl\" href={quoteattr(XML_FORBIDDEN.sub('', stylesheet))}?>\n"
    version_element = f"<zs:version>{version}</zs:version>" if dialect(version).has_version else ""
    return f'{head}<zs:{root} xmlns:zs="{namespace}">{version_element}{body}</zs:{root}>\n'


def diagnostic_element(version: str, diagnostic: SRUDiagnostic) -> str:
    """One <diagnostic> in the version's diagnostic namespace: uri, details, message."""
    details = f"<details>{xml_escaped(diagnostic.details)}</details>" if diagnostic.details else ""
    message = f"<message>{xml_escaped(diagnostic.message)}</message>" if diagnostic.message else ""
    return (f'<diagnostic xmlns="{dialect(version).diagnostic_namespace}"><uri>{diagnostic.uri}</uri>'
            f"{details}{message}</diagnostic>")


def _diagnostics(version: str, diagnostics: list[SRUDiagnostic]) -> str:
    if not diagnostics:
        return ""
    return f"<zs:diagnostics>{''.join(diagnostic_element(version, d) for d in diagnostics)}</zs:diagnostics>"


def record_element(version: str, schema_identifier: str, data: str, escaping: str, position: int | None) -> str:
    """One <record>: its data as XML, or as a string of escaped XML (escaping "string")."""
    element = dialect(version).escaping_element
    content = escape(data) if escaping == "string" else data
    where = f"<zs:recordPosition>{position}</zs:recordPosition>" if position else ""
    return (f"<zs:record><zs:recordSchema>{xml_escaped(schema_identifier)}</zs:recordSchema>"
            f"<zs:{element}>{escaping}</zs:{element}><zs:recordData>{content}</zs:recordData>{where}</zs:record>")


def surrogate_element(version: str, diagnostic: SRUDiagnostic, escaping: str, position: int) -> str:
    """A record that cannot be given, standing in as a diagnostic at its position."""
    data = diagnostic_element(version, diagnostic)
    return record_element(version, DIAGNOSTIC_RECORD_SCHEMA, data, escaping, position)


def search_retrieve_response(version: str, number_of_records: int, records: list[str],
                             diagnostics: list[SRUDiagnostic], result_set: tuple[str, int] | None = None,
                             next_position: int | None = None, stylesheet: str | None = None) -> str:
    """`records` are <record> elements (record_element, surrogate_element); `result_set` the
    (resultSetId, seconds it lives) of a kept result set."""
    form = dialect(version)
    kept = ttl = ""
    if result_set:
        kept = f"<zs:resultSetId>{xml_escaped(result_set[0])}</zs:resultSetId>"
        ttl = f"<zs:{form.ttl_element}>{result_set[1]}</zs:{form.ttl_element}>"
    body = [f"<zs:numberOfRecords>{number_of_records}</zs:numberOfRecords>", kept]
    if form.has_version:
        body.append(ttl)
    if records:
        body.append(f"<zs:records>{''.join(records)}</zs:records>")
    if next_position:
        body.append(f"<zs:nextRecordPosition>{next_position}</zs:nextRecordPosition>")
    body.append(_diagnostics(version, diagnostics))
    if not form.has_version:
        body.append(ttl)
    return _document("searchRetrieveResponse", form.response_namespace, version, "".join(body), stylesheet)


def scan_response(version: str, terms: list[tuple[str, int]], diagnostics: list[SRUDiagnostic],
                  stylesheet: str | None = None) -> str:
    listed = "".join(f"<zs:term><zs:value>{xml_escaped(value)}</zs:value><zs:numberOfRecords>{count}"
                     "</zs:numberOfRecords></zs:term>" for value, count in terms)
    body = (f"<zs:terms>{listed}</zs:terms>" if terms else "") + _diagnostics(version, diagnostics)
    return _document("scanResponse", dialect(version).scan_namespace, version, body, stylesheet)


def explain_response(version: str, zeerex: str, escaping: str, diagnostics: list[SRUDiagnostic],
                     stylesheet: str | None = None) -> str:
    body = record_element(version, EXPLAIN_RECORD_SCHEMA, zeerex, escaping, None) + _diagnostics(version, diagnostics)
    return _document("explainResponse", dialect(version).response_namespace, version, body, stylesheet)
