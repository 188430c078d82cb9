"""SRU on twisted.web at /sru/<database>: GET, POST and SOAP (SRW), compressed when asked.

A thin adapter: the path names the database (/sru alone is the union catalogue), the query
string, form body or SOAP envelope carries the parameters, and SRUService answers. Unlike an
OAI-PMH list, an SRU response is bounded (sru.max_records records at most), so it is built whole
and written in one go, which costs a request least.
"""
from __future__ import annotations

import zlib
from urllib.parse import unquote

from twisted.web import resource

from unishelf.compression import ENCODINGS, chosen_encoding

from .service import DEFAULT_DATABASE, SRUService
from .soap import SOAPFault, soap_arguments, soap_envelope, soap_fault

COMPRESSION_LEVEL = 6
SOAP_CONTENT_TYPES = (b"text/xml", b"application/xml", b"application/soap+xml")


class SRUResource(resource.Resource):
    isLeaf = True

    def __init__(self, service: SRUService):
        super().__init__()
        self.service = service

    def render_GET(self, request) -> bytes:
        return self._write(request, self._answer(request, _decoded(request.args)))

    def render_POST(self, request) -> bytes:
        """A form (SRU POST) or a SOAP envelope (SRW, sent as XML)."""
        content_type = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type not in SOAP_CONTENT_TYPES:
            return self.render_GET(request)
        try:
            arguments = soap_arguments(request.content.read())
        except SOAPFault as fault:
            request.setResponseCode(500)   # SOAP 1.1 sends faults with 500
            return self._write(request, soap_fault(str(fault)))
        return self._write(request, soap_envelope(self._answer(request, arguments)))

    def _answer(self, request, arguments: dict[str, list[str]]) -> str:
        database = unquote("/".join(p.decode("utf-8", "replace") for p in request.postpath)) or DEFAULT_DATABASE
        host, port = _reached_at(request)
        return self.service.respond(database, arguments, host, port)

    @staticmethod
    def _write(request, document: str) -> bytes:
        body = document.encode("utf-8")
        request.setHeader(b"Content-Type", b"text/xml; charset=utf-8")
        encoding = chosen_encoding((request.getHeader(b"accept-encoding") or b"").decode("latin-1"))
        if encoding:
            request.setHeader(b"Content-Encoding", encoding.encode())
            request.setHeader(b"Vary", b"Accept-Encoding")
            body = zlib.compress(body, COMPRESSION_LEVEL, ENCODINGS[encoding])
        return body


def _decoded(args: dict[bytes, list[bytes]]) -> dict[str, list[str]]:
    return {key.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
            for key, values in args.items()}


def _reached_at(request) -> tuple[str, int]:
    """The host and port the client used (its Host header, else the listening address), for
    Explain to name."""
    local = request.getHost()
    header = (request.getHeader(b"host") or b"").decode("latin-1")
    if header.startswith("["):   # an IPv6 address
        name, _, rest = header[1:].partition("]")
        port = rest[1:]
    else:
        name, _, port = header.partition(":")
    return name or local.host, int(port) if port.isdigit() else local.port
