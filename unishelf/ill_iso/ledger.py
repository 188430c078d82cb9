"""The fee ledger: what member libraries owe each other for items shipped with a charge.

A transaction owes when the responder shipped it with a cost (Shipped's supply-details) and it
was not cancelled: the requester library owes the cost to the responder library. A node sees
the transactions of the libraries it serves, each from its own end; one that serves both ends
holds a transaction twice, once per role, and the charge counts once (the responder's record:
it set the cost). So the ledgers of two nodes agree: what one says its library owes the other,
the other's says it is owed. Money is Decimal throughout; amounts never pass through float.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from unishelf.ill_iso.tables import RESPONDER
from unishelf.ill_iso.transaction import Transaction

CANCELLED = "CANCELLED"
ZERO = Decimal("0.00")
# AmountString allows digits, spaces and a point; spaces carry no value
_MONETARY_VALUE = re.compile(r"\d+\.?\d*|\.\d+")


@dataclass(frozen=True)
class Charge:
    number: int                # the transaction's number at this node
    transaction: str           # its id as staff read it: NORTH/20240315/000012
    shipped: str               # YYYYMMDD
    debtor: str                # the requester library
    creditor: str              # the responder library
    currency: str              # ISO 4217; "" where the responder did not say
    amount: Decimal | None     # None: the responder's value is not an amount; left out of balances
    service: str | None        # loan or copy-non-returnable


@dataclass(frozen=True)
class Balance:
    """One library's account with one counterparty in one currency."""

    library: str
    counterparty: str
    currency: str
    receivable: Decimal        # what the counterparty owes the library
    payable: Decimal           # what the library owes the counterparty

    @property
    def net(self) -> Decimal:
        return self.receivable - self.payable


def charges(transactions: Iterable[Transaction]) -> list[Charge]:
    """Every charge among the transactions, once each, in the order they were shipped."""
    charged: dict[str, Transaction] = {}   # the Transaction-Id (no role, no library) -> the end that counts
    for transaction in transactions:
        if transaction.cost is None or transaction.shipped_date is None or transaction.state == CANCELLED:
            continue
        if transaction.display_id not in charged or transaction.role == RESPONDER:
            charged[transaction.display_id] = transaction
    return sorted((_charge(transaction) for transaction in charged.values()),
                  key=lambda charge: (charge.shipped, charge.transaction))


def _charge(transaction: Transaction) -> Charge:
    value = str(transaction.cost.get("monetary-value", "")).replace(" ", "")
    currency = str(transaction.cost.get("currency-code") or "").strip().upper()
    return Charge(transaction.number, transaction.display_id, transaction.shipped_date,
                  transaction.requester, transaction.responder, currency,
                  Decimal(value) if _MONETARY_VALUE.fullmatch(value) else None,
                  transaction.shipped_service)


def balances(charges: Iterable[Charge]) -> list[Balance]:
    """Both sides of every account the charges touch, by library, counterparty and currency."""
    sums: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for charge in charges:
        if charge.amount is None:
            continue
        sums[charge.creditor, charge.debtor, charge.currency][0] += charge.amount
        sums[charge.debtor, charge.creditor, charge.currency][1] += charge.amount
    return [Balance(*account, *sums[account]) for account in sorted(sums)]
