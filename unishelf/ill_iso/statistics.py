"""ILL statistics per member library, role and period: requests, how they ended, fill rates and
turnaround, from the transactions a node holds.

A request belongs to the period (and month) of the day it was made. A routed request is one
request however many libraries it was tried at: its attempts are separate transactions at the
requester, linked by forwarded_from, and the request ends as its last attempt ends. Turnaround
counts days from the request to shipping for the lender, to receipt for the borrower (who
waited through every attempt).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from statistics import mean, median

from unishelf.ill_iso.tables import REQUESTER, RESPONDER
from unishelf.ill_iso.transaction import Transaction

NOT_SUPPLIED, CANCELLED, FORWARD = "NOT-SUPPLIED", "CANCELLED", "FORWARD"


@dataclass(frozen=True)
class Period:
    """From and until days (YYYYMMDD, both included); None leaves that end open."""

    since: str | None = None
    until: str | None = None

    def contains(self, day: str) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    @property
    def label(self) -> str:
        return f"{self.since or ''}..{self.until or ''}" if self.since or self.until else "all"


@dataclass(frozen=True)
class Row:
    library: str
    period: str                     # YYYY-MM by month, else the period's label
    role: str                       # requester (borrowing) or responder (lending)
    requests: int                   # made (a routed request once) or received
    filled: int                     # shipped or received
    unfilled: int                   # ended NOT-SUPPLIED
    cancelled: int
    forwarded: int                  # requester: attempts after the first; responder: passed on (FORWARD)
    fill_rate: float                # filled / requests
    mean_days: float | None         # turnaround of the filled ones that have both dates
    median_days: float | None


@dataclass(frozen=True)
class _Request:
    """One request as one library made or received it."""

    library: str
    role: str
    day: str
    state: str                      # where it ended, or stands
    filled: bool
    forwarded: int
    days: int | None


def library_statistics(transactions: Iterable[Transaction], period: Period = Period(),
                       by_month: bool = False) -> list[Row]:
    """One row per library, period and role, for the requests made within `period`."""
    grouped: dict[tuple[str, str, str], list[_Request]] = defaultdict(list)
    for request in _requests(list(transactions)):
        if period.contains(request.day):
            label = f"{request.day[:4]}-{request.day[4:6]}" if by_month else period.label
            grouped[request.library, label, request.role].append(request)
    return [_row(*group, grouped[group]) for group in sorted(grouped)]


def _row(library: str, period: str, role: str, requests: list[_Request]) -> Row:
    filled = sum(request.filled for request in requests)
    days = [request.days for request in requests if request.days is not None]
    return Row(library, period, role, len(requests), filled,
               sum(request.state == NOT_SUPPLIED for request in requests),
               sum(request.state == CANCELLED for request in requests),
               sum(request.forwarded for request in requests),
               filled / len(requests), float(mean(days)) if days else None,
               float(median(days)) if days else None)


def _requests(transactions: list[Transaction]) -> list[_Request]:
    return ([_lent(transaction) for transaction in transactions if transaction.role == RESPONDER]
            + [_borrowed(attempts) for attempts in _attempts_by_request(transactions)])


def _lent(transaction: Transaction) -> _Request:
    return _Request(transaction.library, RESPONDER, _day(transaction), transaction.state, _filled(transaction),
                    int(transaction.state == FORWARD), _days(transaction.date_requested, transaction.shipped_date))


def _attempts_by_request(transactions: list[Transaction]) -> list[list[Transaction]]:
    """The requester's transactions grouped into requests: each routed request's attempts in order."""
    by_number = {t.number: t for t in transactions if t.role == REQUESTER}
    requests: dict[int, list[Transaction]] = defaultdict(list)
    for transaction in sorted(by_number.values(), key=lambda t: t.number):
        first = transaction
        # an attempt is always numbered after the one before it, so this ends
        while first.forwarded_from in by_number and first.forwarded_from < first.number:
            first = by_number[first.forwarded_from]
        requests[first.number].append(transaction)
    return list(requests.values())


def _borrowed(attempts: list[Transaction]) -> _Request:
    first, last = attempts[0], attempts[-1]
    return _Request(first.library, REQUESTER, _day(first), last.state, _filled(last), len(attempts) - 1,
                    _days(first.date_requested, last.received_date))


def _filled(transaction: Transaction) -> bool:
    """Shipped (the requester may have no Shipped when the responder need not send it: received)."""
    return transaction.shipped_service is not None or transaction.received_date is not None


def _day(transaction: Transaction) -> str:
    """The day the request was made; where its ILL-Request had no readable date, the day this
    node created the transaction."""
    return transaction.date_requested or transaction.created[:10].replace("-", "")


def _days(since: str | None, until: str | None) -> int | None:
    try:
        return (_date(until) - _date(since)).days if since and until else None
    except ValueError:   # a peer's date that only looks like one (20240231)
        return None


def _date(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()
