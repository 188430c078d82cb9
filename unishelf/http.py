"""The HTTP listener: OAI-PMH at /oai, SRU at /sru/<database> and ILL copies at /ill/files, on one
twisted.web site."""
from __future__ import annotations

from twisted.web import resource, server

from .ill_iso import download
from .oaipmh.provider import Provider
from .oaipmh.resource import OAIResource
from .sru.resource import SRUResource
from .sru.service import SRUService


def site(catalog) -> server.Site:
    root = resource.Resource()
    root.putChild(b"oai", OAIResource(Provider(catalog)))
    root.putChild(b"sru", SRUResource(SRUService(catalog)))
    ill = resource.Resource()
    ill.putChild(b"files", download.resource_from_config(catalog.config))
    root.putChild(b"ill", ill)
    http_site = server.Site(root)
    http_site.displayTracebacks = False
    return http_site
