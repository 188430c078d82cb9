"""Z39.50 benchmark: zebrasrv and unishelf serve the same LC records to the same load.

    python bench/bench_z3950.py [--records N] [--seconds S] [--clients 1,4,16]

Each client does Search (a title word) plus Present of 10 USMARC records, in a persistent session
or with a new session (connect, Init, Search, Present, Close) per operation. Prints operations
per second and p50/p99 latency for both servers and the ratio. The client is our own codec
(unishelf.z3950.apdu) on blocking sockets, one thread per client, for both servers alike.
Not a test: no assertions.
"""
from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402
import unishelf_side  # noqa: E402
import zebra_side  # noqa: E402

from unishelf.z3950 import apdu as z  # noqa: E402
from unishelf.ber import Framer  # noqa: E402
from unishelf.z3950.pqf import parse_pqf  # noqa: E402

USMARC = "1.2.840.10003.5.10"
TERMS = ["water", "history", "music", "jazz", "guitar", "law", "china", "church", "war", "poems", "art",
         "economic", "science", "health", "education", "children", "women", "policy", "report", "world"]


class Client:
    def __init__(self, port: int, database: str, authentication: z.IdPass | None = None):
        """Anonymous, or logged in with `authentication` to send Extended Services too."""
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.framer = Framer(16 << 20)
        self.database = database
        options = {"search", "present", "namedResultSets"} | ({"extendedServices"} if authentication else set())
        self.call(z.InitializeRequest(options=frozenset(options), id_authentication=authentication))

    def call(self, request):
        self.socket.sendall(z.encode_apdu(request))
        while True:
            data = self.socket.recv(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            replies = self.framer.feed(data)
            if replies:
                return z.decode_apdu(replies[0])

    def search_and_present(self, term: str) -> int:
        found = self.call(z.SearchRequest(query=parse_pqf(f"@attr 1=4 {term}"), database_names=(self.database,)))
        if found.result_count:
            shown = self.call(z.PresentRequest(result_set_start_point=1, preferred_record_syntax=USMARC,
                                               number_of_records_requested=min(10, found.result_count)))
            assert isinstance(shown.records, tuple), shown.records
        return found.result_count

    def close(self):
        self.call(z.Close())
        self.socket.close()


def run_load(port: int, database: str, clients: int, seconds: float, new_session: bool) -> tuple[float, list[float]]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        mine = []
        session = None if new_session else Client(port, database)
        while time.monotonic() < stop:
            started = time.perf_counter()
            if new_session:
                client = Client(port, database)
                client.search_and_present(rng.choice(TERMS))
                client.close()
            else:
                session.search_and_present(rng.choice(TERMS))
            mine.append(time.perf_counter() - started)
        if session:
            session.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - started), latencies


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
    servers = {}
    ours = unishelf_side.UnishelfServer(data_dir).start()
    servers["unishelf"] = (ours.ports["z3950"], "unicat", None)
    zebra = None
    if zebra_side.available():
        zebra = zebra_side.ZebraServer(zebra_dir, port=unishelf_side.free_port()).start()
        servers["zebra"] = (zebra.port, "Default", zebra)
    else:
        print("zebra: zebrasrv not found (apt-get install idzebra-2.0); unishelf only")
    try:
        print(f"{args.records:,} LC records; Search (title word) + Present 10 USMARC; {args.seconds:.0f} s a run")

        def measure(name, new_session, clients):
            port, database, _ = servers[name]
            rate, latencies = run_load(port, database, clients, args.seconds, new_session)
            return rate, latencies, ""

        unishelf_side.compare_under_load(servers, {"persistent": False, "new": True},
                                         list(map(int, args.clients.split(","))), measure, "session", "ops/s")
    finally:
        ours.stop()
        if zebra:
            zebra.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
