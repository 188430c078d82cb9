"""The OAI-PMH provider on twisted.web: GET and POST at /oai, compressed when asked.

A response of up to `PAGE_BYTES` is written whole, with Content-Length, and once it has left
for the harvester, the page its resumption token asks for is prepared (read_ahead.py) when the
harvester has come back on its connection before. One that opens a connection per request
(sickle, pyoai) may reach another serving process, which has not kept the page, so preparing
it would only double the work. A longer response is written a chunk at a time as the
connection drains, so the server never holds it whole.
"""
from __future__ import annotations

import logging
import weakref
import zlib

from twisted.web import resource, server

from unishelf.compression import ENCODINGS, chosen_encoding

from .provider import Provider, Response
from .read_ahead import PAGE_BYTES, gathered

log = logging.getLogger("unishelf.oai")
WRITE_AT_ONCE = 256 * 1024   # bytes of a streamed response written per turn of the reactor


class _ResponseProducer:
    """Writes the response each time the transport asks for more (IPullProducer)."""

    def __init__(self, request, response: Response, next_page, encoding: str | None, prepare, reactor):
        self.request = request
        self.chunks = response.chunks()
        self.next_page = next_page
        self.prepare = prepare
        self.reactor = reactor
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, ENCODINGS[encoding]) if encoding else None
        self.pending: list[bytes] | None = None   # gathered, not yet written
        self.written = False                      # the whole response is with the transport
        self.lost = False
        self.started = False                      # some of the response has been written
        request.notifyFinish().addErrback(self._connection_lost)

    def resumeProducing(self):
        try:
            if self.written and self.next_page:   # asked for more: the transport has room again
                self.request.unregisterProducer()   # prepared once this turn's writes have gone
                self.reactor.callLater(0, self._prepare_then_finish)
            elif self.written:
                self._finish()
            elif self.pending is None:
                self._start()
            else:
                self._stream()
        except Exception:
            self.request.unregisterProducer()
            if self.started:
                log.exception("OAI-PMH response failed part way; closing the connection")
                self.request.channel.loseConnection()
            else:
                log.exception("OAI-PMH response failed")
                self.request.setResponseCode(500)
                self.request.responseHeaders.removeHeader(b"content-encoding")
                self.request.setHeader(b"Content-Length", b"0")
                self.request.finish()

    def _prepare_then_finish(self):
        """Finishing lets the channel read the harvester's next request, so the page it asks
        for is prepared first; the harvester already has all of this response."""
        try:
            self.prepare(self.next_page)
        except Exception:
            log.exception("preparing the next OAI-PMH page failed")
        if not self.lost:
            self.request.finish()

    def _start(self):
        self.pending, whole = gathered(self.chunks, PAGE_BYTES)
        if not whole:
            self._stream()
            return
        data = self._encoded(b"".join(self.pending), last=True)
        self.request.setHeader(b"Content-Length", b"%d" % len(data))
        self._write(data)
        self.written = True

    def _stream(self):
        size = sum(map(len, self.pending))
        while size < WRITE_AT_ONCE:
            chunk = next(self.chunks, None)
            if chunk is None:
                self._write(self._encoded(b"".join(self.pending), last=True))
                self._finish()
                return
            self.pending.append(chunk)
            size += len(chunk)
        self._write(self._encoded(b"".join(self.pending), last=False))
        self.pending = []

    def _write(self, data: bytes):
        self.started = True
        self.request.write(data)

    def _encoded(self, data: bytes, last: bool) -> bytes:
        if not self.compressor:
            return data
        return self.compressor.compress(data) + (self.compressor.flush() if last else b"")

    def _finish(self):
        self.request.unregisterProducer()
        self.request.finish()

    def _connection_lost(self, failure):
        self.lost = True

    def stopProducing(self):
        self.chunks.close()


def _closing(request) -> bool:
    """Whether the connection closes after this response: the harvester waits for that, so no
    page is prepared before it."""
    connection = (request.getHeader(b"connection") or b"").lower()
    return b"close" in connection or (request.clientproto == b"HTTP/1.0" and b"keep-alive" not in connection)


class OAIResource(resource.Resource):
    isLeaf = True

    def __init__(self, provider: Provider, reactor=None):
        super().__init__()
        self.provider = provider
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.returning = weakref.WeakSet()   # connections that have had a response here

    def render_GET(self, request):
        arguments = {key.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
                     for key, values in request.args.items()}
        base_url = request.prePathURL().decode("utf-8", "replace")
        head = request.method == b"HEAD"
        response = self.provider.respond(arguments, base_url, kept=not head)
        request.setHeader(b"Content-Type", b"text/xml; charset=utf-8")
        encoding = chosen_encoding((request.getHeader(b"accept-encoding") or b"").decode("latin-1"))
        if encoding:
            request.setHeader(b"Content-Encoding", encoding.encode())
            request.setHeader(b"Vary", b"Accept-Encoding")
        staying = request.channel in self.returning and not _closing(request)
        next_page = response.next_page if staying and not head else None
        self.returning.add(request.channel)
        request.registerProducer(
            _ResponseProducer(request, response, next_page, encoding, self.provider.prepare, self.reactor), False)
        return server.NOT_DONE_YET

    render_POST = render_GET
