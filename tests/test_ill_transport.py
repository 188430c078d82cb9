"""The ILL transport: the connection core without sockets, the Twisted listener on a
StringTransport, the sender and the daemon on a MemoryReactorClock, and the outbox's retries."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import HeldWrites
from test_ill_scenarios import LOAN, MEMBERS, Clock
from twisted.internet import error
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from unishelf.ber import APPLICATION, Framer
from unishelf.config import load_config
from unishelf.ill_iso.apdus import decode_apdu
from unishelf.ill_iso.connection import Connection
from unishelf.ill_iso.daemon import ILLService
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.node import Node
from unishelf.ill_iso.outbox import Outbox, RetryPolicy, due_batches
from unishelf.ill_iso.reports import bare_report
from unishelf.ill_iso.sender import deliver
from unishelf.ill_iso.server import ILLServerFactory
from unishelf.marc.store import Store

CAPTURES = Path(__file__).parent / "data" / "ill"
REQUEST = bytes.fromhex((CAPTURES / "request-copy-rich.hex").read_text())


def reports(data: bytes) -> list[dict]:
    framer = Framer(1 << 20, apdu_class=APPLICATION)
    decoded = [decode_apdu(apdu) for apdu in framer.feed(data)]
    assert all(apdu_type == "Status-Or-Error-Report" for apdu_type, _ in decoded)
    return [value for _, value in decoded]


def problem_of(value: dict):
    return value["error-report"]["provider-error-report"]


def echo(data: bytes) -> list[bytes]:
    """A stand-in node that answers every APDU with a report that has no report."""
    return [bare_report({"reason-no-report": "temporary"}, datetime(2024, 3, 15, tzinfo=timezone.utc),
                        decode_apdu(data)[1]["transaction-id"])]


# -- the connection core ----------------------------------------------------------------------
def test_pipelined_apdus_in_small_pieces_are_each_answered():
    connection = Connection(echo, 1 << 20)
    stream = REQUEST * 3
    replies = [reply for offset in range(0, len(stream), 7) for reply in connection.receive(stream[offset:offset + 7])]
    assert len(replies) == 3 and not connection.closed and connection.end() == []


@pytest.mark.parametrize("stream, reason", [
    (b"GET / HTTP/1.0\r\n\r\n", "not an APDU"),
    (b"\x61\x84\x7f\xff\xff\xff", "larger than 4096"),   # announces 2 GiB
])
def test_a_stream_that_is_not_ill_is_answered_once_and_closed(stream, reason):
    connection = Connection(echo, 4096)
    (report,) = reports(b"".join(connection.receive(stream)))
    assert problem_of(report) == ("general-problem", "badly-structured-APDU") and reason in report["note"]
    assert connection.closed and connection.receive(REQUEST) == []


def test_an_oversized_apdu_is_refused_before_it_is_buffered():
    connection = Connection(echo, 200)
    (report,) = reports(b"".join(connection.receive(REQUEST)))
    assert "larger than 200" in report["note"] and connection.closed


def test_a_stream_cut_off_inside_an_apdu_is_reported_at_the_end():
    connection = Connection(echo, 1 << 20)
    assert connection.receive(REQUEST[:100]) == []
    (report,) = reports(b"".join(connection.end()))
    assert "ended inside an APDU (100 bytes)" in report["note"]


def test_an_apdu_the_node_fails_on_gets_a_report_and_the_connection_goes_on():
    calls = []

    def fragile(data: bytes):
        calls.append(data)
        if len(calls) == 1:
            raise KeyError("boom")
        return echo(data)
    connection = Connection(fragile, 1 << 20)
    first, second = reports(b"".join(connection.receive(REQUEST * 2)))
    assert problem_of(first) == ("general-problem", "other") and "KeyError" in first["note"]
    assert second["reason-no-report"] == "temporary" and not connection.closed


# -- the listener -----------------------------------------------------------------------------
def server(receive=echo, **limits):
    settings = {"max_apdu": 1 << 20, "max_connections": 2, "idle_timeout": 60, **limits}
    return ILLServerFactory(receive, **settings)


def connected(factory, clock=None):
    protocol = factory.buildProtocol(None)
    if clock is not None:
        protocol.callLater = clock.callLater
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def test_the_listener_answers_and_closes_after_the_peer_half_closes():
    protocol, transport = connected(server())
    protocol.dataReceived(REQUEST)
    assert len(reports(transport.value())) == 1 and not transport.disconnecting
    protocol.readConnectionLost()
    assert transport.disconnecting


def test_the_listener_gives_the_node_each_piece_where_writes_run_in_order_and_then_closes():
    writes = HeldWrites()
    protocol, transport = connected(server(writes=writes))
    protocol.dataReceived(REQUEST)
    protocol.dataReceived(REQUEST)
    protocol.readConnectionLost()
    assert transport.value() == b"" and transport.producerState == "paused" and len(writes.calls) == 1
    writes.release()
    assert len(reports(transport.value())) == 1 and not transport.disconnecting
    writes.release()   # what came while the node was taking the first
    assert len(reports(transport.value())) == 2 and transport.disconnecting and not writes.calls


def test_the_listener_reports_a_truncated_apdu_at_half_close():
    protocol, transport = connected(server())
    protocol.dataReceived(REQUEST[:50])
    protocol.readConnectionLost()
    (report,) = reports(transport.value())
    assert "ended inside an APDU" in report["note"] and transport.disconnecting


def test_the_listener_closes_on_garbage_and_when_idle_and_over_the_limit():
    factory = server()
    protocol, transport = connected(factory)
    protocol.dataReceived(b"\x00\x01garbage")
    assert len(reports(transport.value())) == 1 and transport.disconnecting
    clock = MemoryReactorClock()
    idle, idle_transport = connected(factory, clock)
    clock.advance(61)
    assert idle_transport.disconnecting
    third, third_transport = connected(factory)
    assert factory.active == 2 and third_transport.disconnecting   # refused: two are open
    for each in (protocol, idle):
        each.connectionLost(Failure(error.ConnectionDone()))
    assert factory.active == 0


# -- the sender -------------------------------------------------------------------------------
class HalfCloseTransport(StringTransport):
    write_closed = False

    def loseWriteConnection(self):
        self.write_closed = True


def sending(apdus, replies):
    reactor = MemoryReactorClock()
    done = deliver(reactor, "127.0.0.1", 4990, apdus, replies.append, 1 << 20, connect_timeout=10, reply_timeout=30)
    results = []
    done.addBoth(results.append)
    host, port, factory, timeout, _ = reactor.tcpClients[0]
    assert (host, port, timeout) == ("127.0.0.1", 4990, 10)
    return reactor, factory, results


def test_a_batch_is_delivered_when_the_peer_closes_after_reading_it():
    replies = []
    reactor, factory, results = sending([REQUEST, REQUEST], replies)
    protocol = factory.buildProtocol(None)
    transport = HalfCloseTransport()
    protocol.makeConnection(transport)
    assert transport.value() == REQUEST * 2 and transport.write_closed
    answer = echo(REQUEST)[0]
    protocol.dataReceived(answer[:10])
    protocol.dataReceived(answer[10:])
    assert replies == [answer] and results == []
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert results == [None] and not reactor.getDelayedCalls()


@pytest.mark.parametrize("how", ["refused", "reset", "timeout", "garbage"])
def test_a_batch_is_not_delivered_when_the_connection_fails(how):
    reactor, factory, results = sending([REQUEST], [])
    if how == "refused":
        factory.clientConnectionFailed(None, Failure(error.ConnectionRefusedError()))
    else:
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(HalfCloseTransport())
        if how == "reset":
            protocol.connectionLost(Failure(error.ConnectionLost()))
        elif how == "timeout":
            reactor.advance(30)
            assert protocol.transport.disconnecting
            protocol.connectionLost(Failure(error.ConnectionAborted()))
        else:
            protocol.dataReceived(b"HTTP/1.0 400 Bad Request\r\n")
            protocol.connectionLost(Failure(error.ConnectionAborted()))
    (result,) = results
    assert isinstance(result, Failure)
    result.trap(error.ConnectError, error.ConnectionLost)


# -- the outbox -------------------------------------------------------------------------------
def test_due_batches_keep_each_peers_order_and_wait_for_its_oldest():
    entries = [{"seq": n, "to": to, "next": next_try} for n, to, next_try in [
        (1, "A", 0), (2, "B", 50), (3, "A", 0), (4, "B", 0), (5, "C", 0), (6, "A", 0)]]
    batches = due_batches(entries, now=10, busy={"C"}, batch=2)
    assert {peer: [e["seq"] for e in batch] for peer, batch in batches.items()} == {"A": [1, 3]}


def test_retry_delays_double_up_to_the_maximum():
    policy = RetryPolicy(first=30, maximum=100, stuck_after=3)
    assert [policy.delay(tries) for tries in (1, 2, 3, 4)] == [30, 60, 100, 100]
    assert policy.stuck({"tries": 3}) and not policy.stuck({"tries": 2})


# -- the daemon -------------------------------------------------------------------------------
@pytest.fixture
def daemon(tmp_path):
    reactor = MemoryReactorClock()
    config = load_config(None, {"data_dir": str(tmp_path), "listen.ill_port": 4991})
    nodes = {}

    def make(code, served, writes=None):
        nodes[code] = Node(Store(tmp_path / code), Directory(MEMBERS, served), clock=Clock())
        return ILLService(nodes[code], Outbox(nodes[code].store, RetryPolicy(first=5, maximum=60, stuck_after=2),
                                              clock=reactor.seconds), config, reactor, writes)
    yield reactor, make, nodes
    for node in nodes.values():
        node.store.close()


def test_the_daemon_listens_stamps_what_it_serves_and_pushes_the_outbox(daemon):
    reactor, make, nodes = daemon
    service = make("NORTH", ["NORTH"])
    service.startService()
    assert reactor.tcpServers[0][0] == 4991
    with nodes["NORTH"].store.reading() as reader:
        assert reader.ill_served() == ["NORTH"]
    nodes["NORTH"].request("NORTH", "CENTRAL", LOAN, "staff")
    central = Node(Store(nodes["NORTH"].store.path.parent / "CENTRAL"), Directory(MEMBERS, ["CENTRAL"]), clock=Clock())
    nodes["CENTRAL"] = central
    reactor.advance(0.5)   # the next look at the outbox
    host, port, factory, _, _ = reactor.tcpClients[0]
    assert (host, port) == ("127.0.0.1", 4990)
    protocol = factory.buildProtocol(None)
    transport = HalfCloseTransport()
    protocol.makeConnection(transport)
    for reply in central.receive(transport.value()):
        protocol.dataReceived(reply)
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert service.outbox.entries() == [] and service.sending == set()
    with nodes["NORTH"].store.reading() as reader:
        (transaction,) = reader.ill_transactions()
        assert reader.ill_history(transaction["number"])[-1]["note"] == "status IN-PROCESS"
    service.stopService()
    assert not any(loop.running for loop in service.loops)


def test_the_daemon_retries_failed_sends_with_backoff_and_calls_them_stuck(daemon):
    reactor, make, nodes = daemon
    service = make("NORTH", ["NORTH"])
    service.startService()
    nodes["NORTH"].request("NORTH", "CENTRAL", LOAN, "staff")
    for attempt, wait in enumerate([0.5, 5, 10], 1):
        reactor.advance(wait)
        assert len(reactor.tcpClients) == attempt
        reactor.tcpClients[-1][2].clientConnectionFailed(None, Failure(error.ConnectionRefusedError()))
        (entry,) = service.outbox.entries()
        assert entry["tries"] == attempt and "refused" in entry["error"]
    reactor.advance(19)
    assert len(reactor.tcpClients) == 3   # the fourth try waits 20 s
    assert service.outbox.policy.stuck(entry)
    service.stopService()


def test_the_daemon_delivers_inside_itself_between_libraries_it_serves(daemon):
    reactor, make, nodes = daemon
    service = make("BOTH", ["NORTH", "CENTRAL"])
    service.startService()
    node = nodes["BOTH"]
    reference = node.request("NORTH", "CENTRAL", LOAN, "staff").transaction.display_id
    reactor.advance(0.5)
    assert reactor.tcpClients == [] and service.outbox.entries() == []
    with node.store.reading() as reader:
        states = {(t["role"], t["library"]): t["state"] for t in reader.ill_transactions()}
    assert states == {("requester", "NORTH"): "PENDING", ("responder", "CENTRAL"): "IN-PROCESS"}
    node.command(reference, "answer", {"kind": "unfilled"}, "staff", library="CENTRAL")
    node.command(reference, "message", {"note": "sorry"}, "staff", library="CENTRAL")
    reactor.advance(0.5)
    with node.store.reading() as reader:
        assert node.find(reader, reference, "NORTH").state == "NOT-SUPPLIED"
        assert reader.ill_history(node.find(reader, reference, "NORTH").number)[-1]["note"] == "sorry"
    service.stopService()


def test_the_daemon_writes_where_writes_run_and_sends_nothing_twice_meanwhile(daemon):
    reactor, make, nodes = daemon
    writes = HeldWrites()
    service = make("BOTH", ["NORTH", "CENTRAL"], writes)
    service.startService()
    stamp = service.node.store.stamp_ill_served   # what staff commands read, then the timers' first round
    assert [call[1] for call in writes.calls] == [stamp, service._fire_timers]
    nodes["BOTH"].request("NORTH", "CENTRAL", LOAN, "staff")
    reactor.advance(0.5)
    reactor.advance(0.5)   # a second look at the outbox while the first delivery waits
    assert [call[1] for call in writes.calls] == [stamp, service._fire_timers, service._deliver_here]
    assert service.sending == {"CENTRAL"}
    writes.release()
    writes.release()
    writes.release()
    assert service.sending == set() and service.outbox.entries() == []
    service.stopService()


def test_a_peer_without_an_address_fails_with_a_reason(daemon):
    reactor, make, nodes = daemon
    service = make("NORTH", ["NORTH"])
    service.node.directory.members["CENTRAL"] = Member("CENTRAL", "Central", "CENTRAL", None, None)
    service.startService()
    nodes["NORTH"].request("NORTH", "CENTRAL", LOAN, "staff")
    reactor.advance(0.5)
    (entry,) = service.outbox.entries()
    assert entry["error"] == "CENTRAL has no ill_address in the configuration" and reactor.tcpClients == []
    service.stopService()
