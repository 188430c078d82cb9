"""The ILL network end to end: three `unishelf serve` nodes on loopback, staff at `unishelf ill`.

NORTH asks for a copy without naming a lender. The union catalogue routes it to the national
centre CENTRAL first, which cannot supply; the request moves on to EAST, whose staff drop the
scan on their node's FTP drop and ship it electronically; NORTH downloads it over HTTP, checks
size and checksum, confirms receipt, and both ledgers record the fee, as the README walks it.
"""
from __future__ import annotations

import ftplib
import hashlib
import os
import socket
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from conftest import REPO, free_port
from test_ill_nodes import wait_until

from unishelf.config import load_config
from unishelf.ill_iso.transaction import Transaction
from unishelf.marc.store import Store

NODES = ("NORTH", "CENTRAL", "EAST")
LIBRARIES = """\
libraries:
  - {code: CENTRAL, name: Central Library, ill_symbol: CENTRAL, ill_address: "127.0.0.1:%(CENTRAL)d",
     region: national, tier: 1, fees: {loan: "CNY 10.00", copy: "CNY 5.00"}}
  - {code: NORTH, name: Northern University Library, ill_symbol: NORTH, ill_address: "127.0.0.1:%(NORTH)d",
     region: north, tier: 2}
  - {code: EAST, name: Eastern Institute Library, ill_symbol: EAST, ill_address: "127.0.0.1:%(EAST)d",
     region: east, fees: {copy: "CNY 2.00"}}
  - {code: WEST, name: Western Public Library, ill_symbol: WEST, ill_address: "127.0.0.1:%(WEST)d",
     region: west, fees: {copy: "CNY 3.00"}}
ill: {send: {poll_ms: 50, first_retry: 1, max_retry: 2, reply_timeout: 5}}
"""


class Node:
    """One library's `unishelf serve`, with its own config, data directory and ports."""

    def __init__(self, path: Path, code: str, ill_ports: dict[str, int]):
        self.code = code
        self.data = path / code
        self.ports = {"z3950": free_port(), "http": free_port(), "ftp": free_port(), "ill": ill_ports[code]}
        self.config = path / f"{code}.yaml"
        self.config.write_text(
            f"listen: {{workers: 1, z3950_port: {self.ports['z3950']}, http_port: {self.ports['http']}, "
            f"ftp_port: {self.ports['ftp']}, ill_port: {self.ports['ill']}}}\n" + LIBRARIES % ill_ports)
        self.process = None

    def run(self, *argv: str, stdin: str | None = None) -> str:
        result = subprocess.run([sys.executable, "-m", "unishelf.cli", "--config", str(self.config), "--data-dir",
                                 str(self.data), *argv], cwd=REPO, input=stdin, capture_output=True, text=True)
        assert result.returncode == 0, f"{self.code} {' '.join(argv)}: {result.stderr}"
        return result.stdout

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", "unishelf.cli", "--config", str(self.config),
                                         "--data-dir", str(self.data), "serve"], cwd=REPO,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._listening(), f"{self.code} did not start")

    def _listening(self) -> bool:
        assert self.process.poll() is None, f"{self.code} exited with {self.process.returncode}"
        return all(_open(self.ports[name]) for name in ("ill", "http", "ftp"))

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def transactions(self) -> list[Transaction]:
        config = load_config(self.config, {"data_dir": str(self.data)})
        if not config.store_path.exists():
            return []
        store = Store(config.store_path)
        try:
            with store.reading() as reader:
                return sorted((Transaction(**record) for record in reader.ill_transactions()), key=lambda t: t.number)
        finally:
            store.close()


def _open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("network")
    ill_ports = {code: free_port() for code in (*NODES, "WEST")}
    nodes = {code: Node(path, code, ill_ports) for code in NODES}
    nodes["NORTH"].run("load", "--demo", "--quiet")
    nodes["EAST"].run("user", "add", "scanner", "--role", "ill-staff", "--library", "EAST", "--password-stdin",
                      stdin="s3cret\n")
    for node in nodes.values():
        node.start()
    yield nodes
    for node in nodes.values():
        node.stop()


def held_by(node: Node, libraries: set[str]) -> int:
    """A record of the union catalogue held by exactly these libraries."""
    config = load_config(node.config, {"data_dir": str(node.data)})
    store = Store(config.store_path)
    try:
        with store.reading() as reader:
            return next(record_id for record_id in reader.record_ids() if set(reader.holdings(record_id)) == libraries)
    finally:
        store.close()


def test_an_unrouted_request_is_filled_through_forwarding_with_the_copy_delivered_and_the_fee_recorded(
        network, tmp_path):
    north, central, east = network["NORTH"], network["CENTRAL"], network["EAST"]
    record = held_by(north, {"CENTRAL", "EAST", "WEST"})
    out = north.run("ill", "request", "--record", str(record), "--service", "copy", "--max-cost", "CNY 20.00")
    assert "routed: CENTRAL -> EAST -> WEST" in out

    wait_until(lambda: central.transactions(), "the request did not reach CENTRAL")
    central.run("ill", "answer", "1", "unfilled", "--reason", "not-owned")
    wait_until(lambda: east.transactions(), "the request did not move on to EAST")
    assert [(t.peer, t.state) for t in north.transactions()] == [("CENTRAL", "NOT-SUPPLIED"), ("EAST", "PENDING")]

    scan = os.urandom(300_000)
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", east.ports["ftp"], timeout=10)
        ftp.login("scanner", "s3cret")
        ftp.storbinary("STOR 1.pdf", BytesIO(b"%PDF-1.4\n" + scan))
    out = east.run("ill", "ship", "1", "--dropped")
    assert "1.pdf" in out

    wait_until(lambda: north.transactions()[-1].state == "SHIPPED", "Shipped did not reach NORTH")
    attempt = north.transactions()[-1]
    assert attempt.delivery["size"] == len(scan) + 9
    out = north.run("ill", "fetch", str(attempt.number), "--to", str(tmp_path))
    assert "sha256 checked" in out
    fetched = (tmp_path / "1.pdf").read_bytes()
    assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(b"%PDF-1.4\n" + scan).hexdigest()
    north.run("ill", "receive", str(attempt.number))
    wait_until(lambda: east.transactions()[0].state == "RECEIVED", "Received did not reach EAST")

    shown = north.run("ill", "show", "1")
    assert "1. CENTRAL" in shown and "2. EAST" in shown and "RECEIVED" in shown and "3." not in shown
    assert attempt.cost == east.transactions()[0].cost == {"currency-code": "CNY", "monetary-value": "2.00"}
    # the ledgers of both ends agree: NORTH owes EAST the copy fee, EAST is owed it
    assert "NORTH,EAST,CNY,0.00,2.00,-2.00" in north.run("ill", "ledger", "--csv").splitlines()
    assert "EAST,NORTH,CNY,2.00,0.00,2.00" in east.run("ill", "ledger", "--csv").splitlines()
    stats = north.run("ill", "stats", "--csv", "--library", "NORTH").splitlines()
    assert stats[1].startswith("NORTH,all,requester,1,1,0,0,1,")
