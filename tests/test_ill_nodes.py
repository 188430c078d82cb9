"""Two `unishelf serve` nodes on loopback: the scenarios over TCP, nodes killed and restarted in
the middle of a transaction, yaz-illclient as a peer, and bytes that are not ILL.

Staff work through the same Node API the `unishelf ill` commands use, in this process, against
each node's store while the node runs (LMDB serialises the writers).
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO, free_port
from test_ill_scenarios import LOAN, SCENARIOS

from unishelf.config import load_config
from unishelf.ill_iso.apdus import decode_apdu, encode_apdu
from unishelf.ill_iso.directory import Directory
from unishelf.ill_iso.node import Node
from unishelf.marc.store import Store

YAZ_ILLCLIENT = shutil.which("yaz-illclient")
CAPTURES = Path(__file__).parent / "data" / "ill"
TIMEOUT = 15


class Consortium:
    """NORTH and CENTRAL, each a node with its own data directory and ports."""

    def __init__(self, path: Path, **ill):
        self.path = path
        self.ports = {code: free_port() for code in ("NORTH", "CENTRAL")}
        limits = ill.pop("limits", {})
        self.config = path / "unishelf.yaml"
        self.config.write_text(
            "listen: {workers: 1}\n"
            "libraries:\n" + "".join(
                f"  - {{code: {code}, name: {code.title()} Library, ill_symbol: {code}, "
                f"ill_address: '127.0.0.1:{port}', region: r}}\n" for code, port in self.ports.items())
            + "ill:\n  send: {poll_ms: 50, first_retry: 1, max_retry: 2, reply_timeout: 5}\n"
            + (f"  limits: {limits}\n" if limits else ""))
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, code: str):
        self.processes[code] = subprocess.Popen(
            [sys.executable, "-m", "unishelf.cli", "--config", str(self.config), "--data-dir",
             str(self.path / code), "serve", f"--z3950-port={free_port()}", f"--http-port={free_port()}",
             f"--ill-port={self.ports[code]}", f"--ftp-port={free_port()}"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._listening(code), f"{code} did not start")

    def _listening(self, code: str) -> bool:
        assert self.processes[code].poll() is None, f"{code} exited with {self.processes[code].returncode}"
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.ports[code])) == 0

    def kill(self, code: str):
        """kill -9: nothing gets to clean up."""
        process = self.processes.pop(code)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self):
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = {}

    @contextmanager
    def node(self, code: str):
        """The node's core as staff commands use it (the store open just for this)."""
        config = load_config(self.config, {"data_dir": str(self.path / code)})
        store = Store(config.store_path)
        try:
            yield Node(store, Directory.from_config(config, stamped=[code]))
        finally:
            store.close()

    def state(self, code: str, reference: str) -> str | None:
        with self.node(code) as node, node.store.reading() as reader:
            try:
                return node.find(reader, reference).state
            except LookupError:
                return None

    def history(self, code: str, reference: str) -> list[dict]:
        with self.node(code) as node, node.store.reading() as reader:
            return reader.ill_history(node.find(reader, reference).number)

    def outbox(self, code: str) -> list[dict]:
        with self.node(code) as node, node.store.reading() as reader:
            return reader.ill_outbox()

    def staff(self, code: str, reference: str, command: str, params: dict | None = None):
        with self.node(code) as node:
            node.command(reference, command, params or {}, "staff")

    def request(self, requester: str, responder: str, params: dict) -> str:
        with self.node(requester) as node:
            return node.request(requester, responder, params, "staff").transaction.display_id

    def settled(self, requester: str, responder: str, reference: str, expected):
        wait_until(lambda: (self.state(requester, reference), self.state(responder, reference)) == tuple(expected),
                   lambda: f"states {(self.state(requester, reference), self.state(responder, reference))}, "
                           f"expected {expected}")


def wait_until(condition, message, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(message() if callable(message) else message)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory):
    consortium = Consortium(tmp_path_factory.mktemp("consortium"))
    consortium.start("NORTH")
    consortium.start("CENTRAL")
    yield consortium
    consortium.stop()


TIMING_DEPENDENT = {"cancel-after-shipping"}   # needs the Shipped held back: see test_ill_scenarios


@pytest.mark.parametrize("requester, responder", [("NORTH", "CENTRAL"), ("CENTRAL", "NORTH")])
@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - TIMING_DEPENDENT))
def test_scenario_over_tcp(consortium, name, requester, responder):
    reference = None
    for actor, command, params, expected in SCENARIOS[name]:
        code = requester if actor == "requester" else responder
        if command == "request":
            reference = consortium.request(requester, responder, params)
        else:
            consortium.staff(code, reference, command, params)
        consortium.settled(requester, responder, reference, expected)
    wait_until(lambda: not consortium.outbox(requester) and not consortium.outbox(responder), "outboxes stay full")
    for code in (requester, responder):
        assert all(entry["outcome"] != "refused" for entry in consortium.history(code, reference)), code


def test_nodes_killed_mid_transaction_carry_on_and_send_nothing_twice(tmp_path):
    consortium = Consortium(tmp_path)
    try:
        consortium.start("NORTH")
        consortium.start("CENTRAL")
        reference = consortium.request("NORTH", "CENTRAL", LOAN)
        consortium.settled("NORTH", "CENTRAL", reference, ("PENDING", "IN-PROCESS"))

        consortium.kill("CENTRAL")
        consortium.staff("NORTH", reference, "message", {"note": "any news?"})
        wait_until(lambda: any(entry["tries"] for entry in consortium.outbox("NORTH")), "no failed try")
        consortium.staff("CENTRAL", reference, "answer", {"kind": "will-supply"})   # its node is down
        consortium.staff("CENTRAL", reference, "ship")
        consortium.start("CENTRAL")
        consortium.settled("NORTH", "CENTRAL", reference, ("SHIPPED", "SHIPPED"))
        consortium.staff("NORTH", reference, "receive")
        consortium.settled("NORTH", "CENTRAL", reference, ("RECEIVED", "RECEIVED"))

        consortium.kill("NORTH")
        consortium.staff("CENTRAL", reference, "recall", {"note": "needed back"})
        consortium.staff("NORTH", reference, "return")   # crosses the Recall
        consortium.start("NORTH")
        consortium.settled("NORTH", "CENTRAL", reference, ("RETURNED", "RETURNED"))
        consortium.staff("CENTRAL", reference, "check-in")
        consortium.settled("NORTH", "CENTRAL", reference, ("RETURNED", "CHECKED-IN"))
        wait_until(lambda: not consortium.outbox("NORTH") and not consortium.outbox("CENTRAL"), "outboxes stay full")

        def received(code):
            return sorted(entry["type"] for entry in consortium.history(code, reference)
                          if entry["direction"] == "received" and entry["type"] != "Status-Or-Error-Report")
        assert received("CENTRAL") == ["ILL-Request", "Message", "Received", "Returned"]
        assert received("NORTH") == ["Checked-In", "ILL-Answer", "Recall", "Shipped"]
    finally:
        consortium.stop()


# -- yaz-illclient and bytes that are not ILL ------------------------------------------------------
@pytest.fixture
def central(tmp_path):
    consortium = Consortium(tmp_path, limits={"apdu_size": 4096})
    consortium.start("CENTRAL")
    yield consortium
    consortium.stop()


def exchange(port: int, data: bytes, half_close: bool = True) -> bytes:
    """Send, shut our side, and read until the node closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall(data)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def problem(data: bytes):
    apdu_type, value = decode_apdu(data)
    assert apdu_type == "Status-Or-Error-Report"
    report = value["error-report"]
    return report.get("provider-error-report") or report.get("user-error-report")


@pytest.mark.skipif(YAZ_ILLCLIENT is None, reason="yaz-illclient not installed (apt-get install yaz-illclient)")
def test_yaz_illclient_requests_are_accepted(central, tmp_path):
    def yaz(*defines: str) -> subprocess.CompletedProcess:
        arguments = [argument for define in defines for argument in ("-D", f"ill,{define}")]
        return subprocess.run([YAZ_ILLCLIENT, *arguments, f"tcp:127.0.0.1:{central.ports['CENTRAL']}"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    request = ("protocol-version-num=2", "transaction-id,transaction-qualifier=YAZ-1",
               "requester-id,person-or-institution-symbol,institution=NORTH",
               "responder-id,person-or-institution-symbol,institution=CENTRAL",
               "item-id,title=Water supply engineering", "item-id,ISBN=0262032937", "ill-service-type=1")
    done = yaz(*request)
    assert (done.returncode, done.stdout.strip()) == (0, "Ok"), done.stderr[-500:]
    assert "provider_status_report 3" in done.stderr   # IN-PROCESS
    assert central.state("CENTRAL", "NORTH//YAZ-1") == "IN-PROCESS"
    done = yaz()   # no parameters: protocol version 0, empty ids
    assert done.returncode == 7 and "General Problem: 4" in done.stdout
    done = yaz(*request)   # the same transaction id again, with the same content: a resend
    assert done.returncode == 0
    done = yaz(*request[:-1], "ill-service-type=2")
    assert done.returncode == 7 and "Transaction Id Problem: 1" in done.stdout
    assert yaz(*[d.replace("YAZ-1", "YAZ-2") for d in request]).returncode == 0


def test_malformed_truncated_and_oversized_ber_is_answered_and_the_node_keeps_serving(central):
    port = central.ports["CENTRAL"]
    request = bytes.fromhex((CAPTURES / "request-loan-minimal.hex").read_text())
    _, value = decode_apdu(request)
    value["responder-id"] = {"person-or-institution-symbol": ("institution-symbol", "CENTRAL")}

    assert problem(exchange(port, b"GET / HTTP/1.0\r\n\r\n")) == ("general-problem", "badly-structured-APDU")
    assert problem(exchange(port, request[:60])) == ("general-problem", "badly-structured-APDU")
    huge = encode_apdu("ILL-Request", {**value, "requester-note": "x" * 5000})
    assert problem(exchange(port, huge, half_close=False)) == ("general-problem", "badly-structured-APDU")
    assert problem(exchange(port, b"\x61\x84\x7f\xff\xff\xff")) == ("general-problem", "badly-structured-APDU")
    assert problem(exchange(port, b"\x75\x03\x02\x01\x00")) == ("general-problem", "unrecognized-APDU")
    with socket.create_connection(("127.0.0.1", port)) as dropped:
        dropped.sendall(request[:30])   # and goes away without a word

    reply = exchange(port, encode_apdu("ILL-Request", value))
    assert decode_apdu(reply)[1]["status-report"]["provider-status-report"] == "iN-PROCESS"
    assert central.processes["CENTRAL"].poll() is None
