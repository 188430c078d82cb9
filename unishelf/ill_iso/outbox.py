"""The outbox: APDUs committed for sending, sent oldest first per peer, retried with backoff.

An entry leaves the outbox only once the peer has taken it: its connection closed cleanly after
reading everything sent on it (see `sender.py`), or the node delivered it to a library it
serves itself. Until then it is tried again, `first` seconds after a failure and twice as long
after each further one up to `maximum`, for ever; after `stuck_after` failed tries staff see it
as stuck. A peer's entries wait behind its oldest one, so APDUs never overtake each other.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    first: int = 30          # seconds
    maximum: int = 3600      # seconds
    stuck_after: int = 4     # failed tries
    batch: int = 100         # entries per connection

    @classmethod
    def from_config(cls, config) -> "RetryPolicy":
        send = config["ill"]["send"]
        return cls(send["first_retry"], send["max_retry"], send["stuck_after"], send["batch"])

    def delay(self, tries: int) -> float:
        return float(min(self.first * 2 ** max(tries - 1, 0), self.maximum))

    def stuck(self, entry: dict) -> bool:
        return entry["tries"] >= self.stuck_after


def due_batches(entries: list[dict], now: float, busy, batch: int) -> dict[str, list[dict]]:
    """Per peer library, what to send now: its oldest entries, if the oldest is due and no
    send to that peer is under way."""
    batches: dict[str, list[dict]] = {}
    waiting = set(busy)
    for entry in entries:
        peer = entry["to"]
        if peer in waiting:
            continue
        if peer not in batches:
            if entry["next"] > now:
                waiting.add(peer)
                continue
            batches[peer] = []
        if len(batches[peer]) < batch:
            batches[peer].append(entry)
    return batches


class Outbox:
    def __init__(self, store, policy: RetryPolicy = RetryPolicy(), clock=time.time):
        self.store = store
        self.policy = policy
        self.clock = clock

    def entries(self) -> list[dict]:
        with self.store.reading() as reader:
            return reader.ill_outbox()

    def due(self, busy=()) -> dict[str, list[dict]]:
        return due_batches(self.entries(), self.clock(), busy, self.policy.batch)

    def delivered(self, seqs: list[int]):
        with self.store.writing() as writer:
            for seq in seqs:
                writer.remove_ill_outbox(seq)

    def failed(self, seqs: list[int], error: str):
        """Count a failed try of each entry and set when to try again."""
        now = self.clock()
        wanted = set(seqs)
        with self.store.writing() as writer:
            for entry in writer.ill_outbox():
                if entry["seq"] in wanted:
                    entry["tries"] += 1
                    entry["next"] = now + self.policy.delay(entry["tries"])
                    entry["error"] = error
                    writer.put_ill_outbox(entry)
