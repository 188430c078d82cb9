"""An extra serving process: it accepts on the listening sockets `unishelf serve` made and passed
down (Z39.50 and HTTP), with its own LMDB environment, opened after the process started, as
LMDB needs.

One Python process answers one request at a time; the kernel spreads new connections over the
processes, so a machine's cores all serve. A worker stops when `serve` goes away (its stdin
closes).

    python -m unishelf.worker --config FILE --data-dir DIR --listen z3950=FD --listen http=FD
"""
from __future__ import annotations

import argparse
import socket

from twisted.internet import protocol, reactor, stdio

from unishelf.app import open_catalog
from unishelf.config import load_config
from unishelf.logs import start_logging
from unishelf.serve import SHARED_DAEMONS
from unishelf.writes import WriteThread


class ParentWatch(protocol.Protocol):
    """Stops the worker when the parent closes our stdin (it exited or shut down)."""

    def connectionLost(self, reason=protocol.connectionDone):
        if reactor.running:
            reactor.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    parser.add_argument("--listen", action="append", required=True, metavar="DAEMON=FD")
    args = parser.parse_args(argv)
    start_logging()
    config = load_config(args.config, {"data_dir": args.data_dir})
    catalog = open_catalog(config)
    catalog.writes = WriteThread(reactor)
    for listen in args.listen:
        name, fd = listen.split("=")
        reactor.adoptStreamPort(int(fd), socket.AF_INET, SHARED_DAEMONS[name](catalog))
    stdio.StandardIO(ParentWatch())
    reactor.run()
    catalog.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
