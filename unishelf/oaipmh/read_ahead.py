"""Pages of a list rendered before the harvester asks for them.

A harvester reads a page, parses it, then asks for the next; while it parses, the server would
sit idle. So once a page has gone out, the provider renders the next one and keeps it here.
A kept page is served only if the store has not changed since it was rendered (the change
sequence is the same), so it is byte for byte what the request would have made then; its
resumption token's expiry is at most `MAX_AGE` seconds early. Only formats rendered when records
are stored (`oai.prerender`) are read ahead: rendering others costs too much to risk for
nothing. Memory is bounded: at most `pages` pages, each at most `PAGE_BYTES` long, dropped
after `MAX_AGE` seconds.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

PAGE_BYTES = 4 << 20   # a page longer than this is streamed, never held whole
MAX_AGE = 60           # seconds a kept page waits for its harvester


def gathered(chunks: Iterator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """Chunks taken until they pass `limit` bytes (`PAGE_BYTES`): those taken, and whether that
    was all of them (a page small enough to hold whole)."""
    pieces, size = [], 0
    for chunk in chunks:
        pieces.append(chunk)
        size += len(chunk)
        if size > limit:
            return pieces, False
    return pieces, True


@dataclass(frozen=True)
class NextPage:
    """The page a list response's resumption token asks for, and the change sequence of the
    store the response was made from."""

    verb: str
    token: str
    seq: int


@dataclass(frozen=True)
class KeptPage:
    pieces: list[bytes]   # the page's body
    next_page: NextPage | None
    seq: int          # the store's change sequence when the page before it was made
    made_at: float    # Unix time


class ReadAhead:
    def __init__(self, pages: int):
        self.pages = pages
        self._kept: OrderedDict[tuple[str, str], KeptPage] = OrderedDict()

    def keep(self, verb: str, token: str, page: KeptPage):
        self._kept[verb, token] = page
        self._kept.move_to_end((verb, token))
        while self._kept and (len(self._kept) > self.pages
                              or page.made_at - next(iter(self._kept.values())).made_at > MAX_AGE):
            self._kept.popitem(last=False)   # the oldest: too many, or its harvester gave up

    def take(self, verb: str, token: str, seq: int, now: float) -> KeptPage | None:
        """The page kept for this token if the store is as it was then; asked once only."""
        page = self._kept.pop((verb, token), None)
        if page is None or page.seq != seq or now - page.made_at > MAX_AGE:
            return None
        return page
