"""Where a serving process's messages go: Python's logging, Twisted's own messages included.

Twisted reports its errors (an exception a protocol raised, a failed Deferred nobody handled)
to its global log publisher, which, until it is told where to write, keeps the last 65,536
events in memory and shows none of them. So they go on to the `twisted` logger, from WARNING
up: below that, Twisted says a line for every connection factory started and stopped. Python's
warnings take the same way (`twisted WARNING file:line: Category: message`).
"""
from __future__ import annotations

import logging

from twisted.logger import STDLibLogObserver, globalLogBeginner


def start_logging():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    logging.getLogger("twisted").setLevel(logging.WARNING)
    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)
