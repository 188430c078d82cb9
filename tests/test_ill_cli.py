"""`unishelf ill ...` as ILL staff use it: one node serving two libraries, its outbox delivered
inside the node between commands, as `unishelf serve` would."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from conftest import DATA
from twisted.internet.testing import MemoryReactorClock

from unishelf.cli import main
from unishelf.config import load_config
from unishelf.ill_iso.daemon import service_from_config
from unishelf.ill_iso.ledger import charges
from unishelf.ill_iso.transaction import Transaction
from unishelf.marc.store import Store
from unishelf.writes import InlineWrites

CONFIG = """\
libraries:
  - {code: CENTRAL, name: Central Library, ill_symbol: CENTRAL, ill_address: "127.0.0.1:4990", region: national}
  - {code: NORTH, name: Northern University Library, ill_symbol: NORTH, ill_address: "127.0.0.1:4991", region: north}
ill: {serves: [NORTH, CENTRAL]}
"""


class Desk:
    """A data directory, its config, and the staff at the terminal."""

    def __init__(self, tmp_path, capsys):
        self.config = tmp_path / "unishelf.yaml"
        self.config.write_text(CONFIG)
        self.data = tmp_path / "data"
        self.capsys = capsys

    def run(self, *argv) -> tuple[int, str, str]:
        code = main(["--config", str(self.config), "--data-dir", str(self.data), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ill(self, *argv) -> str:
        code, out, err = self.run("ill", *argv)
        assert code == 0, err
        return out

    def deliver(self):
        """What the daemon's next look at the outbox does."""
        config = load_config(self.config, {"data_dir": str(self.data)})
        store = Store(config.store_path)
        try:
            service = service_from_config(SimpleNamespace(config=config, store=store, writes=InlineWrites()))
            service.reactor = MemoryReactorClock()
            service.send_due()
        finally:
            store.close()


def test_a_loan_from_request_to_check_in(desk):
    out = desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water supply engineering",
                   "--isbn", "0262032937", "--patron", "Ada Reader", "--need-before", "2099-01-01")
    assert out.splitlines()[0].startswith("#1     NORTH/") and "PENDING" in out
    assert "ILL-Request queued for CENTRAL (inside this node); state PENDING" in out
    assert "allowed now: cancel, message, status-query" in out
    desk.deliver()
    listing = desk.ill("list")
    assert "#2 " in listing and "CENTRAL <- NORTH" in listing and "IN-PROCESS" in listing
    assert "2 transactions" in listing
    assert "state SHIPPED" in desk.ill("ship", "2", "--due", "2099-02-01", "--via", "courier")
    desk.deliver()
    assert "state RECEIVED" in desk.ill("receive", "1")
    desk.deliver()
    assert "state RENEW-PENDING" in desk.ill("renew", "1", "--until", "2099-03-01")
    desk.deliver()
    assert "state RECEIVED" in desk.ill("renew-answer", "2", "yes", "--due", "2099-03-01")
    desk.deliver()
    assert "state RETURNED" in desk.ill("return", "1", "--note", "by post")
    desk.deliver()
    assert "state CHECKED-IN" in desk.ill("check-in", "2")
    desk.deliver()
    shown = desk.ill("show", "1")
    assert "due          20990301" in shown
    for line in ["sent     ILL-Request", "received Status-Or-Error-Report", "received Shipped",
                 "received Renew-Answer", "received Checked-In", '"by post"']:
        assert line in shown, line
    assert "allowed now  message, status-query" in shown
    assert desk.ill("list", "--open").strip() == "0 transactions"


def test_a_command_the_state_does_not_allow_is_refused_with_what_is(desk):
    desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water")
    code, out, err = desk.run("ill", "ship", "1")
    assert code == 1 and out == ""
    assert err.strip() == ("unishelf ill ship: #1 is PENDING at the requester NORTH; ship is not allowed now. "
                           "Allowed now: cancel, message, status-query")
    desk.deliver()
    code, _, err = desk.run("ill", "receive", "2")
    assert code == 1 and "Allowed now: answer will-supply|hold-placed|conditional|unfilled|retry|" \
                         "locations-provided|estimate, ship, forward, message, status-query" in err


@pytest.mark.parametrize("kind, options, state", [
    ("will-supply", ["--reason", "being-processed-for-supply", "--date", "2099-01-05"], "IN-PROCESS"),
    ("unfilled", ["--reason", "not-owned"], "NOT-SUPPLIED"),
    ("conditional", ["--condition", "library-use-only", "--date", "2099-01-05"], "CONDITIONAL"),
    ("hold-placed", ["--date", "2099-01-05"], "IN-PROCESS"),
    ("locations-provided", ["--location", "NORTH", "--location", "EAST"], "NOT-SUPPLIED"),
    ("estimate", ["--cost", "NZD 12.50"], "NOT-SUPPLIED"),
    ("retry", ["--reason", "in-use-on-loan", "--date", "2099-02-01"], "NOT-SUPPLIED"),
])
def test_every_answer(desk, kind, options, state):
    desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water")
    desk.deliver()
    assert f"state {state}" in desk.ill("answer", "2", kind, *options)
    desk.deliver()
    shown = desk.ill("show", "1")
    assert f"answer       {kind}" in shown


def test_conditions_cancels_messages_and_damage_from_the_terminal(desk):
    desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water")
    desk.deliver()
    desk.ill("answer", "2", "conditional", "--condition", "charges")
    desk.deliver()
    assert "state PENDING" in desk.ill("conditional-reply", "1", "yes")
    desk.deliver()
    assert "state CANCEL-PENDING" in desk.ill("cancel", "1")
    desk.deliver()
    assert "state IN-PROCESS" in desk.ill("cancel-reply", "2", "no", "--note", "already packed")
    desk.ill("ship", "2")
    desk.deliver()
    assert "state SHIPPED" in desk.ill("message", "1", "thanks, on its way?")
    assert "state SHIPPED" in desk.ill("damaged", "1", "--units", "3,4")
    assert "state SHIPPED" in desk.ill("status-query", "1")
    desk.deliver()
    shown = desk.ill("show", "2")
    assert '"thanks, on its way?"' in shown and "received Damaged" in shown
    code, _, err = desk.run("ill", "damaged", "1", "--units", "three")
    assert code == 1 and "units are numbers" in err


def test_the_outbox_shows_what_waits_and_what_is_stuck(desk):
    desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water")
    out = desk.ill("outbox")
    assert "#1 ILL-Request NORTH -> CENTRAL" in out and "1 waiting, 0 stuck" in out
    store = Store(desk.data / "store")
    with store.writing() as writer:
        (entry,) = writer.ill_outbox()
        writer.put_ill_outbox({**entry, "tries": 4, "next": 4102444800.0, "error": "Connection was refused"})
    store.close()
    code, out, _ = desk.run("ill", "outbox")
    assert code == 1 and out.startswith("STUCK #1 ILL-Request")
    assert "4 failed tries, next 2100-01-01T00:00:00Z: Connection was refused" in out
    assert "(unsent)" in desk.ill("list")
    assert "unsent: ILL-Request to CENTRAL, 4 failed tries, last: Connection was refused" in desk.ill("show", "1")


def test_a_request_by_union_catalogue_record(desk):
    code, _, _ = desk.run("load", "--quiet", "--library", "CENTRAL", str(DATA / "marc21-utf8-sample.mrc"))
    assert code == 0
    out = desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--record", "1", "--service", "copy",
                   "--service", "loan")
    desk.deliver()
    shown = desk.ill("show", "2")
    assert "verification-reference-source union catalogue record 1" in shown
    assert "service      copy-non-returnable, loan" in shown and "title " in shown
    code, _, err = desk.run("ill", "request", "--library", "NORTH", "--responder", "CENTRAL", "--record", "99999")
    assert code == 1 and "there is no record 99999" in err
    assert out


def test_staff_must_say_which_library_when_the_node_serves_several(desk):
    code, _, err = desk.run("ill", "request", "--responder", "CENTRAL", "--title", "Water")
    assert code == 1 and "say which library you act for (--library): this node serves NORTH, CENTRAL" in err
    code, _, err = desk.run("ill", "request", "--library", "NORTH", "--responder", "MARS", "--title", "Water")
    assert code == 1 and "'MARS' is not a member library" in err
    code, _, err = desk.run("ill", "show", "7")
    assert code == 1 and "there is no transaction 7" in err


ROUTED = """\
libraries:
  - {code: CENTRAL, name: Central Library, ill_symbol: CENTRAL, ill_address: "127.0.0.1:4990", region: national,
     tier: 1, fees: {loan: "CNY 10.00"}}
  - {code: NORTH, name: Northern University Library, ill_symbol: NORTH, ill_address: "127.0.0.1:4991", region: north}
  - {code: SOUTH, name: Southern University Library, ill_symbol: SOUTH, ill_address: "127.0.0.1:4992", region: south,
     fees: {loan: "CNY 4.00"}}
ill: {serves: [NORTH, CENTRAL, SOUTH]}
"""


def test_a_request_without_a_responder_is_routed_and_staff_see_the_route(desk):
    desk.config.write_text(ROUTED)
    for library in ("SOUTH", "CENTRAL"):
        assert desk.run("load", "--quiet", "--library", library, str(DATA / "marc21-utf8-sample.mrc"))[0] == 0
    out = desk.ill("request", "--library", "NORTH", "--record", "1")
    assert "ILL-Request queued for CENTRAL" in out and "routed: CENTRAL -> SOUTH" in out
    desk.deliver()
    desk.ill("answer", "2", "unfilled", "--reason", "not-owned")
    desk.deliver()   # the answer: NORTH moves on to SOUTH
    desk.deliver()   # the request to SOUTH
    desk.ill("ship", "4")
    desk.deliver()
    shown = desk.ill("show", "1")
    assert "1. CENTRAL    #1     NOT-SUPPLIED  <- this one" in shown
    assert "2. SOUTH      #3     SHIPPED" in shown
    shown = desk.ill("show", "3")
    assert "cost         CNY 4.00" in shown and "<- this one" in shown
    code, _, err = desk.run("ill", "request", "--library", "NORTH", "--title", "Nowhere to be found")
    assert code == 1 and "no record of the union catalogue matches the title 'Nowhere to be found'" in err
    out = desk.ill("request", "--library", "NORTH", "--title", "History of Mary, Queen of Scots",
                   "--author", "Abbott, Jacob")
    assert "ILL-Request queued for CENTRAL" in out and "routed: CENTRAL -> SOUTH" in out


def test_a_request_forwarded_to_a_library_of_the_same_node_goes_on_there(desk):
    desk.config.write_text(ROUTED)
    for library in ("SOUTH", "CENTRAL"):
        assert desk.run("load", "--quiet", "--library", library, str(DATA / "marc21-utf8-sample.mrc"))[0] == 0
    assert "ILL-Request queued for CENTRAL" in desk.ill("request", "--library", "NORTH", "--record", "1")
    desk.deliver()
    code, _, err = desk.run("ill", "forward", "2", "--to", "NORTH")
    assert code == 1 and "forwarded to a third library" in err
    assert "state FORWARD" in desk.ill("forward", "2", "--to", "SOUTH", "--note", "ours is lost")
    desk.deliver()
    display = desk.ill("show", "1").split()[1]                 # one Transaction-Id, three ends here
    code, _, err = desk.run("ill", "show", display)
    assert code == 1 and "say which library" in err
    assert "SOUTH" in desk.ill("show", display, "--library", "SOUTH").splitlines()[0]
    code, _, err = desk.run("ill", "forward", "3", "--to", "CENTRAL")
    assert code == 1 and "CENTRAL already has this request" in err
    desk.ill("ship", "3")
    desk.deliver()
    desk.ill("receive", "1")
    desk.deliver()
    states = {number: desk.ill("show", number).splitlines()[0] for number in "123"}
    assert "NORTH -> SOUTH" in states["1"] and "RECEIVED" in states["1"]
    assert "FORWARD" in states["2"] and "NORTH -> SOUTH" not in states["2"] and "RECEIVED" in states["3"]
    store = Store(desk.data / "store")
    try:
        with store.reading() as reader:
            ends = [Transaction(**record) for record in reader.ill_transactions()]
            forwarder = [(entry["direction"], entry["type"]) for entry in reader.ill_history(2)]
            requester = [(entry["direction"], entry["type"], entry["by"]) for entry in reader.ill_history(1)]
    finally:
        store.close()
    assert forwarder[-1] == ("received", "Status-Or-Error-Report")      # SOUTH's answer to the forward
    assert requester.count(("received", "Status-Or-Error-Report", "CENTRAL")) == 1   # CENTRAL's own, only
    assert [(charge.number, charge.debtor, charge.creditor, charge.amount) for charge in charges(ends)] == [
        (3, "NORTH", "SOUTH", Decimal("4.00"))]                         # SOUTH's fee, once
