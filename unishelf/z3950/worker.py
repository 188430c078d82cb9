"""An extra Z39.50 worker process: it accepts on the listening socket `unishelf serve` made and
passed down, with its own LMDB environment (opened after the process started, as LMDB needs).

One Python process answers one request at a time; the kernel spreads new connections over the
workers, so a machine's cores all serve. A worker stops when `serve` goes away (its stdin closes).

    python -m unishelf.z3950.worker --config FILE --data-dir DIR --fd N
"""
from __future__ import annotations

import argparse
import socket

from twisted.internet import protocol, reactor, stdio

from unishelf.app import open_catalog
from unishelf.config import load_config

from .server import factory_from_config


class ParentWatch(protocol.Protocol):
    """Stops the worker when the parent closes our stdin (it exited or shut down)."""

    def connectionLost(self, reason=protocol.connectionDone):
        if reactor.running:
            reactor.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config, {"data_dir": args.data_dir})
    catalog = open_catalog(config)
    reactor.adoptStreamPort(args.fd, socket.AF_INET, factory_from_config(catalog))
    stdio.StandardIO(ParentWatch())
    reactor.run()
    catalog.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
