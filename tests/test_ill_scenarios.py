"""Paired protocol machines: every ILL scenario, with each node in each role, no sockets.

Two nodes each have their own store; `Network` carries each outbox to the other node and the
replies back, as the daemon does over TCP. After every step both ends' states must be what
the scenario says, so the two state tables are checked against each other. The scenarios are
data, and `test_ill_nodes.py` runs them again between two real nodes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from unishelf.ill_iso.apdus import decode_apdu
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.node import Node
from unishelf.ill_iso.outbox import Outbox
from unishelf.marc.store import Store

MEMBERS = [Member("NORTH", "Northern University Library", "NORTH", "127.0.0.1", 4991),
           Member("CENTRAL", "Central Library", "CENTRAL", "127.0.0.1", 4990)]
R, S = "requester", "responder"
LOAN = {"item": {"title": "Water supply engineering", "iSBN": "0262032937"}, "services": ["loan"]}
COPY = {"item": {"title": "Journal of water supply", "iSSN": "00431354",
                 "title-of-article": "Pipes and people"}, "services": ["copy"]}


def request(params=LOAN):
    return (R, "request", params, ("PENDING", "IN-PROCESS"))


WILL_SUPPLY = (S, "answer", {"kind": "will-supply"}, ("PENDING", "IN-PROCESS"))
SHIP = [WILL_SUPPLY, (S, "ship", {}, ("SHIPPED", "SHIPPED"))]
RECEIVE = [*SHIP, (R, "receive", {}, ("RECEIVED", "RECEIVED"))]
RETURN = [(R, "return", {}, ("RETURNED", "RETURNED")), (S, "check-in", {}, ("RETURNED", "CHECKED-IN"))]
CANCEL = (R, "cancel", {"note": "no longer needed"}, ("CANCEL-PENDING", "CANCEL-PENDING"))
CONDITIONAL = (S, "answer", {"kind": "conditional", "condition": "library-use-only"},
               ("CONDITIONAL", "CONDITIONAL"))

# A step: (who acts, staff command, parameters, (requester state, responder state) afterwards).
# Expected None: the APDU stays on the wire for now (it crosses the next one).
SCENARIOS = {
    "loan": [request(), *RECEIVE, *RETURN],
    "copy": [request(COPY), WILL_SUPPLY, (S, "ship", {"service": "copy"}, ("SHIPPED", "SHIPPED")),
             (R, "receive", {}, ("RECEIVED", "RECEIVED"))],
    "unfilled": [request(), (S, "answer", {"kind": "unfilled", "reason": "not-owned"},
                             ("NOT-SUPPLIED", "NOT-SUPPLIED"))],
    "retry": [request(), (S, "answer", {"kind": "retry", "reason": "in-use-on-loan", "date": "2024-04-01"},
                          ("NOT-SUPPLIED", "NOT-SUPPLIED"))],
    "locations-provided": [request(), (S, "answer", {"kind": "locations-provided", "locations": ["EAST"]},
                                       ("NOT-SUPPLIED", "NOT-SUPPLIED"))],
    "estimate": [request(), (S, "answer", {"kind": "estimate", "cost": "NZD 12.50"},
                             ("NOT-SUPPLIED", "NOT-SUPPLIED"))],
    "hold-placed": [request(), (S, "answer", {"kind": "hold-placed", "date": "2024-04-01"},
                                ("PENDING", "IN-PROCESS")), *RECEIVE[1:], *RETURN],
    "conditional-accepted": [request(), CONDITIONAL,
                             (R, "conditional-reply", {"answer": True}, ("PENDING", "IN-PROCESS")),
                             *RECEIVE[1:], *RETURN],
    "conditional-refused": [request(), CONDITIONAL,
                            (R, "conditional-reply", {"answer": False}, ("NOT-SUPPLIED", "NOT-SUPPLIED"))],
    "cancel-before-shipping": [request(), CANCEL,
                               (S, "cancel-reply", {"answer": True}, ("CANCELLED", "CANCELLED"))],
    "cancel-refused": [request(), CANCEL, (S, "cancel-reply", {"answer": False}, ("PENDING", "IN-PROCESS")),
                       *RECEIVE[1:], *RETURN],
    "cancel-after-shipping": [request(), WILL_SUPPLY, (S, "ship", {}, None),
                              (R, "cancel", {}, ("SHIPPED", "SHIPPED")), (R, "receive", {}, ("RECEIVED", "RECEIVED")),
                              *RETURN],
    "cancel-of-a-conditional": [request(), CONDITIONAL, CANCEL,
                                (S, "cancel-reply", {"answer": True}, ("CANCELLED", "CANCELLED"))],
    "renew-granted": [request(), *RECEIVE,
                      (R, "renew", {"until": "2024-05-15"}, ("RENEW-PENDING", "RENEW-PENDING")),
                      (S, "renew-answer", {"answer": True, "due": "2024-05-15"}, ("RECEIVED", "RECEIVED")),
                      *RETURN],
    "renew-refused": [request(), *RECEIVE, (R, "renew", {}, ("RENEW-PENDING", "RENEW-PENDING")),
                      (S, "renew-answer", {"answer": False}, ("RECEIVED", "RECEIVED")), *RETURN],
    "recall": [request(), *RECEIVE, (S, "recall", {"note": "needed here"}, ("RECALL", "RECALL")), *RETURN],
    "recall-before-received": [request(), *SHIP, (S, "recall", {}, ("RECALL", "RECALL")),
                               (R, "receive", {}, ("RECALL", "RECALL")), *RETURN],
    "overdue": [request(), *RECEIVE, (S, "overdue", {}, ("OVERDUE", "OVERDUE")),
                (R, "renew", {}, ("RENEW-OVERDUE", "RENEW-OVERDUE")),
                (S, "renew-answer", {"answer": False}, ("OVERDUE", "OVERDUE")), *RETURN],
    "overdue-renewed": [request(), *RECEIVE, (S, "overdue", {}, ("OVERDUE", "OVERDUE")),
                        (R, "renew", {}, ("RENEW-OVERDUE", "RENEW-OVERDUE")),
                        (S, "renew-answer", {"answer": True}, ("RECEIVED", "RECEIVED")), *RETURN],
    "overdue-before-received": [request(), *SHIP, (S, "overdue", {}, ("NOT-RECEIVED-OVERDUE", "OVERDUE")),
                                (R, "receive", {}, ("OVERDUE", "OVERDUE")), *RETURN],
    "lost": [request(), *RECEIVE, (R, "lost", {"note": "left on a train"}, ("LOST", "LOST"))],
    "lost-in-transit": [request(), *SHIP, (S, "lost", {}, ("LOST", "LOST"))],
    "lost-on-the-way-back": [request(), *RECEIVE, RETURN[0], (S, "lost", {}, ("LOST", "LOST"))],
    "damaged": [request(), *RECEIVE, (R, "damaged", {"units": [3, 4]}, ("RECEIVED", "RECEIVED")),
                RETURN[0], (S, "damaged", {"note": "water damage"}, ("RETURNED", "RETURNED")), RETURN[1]],
    "message-and-status-query": [request(), (S, "message", {"note": "looking for it"}, ("PENDING", "IN-PROCESS")),
                                 (R, "status-query", {}, ("PENDING", "IN-PROCESS")), *SHIP,
                                 (S, "status-query", {"note": "arrived?"}, ("SHIPPED", "SHIPPED")),
                                 (R, "message", {"note": "yes, thanks"}, ("SHIPPED", "SHIPPED"))],
}
ROLES = [("NORTH", "CENTRAL"), ("CENTRAL", "NORTH")]


class Clock:
    def __init__(self):
        self.now = datetime(2024, 3, 15, 10, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def advance(self, days: int):
        self.now += timedelta(days=days)


def carry(nodes: dict[str, Node]):
    """Carry every node's outbox to its peers, replies back, until nothing is left to send."""
    moved = True
    while moved:
        moved = False
        for node in nodes.values():
            outbox = Outbox(node.store)
            for peer, entries in outbox.due().items():
                for entry in entries:
                    for reply in nodes[peer].receive(entry["apdu"]):
                        node.receive(reply)
                outbox.delivered([entry["seq"] for entry in entries])
                moved = True


class Network:
    """Two nodes on their own stores and the wire between them, in memory."""

    def __init__(self, path, clock=None):
        self.path = path
        self.clock = clock or Clock()
        self.nodes = {}
        for code in ("NORTH", "CENTRAL"):
            self.open(code)

    def open(self, code: str):
        self.nodes[code] = Node(Store(self.path / code), Directory(MEMBERS, [code]), clock=self.clock)

    def restart(self, code: str):
        """As after kill -9: nothing but the store survives."""
        self.nodes[code].store.close()
        self.open(code)

    def close(self):
        for node in self.nodes.values():
            node.store.close()

    def deliver(self):
        carry(self.nodes)

    def transaction(self, code: str, reference: str):
        node = self.nodes[code]
        with node.store.reading() as reader:
            return node.find(reader, reference)

    def history(self, code: str, reference: str) -> list[dict]:
        node = self.nodes[code]
        with node.store.reading() as reader:
            return reader.ill_history(node.find(reader, reference).number)

    def states(self, requester: str, responder: str, reference: str) -> tuple[str, str]:
        return (self.transaction(requester, reference).state, self.transaction(responder, reference).state)


def run_steps(network: Network, requester: str, responder: str, steps, reference: str | None = None) -> str:
    for actor, command, params, expected in steps:
        code = requester if actor == R else responder
        node = network.nodes[code]
        if command == "request":
            reference = node.request(code, responder, params, "staff").transaction.display_id
        else:
            node.command(reference, command, params, "staff")
        if expected is None:
            continue
        network.deliver()
        assert network.states(requester, responder, reference) == expected, (command, params)
    return reference


@pytest.mark.parametrize("requester, responder", ROLES)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(network, name, requester, responder):
    reference = run_steps(network, requester, responder, SCENARIOS[name])
    assert network.transaction(requester, reference).transaction_id == network.transaction(
        responder, reference).transaction_id
    for code in (requester, responder):   # nothing was refused along the way
        assert all(entry["outcome"] != "refused" for entry in network.history(code, reference)
                   if name != "cancel-after-shipping"), code


def test_both_ends_agree_on_the_facts(network):
    reference = run_steps(network, "NORTH", "CENTRAL", SCENARIOS["renew-granted"][:6])
    ends = [network.transaction(code, reference) for code in ("NORTH", "CENTRAL")]
    assert {(t.shipped_service, t.due_date, t.renewable, t.results) for t in ends} == {
        ("loan", "20240515", True, "will-supply")}
    assert ends[0].transaction_id["initial-requester-id"] == {
        "person-or-institution-symbol": ("institution-symbol", "NORTH"),
        "name-of-person-or-institution": ("name-of-institution", "Northern University Library")}
    assert reference.startswith("NORTH/20240315/0000")


def test_every_request_is_acknowledged_with_a_status_report(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [request()])
    (sent, ack) = network.history("NORTH", reference)
    assert (sent["type"], sent["outcome"]) == ("ILL-Request", "queued")
    assert (ack["type"], ack["note"], ack["after"]) == ("Status-Or-Error-Report", "status IN-PROCESS", "PENDING")
    report = decode_apdu(ack["apdu"])[1]["status-report"]
    assert report["provider-status-report"] == "iN-PROCESS"
    assert report["user-status-report"]["title"] == "Water supply engineering"


def test_a_status_query_is_answered_with_the_other_ends_state(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [request(), *SHIP, (R, "status-query", {}, ("SHIPPED", "SHIPPED"))])
    last = network.history("NORTH", reference)[-1]
    assert (last["direction"], last["type"], last["note"]) == ("received", "Status-Or-Error-Report", "status SHIPPED")
    history = decode_apdu(last["apdu"])[1]["status-report"]["user-status-report"]
    assert (history["most-recent-service"], history["shipped-service-type"]) == ("sHIPPED", "loan")


def test_a_cancel_that_crossed_shipped_is_reported_to_staff(network):
    reference = run_steps(network, "NORTH", "CENTRAL", SCENARIOS["cancel-after-shipping"][:4])
    requester = network.transaction("NORTH", reference)
    assert requester.attention.startswith("error state-transition-prohibited")
    refused = [entry for entry in network.history("CENTRAL", reference) if entry["outcome"] == "refused"]
    assert [(entry["type"], entry["before"]) for entry in refused] == [("Cancel", "SHIPPED")]


@pytest.mark.parametrize("requester, responder", ROLES)
def test_the_expiry_timer_sends_expired(network, requester, responder):
    reference = run_steps(network, requester, responder, [request({**LOAN, "need_before": "2024-03-20"})])
    network.nodes[responder].fire_timers()
    assert network.states(requester, responder, reference) == ("PENDING", "IN-PROCESS")
    network.clock.advance(days=6)
    (outcome,) = network.nodes[responder].fire_timers()
    assert outcome.apdu_type == "Expired"
    network.deliver()
    assert network.states(requester, responder, reference) == ("NOT-SUPPLIED", "NOT-SUPPLIED")
    assert network.nodes[responder].fire_timers() == []


def test_the_due_timer_sends_overdue_once(network):
    steps = [request(), WILL_SUPPLY, (S, "ship", {"due": "2024-03-20"}, ("SHIPPED", "SHIPPED")), *RECEIVE[2:]]
    reference = run_steps(network, "NORTH", "CENTRAL", steps)
    network.clock.advance(days=5)
    assert network.nodes["CENTRAL"].fire_timers() == []   # due today: not overdue yet
    network.clock.advance(days=1)
    assert [o.apdu_type for o in network.nodes["CENTRAL"].fire_timers()] == ["Overdue"]
    network.deliver()
    assert network.states("NORTH", "CENTRAL", reference) == ("OVERDUE", "OVERDUE")
    network.clock.advance(days=5)
    assert network.nodes["CENTRAL"].fire_timers() == []


def test_an_answer_stops_the_expiry_timer_and_a_renewal_moves_the_due_timer(network):
    steps = [request({**LOAN, "need_before": "2024-03-20"}), WILL_SUPPLY,
             (S, "ship", {"due": "2024-03-25"}, ("SHIPPED", "SHIPPED")), *RECEIVE[2:],
             (R, "renew", {}, ("RENEW-PENDING", "RENEW-PENDING")),
             (S, "renew-answer", {"answer": True, "due": "2024-04-25"}, ("RECEIVED", "RECEIVED"))]
    reference = run_steps(network, "NORTH", "CENTRAL", steps)
    network.clock.advance(days=20)
    assert network.nodes["CENTRAL"].fire_timers() == []
    assert network.states("NORTH", "CENTRAL", reference) == ("RECEIVED", "RECEIVED")
    network.clock.advance(days=30)
    assert [o.apdu_type for o in network.nodes["CENTRAL"].fire_timers()] == ["Overdue"]


@pytest.mark.parametrize("who", ["NORTH", "CENTRAL"])
def test_a_node_restarted_in_every_state_carries_on(network, who):
    """After every step the node restarts from its store, with APDUs still in its outbox."""
    steps = SCENARIOS["overdue"]
    reference = None
    for step in steps:
        reference = run_steps(network, "NORTH", "CENTRAL", [(*step[:3], None)], reference)
        network.restart(who)
        network.deliver()
        assert network.states("NORTH", "CENTRAL", reference) == step[3]
