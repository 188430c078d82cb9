"""The node core without sockets: every disallowed APDU in every state, staff commands the state
does not allow, unknown and duplicate transactions, resent APDUs, and what real peers send."""
from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from test_ill_codec import edited
from test_ill_scenarios import LOAN, Clock, run_steps

from unishelf.ill_iso import primitives
from unishelf.ill_iso.apdus import APDU_TYPE_ENUMERATION, APDU_TYPES, decode_apdu, encode_apdu, header, system_id
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.node import Node, NotFound, Refused
from unishelf.ill_iso.primitives import COMMANDS, PrimitiveError, command_event
from unishelf.ill_iso.reports import bare_report, status_report
from unishelf.ill_iso.tables import RECEIVE, REQUESTER, RESPONDER, SEND, VARIANTS
from unishelf.marc.store import Store

CAPTURES = Path(__file__).parent / "data" / "ill"
EVERY_EVENT = [f"{apdu}/{variant}" for apdu in APDU_TYPES for variant in VARIANTS.get(apdu, [None])
               if variant] + [apdu for apdu in APDU_TYPES if apdu not in VARIANTS]
PARAMS = {"ILL-Answer/hold-placed": {"date": "20240401"}, "ILL-Answer/locations-provided": {"locations": [system_id("EAST")]},
          "ILL-Answer/estimate": {"cost": "NZD 5"}, "Message": {"note": "hello"}}


def capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text())


def reply_of(replies: list[bytes]) -> dict:
    (reply,) = replies
    apdu_type, value = decode_apdu(reply)
    assert apdu_type == "Status-Or-Error-Report"
    return value


def problem(replies: list[bytes]):
    report = reply_of(replies)["error-report"]
    return report.get("provider-error-report") or report.get("user-error-report")


def apdu_from(sender, event: str, clock) -> bytes:
    """The APDU for `event`, as the other end of `sender` (a Transaction) would send it."""
    apdu_type = event.split("/")[0]
    params = {**PARAMS.get(event, {})}
    if "/" in event and apdu_type != "ILL-Answer":
        params["answer"] = event.endswith("/yes")
    params["kind"] = event.split("/")[-1]
    if apdu_type == "ILL-Request":
        body = primitives.request_body(LOAN)
    elif apdu_type == "Forward-Notification":
        body = {"intermediary-id": system_id("HUB")}
    elif apdu_type == "Status-Or-Error-Report":
        body = status_report(sender, "20240315")
    else:
        body = primitives.body(apdu_type, sender, params, primitives.Context(date(2024, 3, 15), 28))
    identities = {"NORTH": system_id("NORTH", "Northern University Library"),
                  "CENTRAL": system_id("CENTRAL", "Central Library")}
    return encode_apdu(apdu_type, {**header(sender.transaction_id, identities[sender.requester],
                                            identities[sender.responder], clock()), **body})


@pytest.mark.parametrize("service", ["loan", "copy-non-returnable"])
@pytest.mark.parametrize("role", [REQUESTER, RESPONDER])
def test_every_disallowed_apdu_in_every_state_is_reported_and_changes_nothing(network, role, service):
    reference = run_steps(network, "NORTH", "CENTRAL", [("requester", "request", LOAN, ("PENDING", "IN-PROCESS"))])
    code = "NORTH" if role == REQUESTER else "CENTRAL"
    node = network.nodes[code]
    table = node.machine.tables[role]
    refused = taken = 0
    for state in sorted({state for (state, _, _) in table.transitions} - {"IDLE"}):
        for event in EVERY_EVENT:
            transaction = dataclasses.replace(network.transaction(code, reference), state=state,
                                              shipped_service=service)
            with node.store.writing() as writer:
                writer.put_ill_transaction(transaction.record())
            expected = node.machine.next_state(transaction, RECEIVE, event)
            replies = node.receive(apdu_from(transaction, event, network.clock))
            after = network.transaction(code, reference).state
            if event == "ILL-Request":   # a request for a transaction that exists, or to the wrong node
                assert problem(replies) == (("transaction-id-problem", "duplicate-transaction-id") if role == RESPONDER
                                            else ("unable-to-perform", "not-available"))
                assert after == state
            elif expected is None:
                assert problem(replies) == ("state-transition-prohibited", {
                    "aPDU-type": APDU_TYPE_ENUMERATION[event.split("/")[0]],
                    "current-state": state[0].lower() + state[1:]}), (state, event)
                assert after == state, (state, event)
                refused += 1
            else:
                assert all("error-report" not in reply_of([reply]) for reply in replies), (state, event)
                assert after == expected, (state, event)
                taken += 1
    assert refused > 150 and taken > 20


def test_the_refusal_names_the_apdu_type_and_state(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [("requester", "request", LOAN, ("PENDING", "IN-PROCESS"))])
    requester = network.transaction("NORTH", reference)
    replies = network.nodes["CENTRAL"].receive(apdu_from(requester, "Returned", network.clock))
    assert problem(replies) == ("state-transition-prohibited", {"aPDU-type": "rETURNED", "current-state": "iN-PROCESS"})
    assert network.transaction("CENTRAL", reference).state == "IN-PROCESS"
    last = network.history("CENTRAL", reference)[-2:]
    assert [(entry["type"], entry["outcome"]) for entry in last] == [
        ("Returned", "refused"), ("Status-Or-Error-Report", "reply")]


@pytest.mark.parametrize("role", [REQUESTER, RESPONDER])
def test_staff_commands_the_state_does_not_allow_are_refused_with_what_is(network, role):
    reference = run_steps(network, "NORTH", "CENTRAL", [("requester", "request", LOAN, ("PENDING", "IN-PROCESS"))])
    code = "NORTH" if role == REQUESTER else "CENTRAL"
    node = network.nodes[code]
    original = network.transaction(code, reference)
    for state in sorted({state for (state, _, _) in node.machine.tables[role].transitions} - {"IDLE"}):
        transaction = dataclasses.replace(original, state=state, shipped_service="loan")
        with node.store.writing() as writer:
            writer.put_ill_transaction(transaction.record())
        for command in set(COMMANDS) - {"request"}:
            params = {"kind": "will-supply", "answer": True, "note": "n", "date": "20240401",
                      "locations": ["EAST"], "cost": "5"}
            allowed = node.machine.next_state(transaction, SEND, command_event(command, params)) is not None
            if allowed:
                continue
            with pytest.raises(Refused) as refusal:
                node.command(reference, command, params, "staff")
            assert f"is {state} at the {role}" in str(refusal.value)
            assert refusal.value.allowed == primitives.describe(node.machine.allowed(transaction, SEND))
            assert network.transaction(code, reference).state == state


def test_unknown_transactions_are_answered_and_reports_about_them_ignored(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [("requester", "request", LOAN, ("PENDING", "IN-PROCESS"))])
    stranger = dataclasses.replace(network.transaction("NORTH", reference), transaction_id={
        "initial-requester-id": system_id("NORTH"), "transaction-group-qualifier": "",
        "transaction-qualifier": "nope"})
    central = network.nodes["CENTRAL"]
    assert problem(central.receive(apdu_from(stranger, "Cancel", network.clock))) == (
        "transaction-id-problem", "unknown-transaction-id")
    assert central.receive(apdu_from(stranger, "Status-Or-Error-Report", network.clock)) == []


def test_a_resent_request_is_acknowledged_again_and_a_reused_id_is_a_duplicate(network):
    north, central = network.nodes["NORTH"], network.nodes["CENTRAL"]
    north.request("NORTH", "CENTRAL", LOAN, "staff")
    (entry,) = _outbox(north)
    first = reply_of(central.receive(entry["apdu"]))
    again = reply_of(central.receive(entry["apdu"]))
    assert first["status-report"]["provider-status-report"] == again["status-report"][
        "provider-status-report"] == "iN-PROCESS"
    with central.store.reading() as reader:
        assert len(list(reader.ill_transactions())) == 1
    _, value = decode_apdu(entry["apdu"])
    value["item-id"] = {"title": "Something else"}
    assert problem(central.receive(encode_apdu("ILL-Request", value))) == (
        "transaction-id-problem", "duplicate-transaction-id")



def test_one_transaction_id_at_two_responders_of_one_node_only_when_forwarded(network, tmp_path):
    members = [*network.nodes["NORTH"].directory.members.values(),
               Member("EAST", "Eastern Library", "EAST", "127.0.0.1", 4993)]
    both = Node(Store(tmp_path / "both"), Directory(members, ["CENTRAL", "EAST"]), clock=network.clock)
    try:
        network.nodes["NORTH"].request("NORTH", "CENTRAL", LOAN, "staff")
        (entry,) = _outbox(network.nodes["NORTH"])
        _, value = decode_apdu(entry["apdu"])
        value["third-party-info-type"] = {"permission-to-forward": True}
        assert "status-report" in reply_of(both.receive(encode_apdu("ILL-Request", value)))
        to_east = {**value, "responder-id": system_id("EAST"), "forward-flag": True}
        assert problem(both.receive(encode_apdu("ILL-Request", to_east))) == (
            "transaction-id-problem", "duplicate-transaction-id")           # CENTRAL has not passed it on
        both.command("1", "forward", {"to": "EAST"}, "staff")
        [forwarded] = [e for e in _outbox(both) if e["type"] == "ILL-Request"]
        assert "status-report" in reply_of(both.receive(forwarded["apdu"], role=RESPONDER))
        with both.store.reading() as reader:
            display = both.find(reader, "1").display_id
            assert [both.find(reader, display, library).number for library in ("CENTRAL", "EAST")] == [1, 2]
        with pytest.raises(PrimitiveError, match="CENTRAL already has this request"):
            both.command("2", "forward", {"to": "CENTRAL"}, "staff")          # back where it came from
        query = {**header(value["transaction-id"], value["requester-id"], system_id("EAST"), network.clock()),
                 "note": "where is it?"}
        assert both.receive(encode_apdu("Message", query)) == []
        with both.store.reading() as reader:
            assert reader.ill_history(2)[-1]["type"] == "Message"
            assert "Message" not in [entry["type"] for entry in reader.ill_history(1)]
    finally:
        both.store.close()


def _outbox(node: Node) -> list[dict]:
    with node.store.reading() as reader:
        return reader.ill_outbox()


def test_an_apdu_sent_again_after_a_broken_connection_is_taken_once(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [("requester", "request", LOAN, ("PENDING", "IN-PROCESS")),
                                                         ("responder", "answer", {"kind": "will-supply"}, ("PENDING", "IN-PROCESS"))])
    network.nodes["CENTRAL"].command(reference, "ship", {}, "staff")
    (entry,) = _outbox(network.nodes["CENTRAL"])
    north = network.nodes["NORTH"]
    assert north.receive(entry["apdu"]) == [] and north.receive(entry["apdu"]) == []
    shipped = [e for e in network.history("NORTH", reference) if e["type"] == "Shipped"]
    assert len(shipped) == 1 and network.transaction("NORTH", reference).state == "SHIPPED"


def served(tmp_path, codes=("CENTRAL",)) -> Node:
    members = [Member("NORTH", "North", "NORTH", "127.0.0.1", 4991),
               Member("CENTRAL", "Central", "CENTRAL", "127.0.0.1", 4990),
               Member("UNICAT", "Union", "UNICAT", None, None)]
    return Node(Store(tmp_path / "node"), Directory(members, list(codes)), clock=Clock())


@pytest.mark.parametrize("name", ["request-copy-rich", "request-loan-minimal", "request-oclc-auth",
                                  "request-unicode"])
def test_what_yaz_illclient_sends_is_accepted_or_answered(tmp_path, name):
    node = served(tmp_path, ["UNICAT", "CENTRAL"])
    data = capture(name)
    value = reply_of(node.receive(data))
    if name in ("request-oclc-auth", "request-unicode"):   # sent with no transaction qualifier at all
        assert value["error-report"]["provider-error-report"] == ("transaction-id-problem", "invalid-transaction-id")
        return
    assert value["status-report"]["provider-status-report"] == "iN-PROCESS"
    assert value["transaction-id"] == decode_apdu(data)[1]["transaction-id"]   # echoed as sent
    with node.store.reading() as reader:
        (transaction,) = reader.ill_transactions()
    assert (transaction["library"], transaction["peer"], transaction["state"]) == ("UNICAT", "NORTH", "IN-PROCESS")
    node.store.close()


@pytest.mark.parametrize("edit, expected", [
    (lambda v: v.update({"protocol-version-num": 0}), ("general-problem", "protocol-version-not-supported")),
    (lambda v: v.update({"responder-id": system_id("SOUTH")}), ("unable-to-perform", "not-available")),
    (lambda v: v.update({"responder-id": system_id("NORTH")}), ("unable-to-perform", "not-available")),
    (lambda v: v.update({"requester-id": system_id("NOWHERE"), "transaction-id": {
        "initial-requester-id": system_id("NOWHERE"), "transaction-group-qualifier": "",
        "transaction-qualifier": "1"}}), ("security-problem", "the requester is not a member library of this consortium")),
    (lambda v: v["transaction-id"].update({"transaction-qualifier": " "}),
     ("transaction-id-problem", "invalid-transaction-id")),
    (lambda v: v["transaction-id"].update({"transaction-qualifier": "Q\x1fX"}),
     ("transaction-id-problem", "invalid-transaction-id")),
    (lambda v: v["transaction-id"].update({"transaction-group-qualifier": "2024/03"}),
     ("transaction-id-problem", "invalid-transaction-id")),
])
def test_requests_that_cannot_be_taken_are_answered_with_the_reason(tmp_path, edit, expected):
    node = served(tmp_path)
    _, value = decode_apdu(capture("request-copy-rich"))
    value["responder-id"] = system_id("CENTRAL")
    edit(value)
    assert problem(node.receive(encode_apdu("ILL-Request", value))) == expected
    with node.store.reading() as reader:
        assert list(reader.ill_transactions()) == []
    node.store.close()


def test_a_request_naming_no_responder_goes_to_the_first_served_library(tmp_path):
    node = served(tmp_path, ["CENTRAL", "UNICAT"])
    _, value = decode_apdu(capture("request-copy-rich"))
    del value["responder-id"]
    assert "status-report" in reply_of(node.receive(encode_apdu("ILL-Request", value)))
    with node.store.reading() as reader:
        assert [t["library"] for t in reader.ill_transactions()] == ["CENTRAL"]
    node.store.close()


def test_undecodable_apdus_get_a_general_problem_naming_the_transaction(tmp_path):
    node = served(tmp_path)
    without_item = edited(*decode_apdu(capture("request-copy-rich")),
                          lambda children: [child for child in children if child.number != 16])
    value = reply_of(node.receive(without_item))
    assert value["error-report"]["provider-error-report"] == ("general-problem", "badly-structured-APDU")
    assert value["transaction-id"]["transaction-qualifier"] == "T-0001"
    assert "item-id" in value["note"]
    value = reply_of(node.receive(b"\x75\x00"))   # [APPLICATION 21]: no such APDU
    assert value["error-report"]["provider-error-report"] == ("general-problem", "unrecognized-APDU")
    report = bare_report({"reason-no-report": "temporary"}, Clock()())
    broken = edited(*decode_apdu(report), lambda children: [c for c in children if c.number != 1])
    assert node.receive(broken) == []   # a broken report is never answered with another
    node.store.close()


def test_staff_mistakes_are_explained(network):
    north = network.nodes["NORTH"]
    with pytest.raises(NotFound, match="no transaction 99"):
        north.command("99", "cancel", {}, "staff")
    with pytest.raises(NotFound, match="not the ILL protocol machine of 'CENTRAL'"):
        north.request("CENTRAL", "NORTH", LOAN, "staff")
    with pytest.raises(NotFound, match="'MARS' is not a member library"):
        north.request("NORTH", "MARS", LOAN, "staff")
    with pytest.raises(PrimitiveError, match="say which item"):
        north.request("NORTH", "CENTRAL", {"item": {}}, "staff")
    with pytest.raises(PrimitiveError, match="not a date"):
        north.request("NORTH", "CENTRAL", {**LOAN, "need_before": "next week"}, "staff")
    with pytest.raises(PrimitiveError, match="not an amount"):
        north.request("NORTH", "CENTRAL", {**LOAN, "max_cost": "lots"}, "staff")
    reference = north.request("NORTH", "CENTRAL", LOAN, "staff").transaction.display_id
    with pytest.raises(PrimitiveError, match="a message needs its text"):
        north.command(reference, "message", {}, "staff")
    network.deliver()
    with pytest.raises(PrimitiveError, match="hold-placed needs the date"):
        network.nodes["CENTRAL"].command(reference, "answer", {"kind": "hold-placed"}, "staff")
    with pytest.raises(PrimitiveError, match="is not one of"):
        network.nodes["CENTRAL"].command(reference, "answer", {"kind": "unfilled", "reason": "bored"}, "staff")
    assert network.states("NORTH", "CENTRAL", reference) == ("PENDING", "IN-PROCESS")


def test_a_request_carries_what_staff_gave(network):
    params = {**LOAN, "services": ["copy", "loan"], "deliver_to": "1 Main St, Northtown",
              "email": "ill@north.example", "max_cost": "NZD 25.00", "need_before": "2024-04-01",
              "patron": "Ada Reader", "group": "P-77", "note": "urgent"}
    outcome = network.nodes["NORTH"].request("NORTH", "CENTRAL", params, "staff")
    (entry,) = _outbox(network.nodes["NORTH"])
    _, value = decode_apdu(entry["apdu"])
    assert value["iLL-service-type"] == ["copy-non-returnable", "loan"]
    assert value["cost-info-type"]["maximum-cost"] == {"currency-code": "NZD", "monetary-value": "25.00"}
    assert value["search-type"] == {"need-before-date": "20240401", "expiry-flag": "need-Before-Date"}
    assert value["delivery-address"]["electronic-address"]["telecom-service-address"] == "ill@north.example"
    assert (value["client-id"]["client-name"], value["requester-note"]) == ("Ada Reader", "urgent")
    assert value["requester-optional-messages"]["requester-SHIPPED"] == "requires"
    assert outcome.transaction.display_id == "NORTH/P-77/000001"
    assert value["transaction-id"]["transaction-group-qualifier"] == "P-77"


@pytest.mark.parametrize("need_before", ["20240102\n", "\u0662\u0660\u0662\u0664\u0660\u0661\u0660\u0662", "20240231"])
def test_a_date_that_only_looks_like_one_sets_no_timer(tmp_path, need_before):
    node = served(tmp_path)
    _, value = decode_apdu(capture("request-copy-rich"))
    value["responder-id"] = system_id("CENTRAL")
    value["search-type"] = {"need-before-date": need_before, "expiry-flag": "need-Before-Date"}
    assert "status-report" in reply_of(node.receive(encode_apdu("ILL-Request", value)))
    with node.store.reading() as reader:
        (transaction,) = reader.ill_transactions()
        assert transaction["expiry_date"] is None and reader.ill_timers(before="99999999") == []
    node.store.close()
