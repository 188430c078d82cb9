"""Z39.50 Extended Services Update: the association without sockets, and yaz-client end to end."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from conftest import DATA, load, make_catalog, serving
from unishelf.auth import Users, hash_password
from unishelf.ber import OCTET_ALIGNED, External
from unishelf.marc.reading import read_file
from unishelf.marc.record import Field, write_iso2709
from unishelf.search.tree import Term
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es
from unishelf.z3950.association import Association, Limits
from unishelf.z3950.pqf import parse_pqf

USMARC = "1.2.840.10003.5.10"
PASSWORD_HASH = hash_password("secret", iterations=1000)
USERS = [{"name": "north", "password_hash": PASSWORD_HASH, "roles": ["cataloguer"], "library": "NORTH"},
         {"name": "south", "password_hash": PASSWORD_HASH, "roles": ["cataloguer"], "library": "SOUTH"},
         {"name": "reader", "password_hash": PASSWORD_HASH, "roles": ["searcher"]}]
YAZ_CLIENT = shutil.which("yaz-client")


def sample(n=0, title=None):
    record = list(read_file(DATA / "marc21-utf8-sample.mrc"))[n].record
    if title:
        record.fields = [f if f.tag != "245" else Field("245", indicators="10", subfields=[("a", title)])
                         for f in record.fields]
    return record


def opened(catalog, user="north"):
    association = Association(catalog, Users(USERS, True), Limits())
    auth = z.IdPass(user_id=user, password="secret") if user else None
    reply = exchange(association, z.InitializeRequest(options=frozenset({"search", "present", "extendedServices"}),
                                                      id_authentication=auth))
    assert reply.result and "extendedServices" in reply.options
    return association


def exchange(association, request):
    (reply,) = association.receive(z.encode_apdu(request))
    return z.decode_apdu(reply)


def update(association, action, records, database="unicat", package=es.UPDATE_OID):
    supplied = tuple(es.SuppliedRecord(record_id=record_id, record=External(USMARC, OCTET_ALIGNED, data))
                     for record_id, data in records)
    return exchange(association, es.ExtendedServicesRequest(
        package_type=package, task_specific_parameters=es.UpdateRequest(
            action=action, database=database, records=supplied, package_type=package)))


@pytest.fixture
def catalog(tmp_path):
    catalog = make_catalog(tmp_path)
    yield catalog
    catalog.close()


def test_insert_is_done_and_searchable_in_the_same_association(catalog):
    association = opened(catalog)
    reply = update(association, es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample(title="Zqxv upload")))])
    assert reply.operation_status == es.OperationStatus.DONE
    package = reply.task_package.task_specific_parameters
    assert package.update_status == es.UpdateStatus.SUCCESS and reply.task_package.task_status == es.TaskStatus.COMPLETE
    [record] = package.records
    assert record.status == es.RecordStatus.SUCCESS and record.record.value.startswith(b"0")
    record_id = record.correlation.id
    search = exchange(association, z.SearchRequest(query=parse_pqf("@attr 1=4 zqxv"), database_names=("unicat",)))
    assert search.result_count == 1
    assert set(catalog.engine.search(Term("library", "NORTH")).bitmap) == {record_id}


def test_several_records_in_one_request_give_a_partial_status(catalog):
    association = opened(catalog)
    broken = write_iso2709(sample(1))[:-5]
    reply = update(association, es.UpdateAction.RECORD_INSERT,
                   [(None, write_iso2709(sample(0))), (None, broken), (None, write_iso2709(sample(2)))])
    package = reply.task_package.task_specific_parameters
    assert reply.operation_status == es.OperationStatus.DONE and package.update_status == es.UpdateStatus.PARTIAL
    assert [r.status for r in package.records] == [es.RecordStatus.SUCCESS, es.RecordStatus.FAILURE,
                                                   es.RecordStatus.SUCCESS]
    assert package.records[1].diagnostics[0].condition == 224
    assert "leader gives a length" in package.records[1].diagnostics[0].addinfo


@pytest.mark.parametrize("user, diagnostic", [(None, 222), ("reader", 222)])
def test_anonymous_and_searchers_may_not_update(catalog, user, diagnostic):
    reply = update(opened(catalog, user), es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))])
    assert reply.operation_status == es.OperationStatus.FAILURE
    assert reply.diagnostics[0].condition == diagnostic and reply.task_package is None
    assert len(catalog.engine.search(Term("library", "NORTH")).bitmap) == 0


def test_replace_and_delete_by_record_number_and_other_libraries_holdings(catalog):
    north, south = opened(catalog, "north"), opened(catalog, "south")
    reply = update(north, es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))])
    record_id = reply.task_package.task_specific_parameters.records[0].correlation.id
    update(south, es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))])     # attaches SOUTH
    replaced = update(north, es.UpdateAction.RECORD_REPLACE, [(str(record_id).encode(),
                                                               write_iso2709(sample(title="Wvut replaced")))])
    assert replaced.operation_status == es.OperationStatus.DONE
    assert set(catalog.engine.search(Term("title", "wvut")).bitmap) == {record_id}
    refused = update(north, es.UpdateAction.RECORD_DELETE, [(b"999999", write_iso2709(sample()))])
    assert refused.operation_status == es.OperationStatus.FAILURE and "no record 999999" in refused.diagnostics[0].addinfo
    removed = update(north, es.UpdateAction.RECORD_DELETE, [(str(record_id).encode(), write_iso2709(sample()))])
    assert removed.operation_status == es.OperationStatus.DONE
    assert record_id in catalog.engine.search(Term("library", "SOUTH")).bitmap      # SOUTH's holdings stay
    assert record_id not in catalog.engine.search(Term("library", "NORTH")).bitmap


def test_update_1_0_special_update_and_unsupported_requests(catalog):
    association = opened(catalog)
    reply = update(association, es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))],
                   package=es.UPDATE0_OID)
    assert reply.operation_status == es.OperationStatus.DONE
    special = update(association, es.UpdateAction.SPECIAL_UPDATE, [(b"x", write_iso2709(sample(title="Upserted")))])
    assert special.operation_status == es.OperationStatus.DONE         # found by its 001: replaced
    assert len(catalog.engine.search(Term("title", "upserted")).bitmap) == 1
    element = update(association, es.UpdateAction.ELEMENT_UPDATE, [(None, write_iso2709(sample()))])
    assert element.diagnostics[0].condition == 1044
    order = exchange(association, es.ExtendedServicesRequest(
        package_type=es.ITEM_ORDER_OID, task_specific_parameters=es.ItemOrderRequest()))
    assert order.operation_status == es.OperationStatus.FAILURE and order.diagnostics[0].condition == 221
    other_view = update(association, es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))], "SOUTH")
    assert other_view.diagnostics[0].condition == 222


def test_concurrent_associations_replacing_one_record_lose_nothing(catalog):
    reply = update(opened(catalog), es.UpdateAction.RECORD_INSERT, [(None, write_iso2709(sample()))])
    record_id = reply.task_package.task_specific_parameters.records[0].correlation.id

    def replace_many(worker):
        association = opened(catalog)
        return [update(association, es.UpdateAction.RECORD_REPLACE,
                       [(str(record_id).encode(), write_iso2709(sample(title=f"Parallel p{worker}x{n}")))]
                       ).operation_status for n in range(5)]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for result in pool.map(replace_many, range(4)) for s in result]
    assert statuses == [es.OperationStatus.DONE] * 20
    with catalog.store.reading() as reader:
        assert len([h for h in reader.history(record_id) if h["action"] == "replace"]) == 20
    assert set(catalog.engine.search(Term("title", "parallel")).bitmap) == {record_id}


def users_yaml() -> str:
    """USERS as a config's `users` list (YAML flow style)."""
    return "[" + ", ".join(f"{{name: {u['name']}, password_hash: '{u['password_hash']}', roles: {u['roles']}"
                           + (f", library: {u['library']}" if "library" in u else "") + "}" for u in USERS) + "]"


@contextmanager
def serving_cjk_sample(data_dir, config_text: str):
    """`unishelf serve` over a store of the CJK sample (EAST's) with this config; yields its ports
    and process."""
    catalog = make_catalog(data_dir)
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    catalog.close()
    config = data_dir / "unishelf.yaml"
    config.write_text(config_text)
    with serving(data_dir, config) as served:
        yield served


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("es")
    config = f"users: {users_yaml()}\nlibraries: [{{code: NORTH}}, {{code: SOUTH}}, {{code: EAST}}]\n"
    with serving_cjk_sample(data_dir, config) as (ports, _):
        yield ports["z3950"], data_dir


def yaz(port, commands, user="north/secret"):
    script = f"open tcp:127.0.0.1:{port}\n" + "\n".join(commands) + "\nclose\nquit\n"
    result = subprocess.run([YAZ_CLIENT] + (["-u", user] if user else []), input=script, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "LANG": "C.UTF-8"})
    return result.stdout + result.stderr


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
def test_yaz_client_inserts_replaces_and_deletes(server, tmp_path):
    port, data_dir = server
    original = tmp_path / "original.mrc"
    original.write_bytes(write_iso2709(sample(5, title="Yazupload original")))
    out = yaz(port, [f"update insert id1 <{original}", "find @attr 1=4 yazupload", "show 1"])
    assert "Status: done" in out and "Number of hits: 1" in out and "Yazupload original" in out
    revised = tmp_path / "revised.mrc"
    revised.write_bytes(write_iso2709(sample(5, title="Yazupload revised")))
    out = yaz(port, [f"update replace id1 <{revised}", "find @attr 1=4 revised", "show 1"])
    assert "Status: done" in out and "Number of hits: 1" in out and "Yazupload revised" in out
    out = yaz(port, [f"update delete id1 <{revised}", "find @attr 1=4 yazupload"])
    assert "Status: done" in out and "Number of hits: 0" in out
    catalog = make_catalog(data_dir)
    try:
        with catalog.store.reading() as reader:
            deleted = [c for c in reader.changes() if c.deleted]
            assert len(deleted) == 1
            assert [h["action"] for h in reader.history(deleted[0].record_id)] == ["insert", "replace", "delete"]
    finally:
        catalog.close()


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
def test_yaz_client_gets_diagnostics_for_bad_credentials_and_bad_records(server, tmp_path):
    port, _ = server
    good = tmp_path / "good.mrc"
    good.write_bytes(write_iso2709(sample(6)))
    assert re.search(r"\b222\b", yaz(port, [f"update insert x <{good}"], user=None))
    assert "Connection rejected" in yaz(port, [f"update insert x <{good}"], user="north/wrong")
    broken = tmp_path / "broken.mrc"
    record = sample(7)
    record.fields = [f for f in record.fields if f.tag != "245"]
    broken.write_bytes(write_iso2709(record))
    out = yaz(port, [f"update insert x <{broken}"])
    assert "224" in out and "field 245 is required" in out
