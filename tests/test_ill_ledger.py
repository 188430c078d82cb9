"""The fee ledger: charges counted once, Decimal sums, two nodes' ledgers that agree, and
`unishelf ill ledger` as a table and as CSV."""
from __future__ import annotations

import argparse
import csv
import io
from decimal import Decimal

from test_ill_cli import Desk
from test_ill_scenarios import LOAN, R, S, WILL_SUPPLY, request, run_steps

from unishelf import cli_ill_reports
from unishelf.config import load_config
from unishelf.ill_iso.apdus import transaction_id
from unishelf.ill_iso.ledger import Balance, Charge, balances, charges
from unishelf.ill_iso.tables import REQUESTER, RESPONDER
from unishelf.ill_iso.transaction import Transaction, transaction_key
from unishelf.marc.store import Store


def made(number: int, role: str, library: str, peer: str, qualifier: int, **facts) -> Transaction:
    """A transaction as a node would have stored it; the requester's symbol is its code."""
    identity = transaction_id(library if role == REQUESTER else peer, f"{qualifier:06d}", "20240301")
    facts = {"state": "RECEIVED", "date_requested": "20240301", "created": "2024-03-01T09:00:00Z", **facts}
    return Transaction(number, role, library, peer, identity, transaction_key(role, identity), **facts)


def charged(number: int, role: str, library: str, peer: str, qualifier: int, cost: dict | None,
            shipped: str = "20240305", **facts) -> Transaction:
    return made(number, role, library, peer, qualifier, shipped_date=shipped, cost=cost,
                **{"shipped_service": "loan", **facts})


def amount(value: str, currency: str | None = "CNY") -> dict:
    return {"monetary-value": value, **({"currency-code": currency} if currency else {})}


def store_transactions(store: Store, transactions: list[Transaction]):
    with store.writing() as writer:
        for transaction in transactions:
            writer.put_ill_transaction(transaction.record())


def stored(store: Store) -> list[Transaction]:
    with store.reading() as reader:
        return [Transaction(**record) for record in reader.ill_transactions()]


def report(desk: Desk, *argv) -> tuple[int, str, str]:
    """`unishelf ill ledger|stats ...` against the desk's data directory."""
    parser = argparse.ArgumentParser(prog="unishelf ill")
    cli_ill_reports.register(parser.add_subparsers(dest="action", required=True))
    args = parser.parse_args(argv)
    code = args.handler(load_config(desk.config, {"data_dir": str(desk.data)}), args)
    out, err = desk.capsys.readouterr()
    return code, out, err


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def parsed_csv(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


# -- charges and balances --------------------------------------------------------------------
def test_a_charge_is_a_shipped_cost_not_cancelled_counted_once():
    both_ends = [charged(1, REQUESTER, "NORTH", "CENTRAL", 1, amount("10.00")),
                 charged(2, RESPONDER, "CENTRAL", "NORTH", 1, amount("10.00"))]
    not_owed = [charged(3, REQUESTER, "NORTH", "CENTRAL", 2, None),                      # free
                made(4, REQUESTER, "NORTH", "CENTRAL", 3, cost=amount("5.00")),           # not shipped
                charged(5, REQUESTER, "NORTH", "CENTRAL", 4, amount("5.00"), state="CANCELLED")]
    copy = charged(6, RESPONDER, "NORTH", "EAST", 7, {"currency-code": "cny", "monetary-value": " 2.5"},
                   shipped="20240302", shipped_service="copy-non-returnable")
    assert charges([*both_ends, *not_owed, copy]) == [
        Charge(6, "EAST/20240301/000007", "20240302", "EAST", "NORTH", "CNY", Decimal("2.5"), "copy-non-returnable"),
        Charge(2, "NORTH/20240301/000001", "20240305", "NORTH", "CENTRAL", "CNY", Decimal("10.00"), "loan")]
    assert charges(reversed(both_ends)) == charges(both_ends)   # the responder's end, whichever comes first


def test_balances_sum_both_sides_of_every_account_per_currency():
    owed = charges([charged(1, REQUESTER, "NORTH", "CENTRAL", 1, amount("10.00")),
                    charged(2, REQUESTER, "NORTH", "CENTRAL", 2, amount("2.5")),
                    charged(3, RESPONDER, "NORTH", "CENTRAL", 3, amount("7.50")),
                    charged(4, REQUESTER, "NORTH", "CENTRAL", 4, amount("4.00", "NZD")),
                    charged(5, RESPONDER, "NORTH", "EAST", 5, amount("1.10", None)),
                    charged(6, RESPONDER, "NORTH", "EAST", 6, amount("0.20", None))])
    zero = Decimal("0.00")
    assert balances(owed) == [
        Balance("CENTRAL", "NORTH", "CNY", Decimal("12.50"), Decimal("7.50")),
        Balance("CENTRAL", "NORTH", "NZD", Decimal("4.00"), zero),
        Balance("EAST", "NORTH", "", zero, Decimal("1.30")),
        Balance("NORTH", "CENTRAL", "CNY", Decimal("7.50"), Decimal("12.50")),
        Balance("NORTH", "CENTRAL", "NZD", zero, Decimal("4.00")),
        Balance("NORTH", "EAST", "", Decimal("1.30"), zero)]
    assert [str(balance.net) for balance in balances(owed)] == ["5.00", "4.00", "-1.30", "-5.00", "-4.00", "1.30"]


def test_a_charge_that_is_not_an_amount_stays_out_of_the_balances():
    (charge,) = charges([charged(1, REQUESTER, "NORTH", "CENTRAL", 1, amount("ten"))])
    assert (charge.transaction, charge.amount) == ("NORTH/20240301/000001", None)
    assert balances([charge]) == []


# -- across the network ----------------------------------------------------------------------
def ship(cost: str):
    return (S, "ship", {"cost": cost}, ("SHIPPED", "SHIPPED"))


def test_two_nodes_ledgers_agree_on_what_each_library_owes_the_other(network):
    run_steps(network, "NORTH", "CENTRAL", [request(), WILL_SUPPLY, ship("CNY 10.00")])
    run_steps(network, "NORTH", "CENTRAL", [request(), WILL_SUPPLY, ship("NZD 4.00"),
                                            (R, "receive", {}, ("RECEIVED", "RECEIVED"))])
    run_steps(network, "CENTRAL", "NORTH", [request({**LOAN, "services": ["copy"]}), WILL_SUPPLY,
                                            (S, "ship", {"cost": "CNY 3.50", "service": "copy"}, ("SHIPPED", "SHIPPED"))])
    run_steps(network, "CENTRAL", "NORTH", [request(), WILL_SUPPLY, (S, "ship", {}, ("SHIPPED", "SHIPPED"))])
    seen = {code: charges(stored(node.store)) for code, node in network.nodes.items()}
    assert [(charge.transaction, charge.currency, charge.amount) for charge in seen["NORTH"]] == [
        (charge.transaction, charge.currency, charge.amount) for charge in seen["CENTRAL"]]
    assert {(charge.debtor, charge.creditor, str(charge.amount), charge.service) for charge in seen["NORTH"]} == {
        ("NORTH", "CENTRAL", "10.00", "loan"), ("NORTH", "CENTRAL", "4.00", "loan"),
        ("CENTRAL", "NORTH", "3.50", "copy-non-returnable")}
    accounts = {code: {(b.counterparty, b.currency): b for b in balances(seen[code]) if b.library == code}
                for code in seen}
    assert accounts["NORTH"][("CENTRAL", "CNY")] == Balance("NORTH", "CENTRAL", "CNY", Decimal("3.50"), Decimal("10.00"))
    for (counterparty, currency), mine in accounts["NORTH"].items():
        theirs = accounts[counterparty][("NORTH", currency)]
        assert (mine.payable, mine.receivable, mine.net) == (theirs.receivable, theirs.payable, -theirs.net)
    assert len(accounts["CENTRAL"]) == len(accounts["NORTH"]) == 2


def routed_and_forwarded(network):
    """NORTH's request goes to SOUTH (unfilled), then CENTRAL, which forwards it to WEST; WEST ships
    two days after the request, for its fee of CNY 50.00, and NORTH has it three days later."""
    network.request()
    network.act("SOUTH", "answer", kind="unfilled")
    network.act("CENTRAL", "forward", to="WEST")
    network.act("WEST", "answer", kind="will-supply")
    network.clock.advance(days=2)
    network.act("WEST", "ship")
    network.clock.advance(days=3)
    network.nodes["NORTH"].command(str(network.transactions("NORTH")[-1].number), "receive", {}, "staff")
    network.deliver()


def test_a_forwarded_request_is_owed_to_the_library_that_shipped_it(routing):
    routed_and_forwarded(routing)
    seen = {code: charges(stored(store)) for code, store in routing.stores.items()}
    assert [(c.transaction, c.debtor, c.creditor, c.amount) for c in seen["NORTH"]] == [
        (c.transaction, c.debtor, c.creditor, c.amount) for c in seen["WEST"]] == [
        ("NORTH/20240315/000001/2", "NORTH", "WEST", Decimal("50.00"))]
    assert seen["SOUTH"] == seen["CENTRAL"] == seen["EAST"] == []


# -- unishelf ill ledger ---------------------------------------------------------------------
FEES_CONFIG = """\
libraries:
  - {code: CENTRAL, name: Central Library, ill_symbol: CENTRAL, ill_address: "127.0.0.1:4990", fees: {loan: "CNY 10.00"}}
  - {code: NORTH, name: Northern University Library, ill_symbol: NORTH, ill_address: "127.0.0.1:4991"}
ill: {serves: [NORTH, CENTRAL]}
"""


def write(desk: Desk, transactions: list[Transaction]):
    store = Store(desk.data / "store")
    try:
        store_transactions(store, transactions)
    finally:
        store.close()


def test_a_node_serving_both_ends_charges_the_lenders_fee_once(desk):
    desk.config.write_text(FEES_CONFIG)
    desk.ill("request", "--library", "NORTH", "--responder", "CENTRAL", "--title", "Water")
    desk.deliver()
    desk.ill("ship", "2")
    desk.deliver()
    code, out, _ = report(desk, "ledger", "--detail", "--csv")
    assert code == 0
    ((charge),) = parsed_csv(out)
    assert (charge["number"], charge["debtor"], charge["creditor"], charge["currency"], charge["amount"]) == (
        "2", "NORTH", "CENTRAL", "CNY", "10.00")
    _, out, _ = report(desk, "ledger")
    assert table(out) == [["library", "counterparty", "currency", "receivable", "payable", "net"],
                          ["CENTRAL", "NORTH", "CNY", "10.00", "0.00", "10.00"],
                          ["NORTH", "CENTRAL", "CNY", "0.00", "10.00", "-10.00"]]


LEDGER = [charged(1, REQUESTER, "NORTH", "CENTRAL", 1, amount("10.00"), shipped="20240305"),
          charged(2, REQUESTER, "NORTH", "CENTRAL", 2, amount("2.50"), shipped="20240412"),
          charged(3, RESPONDER, "NORTH", "EAST", 3, amount("6.00"), shipped="20240320"),
          charged(4, RESPONDER, "NORTH", "EAST", 4, amount("1.00", "NZD"), shipped="20240321")]


def test_the_ledger_as_a_table_and_as_csv(desk):
    write(desk, LEDGER)
    code, out, err = report(desk, "ledger")
    assert (code, err) == (0, "")
    assert out == ("library  counterparty  currency  receivable  payable     net\n"
                   "NORTH    CENTRAL       CNY             0.00    12.50  -12.50\n"
                   "NORTH    EAST          CNY             6.00     0.00    6.00\n"
                   "NORTH    EAST          NZD             1.00     0.00    1.00\n")
    _, as_csv, _ = report(desk, "ledger", "--csv")
    rows = parsed_csv(as_csv)
    assert [[row[column] for column in cli_ill_reports.BALANCE_COLUMNS] for row in rows] == table(out)[1:]
    assert all(Decimal(row["receivable"]) - Decimal(row["payable"]) == Decimal(row["net"]) for row in rows)


def test_csv_keeps_a_peers_formula_like_id_as_text_and_negative_numbers_as_numbers(desk):
    peer = '=HYPERLINK("http://evil.example/","x")'
    write(desk, [charged(1, RESPONDER, "NORTH", peer, 1, amount("6.00"))])
    _, out, _ = report(desk, "ledger", "--detail", "--csv")
    ((charge),) = parsed_csv(out)
    assert charge["transaction"] == "'" + peer + "/20240301/000001" and charge["debtor"] == "'" + peer
    write(desk, [charged(2, REQUESTER, "NORTH", "CENTRAL", 2, amount("9.00"))])
    _, out, _ = report(desk, "ledger", "--csv")
    assert {(row["counterparty"], row["net"]) for row in parsed_csv(out)} == {("'" + peer, "6.00"),
                                                                             ("CENTRAL", "-9.00")}


def test_the_ledger_for_a_period_and_one_library_with_its_charges(desk):
    write(desk, LEDGER)
    _, out, _ = report(desk, "ledger", "--from", "2024-03-10", "--until", "20240331", "--library", "EAST", "--detail")
    charges_part, balances_part = out.split("\n\n")
    assert table(charges_part) == [
        ["number", "transaction", "shipped", "debtor", "creditor", "service", "currency", "amount"],
        ["3", "EAST/20240301/000003", "20240320", "EAST", "NORTH", "loan", "CNY", "6.00"],
        ["4", "EAST/20240301/000004", "20240321", "EAST", "NORTH", "loan", "NZD", "1.00"]]
    assert table(balances_part) == [["library", "counterparty", "currency", "receivable", "payable", "net"],
                                    ["EAST", "NORTH", "CNY", "0.00", "6.00", "-6.00"],
                                    ["EAST", "NORTH", "NZD", "0.00", "1.00", "-1.00"]]
    _, out, _ = report(desk, "ledger", "--until", "2024-03-01")
    assert table(out)[1:] == [["(none)"]]


def test_the_ledger_refuses_a_date_that_is_not_one_and_names_an_unreadable_charge(desk):
    write(desk, [charged(1, REQUESTER, "NORTH", "CENTRAL", 1, amount("ten"))])
    code, out, err = report(desk, "ledger", "--from", "2024-02-30")
    assert (code, out) == (1, "")
    assert err == "unishelf ill ledger: the --from date '2024-02-30' is not a date like 2024-03-15\n"
    code, out, err = report(desk, "ledger", "--detail")
    assert code == 0
    assert err == ("unishelf ill ledger: #1 NORTH/20240301/000001: the charge is not an amount; "
                   "left out of the balances\n")
    assert table(out)[1] == ["1", "NORTH/20240301/000001", "20240305", "NORTH", "CENTRAL", "loan", "CNY"]
    assert table(out)[-1] == ["(none)"]
