"""Where a serving process's writes to the store run: on one thread of their own.

The store has one write transaction at a time across all processes, and a bulk load holds it
for seconds a batch. A write made on the reactor thread (a record upload, an item order, an ILL
message) would wait that long, and every connection of the process with it, searches included.
So `unishelf serve` gives each process a `WriteThread`: the protocol adapters hand it whole
requests that write and wait on a Deferred, reading nothing more of that connection meanwhile,
while the reactor goes on serving the others. One thread keeps the process's writes in the order
they were asked for, as LMDB wants them (writes on one thread at a time).

Everything outside `unishelf serve` (the command line, the sans-socket tests) writes inline.
"""
from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool


class InlineWrites:
    """Writes on the caller's thread; the Deferred has fired when `run` returns."""

    def run(self, function: Callable, *args) -> Deferred:
        return maybeDeferred(function, *args)


class WriteThread:
    """Writes on one thread, started with the reactor and stopped when it shuts down. Stopping
    waits for the writes already asked for (Twisted's pool does its queue before it quits): a
    peer may count on one (an ILL reply it sent, an outbox mark)."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name="unishelf-writes")
        reactor.callWhenRunning(self.pool.start)
        reactor.addSystemEventTrigger("during", "shutdown", self.pool.stop)

    def run(self, function: Callable, *args) -> Deferred:
        return deferToThreadPool(self.reactor, self.pool, function, *args)


class PausedWhileWriting:
    """For a Twisted protocol (with TimeoutMixin, its factory giving `writes` and `idle_timeout`)
    that hands requests to the process's writes: while one runs, the connection reads nothing
    more and is not idle; its answer goes to `then` unless the connection has gone meanwhile
    (its `connectionLost` sets `gone`)."""

    writing = False
    gone = False

    def hand_to_writes(self, then: Callable, function: Callable, *args):
        self.writing = True
        self.setTimeout(None)
        self.transport.pauseProducing()
        self.factory.writes.run(function, *args).addCallback(self._written, then)

    def _written(self, result, then: Callable):
        self.writing = False
        if self.gone:
            return
        self.transport.resumeProducing()
        self.setTimeout(self.factory.idle_timeout)
        then(result)
