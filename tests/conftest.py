"""Shared fixtures: the shipped test data and catalogues loaded into temporary stores."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred

from unishelf.app import open_catalog
from unishelf.config import load_config
from unishelf.marc.loader import Loader

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


def make_catalog(tmp_path: Path, **overrides):
    config = load_config(None, {"data_dir": str(tmp_path), **overrides})
    return open_catalog(config)


def load(catalog, files, library=None, fmt="auto"):
    loader = Loader(catalog.store, catalog.catalogue, batch_size=100, workers=0)
    return loader.load([Path(f) for f in files], fmt, library)


@pytest.fixture
def catalog(tmp_path):
    catalog = make_catalog(tmp_path)
    yield catalog
    catalog.close()


@pytest.fixture(scope="session")
def loaded(tmp_path_factory):
    """One catalogue with the MARC21, CJK, MARC-8, MARCXML and UNIMARC samples, each its own library."""
    catalog = make_catalog(tmp_path_factory.mktemp("loaded"))
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    load(catalog, [DATA / "marc8-sample.mrc"], "SOUTH")
    load(catalog, [DATA / "marcxml-sample.xml"], "WEST")
    load(catalog, [DATA / "unimarc-sample.mrc"], "CENTRAL", fmt="unimarc")
    yield catalog
    catalog.close()


class HeldWrites:
    """Writes that run when the test says (`release`), as a write thread behind a load would."""

    def __init__(self):
        self.calls: list[tuple] = []

    def run(self, function, *args) -> Deferred:
        waiting = Deferred()
        self.calls.append((waiting, function, args))
        return waiting

    def release(self):
        waiting, function, args = self.calls.pop(0)
        waiting.callback(function(*args))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(data_dir: Path, config: Path, output=subprocess.DEVNULL):
    """`unishelf serve` on free ports; yields the ports ({"z3950": N, "http": N}) once it listens."""
    with serve_process(data_dir, config, output) as (ports, process):
        wait_listening(ports, process)
        yield ports, process


@contextmanager
def serve_process(data_dir: Path, config: Path, output=subprocess.DEVNULL):
    """`unishelf serve` on free ports, just started; stopped when the block ends."""
    ports = {"z3950": free_port(), "http": free_port(), "ill": free_port(), "ftp": free_port()}
    process = subprocess.Popen([sys.executable, "-m", "unishelf.cli", "--config", str(config), "--data-dir",
                                str(data_dir), "serve"] + [f"--{name}-port={port}"
                                                           for name, port in ports.items()],
                               cwd=REPO, stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        yield ports, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_listening(ports: dict, process: subprocess.Popen):
    deadline = time.monotonic() + 30
    waiting = {"z3950", "http"}
    while waiting and time.monotonic() < deadline and process.poll() is None:
        for name in list(waiting):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", ports[name])) == 0:
                    waiting.discard(name)
        time.sleep(0.05)
    assert not waiting, f"unishelf serve did not start (exit {process.poll()})"


# -- ILL networks and the staff desk, shared by the ILL test modules --------------------------
# The classes live in the modules that test them; they are imported when a fixture is first
# used, since those modules import this one.
@pytest.fixture
def network(tmp_path):
    """ISO ILL nodes in memory, one per library, APDUs carried between them by the test."""
    from test_ill_scenarios import Network
    network = Network(tmp_path)
    yield network
    network.close()


@pytest.fixture(scope="module")
def union_catalogue(tmp_path_factory) -> Path:
    """A data directory whose catalogue has every sample record held by the four lenders."""
    path = tmp_path_factory.mktemp("union")
    catalog = make_catalog(path)
    for code in ("SOUTH", "CENTRAL", "EAST", "WEST"):
        load(catalog, [DATA / "marc21-utf8-sample.mrc"], code)
    catalog.close()
    return path


@pytest.fixture
def routing(tmp_path, union_catalogue):
    """Five in-memory nodes on a clock that routes requests by the union catalogue's holdings."""
    from test_ill_routing import Network
    network = Network(tmp_path, union_catalogue)
    yield network
    network.close()


@pytest.fixture
def desk(tmp_path, capsys):
    from test_ill_cli import Desk
    return Desk(tmp_path, capsys)
