"""The OAI-PMH provider on twisted.web: GET and POST at /oai, streamed, compressed when asked.

The response is written one chunk at a time as the connection drains (a pull producer), so a
slow harvester never makes the server hold a whole page in memory.
"""
from __future__ import annotations

import logging
import zlib

from twisted.web import resource, server

from unishelf.compression import ENCODINGS, chosen_encoding

from .provider import Provider

log = logging.getLogger("unishelf.oai")
WRITE_AT_ONCE = 256 * 1024   # bytes written per turn of the reactor: few turns a page, bounded memory


class _ChunkProducer:
    """Writes the next chunks each time the transport asks for more (IPullProducer): enough to
    make one turn of the reactor worth it, never the whole response."""

    def __init__(self, request, chunks, encoding: str | None):
        self.request = request
        self.chunks = chunks
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, ENCODINGS[encoding]) if encoding else None

    def resumeProducing(self):
        pending, size = [], 0
        try:
            while size < WRITE_AT_ONCE:
                chunk = next(self.chunks)
                pending.append(chunk)
                size += len(chunk)
        except StopIteration:
            self._write(pending)
            if self.compressor:
                self.request.write(self.compressor.flush())
            self.request.unregisterProducer()
            self.request.finish()
            return
        except Exception:
            log.exception("OAI-PMH response failed part way; closing the connection")
            self.request.unregisterProducer()
            self.request.channel.loseConnection()
            return
        self._write(pending)

    def _write(self, chunks: list[bytes]):
        data = b"".join(chunks)
        if data:
            self.request.write(self.compressor.compress(data) if self.compressor else data)

    def stopProducing(self):
        self.chunks.close()


class OAIResource(resource.Resource):
    isLeaf = True

    def __init__(self, provider: Provider):
        super().__init__()
        self.provider = provider

    def render_GET(self, request):
        arguments = {key.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
                     for key, values in request.args.items()}
        base_url = request.prePathURL().decode("utf-8", "replace")
        response = self.provider.respond(arguments, base_url)
        request.setHeader(b"Content-Type", b"text/xml; charset=utf-8")
        encoding = chosen_encoding((request.getHeader(b"accept-encoding") or b"").decode("latin-1"))
        if encoding:
            request.setHeader(b"Content-Encoding", encoding.encode())
            request.setHeader(b"Vary", b"Accept-Encoding")
        request.registerProducer(_ChunkProducer(request, response.chunks(), encoding), False)
        return server.NOT_DONE_YET

    render_POST = render_GET
