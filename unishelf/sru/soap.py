"""SRW, the SOAP binding of SRU 1.x: what yaz-client and ZOOM clients send to an http: target
unless told `sru get` or `sru post`.

A SOAP request is an XML document whose Body holds a searchRetrieveRequest, scanRequest or
explainRequest in the ZiNG namespace; its child elements are the SRU parameters by name. So the
request becomes the same parameters a GET would carry, and the SRU response goes back in a SOAP
Envelope. Sans-I/O, like the rest of the server.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATIONS = {"searchRetrieveRequest": "searchRetrieve", "scanRequest": "scan", "explainRequest": "explain"}
# YAZ's SRW elements for a PQF query or scan term -> the SRU extension parameters they are in GET
PQF_ELEMENTS = {"pQuery": "x-pquery", "pScanClause": "x-pScanClause"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SOAPFault(ValueError):
    """The body is not an SRW request."""


def soap_arguments(body: bytes) -> dict[str, list[str]]:
    """The SRU parameters of an SRW request (elements with text content; structured ones such as
    xQuery, and extraRequestData, are left out)."""
    try:
        envelope = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise SOAPFault(f"not XML: {error}") from None
    request = next(iter(envelope.iterfind(f"{{{SOAP_NS}}}Body/*")), None)
    operation = OPERATIONS.get(etree.QName(request).localname) if request is not None else None
    if operation is None:
        raise SOAPFault("the SOAP Body holds no searchRetrieveRequest, scanRequest or explainRequest")
    arguments = {"operation": [operation]}
    for child in request.iterchildren(etree.Element):
        if len(child) == 0 and child.text and child.text.strip():
            name = etree.QName(child).localname
            arguments.setdefault(PQF_ELEMENTS.get(name, name), []).append(child.text.strip())
    return arguments


def soap_envelope(document: str) -> str:
    """An SRU response document (its XML declaration dropped) inside a SOAP Envelope."""
    root = document[document.index("<zs:"):]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_NS}">'
            f"<SOAP-ENV:Body>{root}</SOAP-ENV:Body></SOAP-ENV:Envelope>\n")


def soap_fault(reason: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_NS}">'
            f"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>"
            f"<faultstring>{escape(reason)}</faultstring></SOAP-ENV:Fault>"
            "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n")
