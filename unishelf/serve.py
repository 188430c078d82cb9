"""`unishelf serve`: one Twisted reactor hosting every protocol daemon over the shared store.

Each protocol package registers its listener in `DAEMONS` as it is built: Z39.50 now; SRU and
OAI-PMH over HTTP and ISO ILL as their issues are done.
"""
from __future__ import annotations

import logging

from twisted.internet import reactor

from .app import open_catalog
from .config import Config

from .z3950 import server as z3950_server

# name -> function(catalog, reactor) that starts listening and returns a description
DAEMONS: dict = {"z3950": z3950_server.start}


def serve(config: Config) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("unishelf")
    catalog = open_catalog(config)
    log.info("store %s: %d records in unicat", config.store_path, catalog.engine.count("unicat"))
    for name, start in DAEMONS.items():
        log.info("%s listening: %s", name, start(catalog, reactor))
    log.info("serving; Ctrl-C stops")
    reactor.run()
    catalog.close()
    return 0
