"""Renderings a load left for later (`load.render_later`), made in the background by `unishelf serve`.

Every `CHECK_SECONDS` the main serving process looks whether the store has records marked
unrendered. Once as many are marked as at the look before (no load is adding to them, whose
workers the renderer would slow), and unless its child is at it already, it runs `unishelf
prerender`, which renders a batch a write transaction and exits when none are left, at a loader
worker's lower priority so that serving goes first. Until then the OAI provider renders those
records on the fly: nothing is wrong meanwhile, only slower (a harvest's server CPU a record is
about 70 µs instead of 3-6).
"""
from __future__ import annotations

import logging
import os
import sys

from twisted.application import service
from twisted.internet import error, protocol, task

from .marc.loader import WORKER_NICENESS
from .marc.store import UNRENDERED_KEY

CHECK_SECONDS = 30
QUICK_LOOK_SECONDS = 2   # the second look after the start
log = logging.getLogger("unishelf.prerender")


class _Child(protocol.ProcessProtocol):
    def __init__(self, done):
        self.done = done

    def processEnded(self, reason):
        self.done(reason.value)


class PrerenderService(service.Service):
    name = "prerender"
    description = f"renderings that loads leave for later made in the background (a look every {CHECK_SECONDS} s)"

    def __init__(self, catalog, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.catalog = catalog
        self.reactor = reactor
        self.child: _Child | None = None
        self.loop: task.LoopingCall | None = None
        self.quick_look = None   # the second look's delayed call
        self.marked_before: int | None = None   # records marked at the look before

    def startService(self):
        super().startService()
        self.loop = task.LoopingCall(self.check)
        self.loop.clock = self.reactor
        self.loop.start(CHECK_SECONDS, now=True)
        self.quick_look = self.reactor.callLater(QUICK_LOOK_SECONDS, self.check)   # what a load left before the start

    def stopService(self):
        super().stopService()
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.quick_look is not None and self.quick_look.active():
            self.quick_look.cancel()
        if self.child is not None:
            try:
                self.child.transport.signalProcess("TERM")   # a batch not committed is simply not stored
            except error.ProcessExitedAlready:
                pass

    def check(self):
        """Run `unishelf prerender` if records are left unrendered, no load is marking more, and
        it is not running already."""
        if self.child is not None:
            return
        with self.catalog.store.reading() as reader:
            left = len(reader.bitmap(UNRENDERED_KEY))
        settled, self.marked_before = left == self.marked_before, left
        if not left or not settled:
            return
        log.info("rendering %d records a load left for later", left)
        arguments = ["nice", "-n", str(WORKER_NICENESS), sys.executable, "-m", "unishelf.cli",
                     *self.catalog.config.options()]
        self.child = _Child(self._ended)
        self.reactor.spawnProcess(self.child, "nice", arguments + ["prerender", "--quiet"],
                                  env=os.environ, childFDs={0: "w", 1: 2, 2: 2})

    def _ended(self, reason):
        self.child = None
        if not isinstance(reason, error.ProcessDone):
            log.error("unishelf prerender ended: %s", reason)


def service_from_config(catalog) -> PrerenderService:
    return PrerenderService(catalog)
