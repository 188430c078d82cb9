"""The HTTP listener: OAI-PMH at /oai, SRU at /sru/<database> and ILL copies at /ill/files, on one
twisted.web site."""
from __future__ import annotations

import logging
from typing import TextIO

from twisted.web import resource, server
from twisted.web.http import combinedLogFormatter

from .config import ConfigError
from .ill_iso import download
from .oaipmh.provider import Provider
from .oaipmh.resource import OAIResource
from .sru.resource import SRUResource
from .sru.service import SRUService


log = logging.getLogger("unishelf.http")


class _Site(server.Site):
    """A twisted.web Site that writes its access log (twisted.web's combined log format, a line
    per request) to the file `listen.access_log` names, or, with none, does not make the lines
    at all: twisted.web would hand them to Twisted's logging, about a tenth of a small request's
    time. A line that cannot be written is dropped: the request it logs has been answered."""

    def __init__(self, root, access_log: TextIO | None):
        super().__init__(root)
        self.access_log = access_log
        self.displayTracebacks = False
        self._write_failed = False

    def log(self, request):
        if self.access_log is None:
            return
        try:   # twisted.web calls this inside Request.finish: an exception would leave it unfinished
            self.access_log.write(combinedLogFormatter(self._logDateTime, request) + "\n")
        except OSError as error:
            if not self._write_failed:
                log.error("the access log %s cannot be written (%s); lines are dropped until it can",
                          self.access_log.name, error.strerror)
            self._write_failed = True
        else:
            self._write_failed = False

    def stopFactory(self):
        super().stopFactory()
        if self.access_log is not None:
            self.access_log.close()
            self.access_log = None


def site(catalog) -> server.Site:
    root = resource.Resource()
    root.putChild(b"oai", OAIResource(Provider(catalog)))
    root.putChild(b"sru", SRUResource(SRUService(catalog)))
    ill = resource.Resource()
    ill.putChild(b"files", download.resource_from_config(catalog.config))
    root.putChild(b"ill", ill)
    return _Site(root, _access_log(catalog.config))


def _access_log(config) -> TextIO | None:
    """The access log, opened to append whole lines (every serving process writes to it)."""
    path = config["listen"]["access_log"]
    if not path:
        return None
    try:
        return open(path, "a", buffering=1, encoding="utf-8")
    except OSError as error:
        raise ConfigError(config.source, "listen.access_log", f"cannot be opened: {error.strerror}") from None
