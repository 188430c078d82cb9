"""Z39.50 on Twisted: a thin adapter moving bytes between TCP and an `Association`.

A request that writes (Extended Services) is answered where the factory's writes run (see
unishelf.writes): meanwhile the connection reads nothing more, and what had already arrived
waits, so every answer goes back in the order asked.
"""
from __future__ import annotations

from twisted.internet import protocol
from twisted.protocols.policies import TimeoutMixin

from unishelf.auth import Users
from unishelf.writes import InlineWrites, PausedWhileWriting

from .association import Association, Limits
from .item_order import ItemOrderService


class Z3950Protocol(PausedWhileWriting, protocol.Protocol, TimeoutMixin):
    def connectionMade(self):
        factory = self.factory
        if factory.active >= factory.max_connections:
            self.transport.loseConnection()  # over the limit: refuse before any APDU
            return
        factory.active += 1
        self.counted = True
        self.association = Association(factory.catalog, factory.users, factory.limits,
                                       item_orders=factory.item_orders, defer_writes=True)
        self.held: list[bytes] = []   # what arrived while writing
        self.setTimeout(factory.idle_timeout)

    def dataReceived(self, data: bytes):
        if self.writing:
            self.held.append(data)
            return
        self.resetTimeout()
        self._send(self.association.receive(data))

    def _send(self, replies: list[bytes]):
        for reply in replies:
            self.transport.write(reply)
        if self.association.closed:
            self.setTimeout(None)
            self.transport.loseConnection()
        elif self.association.write_waiting is not None:
            self.hand_to_writes(self._answered, self.association.answer_write)

    def _answered(self, replies: list[bytes]):
        held, self.held = b"".join(self.held), []
        self._send(replies + self.association.receive(held))

    def timeoutConnection(self):
        """Idle too long: say so with a Close (lackOfActivity) before hanging up."""
        self.transport.write(self.association.close_for_inactivity())
        self.transport.loseConnection()

    def connectionLost(self, reason=protocol.connectionDone):
        self.gone = True
        self.setTimeout(None)
        if getattr(self, "counted", False):
            self.factory.active -= 1


class Z3950Factory(protocol.ServerFactory):
    protocol = Z3950Protocol

    def __init__(self, catalog, users: Users, limits: Limits, max_connections: int, idle_timeout: int,
                 item_orders: ItemOrderService | None = None, writes=None):
        self.catalog = catalog
        self.writes = writes or InlineWrites()
        self.item_orders = item_orders
        self.users = users
        self.limits = limits
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.active = 0


def factory_from_config(catalog) -> Z3950Factory:
    config = catalog.config
    limits = Limits(max_apdu=config.limit("apdu_size"), max_result_sets=config.limit("result_sets"))
    return Z3950Factory(catalog, Users.from_config(config, catalog.store), limits, config.limit("connections"),
                        config.limit("idle_timeout"), ItemOrderService(catalog), catalog.writes)
