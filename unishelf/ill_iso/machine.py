"""The protocol machine's decisions, sans-I/O: what a transaction's state allows and where it leads.

A transaction and an event go in; the next state, or None for "prohibited", comes out. What is
allowed is the tables' business (`state_tables.yaml`); this module holds only the predicates
the tables name as guards.
"""
from __future__ import annotations

from unishelf.ill_iso.tables import ROLES, RoleTable, load_tables
from unishelf.ill_iso.transaction import Transaction

GUARDS = {
    "returnable": lambda transaction: transaction.returnable,
    "shipped-not-required": lambda transaction: (
        (transaction.requester_messages or {}).get("requester-SHIPPED") != "requires"),
}


class Machine:
    def __init__(self, tables: dict[str, RoleTable] | None = None):
        self.tables = tables or load_tables()
        for table in self.tables.values():
            for (state, direction, event), target in table.transitions.items():
                if target.guard is not None and target.guard not in GUARDS:
                    raise ValueError(f"{table.role} {state} {direction} {event}: unknown guard "
                                     f"{target.guard!r} (known: {', '.join(GUARDS)})")

    def next_state(self, transaction: Transaction, direction: str, event: str) -> str | None:
        target = self.tables[transaction.role].target(transaction.state, direction, event)
        if target is None or (target.guard and not GUARDS[target.guard](transaction)):
            return None
        return target.state

    def allowed(self, transaction: Transaction, direction: str) -> list[str]:
        """The events the transaction's state allows now, in table order."""
        table = self.tables[transaction.role]
        return [event for event in table.events(transaction.state, direction)
                if self.next_state(transaction, direction, event) is not None]

    def terminal(self, transaction: Transaction) -> bool:
        table = self.tables[transaction.role]
        return transaction.state in table.terminal or (
            not transaction.returnable and transaction.state in table.terminal_for_copies)

    def receivers(self, apdu_type: str) -> list[str]:
        """The roles that ever accept this APDU type from a peer."""
        return [role for role in ROLES if self.tables[role].receivable(apdu_type)]

    def timer_apdu(self, role: str, kind: str) -> str | None:
        return self.tables[role].timers.get(kind)
