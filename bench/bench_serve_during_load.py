"""Serving during a load: how long searches and record uploads wait on one serving process while
`unishelf load` puts LC records into its store.

    python bench/bench_serve_during_load.py [--records N]

A store with the demo catalogue is served by one process (`listen.workers: 1`). While a load of
the first N LC records runs into it, one client does Search (a title word) + Present of 10
USMARC records every 10 ms, and a cataloguer uploads a new record (Extended Services Update)
every 0.2 s. A load holds the store's one write transaction for seconds a batch: uploads must
wait for it; searches should not (see unishelf/writes.py). Prints count, p50, p99 and the
longest wait of each. Not a test: no assertions.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402
import unishelf_side  # noqa: E402
from bench_z3950 import TERMS, Client  # noqa: E402

from unishelf.auth import hash_password  # noqa: E402
from unishelf.ber import OCTET_ALIGNED, External  # noqa: E402
from unishelf.marc.record import Field, MarcRecord, write_iso2709  # noqa: E402
from unishelf.z3950 import apdu as z  # noqa: E402
from unishelf.z3950 import extended as es  # noqa: E402

UPLOAD_EVERY = 0.2   # seconds between a cataloguer's uploads
SEARCH_EVERY = 0.01  # seconds between a searcher's Search+Present (back to back, it would slow the load twofold)
USMARC = "1.2.840.10003.5.10"


def new_record(number: int) -> bytes:
    """A record no other matches (its own 001, no ISBN or LCCN), so each upload is an insert."""
    return write_iso2709(MarcRecord("00000nam a2200000 a 4500", [
        Field("001", f"bench-upload-{number}"), Field("003", "BENCH"),
        Field("245", indicators="10", subfields=[("a", f"Upload {number} made during a load")])]))


def upload(client: Client, number: int) -> int:
    record = External(USMARC, OCTET_ALIGNED, new_record(number))
    reply = client.call(es.ExtendedServicesRequest(
        package_type=es.UPDATE_OID, task_specific_parameters=es.UpdateRequest(
            action=es.UpdateAction.RECORD_INSERT, database="unicat", records=(es.SuppliedRecord(record=record),),
            package_type=es.UPDATE_OID)))
    return reply.operation_status


def summary(name: str, waits: list[float]) -> str:
    p50, p99 = unishelf_side.p50_p99_ms(waits)
    return f"{name:<22} {len(waits):>6} {p50:>8.1f} {p99:>8.1f} {max(waits, default=float('nan')) * 1e3:>9.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    records = lc_corpus.subset(args.records)
    with tempfile.TemporaryDirectory(prefix="unishelf-bench-serve-") as work:
        data_dir, config = Path(work) / "data", Path(work) / "unishelf.yaml"
        config.write_text("listen: {workers: 1}\nlibraries: [{code: NORTH}, {code: LC}]\n"
                          f"users: [{{name: north, password_hash: '{hash_password('secret')}', "
                          "roles: [cataloguer], library: NORTH}]\n")
        unishelf = [sys.executable, "-m", "unishelf.cli", "--config", str(config), "--data-dir", str(data_dir)]
        subprocess.run(unishelf + ["load", "--demo", "--quiet"], check=True, capture_output=True)
        with unishelf_side.UnishelfServer(data_dir, config) as server:
            port = server.ports["z3950"]
            searcher = Client(port, "unicat")
            cataloguer = Client(port, "unicat", z.IdPass(user_id="north", password="secret"))
            load = subprocess.Popen(unishelf + ["load", "--library", "LC", str(records)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            searches, uploads, statuses = [], [], []

            def cataloguing():
                number = 0
                while load.poll() is None:
                    started = time.perf_counter()
                    statuses.append(upload(cataloguer, number))
                    uploads.append(time.perf_counter() - started)
                    number += 1
                    time.sleep(UPLOAD_EVERY)

            uploading = threading.Thread(target=cataloguing)
            started = time.monotonic()
            uploading.start()
            while load.poll() is None:
                began = time.perf_counter()
                searcher.search_and_present(TERMS[len(searches) % len(TERMS)])
                searches.append(time.perf_counter() - began)
                time.sleep(SEARCH_EVERY)
            uploading.join()
            elapsed = time.monotonic() - started
    done = statuses.count(es.OperationStatus.DONE)
    print(f"{args.records:,} LC records loaded in {elapsed:.1f} s into a store served by one process")
    print(f"{'':<22} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>9}")
    print(summary("search + present 10", searches))
    print(summary(f"upload ({done} done)", uploads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
