"""The ILL daemon: what `unishelf serve` runs for ISO ILL, in its main process only.

It listens for peers, sends the outbox (looking at it every `ill.send.poll_ms`, since staff
commands queue APDUs from their own processes), and fires timers. It keeps nothing that is not
in the store: a restart reads the outbox and the timers again and carries on. What writes to the
store (taking APDUs, firing timers, marking the outbox) runs where the process's writes run (see
unishelf.writes), so a bulk load holding the store does not hold up the reactor.
"""
from __future__ import annotations

import functools
import logging

from twisted.application import service
from twisted.internet import task

from unishelf.config import parse_size
from unishelf.ill_iso.directory import Directory
from unishelf.ill_iso.machine import Machine
from unishelf.ill_iso.node import Node, Settings, catalogue_search
from unishelf.ill_iso.outbox import Outbox, RetryPolicy
from unishelf.ill_iso.routing import Router
from unishelf.ill_iso.sender import deliver
from unishelf.ill_iso.server import ILLServerFactory
from unishelf.ill_iso.tables import REQUESTER, RESPONDER
from unishelf.writes import InlineWrites

log = logging.getLogger("unishelf.ill")


class ILLService(service.Service):
    name = "ill"

    def __init__(self, node: Node, outbox: Outbox, config, reactor=None, writes=None):
        if reactor is None:
            from twisted.internet import reactor
        self.writes = writes or InlineWrites()
        self.node = node
        self.outbox = outbox
        self.reactor = reactor
        self.listen = config["listen"]
        ill = config["ill"]
        self.send = ill["send"]
        self.timer_interval = ill["timers"]["interval"]
        self.max_apdu = parse_size(ill["limits"]["apdu_size"])
        self.limits = ill["limits"]
        self.sending: set[str] = set()   # peers a batch is on its way to
        self.port = None
        self.loops: list[task.LoopingCall] = []

    @property
    def description(self) -> str:
        address = self.port.getHost() if self.port else None
        served = ", ".join(self.node.directory.served) or "no library (set ill.serves)"
        return f"ISO ILL on {address.host}:{address.port} for {served}" if address else "ISO ILL"

    def startService(self):
        super().startService()
        self.writes.run(self.node.store.stamp_ill_served, self.node.directory.served)
        factory = ILLServerFactory(self.node.receive, self.max_apdu, self.limits["connections"],
                                   self.limits["idle_timeout"], self.writes)
        self.port = self.reactor.listenTCP(self.listen["ill_port"], factory, interface=self.listen["host"])
        for action, seconds in ((self.send_due, self.send["poll_ms"] / 1000),
                                (self.fire_timers, self.timer_interval)):
            loop = task.LoopingCall(action)
            loop.clock = self.reactor
            loop.start(seconds, now=True)
            self.loops.append(loop)

    def stopService(self):
        super().stopService()
        for loop in self.loops:
            if loop.running:
                loop.stop()
        self.loops = []
        if self.port is not None:
            return self.port.stopListening()

    def fire_timers(self):
        return self.writes.run(self._fire_timers)   # the loop waits for it before it goes round again

    def _fire_timers(self):
        try:
            for outcome in self.node.fire_timers():
                log.info("timer: %s for #%d", outcome.apdu_type, outcome.transaction.number)
        except Exception:   # one bad timer must not stop the loop
            log.exception("ILL timers failed")

    def send_due(self):
        try:
            batches = self.outbox.due(self.sending)
        except Exception:
            log.exception("ILL outbox unreadable")
            return
        for peer, entries in batches.items():
            self.sending.add(peer)   # until the outbox says what became of these entries
            if self.node.directory.is_served(peer):
                sent = self.writes.run(self._deliver_here, entries)
            else:
                sent = self._deliver_to(peer, entries)
            sent.addErrback(lambda failure: log.error("ILL outbox: %s", failure)).addBoth(
                lambda _, peer=peer: self.sending.discard(peer))

    def _deliver_here(self, entries: list[dict]):
        """A peer this node serves too: the receiving end takes the APDU at once."""
        for entry in entries:
            sender_role = entry["role"]
            receiver_role = RESPONDER if sender_role == REQUESTER else REQUESTER
            try:
                for reply in self.node.receive(entry["apdu"], role=receiver_role):
                    self.node.receive(reply, end=entry["number"])
            except Exception as error:
                log.exception("ILL delivery inside the node failed")
                self.outbox.failed([entry["seq"]], f"{type(error).__name__}: {error}")
                return
            self.outbox.delivered([entry["seq"]])

    def _deliver_to(self, peer: str, entries: list[dict]):
        seqs = [entry["seq"] for entry in entries]
        member = self.node.directory.member(peer)
        if member is None or member.host is None:
            return self.writes.run(self.outbox.failed, seqs, f"{peer} has no ill_address in the configuration")
        sent = deliver(self.reactor, member.host, member.port, [entry["apdu"] for entry in entries],
                       self._reply, self.max_apdu, self.send["connect_timeout"], self.send["reply_timeout"])

        def failed(failure):
            log.info("ILL send to %s at %s failed: %s", peer, member.address, failure.getErrorMessage())
            return self.writes.run(self.outbox.failed, seqs, failure.getErrorMessage())
        return sent.addCallbacks(lambda _: self.writes.run(self.outbox.delivered, seqs), failed)

    def _reply(self, data: bytes):
        """What a peer said back on our connection; answers to it could not go back anyway."""
        self.writes.run(self._take_reply, data)

    def _take_reply(self, data: bytes):
        try:
            self.node.receive(data)
        except Exception:
            log.exception("ILL reply not taken")


def service_from_config(catalog) -> ILLService:
    config = catalog.config
    directory = Directory.from_config(config)
    node = Node(catalog.store, directory, Machine(), Settings.from_config(config), router=Router.from_config(config),
                catalogue_search=functools.partial(catalogue_search, config, catalog.store))
    return ILLService(node, Outbox(catalog.store, RetryPolicy.from_config(config)), config,
                      writes=catalog.writes)
