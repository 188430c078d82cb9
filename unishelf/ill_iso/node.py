"""The ILL node's core: the protocol machines of the member libraries it serves, over the store.

No sockets here. The bytes of one APDU go in (`receive`) and the replies for the same
connection come out; staff commands (`request`, `command`) and timers (`fire_timers`) go in
and their APDUs land in the outbox, which the daemon sends. Every change (the transaction, the
APDU in its history, the outbox entry, the timers) is one LMDB write transaction, committed
before a reply is returned or the APDU can be sent: a node killed at any moment restarts in a
consistent state, and an APDU a peer sends again is recognised by its digest and taken once.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from unishelf.ill_iso import primitives
from unishelf.ill_iso.apdus import ILLDecodeError, decode_apdu, encode_apdu, header, system_id, transaction_id
from unishelf.ill_iso.asn1 import EncodeError
from unishelf.ill_iso.directory import Directory, Member
from unishelf.ill_iso.machine import Machine
from unishelf.ill_iso.primitives import PrimitiveError
from unishelf.ill_iso.routing import Router, fee_text, match_keys, over_maximum, title_query
from unishelf.ill_iso.reports import (
    REPORT, bare_report, error_report, report_summary, state_transition_prohibited, status_report,
)
from unishelf.ill_iso.tables import RECEIVE, REQUESTER, RESPONDER, SEND, apdu_of, event_name
from unishelf.ill_iso.transaction import (
    Transaction, base_key, end_key, initial_requester, key_from_display, note_of, symbol_of, transaction_key,
    valid_id_part,
)
from unishelf.marc.access_points import AccessPoints
from unishelf.search.engine import Engine
from unishelf.search.tree import QueryError

log = logging.getLogger("unishelf.ill")

VERSIONS = (1, 2)
TIMER_NOTES = {"respond": "no answer in time: asking the next library",
               "conditional": "the conditions were not accepted by the date for reply",
               "renew": "the renewal was not answered in time: the due date stands"}
HEADER = ("protocol-version-num", "transaction-id", "service-date-time", "requester-id", "responder-id")
NOT_SUPPLIED = "NOT-SUPPLIED"
FORWARDED = "FORWARD"   # the responder's end once it has passed the request on


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
    loan_period: int = 28                                          # days
    timers: frozenset = frozenset({"expiry", "due", "respond", "conditional", "renew"})   # the kinds that run
    days_to_respond: int = 3          # a library's, unless its own entry in `libraries` says
    renew_answer_days: int = 3        # days a responder has to answer a renewal

    @classmethod
    def from_config(cls, config) -> "Settings":
        ill = config["ill"]
        timers = {"respond", "conditional", "renew"}
        if ill["timers"]["expiry"]:
            timers.add("expiry")
        if ill["timers"]["overdue"]:
            timers.add("due")
        return cls(ill["loan_period"], frozenset(timers), ill["routing"]["days_to_respond"],
                   ill["timers"]["renew_answer_days"])


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
    return Node(store, Directory.from_config(config, stamped=stamped), settings=Settings.from_config(config),
                router=Router.from_config(config), catalogue_search=functools.partial(catalogue_search, config, store))


def catalogue_search(config, store) -> Engine:
    """The search engine over the union catalogue in `store`: it finds the records of a request
    that gives only a title. Made when such a request comes (`Node.catalogue_search` takes
    this with its arguments), so other staff commands never read the index definitions."""
    return Engine(store, _access_points(str(config.path("indexes")), store))


@functools.lru_cache(maxsize=4)
def _access_points(path: str, store) -> AccessPoints:
    return AccessPoints.from_file(path, store)


def route_of(reader, transaction: Transaction) -> list[Transaction]:
    """Every attempt of a routed request, first to last, as stored (following forwarded_from and
    forwarded_to); just the transaction when it was not routed on."""
    first = transaction
    while first.forwarded_from:
        first = Transaction(**reader.ill_transaction_numbered(first.forwarded_from))
    route = [first]
    while route[-1].forwarded_to:
        route.append(Transaction(**reader.ill_transaction_numbered(route[-1].forwarded_to)))
    return route


def requests_began(reader) -> dict[int, str]:
    """Every request begun here (not the later attempts of a rota), by number: who began it."""
    began = (Transaction(**record) for record in reader.ill_transactions()
             if record["role"] == REQUESTER and record.get("forwarded_from") is None)
    return {transaction.number: first_request(reader, transaction)["by"] for transaction in began}


def first_request(reader, transaction: Transaction) -> dict:
    """The history entry of the ILL-Request the transaction began with, sent or received."""
    for entry in reader.ill_history(transaction.number):
        if entry["type"] == "ILL-Request":
            return entry
    raise NotFound(f"#{transaction.number} has no ILL-Request in its history")


def day(now: datetime) -> str:
    return now.strftime("%Y%m%d")


def stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class Node:
    def __init__(self, store, directory: Directory, machine: Machine | None = None,
                 settings: Settings = Settings(), clock=None, router: Router | None = None,
                 catalogue_search: Callable[[], Engine] | None = None):
        self.store = store
        self.directory = directory
        self.machine = machine or Machine()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.router = router
        self.catalogue_search = catalogue_search   # the engine that routes by title, made on first use

    # -- staff: service primitives --------------------------------------------------------
    def request(self, library: str, responder: str | None, params: dict, by: str) -> Outcome:
        """A new transaction: `library` asks `responder` for an item (ILL-Request); with no
        responder, the libraries holding it in the union catalogue are asked in turn (the rota)."""
        requester = self.served_member(library)
        body = primitives.request_body(params)
        now = self.clock()
        with self.store.writing() as writer:
            rota = [] if responder else self._rota(writer, requester.code, params.get("record"), body)
            peer = self.member(responder or rota[0])
            number = writer.next_ill_counter("number")
            qualifier = f"{writer.next_ill_counter('qualifier:' + requester.code):06d}"
            identity = transaction_id(requester.symbol, qualifier, params.get("group") or day(now))
            identity["initial-requester-id"] = requester.system_id
            transaction = Transaction(number, REQUESTER, requester.code, peer.code, identity,
                                      transaction_key(REQUESTER, identity), created=stamp(now),
                                      rota=rota, attempt=1 if rota else 0)
            if rota:
                transaction.respond_by = self._respond_by(peer.code, now)
            self._send(writer, transaction, "ILL-Request", {**body, **self._third_party(transaction)},
                       "ILL-Request", by, now)
            writer.note_ill_order(by, number)
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
            if apdu_type == "Forward-Notification":
                self._forward(writer, transaction, params, by, now)
                return Outcome(transaction, apdu_type)
            if apdu_type == "Shipped" and not params.get("cost"):
                params = {**params, "cost": self._fee(transaction, params.get("service"))}
            if apdu_type == "Shipped" and params.get("cost"):
                self._within_maximum(transaction, primitives.amount(params["cost"]))
            body = primitives.body(apdu_type, transaction, params, self._context(now))
            self._send(writer, transaction, apdu_type, body, event, by, now)
            if transaction.state == NOT_SUPPLIED:
                self._move_on(writer, transaction, now, "conditions refused")
            elif apdu_type == "Cancel" and params.get("move_on"):
                self._move_on(writer, transaction, now, f"cancelled at {transaction.peer} by {by}")
        return Outcome(transaction, apdu_type)

    def status_report(self, transaction: Transaction) -> bytes:
        """The Status-Or-Error-Report a Status-Query of the transaction would be answered with."""
        now = self.clock()
        return encode_apdu(REPORT, {**self._header(transaction, now), **status_report(transaction, day(now))})

    def allowed_commands(self, transaction: Transaction) -> list[str]:
        return primitives.describe(self.machine.allowed(transaction, SEND))

    def find(self, reader, reference: str, library: str | None = None) -> Transaction:
        """A transaction by its number (12 or #12) or its id (NORTH/20240315/000012)."""
        text = str(reference).lstrip("#")
        if text.isdigit():
            found = [reader.ill_transaction_numbered(int(text))]
        else:
            keys = [key_from_display(role, text) for role in (REQUESTER, RESPONDER)]
            found = [end for key in keys if key for end in reader.ill_transaction_ends(key)]
        transactions = [Transaction(**record) for record in found if record is not None
                        and (library is None or record["library"] == library)]
        if not transactions:
            raise NotFound(f"there is no transaction {reference}" + (f" at {library}" if library else ""))
        if len(transactions) > 1:
            libraries = [transaction.library for transaction in transactions]
            raise NotFound(f"{reference} is a transaction of {', '.join(libraries[:-1])} and {libraries[-1]} "
                           "here: say which library (--library)")
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

    # -- routing and forwarding -----------------------------------------------------------
    def _rota(self, reader, requester: str, record_id: int | None, body: dict) -> list[str]:
        """The libraries to ask in turn for the item: those whose holdings are on its record
        (`record_id`), else on the records its ISBN or ISSN matches, else on those its title
        finds, as the routing policy orders."""
        if self.router is None:
            raise NotRoutable("this node does not route requests: name the responder")
        keys = [] if record_id else match_keys(body["item-id"])
        records = [record_id] if record_id else [found for key in keys for found in reader.match(key)]
        if not record_id and not keys:
            records = self._title_matches(reader, body["item-id"])
        holdings: dict[str, list[dict]] = {}
        for found in dict.fromkeys(records):
            stored = reader.record(found)
            if stored is not None and not stored.deleted:
                for code, items in reader.holdings(found).items():
                    holdings.setdefault(code, []).extend(items)
        load = {code: reader.ill_open_requests(code) for code in holdings}
        maximum = (body.get("cost-info-type") or {}).get("maximum-cost")
        rota = self.router.rota(requester, holdings, load, body["iLL-service-type"][0], maximum)
        if not rota:
            what = f"record {record_id}" if record_id else "; ".join(keys) or "the item"
            raise NotRoutable(f"no other member library holds {what} in the union catalogue")
        return rota

    def _title_matches(self, reader, item: dict) -> list[int]:
        """The records an Item-Id's title (and author) find; more than the router's
        `max_title_matches` are too many to tell which edition is asked for."""
        query = title_query(item)
        if query is None or self.catalogue_search is None:
            return []
        try:
            found = self.catalogue_search().search_in(reader, query).bitmap
        except QueryError:
            found = ()
        if found and len(found) <= self.router.max_title_matches:
            return list(found)
        title = repr(item["title"][:200])
        if found:
            matched = f"{len(found)} records of the union catalogue match the title {title}"
        else:
            matched = f"no record of the union catalogue matches the title {title}" + (
                " and author" if item.get("author") else "")
        raise NotRoutable(f"{matched}: name the record, an ISBN or an ISSN")

    def _third_party(self, transaction: Transaction) -> dict:
        """A routed request's Third-Party-Info: the libraries still to ask, those already asked."""
        if not transaction.rota:
            return {}
        info = {"permission-to-forward": True, "preference": "ordered"}
        later = [code for code in transaction.rota[transaction.attempt:] if code not in transaction.tried]
        tried = transaction.tried   # earlier attempts' libraries, and those they were forwarded to
        if later:
            info["send-to-list"] = [{"system-id": self.member(code).system_id} for code in later]
        if tried:
            info["already-tried-list"] = [self.member(code).system_id for code in tried]
        return {"third-party-info-type": info}

    def _respond_by(self, code: str, now: datetime) -> str | None:
        """The day after which a routed request moves on if `code` has not answered."""
        library = self.router.libraries.get(code) if self.router else None
        days = library.days_to_respond if library and library.days_to_respond is not None \
            else self.settings.days_to_respond
        return day(now + timedelta(days=days))

    def _fee(self, transaction: Transaction, service: str | None) -> str | None:
        """What the lending library charges for the service it ships (config `libraries` fees)."""
        library = self.router.libraries.get(transaction.library) if self.router else None
        if library is None:
            return None
        return fee_text(library, service or next(iter(transaction.requested_services), "loan"))

    @staticmethod
    def _within_maximum(transaction: Transaction, cost: dict):
        """A charge over what the requester said it would pay (same currency) is not shipped."""
        limit = transaction.max_cost
        if limit and over_maximum(cost, limit):
            raise PrimitiveError(f"the requester pays at most {limit.get('currency-code', '')} "
                                 f"{limit['monetary-value']}: give a lower --cost, or answer conditional "
                                 "(charges) first")

    def _move_on(self, writer, transaction: Transaction, now: datetime, why: str) -> Transaction | None:
        """The next attempt of a routed request whose attempt came to nothing: the same request,
        as a new sub-transaction, to the next library on the rota not yet asked."""
        if transaction.role != REQUESTER or not transaction.rota or transaction.forwarded_to:
            return None
        supplier = self._earlier_supplier(writer, transaction)
        if supplier is not None:
            log.info("#%d: %s; not moving on: #%d at %s supplies it", transaction.number, why,
                     supplier.number, supplier.peer)
            return None
        asked = list(dict.fromkeys([*transaction.tried, *transaction.rota[:transaction.attempt], transaction.peer]))
        following = [code for code in transaction.rota[transaction.attempt:] if code not in asked]
        if not following:
            log.info("#%d: %s; the rota has ended", transaction.number, why)
            return None
        attempt = transaction.rota.index(following[0]) + 1
        identity = {**transaction.transaction_id, "sub-transaction-qualifier": str(attempt)}
        following_attempt = Transaction(
            writer.next_ill_counter("number"), REQUESTER, transaction.library, following[0], identity,
            transaction_key(REQUESTER, identity), created=stamp(now), rota=list(transaction.rota),
            attempt=attempt, forwarded_from=transaction.number, tried=asked)
        following_attempt.respond_by = self._respond_by(following[0], now)
        request = decode_apdu(first_request(writer, transaction)["apdu"])[1]
        body = {name: item for name, item in request.items() if name not in HEADER}
        body.pop("third-party-info-type", None)
        self._send(writer, following_attempt, "ILL-Request", {**body, **self._third_party(following_attempt)},
                   "ILL-Request", f"rota: {why}", now)
        transaction.forwarded_to = following_attempt.number
        writer.put_ill_transaction(transaction.record())
        log.info("#%d: %s; asking %s (#%d)", transaction.number, why, following[0], following_attempt.number)
        return following_attempt

    def _earlier_supplier(self, reader, transaction: Transaction) -> Transaction | None:
        """An earlier attempt of the same request still alive (its Cancel refused, or shipped
        across it): the request is being supplied there, so it goes no further."""
        route = route_of(reader, transaction)
        earlier = route[:[attempt.number for attempt in route].index(transaction.number)]
        return next((attempt for attempt in reversed(earlier)
                     if attempt.state != "CANCEL-PENDING" and not self.machine.terminal(attempt)), None)

    def _revived(self, writer, transaction: Transaction, now: datetime):
        """An attempt the request had moved on from supplies after all (Cancel-Reply no, or
        Shipped across the Cancel): the later attempts still open are cancelled, and staff are
        told where one was already shipped."""
        route = route_of(writer, transaction)
        for later in route[[attempt.number for attempt in route].index(transaction.number) + 1:]:
            if self.machine.next_state(later, SEND, "Cancel") is not None:
                body = primitives.body("Cancel", later, {"note": f"supplied by {transaction.peer} after all"},
                                       self._context(now))
                self._send(writer, later, "Cancel", body, "Cancel", "rota", now)
            elif not self.machine.terminal(later):
                transaction.attention = (f"{transaction.peer} supplies after the request moved on to "
                                         f"{later.peer} (#{later.number}, {later.state}): cancel one of them")

    def _add_locations(self, transaction: Transaction, value: dict):
        """Libraries a locations-provided answer names are asked next (before the rest of the rota)."""
        explanation = value.get("results-explanation")
        if not transaction.rota or not isinstance(explanation, tuple) or explanation[0] != "locations-results":
            return
        named = [self.directory.find(location.get("location-id")) for location in explanation[1].get("locations", [])]
        asked = transaction.rota[:transaction.attempt]
        next_ones = [member.code for member in named if member is not None and member.code != transaction.library
                     and member.code not in asked]
        rest = [code for code in transaction.rota[transaction.attempt:] if code not in next_ones]
        transaction.rota = asked + list(dict.fromkeys(next_ones)) + rest

    def _forward(self, writer, transaction: Transaction, params: dict, by: str, now: datetime):
        """The responder passes the request on (the standard's forward service): the ILL-Request
        goes to the other library with the same transaction id and the requester is told with a
        Forward-Notification; from then on the requester and that library deal directly."""
        target = self.member(params.get("to") or "")
        if target.code in (transaction.library, transaction.requester):
            raise PrimitiveError(f"a request is forwarded to a third library, not {target.code}")
        if any(end["library"] == target.code for end in writer.ill_transaction_ends(base_key(transaction.key))):
            raise PrimitiveError(f"{target.code} already has this request (it was forwarded here from there)")
        request = decode_apdu(first_request(writer, transaction)["apdu"])[1]
        third_party = request.get("third-party-info-type") or {}
        if not third_party.get("permission-to-forward"):
            raise PrimitiveError("the requester did not permit forwarding (permission-to-forward): "
                                 "answer unfilled or locations-provided instead")
        if target.code in {getattr(self.directory.find(tried), "code", None)
                           for tried in third_party.get("already-tried-list") or []}:
            raise PrimitiveError(f"{target.code} has already been asked for this item")
        forwarded = {**request, **header(transaction.transaction_id, self.member(transaction.requester).system_id,
                                         target.system_id, now), "forward-flag": True}
        if params.get("note"):
            forwarded["forward-note"] = params["note"]
        data = encode_apdu("ILL-Request", forwarded)
        self._log(writer, transaction, now, "sent", "ILL-Request", "ILL-Request", transaction.state, "queued",
                  data, f"forwarded to {target.code}", by)
        self._queue(writer, transaction.number, REQUESTER, transaction.library, target.code, "ILL-Request", data, now)
        body = {"intermediary-id": self.member(transaction.library).system_id}
        if params.get("note"):
            body["notification-note"] = params["note"]
        self._send(writer, transaction, "Forward-Notification", body, "Forward-Notification", by, now,
                   responder_id=target.system_id)

    def _forwarded(self, writer, transaction: Transaction, value: dict, now: datetime):
        """A Forward-Notification: another library has the request now; answers come from it."""
        responder = self.directory.find(value.get("responder-id"))
        intermediary = self.directory.find(value.get("intermediary-id"))
        if responder is not None:
            writer.set_ill_open(transaction.peer, transaction.number, on=False)
            transaction.tried = list(dict.fromkeys([*transaction.tried, transaction.peer]))
            transaction.peer = responder.code
            if transaction.rota:
                transaction.respond_by = self._respond_by(responder.code, now)
        if intermediary is not None:
            transaction.intermediary = intermediary.code

    # -- the peer's APDUs -----------------------------------------------------------------
    def receive(self, data: bytes, role: str | None = None, end: int | None = None) -> list[bytes]:
        """One whole APDU from a peer; the replies to send back on the same connection.

        `role` names the receiving end when the sender is a library this node also serves;
        `end`, the number of the end a reply is for, when it answers an APDU that end sent to
        another end here (a forwarded request's answer goes to the forwarder, as from afar).
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
            if end is not None:
                transaction = Transaction(**writer.ill_transaction_numbered(end))
            else:
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
        parts = [initial_requester(identity, value.get("requester-id")),
                 identity.get("transaction-group-qualifier", ""), identity.get("transaction-qualifier", ""),
                 identity.get("sub-transaction-qualifier") or ""]
        if not parts[0] or not str(parts[2]).strip():
            problem = error_report(("transaction-id-problem", "invalid-transaction-id"),
                                   "the transaction-id needs an initial requester (or requester-id) "
                                   "symbol and a transaction-qualifier")
        elif not all(map(valid_id_part, parts)):
            problem = error_report(("transaction-id-problem", "invalid-transaction-id"),
                                   "a transaction-id part holds a slash or a control character")
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
            ends = writer.ill_transaction_ends(key)   # two, once a library here forwarded it to another
            existing = next((end for end in ends if end["library"] == responder.code), None)
            if existing is None and ends and not (value.get("forward-flag")
                                                  and any(end["state"] == FORWARDED for end in ends)):
                existing = ends[0]   # the Transaction-Id of another responder here, not passed on by it
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
                                      requester.code, identity, end_key(key, responder.code) if ends else key,
                                      created=stamp(now))
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
            found = [Transaction(**record) for r in roles for record in
                     reader.ill_transaction_ends(transaction_key(r, value["transaction-id"], value.get("requester-id")))]
            responders = [transaction for transaction in found if transaction.role == RESPONDER]
            if len(responders) > 1:
                found = [t for t in found if t.role != RESPONDER] + self._responder_addressed(responders, value)
            if found:
                return found[0] if len(found) == 1 else None
        return None

    def _responder_addressed(self, ends: list[Transaction], value: dict) -> list[Transaction]:
        """Of two responders here with one Transaction-Id (one forwarded the request to the
        other), the one the APDU names as responder, else the one that did not pass it on."""
        named = self.directory.find(value.get("responder-id"))
        return ([end for end in ends if named is not None and end.library == named.code]
                or [end for end in ends if end.state != FORWARDED])

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
        if apdu_type == "Forward-Notification":
            self._forwarded(writer, transaction, value, now)
        if apdu_type == "Renew" and transaction.role == RESPONDER:
            transaction.renew_answer_by = day(now + timedelta(days=self.settings.renew_answer_days))
        summary = report_summary(value) if apdu_type == REPORT else note_of(value)
        if apdu_type == REPORT and value.get("error-report"):
            transaction.attention = summary
        self._move(transaction, target, now)
        self._log(writer, transaction, now, "received", apdu_type, event, before, "taken", data, summary)
        self._set_timers(writer, transaction)
        if apdu_type == "ILL-Answer" and transaction.state == NOT_SUPPLIED:
            self._add_locations(transaction, value)
            self._move_on(writer, transaction, now, f"{transaction.peer} answered {transaction.results}")
        elif (transaction.forwarded_to and before == "CANCEL-PENDING"
              and transaction.state not in ("CANCEL-PENDING", "CANCELLED", NOT_SUPPLIED)):
            self._revived(writer, transaction, now)
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
            try:
                outcome = self._fire(when, number, kind, now)
            except Exception:   # one timer that cannot be sent must not hold up the rest
                log.exception("ILL timer %s of #%d (%s) failed; dropped", kind, number, when)
                with self.store.writing() as writer:
                    writer.set_ill_timer(when, number, kind, on=False)
                continue
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _fire(self, when: str, number: int, kind: str, now: datetime) -> Outcome | None:
        with self.store.writing() as writer:
            writer.set_ill_timer(when, number, kind, on=False)
            record = writer.ill_transaction_numbered(number)
            if record is None or record["timers"].get(kind) != when:
                return None
            transaction = Transaction(**record)
            event = self.machine.timer_apdu(transaction.role, kind)
            if (kind not in self.settings.timers or event is None
                    or self.machine.next_state(transaction, SEND, event) is None):
                return None
            apdu_type = apdu_of(event)
            params = {"answer": event.endswith("/yes"), "note": TIMER_NOTES.get(kind)}
            body = primitives.body(apdu_type, transaction, params, self._context(now))
            self._send(writer, transaction, apdu_type, body, event, f"{kind} timer", now)
            if transaction.state == NOT_SUPPLIED or kind == "respond":
                self._move_on(writer, transaction, now, f"{transaction.peer}: {TIMER_NOTES.get(kind, kind)}")
            return Outcome(transaction, apdu_type)

    def _set_timers(self, writer, transaction: Transaction):
        """Keep the timer index in step with the transaction's dates (a date runs once), and the
        index of open requests per lender in step with its state."""
        if transaction.role == REQUESTER:
            writer.set_ill_open(transaction.peer, transaction.number, not self.machine.terminal(transaction))
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
              by: str, now: datetime, responder_id: dict | None = None):
        """Queue an APDU of the transaction for its peer, with the state change it makes."""
        target = self.machine.next_state(transaction, SEND, event)
        value = {**self._header(transaction, now, responder_id), **body}
        try:
            data = encode_apdu(apdu_type, value)
        except EncodeError as error:
            raise PrimitiveError(str(error)) from None
        before = transaction.state
        transaction.absorb(apdu_type, value, self.member(transaction.library).system_id, day(now))
        transaction.attention = None
        self._move(transaction, target, now)
        self._log(writer, transaction, now, "sent", apdu_type, event, before, "queued", data, note_of(value), by)
        self._queue(writer, transaction.number, transaction.role, transaction.library, transaction.peer,
                    apdu_type, data, now)
        self._set_timers(writer, transaction)
        writer.put_ill_transaction(transaction.record())

    @staticmethod
    def _queue(writer, number: int, role: str, library: str, peer: str, apdu_type: str, data: bytes,
               now: datetime):
        writer.put_ill_outbox({
            "seq": writer.next_ill_counter("outbox"), "number": number, "role": role, "from": library,
            "to": peer, "type": apdu_type, "apdu": data, "queued": stamp(now), "tries": 0, "next": 0.0,
            "error": None,
        })

    def _reply(self, writer, transaction: Transaction, components: dict, now: datetime) -> bytes:
        """A Status-Or-Error-Report for the same connection, kept in the transaction's history."""
        data = encode_apdu(REPORT, {**self._header(transaction, now), **components})
        summary = report_summary(components)
        self._log(writer, transaction, now, "sent", REPORT, REPORT, transaction.state, "reply", data, summary)
        return data

    def _header(self, transaction: Transaction, now: datetime, responder_id: dict | None = None) -> dict:
        return header(transaction.transaction_id, self.member(transaction.requester).system_id,
                      responder_id or self.member(transaction.responder).system_id, now)

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
