"""The unishelf side of the benchmarks: a store of the first N LC records, and `unishelf serve` on it.

`store(records)` gives a data directory whose store holds the first N LC records, loading it with
bench_load.py when it is missing or was written in an older store format. `UnishelfServer` runs
`unishelf serve` over it with every port (Z39.50, HTTP, ILL) a free one, so it never collides with
another server on the machine, and returns once its daemons accept connections.
"""
from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lc_corpus

from unishelf.marc.store import Store, StoreFormatError

BENCH = Path(__file__).resolve().parent
# The daemons a benchmark waits for; every port `unishelf serve` opens is given a free one, so a
# benchmark's server never meets another on the default ports.
LISTENING = ("z3950", "http")


def store(records: int) -> Path:
    """The data directory of a current store of the first `records` LC records, loaded if need be."""
    data_dir = lc_corpus.cache_dir() / f"unishelf-{records}"
    if _is_current(data_dir / "store"):
        return data_dir
    print(f"unishelf: loading a store of {records:,} LC records into {data_dir} (a few minutes)", flush=True)
    partial = data_dir.with_name(data_dir.name + ".partial")   # an interrupted load is never taken for a store
    subprocess.run([sys.executable, str(BENCH / "bench_load.py"), "--records", str(records), "--no-zebra",
                    "--no-reloads", "--keep", str(partial)], check=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    partial.rename(data_dir)
    return data_dir


def _is_current(store_path: Path) -> bool:
    if not (store_path / "data.mdb").exists():
        return False
    try:
        Store(store_path, readonly=True).close()
    except StoreFormatError:
        return False
    return True


def p50_p99_ms(latencies: list[float]) -> tuple[float, float]:
    """The median and 99th percentile of latencies in seconds, in milliseconds (nan if none)."""
    if not latencies:
        return float("nan"), float("nan")
    ordered = sorted(latencies)
    return statistics.median(ordered) * 1e3, ordered[int(0.99 * (len(ordered) - 1))] * 1e3


def compare_under_load(servers, modes: dict, clients: list[int], measure, mode_title: str, unit: str):
    """Print one row per server, mode and client count, and unishelf/zebra ratios.

    `modes`: label -> mode value; `measure(server, mode, clients)` -> (rate, latencies, note)."""
    print(f"{'server':<9} {mode_title:<11} {'clients':>7} {unit:>8} {'p50 ms':>7} {'p99 ms':>7}")
    results = {}
    for label, mode in modes.items():
        for count in clients:
            for name in servers:
                rate, latencies, note = measure(name, mode, count)
                p50, p99 = p50_p99_ms(latencies)
                results[name] = rate
                print(f"{name:<9} {label:<11} {count:>7} {rate:>8,.0f} {p50:>7.2f} {p99:>7.2f}{note}", flush=True)
            if "zebra" in results and "unishelf" in results:
                print(f"{'ratio':<9} {'':<11} {count:>7} {results['unishelf'] / results['zebra']:>7.2f}x "
                      "unishelf/zebra", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_accepting(process: subprocess.Popen, ports: list[int], timeout: float, log: Path | None = None):
    """Return once every port accepts a connection; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-20:]) if log else ""
            raise SystemExit(f"{process.args[:4]} exited with {process.returncode}\n{tail}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{process.args[:4]} did not accept on port {waiting[0]} within {timeout:.0f} s")
        with socket.socket() as attempt:
            if attempt.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        time.sleep(0.1)


class UnishelfServer:
    """`unishelf serve` over a data directory, on free ports; use as a context manager.

    `config` is an optional YAML file (defaults.yaml overlaid with it). The server's log goes to
    a temporary file, shown if it fails to start.
    """

    def __init__(self, data_dir: Path, config: Path | None = None):
        self.data_dir = data_dir
        self.config = config
        self.ports = {name: free_port() for name in ("z3950", "http", "ill", "ftp")}
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="unishelf-serve-", suffix=".log")[1])

    def start(self) -> "UnishelfServer":
        command = [sys.executable, "-m", "unishelf.cli", "--data-dir", str(self.data_dir)]
        if self.config:
            command += ["--config", str(self.config)]
        command += ["serve", *(f"--{name}-port={port}" for name, port in self.ports.items())]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_accepting(self.process, [self.ports[name] for name in LISTENING], 60, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """SIGTERM: the main process stops its reactor and closes its workers' lifelines."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> "UnishelfServer":
        return self.start()

    def __exit__(self, *exc):
        self.stop()
