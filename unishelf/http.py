"""The HTTP listener: OAI-PMH at /oai (and SRU at /sru/<database>), on one twisted.web site."""
from __future__ import annotations

from twisted.web import resource, server

from .oaipmh.provider import Provider
from .oaipmh.resource import OAIResource


def site(catalog) -> server.Site:
    root = resource.Resource()
    root.putChild(b"oai", OAIResource(Provider(catalog)))
    http_site = server.Site(root)
    http_site.displayTracebacks = False
    return http_site
