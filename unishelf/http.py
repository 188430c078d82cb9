"""The HTTP listener: OAI-PMH at /oai (and SRU at /sru/<database>), on one twisted.web site."""
from __future__ import annotations

from twisted.web import resource, server

from .oaipmh.provider import Provider
from .oaipmh.resource import OAIResource
from .sru.resource import SRUResource
from .sru.service import SRUService


def site(catalog) -> server.Site:
    root = resource.Resource()
    root.putChild(b"oai", OAIResource(Provider(catalog)))
    root.putChild(b"sru", SRUResource(SRUService(catalog)))
    http_site = server.Site(root)
    http_site.displayTracebacks = False
    return http_site
