"""Staff service primitives: which APDU each staff command sends, and that APDU's content.

A builder takes the transaction and the staff's parameters (a dict of plain values, as the
command line or a test gives them) and returns the APDU's components after the common header;
the caller adds the header and checks the state table. Bad parameters raise `PrimitiveError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from unishelf.ber import CONTEXT
from unishelf.ill_iso.ill_module import ILL_APDU
from unishelf.ill_iso.tables import VARIANTS, apdu_of
from unishelf.ill_iso.transaction import Transaction

# staff command -> the APDU it sends
COMMANDS = {
    "request": "ILL-Request", "answer": "ILL-Answer", "conditional-reply": "Conditional-Reply",
    "cancel": "Cancel", "cancel-reply": "Cancel-Reply", "ship": "Shipped", "receive": "Received",
    "renew": "Renew", "renew-answer": "Renew-Answer", "recall": "Recall", "return": "Returned",
    "check-in": "Checked-In", "overdue": "Overdue", "lost": "Lost", "damaged": "Damaged",
    "message": "Message", "status-query": "Status-Query", "forward": "Forward-Notification",
}
COMMAND_OF = {apdu: command for command, apdu in COMMANDS.items()}
SERVICES = {"loan": "loan", "copy": "copy-non-returnable"}
# what this node's requests and answers promise about the optional APDUs: it sends them all
REQUESTER_MESSAGES = {"can-send-RECEIVED": True, "can-send-RETURNED": True,
                      "requester-SHIPPED": "requires", "requester-CHECKED-IN": "requires"}
RESPONDER_MESSAGES = {"can-send-SHIPPED": True, "can-send-CHECKED-IN": True,
                      "responder-RECEIVED": "requires", "responder-RETURNED": "requires"}
# APDU type -> the name of its note component ([46]: requester-note, responder-note or note)
NOTE_COMPONENT = {name: component.name for name, apdu in ILL_APDU.alternatives.items()
                  for tag, component in apdu.inner.by_tag.items() if tag == (CONTEXT, 46)}
_AMOUNT = re.compile(r"^\s*(?:([A-Za-z]{3})\s+)?(\d{1,7}(?:\.\d{1,2})?)\s*(?:([A-Za-z]{3}))?\s*$")


class PrimitiveError(ValueError):
    """Staff parameters that do not make the APDU."""


@dataclass(frozen=True)
class Context:
    today: date
    loan_period: int   # days from shipping or renewal to the due date, unless staff give one


def command_event(command: str, params: dict) -> str:
    """The table event a staff command is."""
    apdu = COMMANDS[command]
    if apdu == "ILL-Answer":
        kind = params.get("kind")
        if kind not in VARIANTS[apdu]:
            raise PrimitiveError(f"the answer is one of {', '.join(VARIANTS[apdu])}, not {kind!r}")
        return f"{apdu}/{kind}"
    if apdu in VARIANTS:
        return f"{apdu}/{'yes' if params.get('answer') else 'no'}"
    return apdu


def describe(events: list[str]) -> list[str]:
    """Allowed events as the staff commands that send them ("answer will-supply|unfilled")."""
    described: dict[str, list[str]] = {}
    for event in events:
        command = COMMAND_OF.get(apdu_of(event))
        if command is not None:
            variants = described.setdefault(command, [])
            if "/" in event:
                variants.append(event.split("/", 1)[1])
    return [f"{command} {'|'.join(variants)}" if variants else command
            for command, variants in described.items()]


def iso_date(text, what: str = "date") -> str:
    """YYYY-MM-DD or YYYYMMDD as ISO-Date (YYYYMMDD)."""
    compact = str(text).replace("-", "")
    if not re.fullmatch(r"[0-9]{8}", compact):
        raise PrimitiveError(f"the {what} {text!r} is not a date like 2024-03-15")
    try:
        date(int(compact[:4]), int(compact[4:6]), int(compact[6:]))
    except ValueError:
        raise PrimitiveError(f"the {what} {text!r} is not a date like 2024-03-15") from None
    return compact


def amount(text: str) -> dict:
    """"NZD 25.00" (or "25.00 NZD", or "25.00") as an Amount."""
    match = _AMOUNT.match(str(text))
    if not match or (match[1] and match[3]):
        raise PrimitiveError(f"{text!r} is not an amount like 'NZD 25.00'")
    value = {"monetary-value": match[2]}
    if match[1] or match[3]:
        value["currency-code"] = (match[1] or match[3]).upper()
    return value


def _with_note(apdu_type: str, body: dict, params: dict) -> dict:
    note = params.get("note")
    if note:
        body[NOTE_COMPONENT[apdu_type]] = note
    return body


def _day(context: Context, days: int = 0) -> str:
    return (context.today + timedelta(days=days)).strftime("%Y%m%d")


# -- the request ----------------------------------------------------------------------------
def request_body(params: dict) -> dict:
    """An ILL-Request's components: the item, services in order of preference, and the rest."""
    item = {name: text for name, text in (params.get("item") or {}).items() if text}
    if not item.get("title") and not item.get("iSBN") and not item.get("iSSN"):
        raise PrimitiveError("say which item: a title, an ISBN, an ISSN or a union catalogue record")
    item.setdefault("item-type", "serial" if item.get("iSSN") or item.get("title-of-article") else "monograph")
    services = [SERVICES.get(service) for service in params.get("services") or ["loan"]]
    if None in services:
        raise PrimitiveError(f"a service is one of {', '.join(SERVICES)}")
    body = {
        "transaction-type": "simple",
        "iLL-service-type": services,
        "requester-optional-messages": dict(REQUESTER_MESSAGES),
        "place-on-hold": "according-to-responder-policy",
        "item-id": item,
        "retry-flag": False,
        "forward-flag": False,
    }
    delivery = {}
    if params.get("deliver_to"):
        delivery["postal-address"] = {"extended-postal-delivery-address": params["deliver_to"]}
    if params.get("email"):
        delivery["electronic-address"] = {"telecom-service-identifier": "SMTP",
                                          "telecom-service-address": params["email"]}
    if delivery:
        body["delivery-address"] = delivery
    if params.get("need_before"):
        body["search-type"] = {"need-before-date": iso_date(params["need_before"], "need-before date"),
                               "expiry-flag": "need-Before-Date"}
    if params.get("max_cost"):
        body["cost-info-type"] = {"maximum-cost": amount(params["max_cost"])}
    if params.get("patron"):
        body["client-id"] = {"client-name": params["patron"]}
    return _with_note("ILL-Request", body, params)


# -- the rest of the transaction ------------------------------------------------------------
def body(apdu_type: str, transaction: Transaction, params: dict, context: Context) -> dict:
    """The components of any APDU but ILL-Request, after the header."""
    builder = _BUILDERS.get(apdu_type)
    components = builder(transaction, params, context) if builder else {}
    if apdu_type == "Message" and not params.get("note"):
        raise PrimitiveError("a message needs its text")
    return _with_note(apdu_type, components, params)


def _answer(transaction: Transaction, params: dict, context: Context) -> dict:
    kind = params.get("kind")
    reason = params.get("reason")
    when = iso_date(params["date"]) if params.get("date") else None
    if kind == "will-supply":
        results = {"reason-will-supply": reason or "being-processed-for-supply"}
        if when:
            results["supply-date"] = when
        explanation = ("will-supply-results", results)
    elif kind == "hold-placed":
        if not when:
            raise PrimitiveError("hold-placed needs the date the item should be available (--date)")
        explanation = ("hold-placed-results", {"estimated-date-available": when})
    elif kind == "conditional":
        results = {"conditions": params.get("condition") or "other"}
        if when:
            results["date-for-reply"] = when
        explanation = ("conditional-results", results)
    elif kind == "unfilled":
        explanation = ("unfilled-results", {"reason-unfilled": reason or "other"})
    elif kind == "retry":
        results = {"reason-not-available": reason} if reason else {}
        if when:
            results["retry-date"] = when
        explanation = ("retry-results", results)
    elif kind == "locations-provided":
        locations = params.get("locations") or []
        if not locations:
            raise PrimitiveError("locations-provided needs at least one location (--location)")
        results = {"locations": [{"location-id": location} for location in locations]}
        if reason:
            results["reason-locs-provided"] = reason
        explanation = ("locations-results", results)
    elif kind == "estimate":
        if not params.get("cost"):
            raise PrimitiveError("an estimate needs the cost (--cost)")
        explanation = ("estimate-results", {"cost-estimate": params["cost"]})
    else:
        raise PrimitiveError(f"{kind!r} is no answer")
    return {"transaction-results": kind, "results-explanation": explanation,
            "responder-optional-messages": dict(RESPONDER_MESSAGES)}


def _answer_only(transaction: Transaction, params: dict, context: Context) -> dict:
    return {"answer": bool(params.get("answer"))}


def _shipped(transaction: Transaction, params: dict, context: Context) -> dict:
    if params.get("service"):
        service = SERVICES.get(params["service"])
        if service is None:
            raise PrimitiveError(f"a service is one of {', '.join(SERVICES)}")
    else:
        offered = [s for s in transaction.requested_services if s in SERVICES.values()]
        service = offered[0] if offered else "loan"
    details = {"date-shipped": _day(context)}
    if service == "loan":
        due = iso_date(params["due"], "due date") if params.get("due") else _day(context, context.loan_period)
        details["date-due"] = {"date-due-field": due, "renewable": params.get("renewable", True)}
    if params.get("cost"):
        details["cost"] = amount(params["cost"])
    if params.get("delivery"):
        details["shipped-via"] = ("electronic-delivery", electronic_delivery(params["delivery"]))
    elif params.get("via"):
        details["shipped-via"] = ("physical-delivery", params["via"])
    return {"transaction-type": "simple", "shipped-service-type": service,
            "responder-optional-messages": dict(RESPONDER_MESSAGES), "supply-details": details}


def electronic_delivery(delivery: dict) -> dict:
    """An Electronic-Delivery-Service for a copy the requester fetches: the download link as the
    e-delivery address, the file's name, size and checksum in the description."""
    return {"e-delivery-details": ("e-delivery-address", {"telecom-service-identifier": "HTTP",
                                                          "telecom-service-address": delivery["url"]}),
            "e-delivery-description": delivery["description"]}


def _received(transaction: Transaction, params: dict, context: Context) -> dict:
    service = transaction.shipped_service or next(
        (s for s in transaction.requested_services if s in SERVICES.values()), "loan")
    return {"date-received": _day(context), "shipped-service-type": service}


def _returned(transaction: Transaction, params: dict, context: Context) -> dict:
    components = {"date-returned": _day(context)}
    if params.get("via"):
        components["returned-via"] = params["via"]
    return components


def _checked_in(transaction: Transaction, params: dict, context: Context) -> dict:
    return {"date-checked-in": _day(context)}


def _date_due(transaction: Transaction, context: Context) -> dict:
    return {"date-due-field": transaction.due_date or _day(context), "renewable": transaction.renewable}


def _overdue(transaction: Transaction, params: dict, context: Context) -> dict:
    return {"date-due": _date_due(transaction, context)}


def _renew(transaction: Transaction, params: dict, context: Context) -> dict:
    return {"desired-due-date": iso_date(params["until"], "desired due date")} if params.get("until") else {}


def _renew_answer(transaction: Transaction, params: dict, context: Context) -> dict:
    if not params.get("answer"):
        return {"answer": False, **({"date-due": _date_due(transaction, context)} if transaction.due_date else {})}
    if params.get("due"):
        due = iso_date(params["due"], "due date")
    else:
        current = transaction.due_date or _day(context)
        start = max(date(int(current[:4]), int(current[4:6]), int(current[6:])), context.today)
        due = (start + timedelta(days=context.loan_period)).strftime("%Y%m%d")
    return {"answer": True, "date-due": {"date-due-field": due, "renewable": True}}


def _damaged(transaction: Transaction, params: dict, context: Context) -> dict:
    units = params.get("units")
    portion = ("specific-units", list(units)) if units else ("complete-document", None)
    return {"damaged-details": {"damaged-portion": portion}}


_BUILDERS = {
    "ILL-Answer": _answer,
    "Conditional-Reply": _answer_only,
    "Cancel-Reply": _answer_only,
    "Shipped": _shipped,
    "Received": _received,
    "Returned": _returned,
    "Checked-In": _checked_in,
    "Overdue": _overdue,
    "Renew": _renew,
    "Renew-Answer": _renew_answer,
    "Damaged": _damaged,
}
