"""The ILL listener on Twisted: a thin adapter moving bytes between TCP and a `Connection`.

The connection is half-closeable: a peer that has sent its APDUs may shut its sending side and
still read the replies; we close once they are written. A sending node takes that close as
proof that everything it sent was read and taken.
"""
from __future__ import annotations

from twisted.internet import protocol
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

from unishelf.ill_iso.connection import Connection


@implementer(IHalfCloseableProtocol)
class ILLServerProtocol(protocol.Protocol, TimeoutMixin):
    connection: Connection | None = None
    counted = False

    def connectionMade(self):
        factory = self.factory
        if factory.active >= factory.max_connections:
            self.transport.loseConnection()   # over the limit: refused before any APDU
            return
        factory.active += 1
        self.counted = True
        self.connection = Connection(factory.receive, factory.max_apdu)
        self.setTimeout(factory.idle_timeout)

    def dataReceived(self, data: bytes):
        if self.connection is None:
            return
        self.resetTimeout()
        self._write(self.connection.receive(data))

    def readConnectionLost(self):
        if self.connection is not None:
            self._write(self.connection.end())
        self.transport.loseConnection()

    def writeConnectionLost(self):
        self.transport.loseConnection()

    def _write(self, replies: list[bytes]):
        for reply in replies:
            self.transport.write(reply)
        if self.connection.closed:
            self.transport.loseConnection()

    def timeoutConnection(self):
        self.transport.loseConnection()

    def connectionLost(self, reason=protocol.connectionDone):
        self.setTimeout(None)
        if self.counted:
            self.factory.active -= 1
            self.counted = False


class ILLServerFactory(protocol.ServerFactory):
    protocol = ILLServerProtocol

    def __init__(self, receive, max_apdu: int, max_connections: int, idle_timeout: int):
        self.receive = receive   # one APDU's bytes -> the replies (Node.receive)
        self.max_apdu = max_apdu
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.active = 0
