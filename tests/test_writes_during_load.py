"""A serving process goes on answering while another process holds the store's one write
transaction, as a bulk load does for seconds a batch: the requests that write (a record upload,
an ILL request) wait for it on the process's write thread, and searches on the same process do
not wait with them. Each test holds the transaction itself, so what it checks does not hang on
timing: with writes on the reactor thread, the search would not be answered until it let go."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
from conftest import make_catalog, serve_process, wait_listening
from test_es_update import sample, serving_cjk_sample, users_yaml

from unishelf.ber import OCTET_ALIGNED, Framer, External
from unishelf.marc.record import write_iso2709
from unishelf.marc.store import Store
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es
from unishelf.search.tree import Term
from unishelf.z3950.pqf import parse_pqf

YAZ_ILLCLIENT = shutil.which("yaz-illclient")
USMARC = "1.2.840.10003.5.10"
TIMEOUT = 20
ARRIVED = 0.5   # seconds for a request sent on loopback to reach the server and be taken up


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`unishelf serve` in one process, serving Z39.50 and the ILL of CENTRAL."""
    data_dir = tmp_path_factory.mktemp("writes")
    config = (f"listen: {{workers: 1}}\nusers: {users_yaml()}\n"
              "libraries: [{code: NORTH, ill_symbol: NORTH}, {code: EAST}, {code: CENTRAL, ill_symbol: CENTRAL}]\n"
              "ill: {serves: [CENTRAL]}\n")
    with serving_cjk_sample(data_dir, config) as (ports, _):
        yield ports, data_dir


@contextmanager
def write_held(data_dir):
    """The store's write transaction, held by this process until the block ends."""
    store = Store(data_dir / "store")
    txn = store.env.begin(write=True)
    try:
        yield
    finally:
        txn.abort()
        store.close()


class Z3950:
    """A Z39.50 association over a socket, one APDU at a time."""

    def __init__(self, port: int, user: str | None = "north"):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.framer = Framer(1 << 24)
        self.apdus: list[bytes] = []
        auth = z.IdPass(user_id=user, password="secret") if user else None
        assert self.ask(z.InitializeRequest(options=frozenset({"search", "present", "extendedServices"}),
                                            id_authentication=auth)).result

    def send(self, request):
        self.socket.sendall(z.encode_apdu(request))

    def answer(self):
        while not self.apdus:
            data = self.socket.recv(65536)
            assert data, "the server closed the association"
            self.apdus.extend(self.framer.feed(data))
        return z.decode_apdu(self.apdus.pop(0))

    def ask(self, request):
        self.send(request)
        return self.answer()

    def waiting(self) -> bool:
        """True when nothing has come back yet."""
        self.socket.setblocking(False)
        try:
            return not self.apdus and not self.socket.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.socket.settimeout(TIMEOUT)

    def count(self, pqf: str) -> int:
        return self.ask(z.SearchRequest(query=parse_pqf(pqf), database_names=("unicat",))).result_count

    def close(self):
        self.socket.close()


def insert(title: str, sample_record: int = 3) -> es.ExtendedServicesRequest:
    record = External(USMARC, OCTET_ALIGNED, write_iso2709(sample(sample_record, title=title)))
    return es.ExtendedServicesRequest(package_type=es.UPDATE_OID, task_specific_parameters=es.UpdateRequest(
        action=es.UpdateAction.RECORD_INSERT, database="unicat", records=(es.SuppliedRecord(record=record),),
        package_type=es.UPDATE_OID))


def test_a_record_upload_waits_for_the_load_and_searches_do_not(server):
    ports, data_dir = server
    cataloguer, searcher = Z3950(ports["z3950"]), Z3950(ports["z3950"], user=None)
    try:
        before = searcher.count("@attr 1=4 heldupload")
        with write_held(data_dir):
            cataloguer.send(insert("Heldupload during a load"))
            cataloguer.send(z.SearchRequest(query=parse_pqf("@attr 1=4 heldupload"), database_names=("unicat",)))
            time.sleep(ARRIVED)
            assert searcher.count("@attr 1=1016 a") > 0   # answered while the store is held
            assert searcher.count("@attr 1=4 heldupload") == before
            assert cataloguer.waiting()
        response = cataloguer.answer()
        assert isinstance(response, es.ExtendedServicesResponse)
        assert response.operation_status == es.OperationStatus.DONE
        assert cataloguer.answer().result_count == before + 1   # the search sent after it, answered after it
        assert searcher.count("@attr 1=4 heldupload") == before + 1
    finally:
        cataloguer.close()
        searcher.close()


@pytest.mark.skipif(YAZ_ILLCLIENT is None, reason="yaz-illclient not installed (apt-get install yaz-illclient)")
def test_an_ill_request_waits_for_the_load_and_searches_do_not(server, tmp_path):
    ports, data_dir = server
    request = ["protocol-version-num=2", "transaction-id,transaction-qualifier=HELD-1",
               "requester-id,person-or-institution-symbol,institution=NORTH",
               "responder-id,person-or-institution-symbol,institution=CENTRAL",
               "item-id,title=Water supply engineering", "ill-service-type=1"]
    searcher = Z3950(ports["z3950"], user=None)
    try:
        with write_held(data_dir):
            client = subprocess.Popen(
                [YAZ_ILLCLIENT, *[a for define in request for a in ("-D", f"ill,{define}")],
                 f"tcp:127.0.0.1:{ports['ill']}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            try:
                time.sleep(ARRIVED)
                with socket.create_connection(("127.0.0.1", ports["ill"]), timeout=TIMEOUT):
                    pass   # the ILL listener accepts while the node's write waits
                assert searcher.count("@attr 1=1016 a") > 0
                assert client.poll() is None   # its Status-Or-Error-Report waits for the store
            except BaseException:
                client.kill()
                raise
        out, err = client.communicate(timeout=TIMEOUT)
        assert (client.returncode, out.strip()) == (0, "Ok"), err[-500:]
        assert "provider_status_report 3" in err   # IN-PROCESS
    finally:
        searcher.close()


def test_a_server_started_during_a_load_serves_after_one_batch(server):
    """It opens the store in one write transaction, between two of the load's batches (py-lmdb
    keeps no database handle opened in a read transaction); it reads the pair words before it
    would write them and stamps the ILL notes on its write thread: the next batch does not stop
    it serving."""
    _, data_dir = server
    load = Store(data_dir / "store")
    try:
        batch = load.env.begin(write=True)
        with serve_process(data_dir, data_dir / "unishelf.yaml", subprocess.PIPE) as (ports, process):
            time.sleep(ARRIVED)   # it waits for the batch to open the store
            batch.abort()
            next(line for line in process.stdout if "records in unicat" in line)   # the store is open
            batch = load.env.begin(write=True)
            wait_listening(ports, process)
            searcher = Z3950(ports["z3950"], user=None)
            try:
                assert searcher.count("@attr 1=1016 a") > 0
            finally:
                searcher.close()
            batch.abort()
    finally:
        load.close()


def test_writes_asked_for_before_a_shutdown_are_done_before_the_process_exits(tmp_path):
    config = f"listen: {{workers: 1}}\nusers: {users_yaml()}\nlibraries: [{{code: NORTH}}, {{code: EAST}}]\n"
    with serving_cjk_sample(tmp_path, config) as (ports, process):
        first, second = Z3950(ports["z3950"]), Z3950(ports["z3950"])
        with write_held(tmp_path):
            first.send(insert("Shutdownfirst", 4))    # taken up by the write thread, waiting for the store
            second.send(insert("Shutdownsecond", 5))  # queued behind it
            time.sleep(ARRIVED)
            process.terminate()
            time.sleep(ARRIVED)   # the shutdown has begun while both wait
        assert process.wait(timeout=TIMEOUT) == 0
        first.close()
        second.close()
    catalog = make_catalog(tmp_path)
    try:
        assert [len(catalog.engine.search(Term("title", title))) for title in ("shutdownfirst", "shutdownsecond")] \
            == [1, 1]
    finally:
        catalog.close()
