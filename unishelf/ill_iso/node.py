"""The ILL node's core: the protocol machines of the member libraries it serves, over the store.

No sockets here. The bytes of one APDU go in (`receive`) and the replies for the same
connection come out; staff commands (`request`, `command`) and timers (`fire_timers`) go in
and their APDUs land in the outbox, which the daemon sends. Every change (the transaction, the
APDU in its history, the outbox entry, the timers) is one LMDB write transaction, committed
before a reply is returned or the APDU can be sent: a node killed at any moment restarts in a
consistent state, and an APDU a peer sends again is recognised by its digest and taken once.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from unishelf.ill_iso import primitives
from unishelf.ill_iso.apdus import ILLDecodeError, decode_apdu, encode_apdu, header, system_id, transaction_id
from unishelf.ill_iso.asn1 import EncodeError
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.machine import Machine
from unishelf.ill_iso.primitives import PrimitiveError
from unishelf.ill_iso.reports import (
    REPORT, bare_report, error_report, report_summary, state_transition_prohibited, status_report,
)
from unishelf.ill_iso.tables import RECEIVE, REQUESTER, RESPONDER, SEND, event_name
from unishelf.ill_iso.transaction import (
    Transaction, initial_requester, key_from_display, note_of, symbol_of, transaction_key,
)

log = logging.getLogger("unishelf.ill")

VERSIONS = (1, 2)


class Refused(Exception):
    """A staff command the transaction's state does not allow now."""

    def __init__(self, transaction: Transaction, command: str, allowed: list[str]):
        super().__init__(f"#{transaction.number} is {transaction.state} at the {transaction.role} "
                         f"{transaction.library}; {command} is not allowed now. Allowed now: "
                         f"{', '.join(allowed) or 'nothing'}")
        self.transaction = transaction
        self.allowed = allowed


class NotFound(LookupError):
    """No such transaction, member library or served library."""


class NotRoutable(NotFound):
    """A request that names no responder, for an item no other member library holds."""


@dataclass(frozen=True)
class Settings:
    loan_period: int = 28                               # days
    timers: frozenset = frozenset({"expiry", "due"})    # the timer kinds that run

    @classmethod
    def from_config(cls, config) -> "Settings":
        ill = config["ill"]
        timers = {"expiry"} if ill["timers"]["expiry"] else set()
        if ill["timers"]["overdue"]:
            timers.add("due")
        return cls(ill["loan_period"], frozenset(timers))


@dataclass(frozen=True)
class Outcome:
    """What a staff command or timer did: the transaction as it now is, and the APDU queued."""

    transaction: Transaction
    apdu_type: str


def node_for_store(config, store) -> "Node":
    """The node as a process other than `unishelf serve` (staff commands, Z39.50 Item Order)
    works it: serving the libraries the running node last stamped into the store."""
    with store.reading() as reader:
        stamped = reader.ill_served()
    return Node(store, Directory.from_config(config, stamped=stamped), settings=Settings.from_config(config))


def day(now: datetime) -> str:
    return now.strftime("%Y%m%d")


def stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class Node:
    def __init__(self, store, directory: Directory, machine: Machine | None = None,
                 settings: Settings = Settings(), clock=None):
        self.store = store
        self.directory = directory
        self.machine = machine or Machine()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # -- staff: service primitives --------------------------------------------------------
    def request(self, library: str, responder: str, params: dict, by: str) -> Outcome:
        """A new transaction: `library` asks `responder` for an item (ILL-Request)."""
        requester = self.served_member(library)
        peer = self.member(responder)
        body = primitives.request_body(params)
        now = self.clock()
        with self.store.writing() as writer:
            number = writer.next_ill_counter("number")
            qualifier = f"{writer.next_ill_counter('qualifier:' + requester.code):06d}"
            identity = transaction_id(requester.symbol, qualifier, params.get("group") or day(now))
            identity["initial-requester-id"] = requester.system_id
            transaction = Transaction(number, REQUESTER, requester.code, peer.code, identity,
                                      transaction_key(REQUESTER, identity), created=stamp(now))
            self._send(writer, transaction, "ILL-Request", body, "ILL-Request", by, now)
        return Outcome(transaction, "ILL-Request")

    def command(self, reference: str, command: str, params: dict, by: str,
                library: str | None = None) -> Outcome:
        """A staff command on an existing transaction; `Refused` if its state does not allow it."""
        apdu_type = primitives.COMMANDS[command]
        event = primitives.command_event(command, params)
        if params.get("locations"):
            params = {**params, "locations": [self._location(code) for code in params["locations"]]}
        now = self.clock()
        with self.store.writing() as writer:
            transaction = self.find(writer, reference, library)
            if self.machine.next_state(transaction, SEND, event) is None:
                raise Refused(transaction, command, self.allowed_commands(transaction))
            body = primitives.body(apdu_type, transaction, params, self._context(now))
            self._send(writer, transaction, apdu_type, body, event, by, now)
        return Outcome(transaction, apdu_type)

    def allowed_commands(self, transaction: Transaction) -> list[str]:
        return primitives.describe(self.machine.allowed(transaction, SEND))

    def find(self, reader, reference: str, library: str | None = None) -> Transaction:
        """A transaction by its number (12 or #12) or its id (NORTH/20240315/000012)."""
        text = str(reference).lstrip("#")
        if text.isdigit():
            found = [reader.ill_transaction_numbered(int(text))]
        else:
            keys = [key_from_display(role, text) for role in (REQUESTER, RESPONDER)]
            found = [reader.ill_transaction(key) for key in keys if key]
        transactions = [Transaction(**record) for record in found if record is not None
                        and (library is None or record["library"] == library)]
        if not transactions:
            raise NotFound(f"there is no transaction {reference}" + (f" at {library}" if library else ""))
        if len(transactions) > 1:
            raise NotFound(f"{reference} is a transaction of both {transactions[0].library} and "
                           f"{transactions[1].library} here: say which library (--library)")
        return transactions[0]

    def served_member(self, code: str | None) -> Member:
        if code is None:
            if len(self.directory.served) != 1:
                raise NotFound("say which library you act for (--library): this node serves "
                               f"{', '.join(self.directory.served) or 'no library'}")
            code = self.directory.served[0]
        if not self.directory.is_served(code):
            raise NotFound(f"this node is not the ILL protocol machine of {code!r} (it serves "
                           f"{', '.join(self.directory.served) or 'no library'})")
        return self.directory.member(code)

    def member(self, code: str) -> Member:
        member = self.directory.member(code)
        if member is None:
            raise NotFound(f"{code!r} is not a member library ({', '.join(self.directory.members)})")
        return member

    def _location(self, code: str) -> dict:
        member = self.directory.member(code)
        return member.system_id if member else system_id(code)

    def _context(self, now: datetime) -> primitives.Context:
        return primitives.Context(now.date(), self.settings.loan_period)

    # -- the peer's APDUs -----------------------------------------------------------------
    def receive(self, data: bytes, role: str | None = None) -> list[bytes]:
        """One whole APDU from a peer; the replies to send back on the same connection.

        `role` names the receiving end when the sender is a library this node also serves.
        """
        now = self.clock()
        try:
            apdu_type, value = decode_apdu(data)
        except ILLDecodeError as error:
            log.info("undecodable APDU: %s", error)
            if error.apdu_type == REPORT:
                return []   # answering a broken report with a report could go on for ever
            problem = error_report(("general-problem", error.problem), str(error))
            return [bare_report(problem, now, error.transaction_id)]
        version = value["protocol-version-num"]
        if version not in VERSIONS:
            if apdu_type == REPORT:
                return []
            problem = error_report(("general-problem", "protocol-version-not-supported"),
                                   f"protocol version {version}: this node speaks versions 1 and 2")
            return [bare_report(problem, now, value["transaction-id"], value)]
        if apdu_type == "ILL-Request":
            return self._request_received(data, value, now)
        with self.store.writing() as writer:
            transaction = self._addressed(writer, apdu_type, value, role)
            if transaction is None:
                if apdu_type == REPORT:
                    return []   # nothing to tie it to, and reports are never answered
                problem = error_report(("transaction-id-problem", "unknown-transaction-id"),
                                       f"{apdu_type} for a transaction this node does not know")
                return [bare_report(problem, now, value["transaction-id"], value)]
            taken = digest(data)
            if writer.ill_has_received(transaction.number, taken):
                return []       # sent again after a broken connection: already taken
            writer.note_ill_received(transaction.number, taken)
            replies = self._take(writer, transaction, apdu_type, value, data, now)
            writer.put_ill_transaction(transaction.record())
        return replies

    def _request_received(self, data: bytes, value: dict, now: datetime) -> list[bytes]:
        identity = value["transaction-id"]
        requester = self.directory.find(value.get("requester-id")) or self.directory.find(
            identity.get("initial-requester-id"))
        responder = self._responder(value.get("responder-id"))
        if not initial_requester(identity, value.get("requester-id")) or not str(
                identity.get("transaction-qualifier", "")).strip():
            problem = error_report(("transaction-id-problem", "invalid-transaction-id"),
                                   "the transaction-id needs an initial requester (or requester-id) "
                                   "symbol and a transaction-qualifier")
        elif requester is None:
            problem = error_report(("security-problem", "the requester is not a member library of "
                                    "this consortium"), "unknown requester", source="user")
        elif responder is None:
            problem = error_report(("unable-to-perform", "not-available"),
                                   "this node is not the ILL protocol machine of the responder",
                                   source="user")
        else:
            problem = None
        if problem is not None:
            return [bare_report(problem, now, identity, value)]
        key = transaction_key(RESPONDER, identity, value.get("requester-id"))
        taken = digest(data)
        with self.store.writing() as writer:
            existing = writer.ill_transaction(key)
            if existing is not None:
                transaction = Transaction(**existing)
                if writer.ill_has_received(transaction.number, taken):   # sent again: acknowledge again
                    replies = [self._reply(writer, transaction, status_report(transaction, day(now)), now)]
                else:
                    self._log(writer, transaction, now, "received", "ILL-Request", "ILL-Request",
                              transaction.state, "refused", data, "duplicate transaction id")
                    replies = [self._reply(writer, transaction, error_report(
                        ("transaction-id-problem", "duplicate-transaction-id"),
                        f"{transaction.display_id} is already a transaction here"), now)]
                writer.put_ill_transaction(transaction.record())
                return replies
            transaction = Transaction(writer.next_ill_counter("number"), RESPONDER, responder.code,
                                      requester.code, identity, key, created=stamp(now))
            writer.note_ill_received(transaction.number, taken)
            replies = self._take(writer, transaction, "ILL-Request", value, data, now)
            replies.append(self._reply(writer, transaction, status_report(transaction, day(now)), now))
            writer.put_ill_transaction(transaction.record())
        log.info("ILL-Request %s from %s for %s", transaction.display_id, requester.code, responder.code)
        return replies

    def _responder(self, responder_id: dict | None) -> Member | None:
        """The served library an ILL-Request is for; the first one when it names none."""
        member = self.directory.find(responder_id)
        if member is not None:
            return member if self.directory.is_served(member.code) else None
        if symbol_of(responder_id) or not self.directory.served:
            return None
        return self.directory.member(self.directory.served[0])

    def _addressed(self, reader, apdu_type: str, value: dict, role: str | None) -> Transaction | None:
        """The transaction an APDU is for: the end that may receive that APDU type, else the
        other end (whose table will refuse it); None where this node has neither, or both."""
        receivers = [role] if role else self.machine.receivers(apdu_type)
        for roles in (receivers, [other for other in (REQUESTER, RESPONDER) if other not in receivers]):
            found = [reader.ill_transaction(transaction_key(r, value["transaction-id"], value.get("requester-id")))
                     for r in roles]
            found = [Transaction(**record) for record in found if record is not None]
            if found:
                return found[0] if len(found) == 1 else None
        return None

    def _take(self, writer, transaction: Transaction, apdu_type: str, value: dict, data: bytes,
              now: datetime) -> list[bytes]:
        """A received APDU through the state table: taken, or refused with an error report."""
        event = event_name(apdu_type, value)
        before = transaction.state
        target = self.machine.next_state(transaction, RECEIVE, event)
        if target is None:
            self._log(writer, transaction, now, "received", apdu_type, event, before, "refused", data)
            return [self._reply(writer, transaction, state_transition_prohibited(apdu_type, before), now)]
        transaction.absorb(apdu_type, value, self.member(transaction.peer).system_id, day(now))
        summary = report_summary(value) if apdu_type == REPORT else note_of(value)
        if apdu_type == REPORT and value.get("error-report"):
            transaction.attention = summary
        self._move(transaction, target, now)
        self._log(writer, transaction, now, "received", apdu_type, event, before, "taken", data, summary)
        self._set_timers(writer, transaction)
        if apdu_type == "Status-Query":
            return [self._reply(writer, transaction, status_report(transaction, day(now)), now)]
        return []

    # -- timers ---------------------------------------------------------------------------
    def fire_timers(self) -> list[Outcome]:
        """Send what every timer that has run out asks for (Expired, Overdue), where the state
        still allows it; a timer whose time has passed by is dropped."""
        now = self.clock()
        with self.store.reading() as reader:
            due = reader.ill_timers(before=day(now))
        outcomes = []
        for when, number, kind in due:
            with self.store.writing() as writer:
                writer.set_ill_timer(when, number, kind, on=False)
                record = writer.ill_transaction_numbered(number)
                if record is None or record["timers"].get(kind) != when:
                    continue
                transaction = Transaction(**record)
                apdu_type = self.machine.timer_apdu(transaction.role, kind)
                if (kind in self.settings.timers and apdu_type is not None
                        and self.machine.next_state(transaction, SEND, apdu_type) is not None):
                    body = primitives.body(apdu_type, transaction, {}, self._context(now))
                    self._send(writer, transaction, apdu_type, body, apdu_type, f"{kind} timer", now)
                    outcomes.append(Outcome(transaction, apdu_type))
        return outcomes

    def _set_timers(self, writer, transaction: Transaction):
        """Keep the timer index in step with the transaction's dates (a date runs once)."""
        for kind in self.machine.tables[transaction.role].timers:
            wanted = None if self.machine.terminal(transaction) else transaction.timer_dates().get(kind)
            current = transaction.timers.get(kind)
            if current == wanted:
                continue
            if current:
                writer.set_ill_timer(current, transaction.number, kind, on=False)
            if wanted:
                writer.set_ill_timer(wanted, transaction.number, kind)
                transaction.timers[kind] = wanted
            else:
                transaction.timers.pop(kind, None)

    # -- recording and sending ------------------------------------------------------------
    def _send(self, writer, transaction: Transaction, apdu_type: str, body: dict, event: str,
              by: str, now: datetime):
        """Queue an APDU of the transaction for its peer, with the state change it makes."""
        target = self.machine.next_state(transaction, SEND, event)
        value = {**self._header(transaction, now), **body}
        try:
            data = encode_apdu(apdu_type, value)
        except EncodeError as error:
            raise PrimitiveError(str(error)) from None
        before = transaction.state
        transaction.absorb(apdu_type, value, self.member(transaction.library).system_id, day(now))
        transaction.attention = None
        self._move(transaction, target, now)
        self._log(writer, transaction, now, "sent", apdu_type, event, before, "queued", data, note_of(value), by)
        writer.put_ill_outbox({
            "seq": writer.next_ill_counter("outbox"), "number": transaction.number,
            "role": transaction.role, "from": transaction.library, "to": transaction.peer,
            "type": apdu_type, "apdu": data, "queued": stamp(now), "tries": 0, "next": 0.0,
            "error": None,
        })
        self._set_timers(writer, transaction)
        writer.put_ill_transaction(transaction.record())

    def _reply(self, writer, transaction: Transaction, components: dict, now: datetime) -> bytes:
        """A Status-Or-Error-Report for the same connection, kept in the transaction's history."""
        data = encode_apdu(REPORT, {**self._header(transaction, now), **components})
        summary = report_summary(components)
        self._log(writer, transaction, now, "sent", REPORT, REPORT, transaction.state, "reply", data, summary)
        return data

    def _header(self, transaction: Transaction, now: datetime) -> dict:
        return header(transaction.transaction_id, self.member(transaction.requester).system_id,
                      self.member(transaction.responder).system_id, now)

    @staticmethod
    def _move(transaction: Transaction, target: str, now: datetime):
        if target != transaction.state:
            transaction.state = target
            transaction.last_transition = day(now)
        transaction.updated = stamp(now)

    @staticmethod
    def _log(writer, transaction: Transaction, now: datetime, direction: str, apdu_type: str,
             event: str, before: str, outcome: str, data: bytes, note: str | None = None,
             by: str | None = None):
        """One APDU in the transaction's history, with the state it left the transaction in."""
        if by is None:
            by = transaction.peer if direction == "received" else transaction.library
        transaction.history_length += 1
        writer.add_ill_history(transaction.number, transaction.history_length, {
            "at": stamp(now), "direction": direction, "type": apdu_type, "event": event,
            "before": before, "after": transaction.state, "outcome": outcome, "by": by,
            "note": note, "apdu": data,
        })
