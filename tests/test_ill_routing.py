"""Routing by the union catalogue and forwarding along the rota, between five in-memory nodes.

NORTH asks for items the union catalogue says SOUTH, CENTRAL, EAST and WEST hold; each node has
its own store and `Network` carries the outboxes as the daemon does over TCP. The requester's
store holds the catalogue that routing reads; the lenders' stores hold only their transactions.
"""
from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_catalog
from test_ill_scenarios import Clock, carry

from unishelf.config import Library
from unishelf.ill_iso.apdus import decode_apdu
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.node import Node, NotRoutable, Settings
from unishelf.ill_iso.primitives import PrimitiveError
from unishelf.ill_iso.routing import Router
from unishelf.ill_iso.transaction import Transaction
from unishelf.marc.catalogue import Catalogue
from unishelf.marc.store import Store

LIBRARIES = [
    Library("NORTH", "Northern University Library", "NORTH", "127.0.0.1:4991", "north"),
    Library("SOUTH", "Southern University Library", "SOUTH", "127.0.0.1:4992", "north", tier=2),
    Library("CENTRAL", "Central Library", "CENTRAL", "127.0.0.1:4990", "national", tier=1,
            fees={"loan": "CNY 10.00", "copy": "CNY 5.00"}),
    Library("EAST", "Eastern Institute Library", "EAST", "127.0.0.1:4993", "east", days_to_respond=1),
    Library("WEST", "Western Public Library", "WEST", "127.0.0.1:4994", "west", fees={"loan": "CNY 50.00"}),
]
MEMBERS = [Member(library.code, library.name, library.ill_symbol, "127.0.0.1", 4990 + i)
           for i, library in enumerate(LIBRARIES)]
ORDER = ["region", "tier", "available", "load", "fee"]
RECORD = 1    # held by SOUTH, CENTRAL, EAST and WEST (and not by NORTH)


class Network:
    """Five nodes, one library each; NORTH's store holds the union catalogue."""

    def __init__(self, path, union_catalogue: Path):
        self.clock = Clock()
        shutil.copytree(union_catalogue, path / "NORTH")
        self.catalog = make_catalog(path / "NORTH")
        self.stores = {"NORTH": self.catalog.store}
        self.stores.update({code: Store(path / code) for code in ("SOUTH", "CENTRAL", "EAST", "WEST")})
        router = Router(LIBRARIES, ORDER, 10)
        self.nodes = {code: Node(store, Directory(MEMBERS, [code]), settings=Settings(days_to_respond=2),
                                 clock=self.clock, router=router,
                                 catalogue_search=(lambda: self.catalog.engine) if code == "NORTH" else None)
                      for code, store in self.stores.items()}

    def close(self):
        for code, store in self.stores.items():
            if code != "NORTH":
                store.close()
        self.catalog.close()

    def deliver(self):
        carry(self.nodes)

    def transactions(self, code: str) -> list[Transaction]:
        with self.stores[code].reading() as reader:
            return sorted((Transaction(**record) for record in reader.ill_transactions()), key=lambda t: t.number)

    def only(self, code: str) -> Transaction:
        [transaction] = self.transactions(code)
        return transaction

    def request(self, **params) -> Transaction:
        params = {"record": RECORD, "item": {"title": "History of Mary, Queen of Scots"}, **params}
        transaction = self.nodes["NORTH"].request("NORTH", None, params, "staff").transaction
        self.deliver()
        return transaction

    def act_on(self, number: int, code: str, command: str, **params):
        self.nodes[code].command(str(number), command, params, "staff")
        self.deliver()

    def act(self, code: str, command: str, **params):
        self.nodes[code].command(str(self.only(code).number), command, params, "staff")
        self.deliver()


def received_request(routing, code: str) -> dict:
    with routing.stores[code].reading() as reader:
        history = reader.ill_history(routing.only(code).number)
    return decode_apdu(history[0]["apdu"])[1]


def test_the_rota_puts_the_own_region_first_then_national_centres_then_the_rest_by_fee():
    router = Router(LIBRARIES, ORDER, 10)
    holdings = {code: [{"status": ""}] for code in ("WEST", "EAST", "CENTRAL", "SOUTH", "NORTH")}
    assert router.rota("NORTH", holdings, {}) == ["SOUTH", "CENTRAL", "EAST", "WEST"]
    # an item on the shelf and a light load come before a fee once region and tier tie
    holdings["EAST"] = [{"status": "on loan"}]
    assert router.rota("NORTH", holdings, {}) == ["SOUTH", "CENTRAL", "WEST", "EAST"]
    assert router.rota("NORTH", {**holdings, "EAST": [{"status": ""}]}, {"EAST": 3}) == ["SOUTH", "CENTRAL", "WEST", "EAST"]
    # a maximum cost leaves out a library that charges more
    assert "WEST" not in router.rota("NORTH", holdings, {}, "loan", {"currency-code": "CNY", "monetary-value": "20"})
    assert Router(LIBRARIES, ["fee"], 2).rota("EAST", holdings, {}) == ["NORTH", "SOUTH"]


def test_an_unrouted_request_goes_to_the_first_holding_library_with_its_rota(routing):
    transaction = routing.request()
    assert transaction.peer == "SOUTH" and transaction.rota == ["SOUTH", "CENTRAL", "EAST", "WEST"]
    assert routing.only("SOUTH").state == "IN-PROCESS"
    third_party = received_request(routing, "SOUTH")["third-party-info-type"]
    assert third_party["permission-to-forward"] and third_party["preference"] == "ordered"
    assert [entry["system-id"]["person-or-institution-symbol"][1] for entry in third_party["send-to-list"]] == [
        "CENTRAL", "EAST", "WEST"]
    assert all(not routing.transactions(code) for code in ("CENTRAL", "EAST", "WEST"))


def test_unfilled_answers_move_the_request_along_the_rota_until_one_supplies(routing):
    routing.request(services=["copy"])
    routing.act("SOUTH", "answer", kind="unfilled", reason="not-owned")
    routing.act("CENTRAL", "answer", kind="unfilled", reason="in-use-on-loan")
    routing.act("EAST", "answer", kind="will-supply")
    routing.act("EAST", "ship", service="copy", cost="CNY 3.50")
    attempts = routing.transactions("NORTH")
    assert [(t.peer, t.state, t.attempt) for t in attempts] == [
        ("SOUTH", "NOT-SUPPLIED", 1), ("CENTRAL", "NOT-SUPPLIED", 2), ("EAST", "SHIPPED", 3)]
    assert [t.forwarded_to for t in attempts] == [attempts[1].number, attempts[2].number, None]
    assert [t.forwarded_from for t in attempts] == [None, attempts[0].number, attempts[1].number]
    # each attempt is a sub-transaction of the one request
    identities = [t.transaction_id for t in attempts]
    assert len({(i["transaction-group-qualifier"], i["transaction-qualifier"]) for i in identities}) == 1
    assert [i.get("sub-transaction-qualifier") for i in identities] == [None, "2", "3"]
    tried = received_request(routing, "EAST")["third-party-info-type"]["already-tried-list"]
    assert [entry["person-or-institution-symbol"][1] for entry in tried] == ["SOUTH", "CENTRAL"]
    assert attempts[2].cost == routing.only("EAST").cost == {"currency-code": "CNY", "monetary-value": "3.50"}


def test_routing_counts_each_lenders_open_requests(routing):
    routing.request()
    routing.request()
    routing.act_on(1, "SOUTH", "answer", kind="unfilled")
    with routing.stores["NORTH"].reading() as reader:
        assert {code: reader.ill_open_requests(code) for code in ("SOUTH", "CENTRAL")} == {"SOUTH": 1, "CENTRAL": 1}


def test_the_rota_ends_after_the_last_library(routing):
    routing.request()
    for code in ("SOUTH", "CENTRAL", "EAST", "WEST"):
        routing.act(code, "answer", kind="unfilled")
    attempts = routing.transactions("NORTH")
    assert [t.peer for t in attempts] == ["SOUTH", "CENTRAL", "EAST", "WEST"]
    assert {t.state for t in attempts} == {"NOT-SUPPLIED"} and attempts[-1].forwarded_to is None


def test_a_library_that_does_not_answer_in_its_days_to_respond_is_passed_by(routing):
    routing.request()
    routing.clock.advance(2)
    assert routing.nodes["NORTH"].fire_timers() == []      # two days to respond: not yet
    routing.clock.advance(1)
    [outcome] = routing.nodes["NORTH"].fire_timers()
    assert outcome.apdu_type == "Cancel"
    routing.deliver()
    first, second = routing.transactions("NORTH")
    assert (first.state, second.peer, second.state) == ("CANCEL-PENDING", "CENTRAL", "PENDING")
    assert routing.only("SOUTH").state == "CANCEL-PENDING"
    routing.act("SOUTH", "cancel-reply", answer=True)
    assert routing.transactions("NORTH")[0].state == "CANCELLED" and len(routing.transactions("NORTH")) == 2
    # CENTRAL answers in time: its timer stops
    routing.act("CENTRAL", "answer", kind="will-supply")
    routing.clock.advance(10)
    assert routing.nodes["NORTH"].fire_timers() == []


def test_a_locations_provided_answer_puts_the_named_library_next(routing):
    routing.request()
    routing.act("SOUTH", "answer", kind="locations-provided", locations=["WEST"])
    assert [t.peer for t in routing.transactions("NORTH")] == ["SOUTH", "WEST"]
    assert routing.transactions("NORTH")[1].rota == ["SOUTH", "WEST", "CENTRAL", "EAST"]


def test_refused_conditions_move_the_request_on(routing):
    routing.request()
    routing.act("SOUTH", "answer", kind="conditional", condition="library-use-only")
    routing.act("NORTH", "conditional-reply", answer=False)
    assert [(t.peer, t.state) for t in routing.transactions("NORTH")] == [
        ("SOUTH", "NOT-SUPPLIED"), ("CENTRAL", "PENDING")]


def test_a_responder_forwards_with_forward_notification_and_the_requester_deals_with_the_new_one(routing):
    routing.request()
    routing.act("SOUTH", "forward", to="WEST", note="ours is at the bindery")
    assert routing.only("SOUTH").state == "FORWARD"
    forwarded = received_request(routing, "WEST")
    assert forwarded["forward-flag"] and forwarded["forward-note"] == "ours is at the bindery"
    requester = routing.only("NORTH")
    assert (requester.peer, requester.intermediary, requester.state) == ("WEST", "SOUTH", "PENDING")
    routing.act("WEST", "answer", kind="will-supply")
    routing.act("WEST", "ship")
    routing.act("NORTH", "receive")
    assert (routing.only("NORTH").state, routing.only("WEST").state) == ("RECEIVED", "RECEIVED")
    # the lender's fee from the configuration is charged when it ships without a cost given
    assert routing.only("WEST").cost == {"currency-code": "CNY", "monetary-value": "50.00"}


def test_a_fee_from_the_configuration_is_charged_on_shipping(routing):
    routing.request()
    routing.act("SOUTH", "answer", kind="unfilled")
    routing.act("CENTRAL", "ship")
    assert Decimal(routing.only("CENTRAL").cost["monetary-value"]) == Decimal("10.00")
    assert routing.transactions("NORTH")[1].cost == routing.only("CENTRAL").cost


def test_an_electronic_delivery_reaches_the_requester_with_its_checks(routing):
    routing.request(services=["copy"])
    link = "http://127.0.0.1:8080/ill/files/abc/20240401/sig/scan.pdf"
    routing.act("SOUTH", "ship", service="copy",
                delivery={"url": link, "description": "name scan.pdf; size 1234; sha256 ab12; until 20240401"})
    delivery = routing.only("NORTH").delivery
    assert delivery == {"url": link, "name": "scan.pdf", "size": 1234, "sha256": "ab12", "until": "20240401"}


def test_an_item_no_other_library_holds_cannot_be_routed(routing):
    with pytest.raises(NotRoutable, match="no other member library holds"):
        routing.nodes["SOUTH"].request("SOUTH", None, {"item": {"title": "x", "iSBN": "0262032937"}}, "staff")
    assert routing.transactions("SOUTH") == []


def test_an_isbn_finds_the_holding_libraries_without_a_record_id(routing):
    with routing.stores["NORTH"].reading() as reader:
        isbns = (Catalogue.parse_stored(reader.record(record_id)).first("020") for record_id in reader.record_ids())
        isbn = next(field.text("a") for field in isbns if field is not None and field.text("a"))
    params = {"item": {"title": "t", "iSBN": isbn}}
    transaction = routing.nodes["NORTH"].request("NORTH", None, params, "staff").transaction
    assert transaction.rota == ["SOUTH", "CENTRAL", "EAST", "WEST"]


def test_a_title_and_author_find_the_holding_libraries_when_few_records_match(routing):
    with routing.stores["NORTH"].reading() as reader:
        record = Catalogue.parse_stored(reader.record(RECORD))
    title, author = record.first("245").text("a"), record.first("100").text("a")
    params = {"item": {"title": title.rstrip(" /:"), "author": author}}
    transaction = routing.nodes["NORTH"].request("NORTH", None, params, "staff").transaction
    assert transaction.rota == ["SOUTH", "CENTRAL", "EAST", "WEST"]
    with pytest.raises(NotRoutable, match="no record of the union catalogue matches the title .* and author"):
        routing.nodes["NORTH"].request("NORTH", None, {"item": {"title": title, "author": "Nobody Atall"}}, "staff")
    params = {"item": {"title": title, "author": "--"}}   # an author with no word to search for is left out
    assert routing.nodes["NORTH"].request("NORTH", None, params, "staff").transaction.rota[0] == "SOUTH"


def test_a_title_that_matches_many_records_is_too_vague_to_route(routing):
    routing.nodes["NORTH"].router.max_title_matches = 2
    with pytest.raises(NotRoutable, match=r"records of the union catalogue match the title 'history'"):
        routing.nodes["NORTH"].request("NORTH", None, {"item": {"title": "history"}}, "staff")
    with pytest.raises(NotRoutable, match="no other member library holds the item"):   # no word to search for
        routing.nodes["NORTH"].request("NORTH", None, {"item": {"title": "!!"}}, "staff")
    with pytest.raises(NotRoutable, match="no record of the union catalogue matches the title 'zzyzx"):
        routing.nodes["NORTH"].request("NORTH", None, {"item": {"title": "zzyzx " * 100_000}}, "staff")
    assert routing.transactions("NORTH") == []


def test_conditions_left_unanswered_past_their_date_for_reply_are_refused_and_the_request_moves_on(routing):
    routing.request()
    routing.act("SOUTH", "answer", kind="conditional", condition="charges", date="2024-03-16")
    routing.clock.advance(1)
    assert routing.nodes["NORTH"].fire_timers() == []
    routing.clock.advance(1)
    [outcome] = routing.nodes["NORTH"].fire_timers()
    routing.deliver()
    assert outcome.apdu_type == "Conditional-Reply"
    assert [(t.peer, t.state) for t in routing.transactions("NORTH")] == [
        ("SOUTH", "NOT-SUPPLIED"), ("CENTRAL", "PENDING")]
    assert routing.only("SOUTH").state == "NOT-SUPPLIED"


def test_a_renewal_left_unanswered_is_refused_after_the_days_to_answer_and_the_due_date_stands(routing):
    routing.request()
    routing.act("SOUTH", "ship", due="2024-04-30")
    routing.act("NORTH", "receive")
    routing.act("NORTH", "renew", until="2024-05-31")
    assert routing.only("SOUTH").state == "RENEW-PENDING"
    routing.clock.advance(3)
    assert routing.nodes["SOUTH"].fire_timers() == []
    routing.clock.advance(1)
    [outcome] = routing.nodes["SOUTH"].fire_timers()
    routing.deliver()
    assert outcome.apdu_type == "Renew-Answer"
    assert [(t.state, t.due_date) for t in (routing.only("NORTH"), routing.only("SOUTH"))] == [
        ("RECEIVED", "20240430"), ("RECEIVED", "20240430")]


def test_staff_cancel_a_slow_lender_and_move_on_at_once(routing):
    routing.request()
    routing.act("NORTH", "cancel", move_on=True, note="too slow for this reader")
    first, second = routing.transactions("NORTH")
    assert (first.state, first.forwarded_to, second.peer) == ("CANCEL-PENDING", second.number, "CENTRAL")
    routing.act("SOUTH", "cancel-reply", answer=True)
    assert routing.transactions("NORTH")[0].state == "CANCELLED"


def test_a_charge_over_the_requests_maximum_cost_is_not_shipped(routing):
    routing.request(max_cost="CNY 20.00")
    routing.act("SOUTH", "answer", kind="unfilled")
    with pytest.raises(PrimitiveError, match="pays at most CNY 20.00"):
        routing.act("CENTRAL", "ship", cost="CNY 25.00")
    routing.act("CENTRAL", "ship")      # its configured fee, CNY 10.00, is within it
    assert routing.only("CENTRAL").state == "SHIPPED"


def test_a_lender_that_supplies_after_the_request_moved_on_keeps_it_and_the_request_goes_no_further(routing):
    routing.request()
    routing.clock.advance(3)
    routing.nodes["NORTH"].fire_timers()              # SOUTH too slow: Cancel, and on to CENTRAL
    routing.deliver()
    # SOUTH will supply after all, while CENTRAL answers unfilled: both on the wire at once
    routing.nodes["SOUTH"].command("1", "cancel-reply", {"answer": False}, "staff")
    routing.nodes["CENTRAL"].command("1", "answer", {"kind": "unfilled"}, "staff")
    routing.deliver()
    assert [t.state for t in routing.transactions("NORTH")] == ["PENDING", "NOT-SUPPLIED"]   # no third
    routing.act_on(1, "SOUTH", "ship")
    assert routing.transactions("NORTH")[0].state == "SHIPPED"


def test_only_a_request_that_permits_it_is_forwarded_and_never_to_a_library_already_asked(routing):
    routing.nodes["NORTH"].request("NORTH", "SOUTH", {"item": {"title": "Unrouted"}}, "staff")
    routing.deliver()
    with pytest.raises(PrimitiveError, match="permission-to-forward"):
        routing.act("SOUTH", "forward", to="WEST")
    routing.request()
    routing.act_on(2, "SOUTH", "answer", kind="unfilled")
    with pytest.raises(PrimitiveError, match="SOUTH has already been asked"):
        routing.act("CENTRAL", "forward", to="SOUTH")


def test_a_library_a_request_was_forwarded_to_is_not_asked_again(routing):
    routing.request()
    routing.act("SOUTH", "forward", to="EAST")
    routing.act("EAST", "answer", kind="unfilled")
    routing.act("CENTRAL", "answer", kind="unfilled")
    assert [t.peer for t in routing.transactions("NORTH")] == ["EAST", "CENTRAL", "WEST"]


def test_the_later_attempt_is_cancelled_when_an_earlier_lender_supplies_after_all(routing):
    routing.request()
    routing.clock.advance(3)
    routing.nodes["NORTH"].fire_timers()
    routing.deliver()
    routing.act_on(1, "SOUTH", "cancel-reply", answer=False)
    assert [t.state for t in routing.transactions("NORTH")] == ["PENDING", "CANCEL-PENDING"]
    routing.act_on(1, "CENTRAL", "cancel-reply", answer=True)
    assert [t.state for t in routing.transactions("NORTH")] == ["PENDING", "CANCELLED"]
