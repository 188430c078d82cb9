"""The ILL listener on Twisted: a thin adapter moving bytes between TCP and a `Connection`.

The connection is half-closeable: a peer that has sent its APDUs may shut its sending side and
still read the replies; we close once they are written. A sending node takes that close as
proof that everything it sent was read and taken.

Every APDU writes to the store (the transaction it moves on), so the node takes them where the
factory's writes run (see unishelf.writes), one piece of the stream at a time and in order;
meanwhile the connection reads nothing more and is not idle.
"""
from __future__ import annotations

from twisted.internet import protocol
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

from unishelf.ill_iso.connection import Connection
from unishelf.writes import InlineWrites, PausedWhileWriting


@implementer(IHalfCloseableProtocol)
class ILLServerProtocol(PausedWhileWriting, protocol.Protocol, TimeoutMixin):
    connection: Connection | None = None
    counted = False
    ended = False   # the peer has finished sending

    def connectionMade(self):
        factory = self.factory
        if factory.active >= factory.max_connections:
            self.transport.loseConnection()   # over the limit: refused before any APDU
            return
        factory.active += 1
        self.counted = True
        self.connection = Connection(factory.receive, factory.max_apdu)
        self.held: list[bytes] = []   # arrived, not yet given to the node
        self.setTimeout(factory.idle_timeout)

    def dataReceived(self, data: bytes):
        if self.connection is None:
            return
        self.resetTimeout()
        self.held.append(data)
        self._next()

    def readConnectionLost(self):
        self.ended = True
        if self.connection is None:
            self.transport.loseConnection()
        else:
            self._next()

    def writeConnectionLost(self):
        self.transport.loseConnection()

    def _next(self):
        """Give the node what has arrived, or end the connection once it has taken it all."""
        if self.writing or self.gone:
            return
        if self.held and not self.connection.closed:
            data, self.held = b"".join(self.held), []
            self.hand_to_writes(self._taken, self.connection.receive, data)
        elif self.ended:
            self._write(self.connection.end())
            self.transport.loseConnection()

    def _taken(self, replies: list[bytes]):
        self._write(replies)
        self._next()

    def _write(self, replies: list[bytes]):
        for reply in replies:
            self.transport.write(reply)
        if self.connection.closed:
            self.transport.loseConnection()

    def timeoutConnection(self):
        self.transport.loseConnection()

    def connectionLost(self, reason=protocol.connectionDone):
        self.gone = True
        self.setTimeout(None)
        if self.counted:
            self.factory.active -= 1
            self.counted = False


class ILLServerFactory(protocol.ServerFactory):
    protocol = ILLServerProtocol

    def __init__(self, receive, max_apdu: int, max_connections: int, idle_timeout: int, writes=None):
        self.receive = receive   # one APDU's bytes -> the replies (Node.receive)
        self.writes = writes or InlineWrites()
        self.max_apdu = max_apdu
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.active = 0
