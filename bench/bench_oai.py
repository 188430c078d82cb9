"""OAI-PMH benchmark: a full ListRecords harvest of the same LC records from unishelf and from pyoai.

    python bench/bench_oai.py [--records N] [--formats marc21,oai_dc] [--page-size 200] [--runs 3] [--warmups 1]

For each format, a fresh `unishelf serve` (the store of bench_load.py, `oai.page_size` set by a
config file) and a fresh pyoai BatchingServer holding the records in memory (bench/pyoai_side.py,
`resumption_batch_size` the same) are harvested in turn by the same harvester: one keep-alive
http.client connection following resumptionTokens and counting <record> elements. Prints
records per second, server CPU per 1,000 records, the peak memory (VmHWM) of every server
process, the resident memory of the process that served the harvest after 10%, 50% and 100% of
it (RSS, and the private part: RSS counts the LMDB store's mapped pages, which the kernel
reclaims at will), and the ratios. Each server is harvested `--warmups` times, then `--runs`
times, and the median of those runs is reported (with every run's records per second and the
major page faults of the server processes, and the warm-up harvests' beside them). On a shared
two-core machine one harvest can be a third faster or slower than the next. And the kernel may
evict the store's pages whenever it likes (this machine's DAMON pages out what has not been
touched for a few seconds), so a harvest may read the store from disk again, which its major
faults show; pyoai's records are anonymous memory, which without swap stays put. Not a test: no
assertions.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import unescape

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import unishelf_side  # noqa: E402
from bench_load import children  # noqa: E402
from pyoai_side import PyoaiServer  # noqa: E402

TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
ERROR = re.compile(rb'<error code="([^"]+)"[^>]*>([^<]*)')
MILESTONES = (0.1, 0.5)   # and the end of the harvest
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20


def process_tree(pid: int) -> list[int]:
    return [pid] + children(pid)


def memory(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS and RssAnon of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def cpu_and_major_faults(pid: int) -> tuple[float, int]:
    """User plus system CPU of a process (all its threads) and its major page faults, from
    /proc/PID/stat (fields 14, 15 and 12)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS, int(after_name[9])


@dataclass
class Harvest:
    """What one harvest measured, of the harvester and of every server process."""

    records: int = 0
    pages: int = 0
    seconds: float = 0.0
    cpu: dict[int, float] = field(default_factory=dict)        # server pid -> CPU seconds spent
    major_faults: int = 0                                       # of every server process: pages read from disk
    memory: list[dict[int, dict]] = field(default_factory=list)  # per milestone: pid -> memory()
    peak: dict[int, int] = field(default_factory=dict)          # pid -> VmHWM at the end
    runs: list[tuple[float, int]] = field(default_factory=list)  # records/s and major faults of every run

    @property
    def outcome(self) -> tuple[float, int]:
        return self.rate, self.major_faults

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def server(self) -> int:
        """The process that served the harvest: one keep-alive connection stays with one process."""
        return max(self.cpu, key=self.cpu.get)


def harvest(port: int, metadata_prefix: str, expected: int, server_pid: int) -> Harvest:
    """A full ListRecords harvest over one keep-alive connection, sampling the servers' memory.

    The process tree is read at every sample, so a worker that was still starting is not missed.
    """
    before = {pid: cpu_and_major_faults(pid) for pid in process_tree(server_pid)}
    result = Harvest()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    arguments = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
    milestones = [int(share * expected) for share in MILESTONES]
    started = time.perf_counter()
    while arguments:
        connection.request("GET", "/oai?" + urlencode(arguments))
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or b"<error " in body:
            error = ERROR.search(body)
            raise SystemExit(f"harvest failed after {result.records:,} records: HTTP {response.status} "
                             f"{error.groups() if error else body[:200]!r}")
        result.records += body.count(b"<record>")
        result.pages += 1
        token = TOKEN.search(body)
        arguments = {"verb": "ListRecords", "resumptionToken": unescape(token[1].decode())} if token else None
        while milestones and result.records >= milestones[0]:
            milestones.pop(0)
            result.memory.append(memory_of_tree(server_pid))
    result.seconds = time.perf_counter() - started
    connection.close()
    result.memory.append(memory_of_tree(server_pid))
    after = {pid: cpu_and_major_faults(pid) for pid in result.memory[-1]}
    result.cpu = {pid: cpu - before.get(pid, (0.0, 0))[0] for pid, (cpu, _) in after.items()}
    result.major_faults = sum(faults - before.get(pid, (0.0, 0))[1] for pid, (_, faults) in after.items())
    result.peak = {pid: sample["VmHWM"] for pid, sample in result.memory[-1].items()}
    return result


def memory_of_tree(pid: int) -> dict[int, dict[str, int]]:
    return {process: memory(process) for process in process_tree(pid)}


def unishelf_config(page_size: int) -> Path:
    handle, path = tempfile.mkstemp(prefix="bench-oai-", suffix=".yaml")
    with os.fdopen(handle, "w") as config:
        config.write(f"oai: {{page_size: {page_size}}}\n")
    return Path(path)


def median_harvest(port: int, metadata_prefix: str, expected: int, server_pid: int, runs: int,
                   warmups: int) -> tuple[Harvest, list[tuple[float, int]]]:
    """The median of `runs` full harvests by records per second (`runs` holds every run's
    outcome), after `warmups` harvests whose outcomes are returned beside it."""
    warmup_outcomes = [harvest(port, metadata_prefix, expected, server_pid).outcome for _ in range(warmups)]
    results = sorted((harvest(port, metadata_prefix, expected, server_pid) for _ in range(runs)),
                     key=lambda result: result.rate)
    median = results[len(results) // 2]
    median.runs = [result.outcome for result in results]
    return median, warmup_outcomes


def report(name: str, metadata_prefix: str, result: Harvest, warmups: list[tuple[float, int]]):
    served = result.server
    rate = result.rate
    cpu_per_1k = sum(result.cpu.values()) / result.records * 1e6

    def over_time(kind: str) -> str:
        return "/".join(f"{sample[served][kind] / MiB:.0f}" if served in sample else "?" for sample in result.memory)

    print(f"{name:<9} {metadata_prefix:<7} {result.records:>8,} {result.pages:>6} {result.seconds:>7.1f} {rate:>8,.0f} "
          f"{cpu_per_1k:>10.0f} {result.peak[served] / MiB:>9,.0f} {over_time('VmRSS'):>16} "
          f"{over_time('RssAnon'):>16}", flush=True)
    processes = ", ".join(f"pid {pid} {peak / MiB:,.0f} MiB{' (served the harvest)' if pid == served else ''}"
                          for pid, peak in result.peak.items())
    print(f"{'':<18}VmHWM of every server process: {processes}", flush=True)
    def outcomes(runs: list[tuple[float, int]]) -> str:
        return ", ".join(f"{rate:,.0f} ({faults:,})" for rate, faults in runs)

    print(f"{'':<18}records/s (major page faults) of each run: {outcomes(result.runs)}"
          f"{'; of the warm-up harvests: ' + outcomes(warmups) if warmups else ''}", flush=True)


def compare(metadata_prefix: str, ours: Harvest, theirs: Harvest):
    speed = ours.rate / theirs.rate
    peak = ours.peak[ours.server] / theirs.peak[theirs.server]
    private = ours.memory[-1][ours.server]["RssAnon"] / theirs.memory[-1][theirs.server]["RssAnon"]
    print(f"{'ratio':<9} {metadata_prefix:<7} unishelf/pyoai: records/s {speed:.2f}x (target 10x), "
          f"peak RSS {peak:.2f}x, private memory at the end {private:.2f}x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--formats", default="marc21,oai_dc")
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="harvests of each server; the median is reported")
    parser.add_argument("--warmups", type=int, default=1, help="harvests of each server before those measured")
    args = parser.parse_args()
    data_dir = unishelf_side.store(args.records)
    config = unishelf_config(args.page_size)
    print(f"{args.records:,} LC records; full ListRecords harvest, {args.page_size} records a page, "
          f"one keep-alive http.client harvester; the median of {args.runs} harvests of each server, "
          f"after {args.warmups} not counted")
    print(f"{'':<51}{'server':>10} {'peak RSS':>9} {'RSS MiB at':>16} {'private MiB at':>16}")
    print(f"{'server':<9} {'format':<7} {'records':>8} {'pages':>6} {'wall s':>7} {'rec/s':>8} {'CPU ms/1k':>10} "
          f"{'MiB':>9} {'10/50/100%':>16} {'10/50/100%':>16}")
    try:
        for metadata_prefix in args.formats.split(","):
            results = {}
            with unishelf_side.UnishelfServer(data_dir, config) as ours:
                results["unishelf"], warmups = median_harvest(ours.ports["http"], metadata_prefix, args.records,
                                                              ours.process.pid, args.runs, args.warmups)
            report("unishelf", metadata_prefix, results["unishelf"], warmups)
            with PyoaiServer(args.records, metadata_prefix, args.page_size) as theirs:
                results["pyoai"], warmups = median_harvest(theirs.port, metadata_prefix, args.records,
                                                           theirs.process.pid, args.runs, args.warmups)
            report("pyoai", metadata_prefix, results["pyoai"], warmups)
            compare(metadata_prefix, results["unishelf"], results["pyoai"])
    finally:
        config.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
