"""Pushing APDUs to a peer's address on Twisted.

One connection per batch: write the APDUs, shut our sending side, read what the peer says back
(a Status-Or-Error-Report acknowledging a request, or reporting an error) until it closes. A
clean close after our shutdown means the peer read everything: the batch is delivered. A
refused or broken connection, or a peer that does not close within the reply timeout, means it
is not, and the outbox tries again later.
"""
from __future__ import annotations

from twisted.internet import defer, error, protocol

from unishelf.ber import APPLICATION, BERError, Framer


class DeliveryProtocol(protocol.Protocol):
    def __init__(self, apdus: list[bytes], on_reply, max_apdu: int, done: defer.Deferred):
        self.apdus = apdus
        self.on_reply = on_reply
        self.framer = Framer(max_apdu, apdu_class=APPLICATION)
        self.done = done

    def connectionMade(self):
        for apdu in self.apdus:
            self.transport.write(apdu)
        self.transport.loseWriteConnection()

    def dataReceived(self, data: bytes):
        try:
            replies = self.framer.feed(data)
        except BERError:
            self.transport.abortConnection()   # not ILL: whatever it read is not to be trusted
            return
        for reply in replies:
            self.on_reply(reply)

    def connectionLost(self, reason=protocol.connectionDone):
        if not self.done.called:
            if reason.check(error.ConnectionDone) and not self.framer.pending:
                self.done.callback(None)
            else:
                self.done.errback(reason)


class DeliveryFactory(protocol.ClientFactory):
    def __init__(self, apdus: list[bytes], on_reply, max_apdu: int):
        self.apdus = apdus
        self.on_reply = on_reply
        self.max_apdu = max_apdu
        self.done = defer.Deferred()
        self.connection: DeliveryProtocol | None = None

    def buildProtocol(self, addr):
        self.connection = DeliveryProtocol(self.apdus, self.on_reply, self.max_apdu, self.done)
        return self.connection

    def clientConnectionFailed(self, connector, reason):
        if not self.done.called:
            self.done.errback(reason)

    def give_up(self, connector):
        """The reply timeout ran out: drop the connection (or the attempt to make one)."""
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.abortConnection()
        else:
            connector.stopConnecting()


def deliver(reactor, host: str, port: int, apdus: list[bytes], on_reply, max_apdu: int,
            connect_timeout: int, reply_timeout: int) -> defer.Deferred:
    """Send `apdus` to host:port; fires with None once the peer took them, fails otherwise.
    Each APDU the peer sends back goes to `on_reply`."""
    factory = DeliveryFactory(apdus, on_reply, max_apdu)
    connector = reactor.connectTCP(host, port, factory, timeout=connect_timeout)
    timeout = reactor.callLater(reply_timeout, factory.give_up, connector)

    def settled(result):
        if timeout.active():
            timeout.cancel()
        return result
    return factory.done.addBoth(settled)
