"""`unishelf serve`: the protocol daemons over the shared store, in `listen.workers` processes.

The daemons that answer requests from the store (Z39.50, and HTTP for OAI-PMH and SRU) listen
here; `listen.workers - 1` more processes (unishelf.worker) accept on the same sockets, so every
core serves. Daemons that keep state moving on their own (ISO ILL: its outbox and timers) must
run once, so they run in this process only, as Twisted services (MAIN_DAEMONS); so do the FTP
drop for ILL copies, with its purge, and the making of renderings loads left for later.
"""
from __future__ import annotations

import logging
import os
import sys

from twisted.internet import protocol, reactor

from . import http, prerenderer
from .app import open_catalog
from .config import Config
from .ill_iso import daemon as ill_daemon
from .ill_iso import ftp_drop
from .logs import start_logging
from .writes import WriteThread
from .z3950 import server as z3950_server

# name -> function(catalog) that makes the daemon's Twisted factory (or twisted.web Site)
SHARED_DAEMONS: dict = {"z3950": z3950_server.factory_from_config, "http": http.site}
# name -> function(catalog) that makes a Twisted service with a `description`, run in this process only
MAIN_DAEMONS: dict = {"ill": ill_daemon.service_from_config, "ill-delivery": ftp_drop.service_from_config,
                      "prerender": prerenderer.service_from_config}
DESCRIPTIONS = {"z3950": "Z39.50 on {host}:{port}",
                "http": "HTTP on {host}:{port}: OAI-PMH at /oai, SRU at /sru/<database>, ILL copies at /ill/files"}


def serve(config: Config) -> int:
    start_logging()
    log = logging.getLogger("unishelf")
    catalog = open_catalog(config)
    catalog.writes = WriteThread(reactor)
    log.info("store %s: %d records in unicat", config.store_path, catalog.engine.count("unicat"))
    listen = config["listen"]
    ports = {name: reactor.listenTCP(listen[f"{name}_port"], make(catalog), interface=listen["host"])
             for name, make in SHARED_DAEMONS.items()}
    for name, port in ports.items():
        address = port.getHost()
        log.info("%s", DESCRIPTIONS[name].format(host=address.host, port=address.port))
    for make in MAIN_DAEMONS.values():
        daemon = make(catalog)
        daemon.startService()
        reactor.addSystemEventTrigger("before", "shutdown", daemon.stopService)
        log.info("%s", daemon.description)
    workers = [_spawn_worker(config, {name: port.fileno() for name, port in ports.items()})
               for _ in range(listen["workers"] - 1)]
    reactor.addSystemEventTrigger("before", "shutdown", lambda: [w.transport.closeStdin() for w in workers])
    log.info("serving in %d processes; Ctrl-C stops", len(workers) + 1)
    reactor.run()
    catalog.close()
    return 0


class _WorkerProcess(protocol.ProcessProtocol):
    """A worker's stdin is its lifeline: closing it (or our exit) stops the worker."""


def _spawn_worker(config: Config, fds: dict[str, int]) -> _WorkerProcess:
    worker = _WorkerProcess()
    arguments = [sys.executable, "-m", "unishelf.worker", *config.options()]
    arguments += [f"--listen={name}={fd}" for name, fd in fds.items()]
    reactor.spawnProcess(worker, sys.executable, arguments, env=os.environ,
                         childFDs={0: "w", 1: 1, 2: 2, **{fd: fd for fd in fds.values()}})
    return worker
