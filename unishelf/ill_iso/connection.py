"""One ILL connection, sans-I/O: stream bytes in, the replies to write back out.

The framer cuts the stream into APDUs (nested indefinite lengths included) and each goes to
the node. A stream that cannot be framed (not BER, an APDU over the size limit, or cut off by
the end of input) is answered with one Status-Or-Error-Report and then closed, since nothing
after the fault can be trusted to start an APDU; an APDU the node fails on gets a report and the
connection goes on. Nothing a peer sends raises out of here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from unishelf.ber import APPLICATION, BERError, Framer
from unishelf.ill_iso.reports import bare_report, error_report

log = logging.getLogger("unishelf.ill")


class Connection:
    def __init__(self, handle: Callable[[bytes], list[bytes]], max_apdu: int, clock=None):
        self.handle = handle
        self.framer = Framer(max_apdu, apdu_class=APPLICATION)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.closed = False

    def receive(self, data: bytes) -> list[bytes]:
        """The replies to the APDUs `data` completes; after a stream fault, `closed` is set."""
        if self.closed:
            return []
        try:
            apdus = self.framer.feed(data)
        except BERError as error:
            return self._fault(f"the stream cannot be read as ILL APDUs: {error}")
        replies = []
        for apdu in apdus:
            try:
                replies.extend(self.handle(apdu))
            except Exception as error:   # a bug or a full store must not take the node down
                log.exception("ILL APDU not handled")
                replies.append(bare_report(error_report(
                    ("general-problem", "other"), f"the node could not take this APDU ({type(error).__name__})"),
                    self.clock()))
        return replies

    def end(self) -> list[bytes]:
        """The peer finished sending: report an APDU it left unfinished."""
        if self.closed or not self.framer.pending:
            return []
        return self._fault(f"the stream ended inside an APDU ({self.framer.pending} bytes)")

    def _fault(self, reason: str) -> list[bytes]:
        self.closed = True
        log.info("ILL connection closed: %s", reason)
        return [bare_report(error_report(("general-problem", "badly-structured-APDU"), reason), self.clock())]
