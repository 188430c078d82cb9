"""The ISO 10161-1 state tables as data: what the file holds, and what a broken file gets."""
from __future__ import annotations

import pytest
import yaml

from unishelf.ill_iso.machine import GUARDS, Machine
from unishelf.ill_iso.primitives import COMMANDS, describe
from unishelf.ill_iso.tables import (
    RECEIVE, REQUESTER, RESPONDER, SEND, STATES, TABLES_FILE, TableError, event_name, load_tables,
)

TABLES = load_tables()


def test_both_roles_have_the_states_of_the_standard():
    requester = {state for (state, _, _) in TABLES[REQUESTER].transitions}
    responder = {state for (state, _, _) in TABLES[RESPONDER].transitions}
    assert requester >= {"IDLE", "PENDING", "CONDITIONAL", "CANCEL-PENDING", "SHIPPED", "RECEIVED",
                         "RENEW-PENDING", "OVERDUE", "RENEW-OVERDUE", "NOT-RECEIVED-OVERDUE", "RECALL",
                         "RETURNED", "LOST"}
    assert responder >= {"IDLE", "IN-PROCESS", "CONDITIONAL", "CANCEL-PENDING", "SHIPPED", "RECEIVED",
                         "RENEW-PENDING", "OVERDUE", "RENEW-OVERDUE", "RECALL", "RETURNED"}
    assert TABLES[REQUESTER].terminal == {"NOT-SUPPLIED", "CANCELLED", "RETURNED", "LOST"}
    assert TABLES[RESPONDER].terminal == {"NOT-SUPPLIED", "CANCELLED", "CHECKED-IN", "LOST", "FORWARD"}
    assert set(STATES) >= requester | responder


def test_every_apdu_a_role_sends_its_peer_can_receive_somewhere():
    for sender, receiver in ((REQUESTER, RESPONDER), (RESPONDER, REQUESTER)):
        sent = {event for (_, way, event) in TABLES[sender].transitions if way == SEND}
        received = {event for (_, way, event) in TABLES[receiver].transitions if way == RECEIVE}
        assert sent <= received | TABLES[receiver].every_state[RECEIVE], (sender, sent - received)


def test_every_guard_named_is_known_and_every_staff_apdu_is_sendable():
    assert {target.guard for table in TABLES.values() for target in table.transitions.values()} - {None} <= set(GUARDS)
    Machine(TABLES)
    sendable = {event.split("/")[0] for table in TABLES.values() for (_, way, event) in table.transitions
                if way == SEND} | set(TABLES[REQUESTER].every_state[SEND])
    assert set(COMMANDS.values()) <= sendable


def test_every_state_events_never_change_state_and_not_in_idle():
    table = TABLES[REQUESTER]
    assert table.target("SHIPPED", SEND, "Message").state == "SHIPPED"
    assert table.target("IDLE", SEND, "Message") is None
    assert table.target("CANCELLED", RECEIVE, "Status-Or-Error-Report").state == "CANCELLED"


def test_event_names_carry_the_answer():
    assert event_name("ILL-Answer", {"transaction-results": "will-supply"}) == "ILL-Answer/will-supply"
    assert event_name("Cancel-Reply", {"answer": True}) == "Cancel-Reply/yes"
    assert event_name("Renew-Answer", {"answer": False}) == "Renew-Answer/no"
    assert event_name("Shipped", {}) == "Shipped"


def test_allowed_events_are_described_as_staff_commands():
    assert describe(["ILL-Answer/will-supply", "ILL-Answer/unfilled", "Shipped", "Expired", "Message"]) == [
        "answer will-supply|unfilled", "ship", "message"]


def edited(tmp_path, edit):
    data = yaml.safe_load(TABLES_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["requester"]["states"].update({"WAITING": {}}), "requester.states.WAITING: is not a state"),
    (lambda d: d["requester"]["states"]["PENDING"]["receive"].update({"Shipped": "GONE"}),
     "goes to 'GONE'"),
    (lambda d: d["responder"]["states"]["SHIPPED"]["send"].update({"Parcel": "SHIPPED"}),
     "'Parcel' is not an ILL APDU"),
    (lambda d: d["responder"]["states"]["SHIPPED"]["send"].update({"ILL-Answer/maybe": "SHIPPED"}),
     "'maybe' is not a variant of ILL-Answer"),
    (lambda d: d["responder"]["states"]["SHIPPED"]["send"].update({"Renew-Answer": "SHIPPED"}),
     "Renew-Answer needs its variant"),
    (lambda d: d["responder"]["states"]["SHIPPED"]["send"].update({"Recall": {"to": "RECALL"}}),
     "a guarded target is {to: STATE, if: GUARD}"),
    (lambda d: d["responder"].update({"timer": {}}), "responder.timer: unknown key"),
    (lambda d: d.pop("responder"), "needs exactly the roles"),
])
def test_a_broken_table_file_is_refused_with_the_place(tmp_path, edit, message):
    with pytest.raises(TableError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_tables(edited(tmp_path, edit))


def test_an_unknown_guard_is_refused(tmp_path):
    path = edited(tmp_path, lambda d: d["responder"]["states"]["SHIPPED"]["send"].update(
        {"Recall": {"to": "RECALL", "if": "sunny"}}))
    with pytest.raises(ValueError, match="unknown guard 'sunny'"):
        Machine(load_tables(path))


def test_a_transition_can_be_corrected_in_the_file_alone(tmp_path):
    """Data, not code: let the requester go to CHECKED-IN on Checked-In, and it does."""
    path = edited(tmp_path, lambda d: (
        d["requester"]["states"]["RETURNED"]["receive"].update({"Checked-In": "CHECKED-IN"}),
        d["requester"]["states"].update({"CHECKED-IN": {}})))
    assert load_tables(path)[REQUESTER].target("RETURNED", RECEIVE, "Checked-In").state == "CHECKED-IN"
