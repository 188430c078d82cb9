"""`unishelf ill ...`: the ILL staff commands, the "client terminal" of the protocol machines.

A command runs in its own process, against the store: it checks the transaction's state against
the state tables and commits the new state, the APDU in the history and the APDU to send in one
write transaction (LMDB takes writers one at a time, across processes). The node that
`unishelf serve` runs reads the outbox every `ill.send.poll_ms` and sends what it finds, so a
command works while the node is down as well: its APDU waits. `list`, `show` and `outbox` only
read. Every command prints the state it left the transaction in; one the state does not allow
is refused with the commands that are allowed.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from . import cli_ill_reports
from .ill_iso.bibliographic import item_from_record
from .ill_iso.delivery import DeliveryArea, DeliveryError, DeliverySettings, fetch
from .ill_iso.node import Node, NotFound, Refused, node_for_store, route_of
from .ill_iso.outbox import RetryPolicy
from .ill_iso.primitives import SERVICES, PrimitiveError
from .ill_iso.tables import SEND, VARIANTS
from .ill_iso.transaction import Transaction
from .marc.store import Store

# command -> (help, extra arguments)
TRANSACTION_COMMANDS = {
    "answer": "answer a request (responder): will-supply, unfilled, conditional, hold-placed, ...",
    "conditional-reply": "accept (yes) or refuse (no) the responder's conditions (requester)",
    "cancel": "ask the responder to cancel the request (requester)",
    "cancel-reply": "grant (yes) or refuse (no) a cancellation (responder)",
    "ship": "the item is on its way (responder)",
    "receive": "the item arrived (requester)",
    "renew": "ask for a later due date (requester)",
    "renew-answer": "grant (yes) or refuse (no) a renewal (responder)",
    "recall": "ask for the item back early (responder)",
    "return": "the item is on its way back (requester)",
    "check-in": "the item is back (responder)",
    "overdue": "tell the requester the item is overdue (responder)",
    "lost": "the item is lost",
    "damaged": "the item is damaged",
    "message": "send a message",
    "status-query": "ask the other end for its state",
    "forward": "pass the request on to another library (responder): Forward-Notification",
}
ITEM_OPTIONS = {  # --option -> Item-Id component
    "title": "title", "author": "author", "isbn": "iSBN", "issn": "iSSN", "publisher": "publisher",
    "date": "publication-date", "edition": "edition", "volume": "volume-issue",
    "article_title": "title-of-article", "article_author": "author-of-article", "pages": "pagination",
}


def register(commands):
    ill = commands.add_parser("ill", help="ISO ILL staff commands (request, answer, ship, list, show, ...)")
    actions = ill.add_subparsers(dest="action", required=True, metavar="COMMAND")
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--library", metavar="CODE", help="the member library you act for (needed "
                        "when the node serves several)")
    noted = argparse.ArgumentParser(add_help=False, parents=[acting])
    noted.add_argument("--note", help="a note that travels with the APDU")

    request = actions.add_parser("request", parents=[noted], help="ask another library for an item")
    request.add_argument("--responder", metavar="CODE", help="the library asked (default: routed to the "
                         "libraries holding the item, in the order of ill.routing)")
    request.add_argument("--record", type=int, metavar="ID", help="the item as union catalogue record ID")
    for option in ITEM_OPTIONS:
        request.add_argument(f"--{option.replace('_', '-')}", dest=option)
    request.add_argument("--service", action="append", choices=sorted(SERVICES),
                         help="loan or copy; repeat in order of preference (default loan)")
    request.add_argument("--deliver-to", metavar="ADDRESS", help="postal delivery address")
    request.add_argument("--email", metavar="ADDRESS", help="electronic delivery address")
    request.add_argument("--max-cost", metavar="AMOUNT", help="the most the requester will pay: 'NZD 25.00'")
    request.add_argument("--need-before", metavar="DATE", help="the request expires after this date")
    request.add_argument("--patron", metavar="NAME", help="the reader the item is for")
    request.add_argument("--group", help="transaction group qualifier (default: today's date)")
    request.set_defaults(handler=cmd_request)

    for command, text in TRANSACTION_COMMANDS.items():
        parser = actions.add_parser(command, parents=[noted], help=text)
        parser.add_argument("transaction", metavar="TRANSACTION", help="number (12) or id (NORTH/20240315/000012)")
        _command_arguments(command, parser)
        parser.set_defaults(handler=cmd_transaction, command=command)

    listing = actions.add_parser("list", parents=[acting], help="transactions, newest first")
    listing.add_argument("--state", help="only those in this state")
    listing.add_argument("--open", action="store_true", help="only those not finished")
    listing.set_defaults(handler=cmd_list)
    show = actions.add_parser("show", parents=[acting], help="a transaction with its whole history")
    show.add_argument("transaction", metavar="TRANSACTION")
    show.set_defaults(handler=cmd_show)
    actions.add_parser("outbox", help="APDUs waiting to be sent, and which are stuck").set_defaults(handler=cmd_outbox)
    fetch = actions.add_parser("fetch", parents=[acting], help="download an electronically delivered copy "
                               "and check its size and checksum (requester)")
    fetch.add_argument("transaction", metavar="TRANSACTION")
    fetch.add_argument("--to", type=Path, default=Path("."), metavar="DIR", help="where to put it (default: here)")
    fetch.set_defaults(handler=cmd_fetch)
    cli_ill_reports.register(actions)


def _command_arguments(command: str, parser):
    if command == "answer":
        parser.add_argument("kind", choices=VARIANTS["ILL-Answer"])
        parser.add_argument("--reason", help="the reason (will-supply, unfilled, retry, locations-provided)")
        parser.add_argument("--date", help="supply date, date available (hold-placed), reply-by date "
                            "(conditional) or retry date")
        parser.add_argument("--condition", help="the condition (conditional), e.g. library-use-only")
        parser.add_argument("--location", action="append", dest="locations", metavar="CODE",
                            help="a library that may have it (locations-provided); may be repeated")
        parser.add_argument("--cost", help="the cost estimate (estimate)")
    elif command in ("conditional-reply", "cancel-reply", "renew-answer"):
        parser.add_argument("answer", choices=("yes", "no"))
        if command == "renew-answer":
            parser.add_argument("--due", metavar="DATE", help="the new due date (default: a loan period on)")
    elif command == "ship":
        parser.add_argument("--service", choices=sorted(SERVICES), help="default: the first one asked for")
        parser.add_argument("--due", metavar="DATE", help="due date of a loan (default: ill.loan_period days on)")
        parser.add_argument("--not-renewable", dest="renewable", action="store_false")
        parser.add_argument("--via", help="how it travels (courier, post)")
        parser.add_argument("--cost", help="the charge: 'CNY 10.00' (default: the library's fee in the config)")
        sending = parser.add_mutually_exclusive_group()
        sending.add_argument("--file", type=Path, metavar="PATH", help="deliver this file electronically (a copy)")
        sending.add_argument("--dropped", action="store_true", help="deliver electronically the file dropped "
                             "on the FTP drop for this transaction (NUMBER.pdf or NUMBER/...)")
    elif command == "cancel":
        parser.add_argument("--move-on", action="store_true", help="a routed request: ask the next library "
                            "on the rota at once")
    elif command == "return":
        parser.add_argument("--via", help="how it travels back")
    elif command == "renew":
        parser.add_argument("--until", metavar="DATE", help="the due date asked for")
    elif command == "damaged":
        parser.add_argument("--units", help="the damaged units (pages), e.g. 3,4; default the whole item")
    elif command == "message":
        parser.add_argument("text")
    elif command == "forward":
        parser.add_argument("--to", required=True, metavar="CODE", help="the library the request goes to")


def _store(config) -> Store:
    return Store(config.store_path, map_size=config.map_size)


def _staff() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "staff"


def _fail(action: str, message) -> int:
    print(f"unishelf ill {action}: {message}", file=sys.stderr)
    return 1


def cmd_request(config, args) -> int:
    item = {component: getattr(args, option) for option, component in ITEM_OPTIONS.items()
            if getattr(args, option)}
    store = _store(config)
    try:
        if args.record is not None:
            with store.reading() as reader:
                stored = reader.record(args.record)
            if stored is None or stored.deleted:
                return _fail("request", f"there is no record {args.record} in the union catalogue")
            item = {**item_from_record(stored), **item}
        params = {"item": item, "record": args.record, "services": args.service, "deliver_to": args.deliver_to,
                  "email": args.email, "max_cost": args.max_cost, "need_before": args.need_before,
                  "patron": args.patron, "group": args.group, "note": args.note}
        node = node_for_store(config, store)
        outcome = node.request(_acting(node, args), args.responder, params, _staff())
        _report(node, outcome)
        return 0
    except (NotFound, PrimitiveError) as error:
        return _fail("request", error)
    finally:
        store.close()


def _acting(node: Node, args) -> str:
    return node.served_member(args.library).code


def cmd_transaction(config, args) -> int:
    params = {name: value for name, value in vars(args).items()
              if name in ("note", "kind", "reason", "date", "condition", "locations", "cost", "service",
                          "due", "renewable", "via", "until", "to", "move_on") and value is not None}
    if args.command in ("conditional-reply", "cancel-reply", "renew-answer"):
        params["answer"] = args.answer == "yes"
    if args.command == "message":
        params["note"] = args.text
    if getattr(args, "units", None):
        try:
            params["units"] = [int(unit) for unit in args.units.split(",")]
        except ValueError:
            return _fail(args.command, f"units are numbers separated by commas, not {args.units!r}")
    store = _store(config)
    try:
        node = node_for_store(config, store)
        if getattr(args, "file", None) or getattr(args, "dropped", False):
            params.update(_electronic(config, node, store, args))
        outcome = node.command(args.transaction, args.command, params, _staff(), args.library)
        _report(node, outcome)
        return 0
    except Refused as refusal:
        return _fail(args.command, refusal)
    except (NotFound, PrimitiveError, DeliveryError) as error:
        return _fail(args.command, error)
    finally:
        store.close()


def _electronic(config, node: Node, store: Store, args) -> dict:
    """Ship a copy electronically: the file goes to the delivery area and the Shipped APDU
    carries its download link, size and checksum."""
    with store.reading() as reader:
        transaction = node.find(reader, args.transaction, args.library)
        base_url = reader.ill_download_base()   # the running node's, with its --http-port
    if node.machine.next_state(transaction, SEND, "Shipped") is None:   # before the scan leaves the drop
        raise Refused(transaction, "ship", node.allowed_commands(transaction))
    settings = DeliverySettings.from_config(config)
    area = DeliveryArea(replace(settings, base_url=base_url) if base_url else settings)
    delivery = area.take(transaction.library, transaction.number, args.file)
    print(f"  {delivery.name}: {delivery.size} bytes, sha256 {delivery.sha256}, link until {delivery.until}")
    return {"service": "copy", "delivery": {"url": delivery.url, "description": delivery.description}}


def cmd_fetch(config, args) -> int:
    store = _store(config)
    try:
        node = node_for_store(config, store)
        with store.reading() as reader:
            transaction = node.find(reader, args.transaction, args.library)
    except NotFound as error:
        return _fail("fetch", error)
    finally:
        store.close()
    delivery = transaction.delivery
    if not delivery or not delivery.get("url"):
        return _fail("fetch", f"#{transaction.number} has no electronic delivery")
    if "size" not in delivery or "sha256" not in delivery:
        return _fail("fetch", f"#{transaction.number}: the supplier sent no size and checksum to check")
    try:
        args.to.mkdir(parents=True, exist_ok=True)
        path = fetch(delivery["url"], args.to, delivery["size"], delivery["sha256"],
                     max_size=DeliverySettings.from_config(config).max_size)
    except (DeliveryError, OSError) as error:
        return _fail("fetch", error)
    print(f"{path}: {delivery['size']} bytes, sha256 checked")
    print(f"  allowed now: {', '.join(node.allowed_commands(transaction)) or 'nothing'}")
    return 0


def _report(node: Node, outcome):
    transaction = outcome.transaction
    print(_line(transaction))
    peer = node.directory.member(transaction.peer)
    where = "inside this node" if node.directory.is_served(peer.code) else peer.address
    print(f"  {outcome.apdu_type} queued for {peer.code} ({where}); state {transaction.state}")
    if transaction.rota and outcome.apdu_type == "ILL-Request":
        print(f"  routed: {' -> '.join(transaction.rota)}")
    print(f"  allowed now: {', '.join(node.allowed_commands(transaction)) or 'nothing'}")


def _line(transaction) -> str:
    title = transaction.item.get("title") or transaction.item.get("title-of-article") or ""
    arrow = "->" if transaction.role == "requester" else "<-"
    flag = f"  ! {transaction.attention}" if transaction.attention else ""
    return (f"#{transaction.number:<5} {transaction.display_id:<28} {transaction.library} {arrow} "
            f"{transaction.peer:<10} {transaction.state:<20} {title[:40]}{flag}")


def cmd_list(config, args) -> int:
    store = _store(config)
    try:
        node = node_for_store(config, store)
        with store.reading() as reader:
            transactions = [Transaction(**record) for record in reader.ill_transactions()]
            waiting = {entry["number"] for entry in reader.ill_outbox()}
    finally:
        store.close()
    shown = 0
    for transaction in sorted(transactions, key=lambda t: t.number, reverse=True):
        if args.library and transaction.library != args.library:
            continue
        if args.state and transaction.state != args.state.upper():
            continue
        if args.open and node.machine.terminal(transaction):
            continue
        print(_line(transaction) + ("  (unsent)" if transaction.number in waiting else ""))
        shown += 1
    print(f"{shown} transactions")
    return 0


def cmd_show(config, args) -> int:
    store = _store(config)
    try:
        node = node_for_store(config, store)
        with store.reading() as reader:
            transaction = node.find(reader, args.transaction, args.library)
            history = reader.ill_history(transaction.number)
            waiting = [entry for entry in reader.ill_outbox() if entry["number"] == transaction.number]
            route = route_of(reader, transaction) if transaction.rota else []
    except NotFound as error:
        return _fail("show", error)
    finally:
        store.close()
    print(_line(transaction))
    facts = [("role", f"{transaction.role} for {transaction.library}; the {_other(transaction)} is {transaction.peer}"),
             ("state", transaction.state + ("" if not transaction.attention else f" (attention: {transaction.attention})")),
             ("item", "; ".join(f"{name} {text}" for name, text in transaction.item.items())),
             ("service", ", ".join(transaction.requested_services) + (
                 f"; shipped as {transaction.shipped_service}" if transaction.shipped_service else "")),
             ("requested", transaction.date_requested), ("expires", transaction.expiry_date),
             ("answer", f"{transaction.results} {transaction.explanation}".strip() if transaction.results else None),
             ("due", f"{transaction.due_date}{'' if transaction.renewable else ' (not renewable)'}"
              if transaction.due_date else None),
             ("cost", _amount(transaction.cost) + (f" (at most {_amount(transaction.max_cost)})"
                                                   if transaction.max_cost else "") if transaction.cost else None),
             ("delivery", _delivery(transaction.delivery)),
             ("forwarded", f"by {transaction.intermediary}" if transaction.intermediary else None),
             ("allowed now", ", ".join(node.allowed_commands(transaction)) or "nothing")]
    for label, text in facts:
        if text:
            print(f"  {label:<12} {text}")
    if route:
        print("  route:")
        for attempt in route:
            print(f"    {attempt.attempt}. {attempt.peer:<10} #{attempt.number:<5} {attempt.state}"
                  + ("  <- this one" if attempt.number == transaction.number else ""))
        for code in transaction.rota[max(a.attempt for a in route):]:
            print(f"       {code:<10} not asked yet")
    print("  history:")
    for number, entry in enumerate(history, 1):
        change = f"{entry['before']} -> {entry['after']}" if entry["before"] != entry["after"] else entry["after"]
        note = f"  \"{entry['note']}\"" if entry.get("note") else ""
        print(f"  {number:>3} {entry['at']}  {entry['direction']:<8} {entry['type']:<22} {entry['outcome']:<7} "
              f"{change:<32} by {entry['by']}{note}")
    for entry in waiting:
        print(f"  unsent: {entry['type']} to {entry['to']}, {entry['tries']} failed tries"
              + (f", last: {entry['error']}" if entry["error"] else ""))
    return 0


def _amount(value: dict | None) -> str:
    return " ".join(filter(None, [(value or {}).get("currency-code"), (value or {}).get("monetary-value")]))


def _delivery(delivery: dict | None) -> str | None:
    if not delivery:
        return None
    return (f"{delivery.get('name', '?')}, {delivery.get('size', '?')} bytes, sha256 {delivery.get('sha256', '?')}, "
            f"link until {delivery.get('until', '?')}: {delivery.get('url', '')}")


def _other(transaction) -> str:
    return "responder" if transaction.role == "requester" else "requester"


def cmd_outbox(config, args) -> int:
    policy = RetryPolicy.from_config(config)
    store = _store(config)
    try:
        with store.reading() as reader:
            entries = reader.ill_outbox()
    finally:
        store.close()
    for entry in entries:
        stuck = "STUCK " if policy.stuck(entry) else ""
        retry = ""
        if entry["tries"]:
            when = datetime.fromtimestamp(entry["next"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            retry = f", {entry['tries']} failed tries, next {when}: {entry['error']}"
        print(f"{stuck}#{entry['number']} {entry['type']} {entry['from']} -> {entry['to']}, queued "
              f"{entry['queued']}{retry}")
    stuck = sum(policy.stuck(entry) for entry in entries)
    print(f"{len(entries)} waiting, {stuck} stuck")
    return 1 if stuck else 0
