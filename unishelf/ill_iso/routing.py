"""Routing by the union catalogue: the rota of a request that names no responder.

The libraries whose holdings are on the records matching the requested item (its record, its
ISBN or ISSN, else its title and author when few records match them), less the requester,
ordered by the policy of `ill.routing.order`; each key sorts the libraries it can tell apart and
leaves the rest to the next (CALIS's structure: own region first, then the national centres).
Pure decisions over plain data; the node reads the store and keeps the rota on the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from unishelf.config import Library
from unishelf.ill_iso.primitives import amount
from unishelf.marc.access_points import isbn13
from unishelf.marc.holdings import available_now
from unishelf.marc.normalize import fold_tokens
from unishelf.search.tree import And, Node, Term

FEE_SERVICE = {"loan": "loan", "copy-non-returnable": "copy"}
QUERY_WORDS = 32   # words of a title or author searched for: peers and clients write them


@dataclass(frozen=True)
class Candidate:
    """A library that holds the item, with what the policy sorts it by."""

    library: Library
    available: bool        # an item on the shelf now
    load: int              # this node's open requests to it
    fee: Decimal | None    # what it charges for the service asked for; None: nothing set

    def key(self, name: str, requester: Library):
        if name == "region":
            return self.library.region != requester.region or not requester.region
        if name == "tier":
            return self.library.tier
        if name == "available":
            return not self.available
        if name == "load":
            return self.load
        return self.fee or Decimal(0)   # "fee"


class Router:
    def __init__(self, libraries: list[Library], order: list[str], max_rota: int, max_title_matches: int = 5):
        self.libraries = {library.code: library for library in libraries}
        self.order = list(order)
        self.max_rota = max_rota
        self.max_title_matches = max_title_matches   # more records than this: the title is too vague

    @classmethod
    def from_config(cls, config) -> "Router":
        routing = config["ill"]["routing"]
        return cls(config.libraries, routing["order"], routing["max_rota"], routing["max_title_matches"])

    def rota(self, requester: str, holdings: dict[str, list[dict]], load: dict[str, int],
             service: str = "loan", max_cost: dict | None = None) -> list[str]:
        """The member libraries to ask in turn. A library whose fee is over the request's
        maximum cost (in the same currency) is left out: it would only refuse."""
        asking = self.libraries.get(requester) or Library(requester)
        candidates = []
        for code, items in holdings.items():
            library = self.libraries.get(code)
            if library is None or code == requester or not library.ill_symbol:
                continue
            fee = self.fee(library, service)
            if fee is not None and max_cost and over_maximum(fee, max_cost):
                continue
            candidates.append(Candidate(library, any(map(available_now, items)), load.get(code, 0),
                                        fee and Decimal(fee["monetary-value"])))
        candidates.sort(key=lambda c: [c.key(name, asking) for name in self.order] + [c.library.code])
        return [candidate.library.code for candidate in candidates[:self.max_rota]]

    def fee(self, library: Library, service: str) -> dict | None:
        """The Amount `library` charges for `service` (an ISO service type or loan/copy)."""
        text = fee_text(library, service)
        return amount(text) if text else None


def fee_text(library: Library, service: str) -> str | None:
    """What `library` charges for `service` as configured ("CNY 10.00"), if anything."""
    return library.fees.get(FEE_SERVICE.get(service, service))


def over_maximum(cost: dict, maximum: dict) -> bool:
    """Whether an Amount is more than a maximum-cost in the same currency (amounts in different
    currencies, or that are not numbers, are not compared)."""
    currency = maximum.get("currency-code")
    if currency and cost.get("currency-code") and currency != cost["currency-code"]:
        return False    # not comparable: the lender decides
    try:   # AmountString may hold spaces, which carry no value
        return Decimal(cost["monetary-value"]) > Decimal(maximum["monetary-value"].replace(" ", ""))
    except (ArithmeticError, KeyError, AttributeError):
        return False


def match_keys(item: dict) -> list[str]:
    """The union catalogue's match keys (as records are matched on load) for an Item-Id."""
    keys = []
    isbn = isbn13(item.get("iSBN") or "")
    if isbn:
        keys.append(f"isbn:{isbn}")
    issn = (item.get("iSSN") or "").replace("-", "").strip().upper()
    if issn:
        keys.append(f"issn:{issn}")
    return keys


def title_query(item: dict) -> Node | None:
    """The union-catalogue query for an Item-Id with no ISBN or ISSN: its title as a phrase in
    the title access point and, when it names one, every word of its author. Peers and Z39.50
    clients write these, so each is cut to its first QUERY_WORDS words; one with no word to
    search for is left out (None: the title has none)."""
    title, author = (_searchable(item.get("title")), _searchable(item.get("author")))
    if not title:
        return None
    query = Term("title", title, structure="phrase")
    return And(query, Term("author", author, structure="words")) if author else query


def _searchable(text: str | None) -> str:
    return " ".join(fold_tokens(text or "")[:QUERY_WORDS])
