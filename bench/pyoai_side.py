"""The OAI-PMH baseline: pyoai's BatchingServer (package `oaipmh`) serving the first N LC records from memory.

    python bench/pyoai_side.py --records N --format marc21|oai_dc --port P [--page-size 200]

Every record is held in memory already crosswalked, by unishelf's own crosswalks from the same LC
file, so both servers disseminate the same metadata: marc21 as its MARCXML text (a writer parses
it into the response tree), oai_dc as a dict of Dublin Core lists for pyoai's oai_dc writer.
Headers carry the setSpecs unishelf gives (library:LC, type:TYPE). pyoai is hosted as the OAI-PMH
anchor measured it: a thin WSGI adapter in twisted.web.wsgi.WSGIResource (the reactor's thread
pool, one process) at /oai. It answers what a full harvest asks: Identify (pyoai builds every
envelope from it) and ListRecords.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

from lxml import etree
from oaipmh import common, error
from oaipmh.metadata import MetadataRegistry
from oaipmh.server import BatchingServer, oai_dc_writer
from twisted.internet import reactor
from twisted.web import resource, server, wsgi

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402
import unishelf_side  # noqa: E402

from unishelf.config import load_config  # noqa: E402
from unishelf.marc.access_points import AccessPoints  # noqa: E402
from unishelf.marc.dublin_core import dublin_core, xml_safe  # noqa: E402
from unishelf.marc.marcxml import record_xml  # noqa: E402
from unishelf.marc.reading import ReadRecord, read_file  # noqa: E402
from unishelf.oaipmh.formats import MARCXML_SCHEMA  # noqa: E402

IDENTIFIER_PREFIX = "oai:pyoai.localhost:"


def marc21_writer(element, metadata):
    element.append(etree.fromstring(metadata.getMap()["marcxml"]))


def crosswalked(metadata_prefix: str, read: ReadRecord) -> dict:
    """The record as pyoai's writer for `metadata_prefix` takes it."""
    if metadata_prefix == "marc21":
        return {"marcxml": record_xml(read.record, schema_location=MARCXML_SCHEMA)}
    elements = defaultdict(list)
    for name, value in dublin_core(read.record, read.syntax):
        elements[name].append(xml_safe(value))   # lxml refuses what XML 1.0 forbids
    return dict(elements)


class InMemoryRepository:
    """pyoai's IBatchingOAI over a list of (header, metadata, about): a page is a list slice."""

    def __init__(self, records: int, metadata_prefix: str, base_url: str):
        self.metadata_prefix = metadata_prefix
        now = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
        self.identity = common.Identify("pyoai baseline", base_url, "2.0", ["bench@example.org"], now,
                                        "no", "YYYY-MM-DDThh:mm:ssZ", [])
        points = AccessPoints.from_file(load_config().path("indexes"))
        self.records = []
        for read in read_file(lc_corpus.subset(records)):
            if not isinstance(read, ReadRecord) or read.kind != "bib":
                continue
            specs = ["library:LC", f"type:{points.material_type(read.record.leader, read.syntax)}"]
            header = common.Header(None, f"{IDENTIFIER_PREFIX}{len(self.records) + 1}", now, specs, False)
            self.records.append((header, common.Metadata(None, crosswalked(metadata_prefix, read)), None))

    def identify(self):
        return self.identity

    def listRecords(self, metadataPrefix, set=None, from_=None, until=None, cursor=0, batch_size=10):
        if metadataPrefix != self.metadata_prefix:
            raise error.CannotDisseminateFormatError(f"this baseline serves {self.metadata_prefix} only")
        return self.records[cursor:cursor + batch_size]


def wsgi_application(oai_server: BatchingServer):
    """The thin adapter: the query string's arguments to handleRequest, its bytes back."""
    def application(environ, start_response):
        body = oai_server.handleRequest(dict(parse_qsl(environ.get("QUERY_STRING", ""))))
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]
    return application


class PyoaiServer:
    """This module run as a server process on a free port; use as a context manager."""

    def __init__(self, records: int, metadata_prefix: str, page_size: int):
        self.port = unishelf_side.free_port()
        self.command = [sys.executable, __file__, "--records", str(records), "--format", metadata_prefix,
                        "--port", str(self.port), "--page-size", str(page_size)]
        self.process: subprocess.Popen | None = None

    def start(self) -> "PyoaiServer":
        """Start it and wait while it crosswalks the records into memory (about a minute for 250,000)."""
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        unishelf_side.wait_until_accepting(self.process, [self.port], 1800)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def __enter__(self) -> "PyoaiServer":
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--format", choices=("marc21", "oai_dc"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()
    registry = MetadataRegistry()
    registry.registerWriter("marc21", marc21_writer)
    registry.registerWriter("oai_dc", oai_dc_writer)
    repository = InMemoryRepository(args.records, args.format, f"http://127.0.0.1:{args.port}/oai")
    oai_server = BatchingServer(repository, registry, resumption_batch_size=args.page_size)
    root = resource.Resource()
    root.putChild(b"oai", wsgi.WSGIResource(reactor, reactor.getThreadPool(), wsgi_application(oai_server)))
    reactor.listenTCP(args.port, server.Site(root), interface="127.0.0.1")
    print(f"pyoai: {len(repository.records):,} {args.format} records in memory; http://127.0.0.1:{args.port}/oai",
          flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
