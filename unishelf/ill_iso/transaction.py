"""One ILL transaction as a protocol machine keeps it: its identity, its state and the facts its
APDUs established (services asked for and shipped, due date, optional-message flags, the most
recent service for History-Reports).

The facts are read from every APDU the transaction sends or receives alike (`absorb`), so both
ends of a transaction derive the same facts from the same APDUs. The record is plain data
(`record()`; `Transaction(**record)` reads it back) that `unishelf.marc.store` keeps; the APDU
bytes themselves are in its history.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date

from unishelf.ill_iso.tables import IDLE, REQUESTER

SEP = "\x1f"
_DATE = re.compile(r"[0-9]{8}")
# APDU types that do not count as the transaction's "most recent service" in status reports:
# a report on the state would otherwise only ever report the query that asked for it
_NOT_A_SERVICE = frozenset({"Status-Or-Error-Report", "Status-Query"})


def symbol_of(system_id: dict | None) -> str:
    """The person or institution symbol of a System-Id, else its name, else ""."""
    if not isinstance(system_id, dict):
        return ""
    for component in ("person-or-institution-symbol", "name-of-person-or-institution"):
        chosen = system_id.get(component)
        if isinstance(chosen, tuple) and len(chosen) == 2 and isinstance(chosen[1], str) and chosen[1].strip():
            return chosen[1].strip()
    return ""


def initial_requester(transaction_id: dict, requester_id: dict | None) -> str:
    """Whose transaction this is: the initial-requester-id, or the requester-id where a peer
    (yaz-illclient, for one) leaves the initial-requester-id empty."""
    return symbol_of(transaction_id.get("initial-requester-id")) or symbol_of(requester_id)


def transaction_key(role: str, transaction_id: dict, requester_id: dict | None = None) -> str:
    """The whole Transaction-Id tuple, per role: the two ends may live in one store."""
    parts = (role, initial_requester(transaction_id, requester_id),
             transaction_id.get("transaction-group-qualifier", ""),
             transaction_id.get("transaction-qualifier", ""),
             transaction_id.get("sub-transaction-qualifier") or "")
    return SEP.join(parts)


def end_key(key: str, library: str) -> str:
    """The key of a second end of one role and Transaction-Id in one store (a request forwarded
    between two libraries this node serves): `key` with the library's code after it."""
    return SEP.join([key, library])


def base_key(key: str) -> str:
    """The role and Transaction-Id of a key, without the library an `end_key` may add."""
    return SEP.join(key.split(SEP)[:5])


def valid_id_part(text) -> bool:
    """A Transaction-Id part staff can read and type back: no separator, slash or control character."""
    return isinstance(text, str) and not any(c in "/" + SEP or not c.isprintable() for c in text)


def display_id(key: str) -> str:
    """SYMBOL/GROUP/QUALIFIER[/SUB], as staff read and type it."""
    _, symbol, group, qualifier, sub = key.split(SEP)[:5]
    return "/".join([symbol, group, qualifier] + ([sub] if sub else []))


def key_from_display(role: str, text: str) -> str | None:
    parts = text.split("/")
    if len(parts) not in (3, 4):
        return None
    return SEP.join([role, *parts, *([""] if len(parts) == 3 else [])])


@dataclass
class Transaction:
    number: int                       # this node's own serial number, for staff
    role: str                         # requester or responder
    library: str                      # the member library this end acts for
    peer: str                         # the member library at the other end
    transaction_id: dict              # as it travels, never rewritten
    key: str
    state: str = IDLE
    requested_services: list = field(default_factory=list)
    shipped_service: str | None = None
    requester_messages: dict | None = None
    responder_messages: dict | None = None
    item: dict = field(default_factory=dict)
    date_requested: str | None = None
    expiry_date: str | None = None
    due_date: str | None = None
    renewable: bool = True
    results: str | None = None        # the last ILL-Answer's transaction-results
    explanation: str = ""             # what that answer said, for staff
    last_transition: str | None = None
    recent: dict | None = None        # most recent service: type, date, initiator, note
    attention: str | None = None      # the last error report the peer sent about it
    timers: dict = field(default_factory=dict)   # timer kind -> the date it is set for
    respond_by: str | None = None     # requester: the peer's days-to-respond run out after this date
    reply_by: str | None = None       # a conditional answer's date-for-reply
    renew_answer_by: str | None = None   # responder: a renewal asked for is to be answered by this date
    max_cost: dict | None = None      # the request's maximum-cost (Amount)
    cost: dict | None = None          # what the responder charged on Shipped (Amount)
    shipped_date: str | None = None
    received_date: str | None = None
    delivery: dict | None = None      # an electronic delivery: url, name, size, sha256, expires
    # routing (requester): the libraries asked in turn; this transaction asks rota[attempt - 1]
    rota: list = field(default_factory=list)
    attempt: int = 0                  # 0: the responder was named, not routed
    forwarded_from: int | None = None # the attempt before this one (its number at this node)
    forwarded_to: int | None = None   # the attempt after this one
    intermediary: str | None = None   # the responder that passed it on (Forward-Notification)
    tried: list = field(default_factory=list)   # libraries earlier attempts (or forwards) asked
    created: str = ""
    updated: str = ""
    history_length: int = 0

    @property
    def display_id(self) -> str:
        return display_id(self.key)

    @property
    def returnable(self) -> bool:
        """Predicate p5: a loan (shipped as one, or asked for as one before shipping)."""
        if self.shipped_service is not None:
            return self.shipped_service == "loan"
        return "loan" in self.requested_services

    @property
    def requester(self) -> str:
        return self.library if self.role == REQUESTER else self.peer

    @property
    def responder(self) -> str:
        return self.peer if self.role == REQUESTER else self.library

    def record(self) -> dict:
        """As the store keeps it."""
        return asdict(self)

    def absorb(self, apdu_type: str, value: dict, initiator: dict, today: str):
        """Take in the facts an APDU (sent or received) establishes; the state is the caller's."""
        reader = _FACTS.get(apdu_type)
        if reader is not None:
            reader(self, value)
        if apdu_type not in _NOT_A_SERVICE:
            self.recent = {"type": apdu_type, "date": today, "initiator": initiator,
                           "note": note_of(value)}

    def timer_dates(self) -> dict[str, str | None]:
        """When each kind of timer should fire after, as the facts now stand."""
        return {"expiry": self.expiry_date, "due": self.due_date if self.returnable else None,
                "respond": self.respond_by, "conditional": self.reply_by, "renew": self.renew_answer_by}


def _date(text) -> str | None:
    """An ISO-Date a peer sent, if it is one (ASCII digits, a real day); None otherwise."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        return None
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return text


def note_of(value: dict) -> str | None:
    """The APDU's note (requester-note, responder-note or note), if it has one."""
    for name, item in value.items():
        if name.endswith("note") and isinstance(item, str) and item:
            return item
    return None


def _request(transaction: Transaction, value: dict):
    transaction.requested_services = [service for service in value.get("iLL-service-type", [])
                                      if isinstance(service, str)]
    transaction.requester_messages = value.get("requester-optional-messages")
    transaction.item = {name: text for name, text in value.get("item-id", {}).items()
                        if isinstance(text, str) and text}
    this_service = value["service-date-time"]["date-time-of-this-service"]
    transaction.date_requested = _date(this_service.get("date"))
    transaction.max_cost = (value.get("cost-info-type") or {}).get("maximum-cost")
    search = value.get("search-type") or {}
    flag = search.get("expiry-flag")
    if flag == "need-Before-Date":
        transaction.expiry_date = _date(search.get("need-before-date"))
    elif flag == "other-Date":
        transaction.expiry_date = _date(search.get("expiry-date"))


def _answer(transaction: Transaction, value: dict):
    transaction.results = value.get("transaction-results")
    if value.get("responder-optional-messages"):
        transaction.responder_messages = value["responder-optional-messages"]
    explanation = value.get("results-explanation")
    transaction.reply_by = None
    if isinstance(explanation, tuple):
        details = explanation[1] if isinstance(explanation[1], dict) else {}
        if explanation[0] == "conditional-results":
            transaction.reply_by = _date(details.get("date-for-reply"))
        transaction.explanation = ", ".join(f"{name} {text}" for name, text in details.items()
                                            if isinstance(text, str))
    transaction.expiry_date = None   # answered: nothing expires any more
    transaction.respond_by = None


def _shipped(transaction: Transaction, value: dict):
    transaction.shipped_service = value.get("shipped-service-type")
    if value.get("responder-optional-messages"):
        transaction.responder_messages = value["responder-optional-messages"]
    details = value.get("supply-details", {})
    _date_due(transaction, details.get("date-due"))
    transaction.shipped_date = _date(details.get("date-shipped"))
    transaction.cost = details.get("cost") or transaction.cost
    transaction.delivery = _electronic_delivery(details.get("shipped-via"))
    transaction.expiry_date = None
    transaction.respond_by = None


def _electronic_delivery(shipped_via) -> dict | None:
    """Where a copy delivered electronically can be fetched, and how to check it: the address
    of its e-delivery-details and the facts its description carries (name, size, sha256, until)."""
    if not isinstance(shipped_via, tuple) or shipped_via[0] != "electronic-delivery":
        return None
    service = shipped_via[1]
    details = service.get("e-delivery-details")
    delivery = {}
    if isinstance(details, tuple) and details[0] == "e-delivery-address":
        delivery["url"] = details[1].get("telecom-service-address")
    for part in str(service.get("e-delivery-description") or "").split(";"):
        name, _, text = part.strip().partition(" ")
        if name in ("name", "size", "sha256", "until") and text:
            delivery[name] = int(text) if name == "size" and text.isdigit() else text
    return delivery


def _date_due(transaction: Transaction, date_due: dict | None):
    if isinstance(date_due, dict) and _date(date_due.get("date-due-field")):
        transaction.due_date = date_due["date-due-field"]
        transaction.renewable = date_due.get("renewable", True) is not False


def _received(transaction: Transaction, value: dict):
    transaction.received_date = _date(value.get("date-received"))


def _conditional_reply(transaction: Transaction, value: dict):
    transaction.reply_by = None


def _renew_answer(transaction: Transaction, value: dict):
    transaction.renew_answer_by = None
    if value.get("answer"):
        _date_due(transaction, value.get("date-due"))


def _overdue(transaction: Transaction, value: dict):
    _date_due(transaction, value.get("date-due"))


def _closing(transaction: Transaction, value: dict):
    transaction.expiry_date = None
    transaction.respond_by = None


_FACTS = {
    "ILL-Request": _request,
    "ILL-Answer": _answer,
    "Shipped": _shipped,
    "Received": _received,
    "Conditional-Reply": _conditional_reply,
    "Renew-Answer": _renew_answer,
    "Overdue": _overdue,
    "Cancel": _closing,
    "Expired": _closing,
}
