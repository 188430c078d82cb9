"""ISO ILL benchmark: two nodes on loopback, concurrent loans through their whole life cycle.

    python bench/bench_ill.py [--loans 50] [--poll-ms 10]

Two `unishelf serve` processes (NORTH borrows, CENTRAL lends), each with its own store. This
process plays both libraries' staff through the same Node API the `unishelf ill` commands use:
request, answer will-supply, ship, receive, return, check-in, each as soon as the APDU before it
has arrived. All loans run at once. Every state change is committed (fsync'd) before its APDU
is sent or acknowledged. Prints APDUs per second (everything that crossed the wire, the
acknowledgements included) and complete loans per second. Not a test: no assertions.
"""
from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from unishelf.config import load_config  # noqa: E402
from unishelf.ill_iso.directory import Directory  # noqa: E402
from unishelf.ill_iso.node import Node, NotFound  # noqa: E402
from unishelf.marc.store import Store  # noqa: E402

# (who acts, command, parameters, (who to watch, what shows the APDU arrived))
LIFE_CYCLE = [
    ("NORTH", "request", {}, ("CENTRAL", lambda t: t.state == "IN-PROCESS")),
    ("CENTRAL", "answer", {"kind": "will-supply"}, ("NORTH", lambda t: t.results == "will-supply")),
    ("CENTRAL", "ship", {}, ("NORTH", lambda t: t.state == "SHIPPED")),
    ("NORTH", "receive", {}, ("CENTRAL", lambda t: t.state == "RECEIVED")),
    ("NORTH", "return", {}, ("CENTRAL", lambda t: t.state == "RETURNED")),
    ("CENTRAL", "check-in", {}, ("NORTH", lambda t: (t.recent or {}).get("type") == "Checked-In")),
]
ITEM = {"item": {"title": "Water supply engineering", "iSBN": "0262032937"}, "services": ["loan"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(path: Path, ports: dict[str, int], poll_ms: int) -> Path:
    config = path / "unishelf.yaml"
    config.write_text("listen: {workers: 1}\nlibraries:\n" + "".join(
        f"  - {{code: {code}, name: {code.title()} Library, ill_symbol: {code}, "
        f"ill_address: '127.0.0.1:{port}', region: r}}\n" for code, port in ports.items())
        + f"ill:\n  send: {{poll_ms: {poll_ms}, first_retry: 1, max_retry: 2}}\n")
    return config


def start(config: Path, data: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "unishelf.cli", "--config", str(config), "--data-dir",
                                str(data), "serve", f"--z3950-port={free_port()}", f"--http-port={free_port()}",
                                f"--ill-port={port}"], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise SystemExit(f"the node on port {port} did not start")


def shows(node: Node, reader, reference: str, step: int) -> bool:
    """Whether the APDU of this step has arrived at the node it went to."""
    try:
        return LIFE_CYCLE[step][3][1](node.find(reader, reference))
    except NotFound:
        return False


def run(loans: int, poll_ms: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ill-"))
    ports = {"NORTH": free_port(), "CENTRAL": free_port()}
    config_path = write_config(work, ports, poll_ms)
    processes = {code: start(config_path, work / code, port) for code, port in ports.items()}
    nodes = {}
    try:
        for code in ports:
            config = load_config(config_path, {"data_dir": str(work / code)})
            nodes[code] = Node(Store(config.store_path), Directory.from_config(config, stamped=[code]))
        steps: dict[str, int] = {}       # transaction -> index of the step whose APDU is travelling
        started = time.perf_counter()
        for _ in range(loans):
            reference = nodes["NORTH"].request("NORTH", "CENTRAL", ITEM, "bench").transaction.display_id
            steps[reference] = 0
        finished = {}
        while steps:
            for code, node in nodes.items():
                with node.store.reading() as reader:
                    arrived = [reference for reference, step in steps.items()
                               if LIFE_CYCLE[step][3][0] == code and shows(node, reader, reference, step)]
                for reference in arrived:
                    step = steps[reference] + 1
                    if step == len(LIFE_CYCLE):
                        del steps[reference]
                        finished[reference] = time.perf_counter()
                        continue
                    actor, command, params, _ = LIFE_CYCLE[step]
                    nodes[actor].command(reference, command, params, "bench")
                    steps[reference] = step
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        apdus = 0
        for node in nodes.values():
            with node.store.reading() as reader:
                apdus += sum(1 for transaction in reader.ill_transactions()
                             for entry in reader.ill_history(transaction["number"]) if entry["direction"] == "received")
        print(f"{loans} loans, full life cycle (request, will-supply, shipped, received, returned, checked-in)")
        print(f"  {elapsed:.2f} s, {apdus} APDUs delivered ({apdus / loans:.0f} per loan)")
        print(f"  {apdus / elapsed:,.0f} APDUs/s, {loans / elapsed:,.1f} complete loans/s "
              f"(outbox poll {poll_ms} ms, every state change fsync'd)")
    finally:
        for node in nodes.values():
            node.store.close()
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=50)
    parser.add_argument("--poll-ms", type=int, default=10)
    args = parser.parse_args()
    run(args.loans, args.poll_ms)


if __name__ == "__main__":
    main()
