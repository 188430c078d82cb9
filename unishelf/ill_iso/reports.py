"""Status-Or-Error-Reports: the status report that acknowledges a request or answers a
Status-Query, and the error reports that answer what cannot be accepted.

Each function but `bare_report` returns the report's components after the common header
(`apdus.header`).
"""
from __future__ import annotations

from datetime import datetime

from unishelf.ill_iso.apdus import APDU_TYPE_ENUMERATION, encode_apdu, header
from unishelf.ill_iso.asn1 import EncodeError
from unishelf.ill_iso.ill_module import HISTORY_REPORT, ILL_APDU_TYPE
from unishelf.ill_iso.transaction import Transaction

# the APDU types History-Report.most-recent-service names (it has none for Overdue and Renew)
_MOST_RECENT_NAMES = frozenset(next(component.type.inner.numbers for component in HISTORY_REPORT.components
                                    if component.name == "most-recent-service"))
REPORT = "Status-Or-Error-Report"
NO_TRANSACTION = {"transaction-group-qualifier": "", "transaction-qualifier": ""}
CORRELATION_LIMIT = 200  # characters of a problem description echoed back to the peer


def current_state(state: str) -> str:
    """A state as the Current-State enumeration spells it (IN-PROCESS -> iN-PROCESS)."""
    return state[0].lower() + state[1:]


def _service(apdu_type: str) -> str | int:
    """The most-recent-service value of an APDU type (a number where the module names none)."""
    name = APDU_TYPE_ENUMERATION[apdu_type]
    return name if name in _MOST_RECENT_NAMES else ILL_APDU_TYPE.numbers[name]


def status_report(transaction: Transaction, today: str) -> dict:
    """The transaction's History-Report and Current-State."""
    recent = transaction.recent or {"type": "ILL-Request", "date": today, "initiator": {}}
    history = {
        "date-of-last-transition": transaction.last_transition or today,
        "most-recent-service": _service(recent["type"]),
        "date-of-most-recent-service": recent["date"],
        "initiator-of-most-recent-service": recent["initiator"],
    }
    if transaction.date_requested:
        history["date-requested"] = transaction.date_requested
    for component, name in (("author", "author"), ("title", "title"),
                            ("author-of-article", "author-of-article"),
                            ("title-of-article", "title-of-article")):
        if transaction.item.get(name):
            history[component] = transaction.item[name]
    if transaction.shipped_service:
        history["shipped-service-type"] = transaction.shipped_service
    if transaction.results:
        history["transaction-results"] = transaction.results
    if recent.get("note"):
        history["most-recent-service-note"] = recent["note"]
    return {"status-report": {"user-status-report": history,
                              "provider-status-report": current_state(transaction.state)}}


def error_report(problem: tuple[str, object], correlation: str, source: str = "provider") -> dict:
    """An error report: `problem` is a Provider-Error-Report (or, for source "user", a
    User-Error-Report) alternative; `correlation` says what it is about, in words."""
    component = "provider-error-report" if source == "provider" else "user-error-report"
    text = correlation[:CORRELATION_LIMIT]
    return {"error-report": {"correlation-information": text, "report-source": source,
                             component: problem},
            "note": text}


def state_transition_prohibited(apdu_type: str, state: str) -> dict:
    return error_report(("state-transition-prohibited", {
        "aPDU-type": APDU_TYPE_ENUMERATION[apdu_type], "current-state": current_state(state)}),
        f"{apdu_type} is not allowed in state {state}")


def report_summary(value: dict) -> str:
    """One line on a received Status-Or-Error-Report, for the history and staff."""
    if value.get("status-report"):
        state = value["status-report"].get("provider-status-report")
        return f"status {state.upper() if isinstance(state, str) else state}"
    error = value.get("error-report")
    if error:
        problem = error.get("provider-error-report") or error.get("user-error-report")
        kind = problem[0] if isinstance(problem, tuple) else "error"
        return f"error {kind}: {error.get('correlation-information', '')}".strip()
    return f"no report ({value.get('reason-no-report', 'no reason given')})"


def bare_report(components: dict, now: datetime, identity: dict | None = None,
                value: dict | None = None) -> bytes:
    """A whole report about an APDU that belongs to no transaction here (or could not be read):
    it echoes the transaction-id and the ids it was given, or leaves them out if they do not
    encode again."""
    value = value or {}
    try:
        return encode_apdu(REPORT, {**header(identity or NO_TRANSACTION, value.get("requester-id"),
                                             value.get("responder-id"), now), **components})
    except EncodeError:
        return encode_apdu(REPORT, {**header(NO_TRANSACTION, now=now), **components})
