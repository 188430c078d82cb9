"""SRU benchmark: Zebra's SRU (zebrasrv) and unishelf's serve the same LC records to the same load.

    python bench/bench_sru.py [--records N] [--seconds S] [--clients 1,4,16]

Each request is an SRU 1.2 searchRetrieve for a title word (dc.title = WORD) with 10 MARCXML
records, over HTTP/1.1 keep-alive connections or a new connection per request. Prints requests
per second and p50/p99 latency for both servers, and the ratio. The client is the standard
library's http.client, one thread per client, for both servers alike; every response is checked
to carry records and no diagnostic. Not a test: no assertions.
"""
from __future__ import annotations

import argparse
import http.client
import random
import re
import sys
import threading
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402
import unishelf_side  # noqa: E402
import zebra_side  # noqa: E402
from bench_z3950 import TERMS  # noqa: E402

RECORDS_PER_REQUEST = 10
_HITS = re.compile(rb"numberOfRecords>(\d+)<")


def request_path(database_path: str, term: str) -> str:
    return database_path + "?" + urllib.parse.urlencode({
        "version": "1.2", "operation": "searchRetrieve", "query": f"dc.title = {term}",
        "maximumRecords": RECORDS_PER_REQUEST, "recordSchema": "marcxml"})


def checked(body: bytes, term: str) -> int:
    """The hit count of a response, which must be records and no diagnostic."""
    found = _HITS.search(body)
    if found is None or b"diagnostic" in body:
        raise RuntimeError(f"bad SRU response for {term!r}: {body[:300]!r}")
    hits = int(found.group(1))
    if hits and body.count(b"recordData>") != 2 * min(hits, RECORDS_PER_REQUEST):
        raise RuntimeError(f"{term!r}: {hits} hits but not {min(hits, RECORDS_PER_REQUEST)} records")
    return hits


def run_load(port: int, database_path: str, clients: int, seconds: float, keep_alive: bool):
    latencies: list[float] = []
    failures: list[str] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        mine = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if keep_alive else None
        try:
            while time.monotonic() < stop:
                term = rng.choice(TERMS)
                started = time.perf_counter()
                if keep_alive:
                    connection.request("GET", request_path(database_path, term))
                    body = connection.getresponse().read()
                else:
                    fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    fresh.request("GET", request_path(database_path, term), headers={"Connection": "close"})
                    body = fresh.getresponse().read()
                    fresh.close()
                mine.append(time.perf_counter() - started)
                checked(body, term)
        except Exception as error:  # reported with the figures, not hidden in a thread
            failures.append(f"{type(error).__name__}: {error}")
        finally:
            if connection:
                connection.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - started), latencies, failures


def hit_counts(port: int, database_path: str) -> dict[str, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    counts = {}
    for term in TERMS:
        connection.request("GET", request_path(database_path, term))
        counts[term] = checked(connection.getresponse().read(), term)
    connection.close()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,4,16")
    args = parser.parse_args()
    records = lc_corpus.subset(args.records)
    data_dir = unishelf_side.store(args.records)
    zebra_dir = BENCH / ".cache" / f"zebra-{args.records}"
    if zebra_side.available() and not (zebra_dir / "register").is_dir():
        zebra_side.index(records, zebra_dir)
    ours = unishelf_side.UnishelfServer(data_dir).start()
    servers = {"unishelf": (ours.ports["http"], "/sru/unicat")}
    zebra = None
    if zebra_side.available():
        zebra = zebra_side.ZebraServer(zebra_dir, port=unishelf_side.free_port()).start()
        servers["zebra"] = (zebra.port, "/Default")
    else:
        print("zebra: zebrasrv not found (apt-get install idzebra-2.0); unishelf only")
    try:
        counts = {name: hit_counts(port, path) for name, (port, path) in servers.items()}
        print(f"{args.records:,} LC records; SRU 1.2 searchRetrieve dc.title = WORD, {RECORDS_PER_REQUEST} MARCXML "
              f"records; {args.seconds:.0f} s a run; hits over the {len(TERMS)} words: "
              + ", ".join(f"{name} {sum(c.values()):,}" for name, c in counts.items()))

        def measure(name, keep_alive, clients):
            port, path = servers[name]
            rate, latencies, failures = run_load(port, path, clients, args.seconds, keep_alive)
            return rate, latencies, f"  ({len(failures)} clients failed: {failures[0]})" if failures else ""

        unishelf_side.compare_under_load(servers, {"on": True, "off": False}, list(map(int, args.clients.split(","))),
                                         measure, "keep-alive", "req/s")
    finally:
        ours.stop()
        if zebra:
            zebra.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
