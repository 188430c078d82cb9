"""`unishelf ill ledger` and `unishelf ill stats`: what the member libraries a node serves owe and
are owed for interlibrary loans, and how their requests went; a table, or CSV for a spreadsheet.

Both only read the store, so they run while the node serves. A node knows the transactions of
the libraries it serves, so its reports are about those libraries (or the one `--library` names).
"""
from __future__ import annotations

import argparse
import csv
import sys

from . import cli_ill
from .ill_iso.ledger import Balance, Charge, balances, charges
from .ill_iso.primitives import PrimitiveError, iso_date
from .ill_iso.statistics import Period, Row, library_statistics
from .ill_iso.transaction import Transaction

BALANCE_COLUMNS = ("library", "counterparty", "currency", "receivable", "payable", "net")
CHARGE_COLUMNS = ("number", "transaction", "shipped", "debtor", "creditor", "service", "currency", "amount")
STATS_COLUMNS = ("library", "period", "role", "requests", "filled", "unfilled", "cancelled", "forwarded",
                 "fill_pct", "mean_days", "median_days")


def register(actions):
    """Add `ledger` and `stats` to the `unishelf ill` subcommands."""
    reporting = argparse.ArgumentParser(add_help=False)
    reporting.add_argument("--library", metavar="CODE", help="only this member library (default: every "
                           "library this node has transactions of)")
    reporting.add_argument("--from", dest="since", metavar="DATE", help="from this date on (2024-01-01)")
    reporting.add_argument("--until", metavar="DATE", help="up to and including this date")
    reporting.add_argument("--csv", action="store_true", help="CSV with a header row")

    ledger = actions.add_parser("ledger", parents=[reporting], help="fees: what libraries owe each other "
                                "for items shipped with a cost, by counterparty and currency",
                                description="Charges count in the period they were shipped.")
    ledger.add_argument("--detail", action="store_true", help="list the charges too (with --csv: the "
                        "charges instead)")
    ledger.set_defaults(handler=cmd_ledger)

    stats = actions.add_parser("stats", parents=[reporting], help="requests made and received, filled, "
                               "fill rate and turnaround in days",
                               description="Requests count in the period they were made; a routed request "
                               "counts once. Turnaround: days from the request to shipping (responder) or "
                               "receipt (requester).")
    stats.add_argument("--by", choices=["month"], help="a row per month")
    stats.set_defaults(handler=cmd_stats)


def cmd_ledger(config, args) -> int:
    try:
        period = _period(args)
    except PrimitiveError as error:
        return cli_ill._fail("ledger", error)
    transactions = _transactions(config)
    libraries = {args.library} if args.library else {transaction.library for transaction in transactions}
    shown = [charge for charge in charges(transactions)
             if period.contains(charge.shipped) and {charge.debtor, charge.creditor} & libraries]
    for charge in shown:
        if charge.amount is None:
            print(f"unishelf ill ledger: #{charge.number} {charge.transaction}: the charge is not an "
                  "amount; left out of the balances", file=sys.stderr)
    if args.detail:
        _emit(CHARGE_COLUMNS, [_charge_cells(charge) for charge in shown], args.csv, left=7)
        if args.csv:
            return 0
        print()
    accounts = [balance for balance in balances(shown) if balance.library in libraries]
    _emit(BALANCE_COLUMNS, [_balance_cells(balance) for balance in accounts], args.csv, left=3)
    return 0


def cmd_stats(config, args) -> int:
    try:
        period = _period(args)
    except PrimitiveError as error:
        return cli_ill._fail("stats", error)
    rows = [row for row in library_statistics(_transactions(config), period, by_month=args.by == "month")
            if not args.library or row.library == args.library]
    _emit(STATS_COLUMNS, [_stats_cells(row) for row in rows], args.csv, left=3)
    return 0


def _period(args) -> Period:
    return Period(args.since and iso_date(args.since, "--from date"),
                  args.until and iso_date(args.until, "--until date"))


def _transactions(config) -> list[Transaction]:
    store = cli_ill._store(config)
    try:
        with store.reading() as reader:
            return [Transaction(**record) for record in reader.ill_transactions()]
    finally:
        store.close()


def _charge_cells(charge: Charge) -> tuple[str, ...]:
    return (str(charge.number), charge.transaction, charge.shipped, charge.debtor, charge.creditor,
            charge.service or "", charge.currency, "" if charge.amount is None else str(charge.amount))


def _balance_cells(balance: Balance) -> tuple[str, ...]:
    return (balance.library, balance.counterparty, balance.currency, str(balance.receivable),
            str(balance.payable), str(balance.net))


def _stats_cells(row: Row) -> tuple[str, ...]:
    return (row.library, row.period, row.role, str(row.requests), str(row.filled), str(row.unfilled),
            str(row.cancelled), str(row.forwarded), f"{100 * row.fill_rate:.1f}", _days(row.mean_days),
            _days(row.median_days))


def _days(days: float | None) -> str:
    return "" if days is None else f"{days:.1f}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(text: str) -> str:
    """A text cell a spreadsheet shows as text: peers choose transaction ids and library codes,
    and one starting with = (or + - @) would be run as a formula; a leading ' keeps it text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _emit(columns: tuple[str, ...], rows: list[tuple[str, ...]], as_csv: bool, left: int):
    """The rows as CSV, or as a table whose first `left` columns are text and the rest numbers."""
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(tuple(_inert(cell) if place < left else cell for place, cell in enumerate(cells))
                         for cells in rows)
        return
    widths = [max(map(len, cells)) for cells in zip(columns, *rows)]
    for cells in (columns, *rows):
        print("  ".join(cell.ljust(width) if place < left else cell.rjust(width)
                        for place, (cell, width) in enumerate(zip(cells, widths))).rstrip())
    if not rows:
        print("(none)")
