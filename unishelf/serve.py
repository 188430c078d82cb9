"""`unishelf serve`: one Twisted reactor hosting every protocol daemon over the shared store.

Each protocol package registers its listener in `DAEMONS` as it is built (Z39.50, SRU and
OAI-PMH over HTTP, ISO ILL); until one exists, serve opens the store, reports it and waits, so
`make serve` already gives a loaded catalogue that `unishelf search` and `stats` can query.
"""
from __future__ import annotations

import logging

from twisted.internet import reactor

from .app import open_catalog
from .config import Config

# name -> function(catalog, reactor) that starts listening and returns a description
DAEMONS: dict = {}


def serve(config: Config) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("unishelf")
    catalog = open_catalog(config)
    log.info("store %s: %d records in unicat", config.store_path, catalog.engine.count("unicat"))
    for name, start in DAEMONS.items():
        log.info("%s listening: %s", name, start(catalog, reactor))
    if not DAEMONS:
        log.info("no protocol daemons are built yet (Z39.50, SRU, OAI-PMH, ILL come with their issues)")
    log.info("serving; Ctrl-C stops")
    reactor.run()
    catalog.close()
    return 0
