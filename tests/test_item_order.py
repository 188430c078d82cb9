"""Z39.50 Item Order as a routed ISO ILL request: what yaz-client sends, the order through an
association without sockets, its task package in IR-Extend-1 as the transaction moves on, and
yaz-client against `unishelf serve`."""
from __future__ import annotations

import re
import shutil
import time

import pytest
import yaml
from conftest import DATA, load, serving
from test_es_update import YAZ_CLIENT, yaz
from test_extended import capture
from test_extended import es as decoded_capture
from twisted.internet.testing import MemoryReactorClock

from unishelf import ber
from unishelf.app import open_catalog
from unishelf.auth import Users, hash_password
from unishelf.ber import OCTET_ALIGNED, SINGLE_ASN1_TYPE, External
from unishelf.config import load_config
from unishelf.ill_iso.apdus import decode_apdu, encode_apdu, header, system_id, transaction_id
from unishelf.ill_iso.bibliographic import item_from_record
from unishelf.ill_iso.daemon import service_from_config
from unishelf.ill_iso.node import node_for_store
from unishelf.ill_iso.primitives import request_body
from unishelf.ill_iso.tables import REQUESTER, RESPONDER
from unishelf.ill_iso.transaction import Transaction
from unishelf.marc.store import ILL_ORDERS_INDEXED, Reader, Store
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es
from unishelf.z3950.association import Association, Limits
from unishelf.z3950.item_order import ItemOrderService
from unishelf.z3950.pqf import parse_pqf

PASSWORD_HASH = hash_password("secret", iterations=1000)
USERS = [{"name": "nadia", "password_hash": PASSWORD_HASH, "roles": ["ill-staff"], "library": "NORTH"},
         {"name": "erin", "password_hash": PASSWORD_HASH, "roles": ["ill-staff"], "library": "EAST"},
         {"name": "hub", "password_hash": PASSWORD_HASH, "roles": ["ill-staff"]},
         {"name": "cato", "password_hash": PASSWORD_HASH, "roles": ["cataloguer"], "library": "NORTH"}]
CONFIG = """\
libraries:
  - {code: NORTH, name: Northern University Library, ill_symbol: NORTH}
  - {code: EAST, name: Eastern Institute Library, ill_symbol: EAST}
  - {code: SOUTH, name: Southern University Library, ill_symbol: SOUTH}
ill: {serves: [NORTH, EAST, SOUTH]}
"""
HOLDERS = {"EAST", "SOUTH"}     # every record of the MARC21 sample; the CJK sample is NORTH's only
MARY = "@attr 1=4 mary"         # one record: History of Mary, Queen of Scots
MARCXML = "1.2.840.10003.5.109.10"
# `itemorder item 1`: a YAZ ItemRequest under the ILL APDU OID
YAZ_ITEM_REQUEST = decoded_capture("es-itemorder-item-request").task_specific_parameters.item_request


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The store every test starts from a copy of, loaded once."""
    data_dir = tmp_path_factory.mktemp("item-order")
    config_file = data_dir / "unishelf.yaml"
    config_file.write_text(CONFIG)
    catalog = open_catalog(load_config(config_file, {"data_dir": str(data_dir)}))
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "EAST")
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "SOUTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "NORTH")
    catalog.close()
    return data_dir / "store"


def copied(template, data_dir, config_text=CONFIG):
    """A copy of the template store under `data_dir`, with this config; its path."""
    shutil.copytree(template, data_dir / "store")
    config_file = data_dir / "unishelf.yaml"
    config_file.write_text(config_text)
    return config_file


def open_copy(template, data_dir, config_text=CONFIG):
    return open_catalog(load_config(copied(template, data_dir, config_text), {"data_dir": str(data_dir)}))


@pytest.fixture
def catalog(template, tmp_path):
    catalog = open_copy(template, tmp_path)
    yield catalog
    catalog.close()


def opened(catalog, user="nadia") -> Association:
    association = Association(catalog, Users(USERS, True), Limits(), item_orders=ItemOrderService(catalog))
    auth = z.IdPass(user_id=user, password="secret") if user else None
    assert exchange(association, z.InitializeRequest(id_authentication=auth)).result
    return association


def exchange(association, request):
    (reply,) = association.receive(request if isinstance(request, bytes) else z.encode_apdu(request))
    return z.decode_apdu(reply)


def found(association, query=MARY, name="1"):
    return exchange(association, z.SearchRequest(query=parse_pqf(query), database_names=("unicat",),
                                                 result_set_name=name))


def order(association, result_set_item=es.ResultSetItem("1", 1), item_request=None, **request):
    return exchange(association, es.ExtendedServicesRequest(
        package_type=es.ITEM_ORDER_OID, task_specific_parameters=es.ItemOrderRequest(
            result_set_item=result_set_item, item_request=item_request), **request))


def ill_request(requester=None, item=None, **params) -> External:
    """An ISO ILL-Request as an itemRequest, made as this node's staff commands make one."""
    value = {**header(transaction_id("PORTAL", "1"), system_id(requester) if requester else None),
             **request_body({"item": item or {"title": "History of Mary, Queen of Scots"}, **params})}
    return External(es.ILL_APDU_OID, SINGLE_ASN1_TYPE, ber.decode(encode_apdu("ILL-Request", value)))


def ill(external: External) -> tuple[str, dict]:
    return decode_apdu(ber.encode(external.value))


def transactions(catalog, role=REQUESTER) -> list[Transaction]:
    with catalog.store.reading() as reader:
        return [Transaction(**record) for record in reader.ill_transactions() if record["role"] == role]


def deliver(catalog):
    """What the ILL daemon's next look at the outbox does: every library here is this node's."""
    service = service_from_config(catalog)
    service.reactor = MemoryReactorClock()
    service.send_due()


def staff(catalog, library, command, params):
    """A staff command on the library's own end of the only transaction it has."""
    [transaction] = [t for t in transactions(catalog, RESPONDER) if t.library == library]
    node_for_store(catalog.config, catalog.store).command(str(transaction.number), command, params, "staff")


def packages(association, term, syntax=es.TASK_PACKAGE_OID):
    search = exchange(association, z.SearchRequest(query=parse_pqf(f'"{term}"'), database_names=("IR-Extend-1",),
                                                   result_set_name="tasks"))
    if not search.result_count:
        return []
    present = exchange(association, z.PresentRequest(result_set_id="tasks", result_set_start_point=1,
                                                     number_of_records_requested=search.result_count,
                                                     preferred_record_syntax=syntax))
    return [entry.record if isinstance(entry.record, z.DefaultDiagnostic) else es.decode_task_package(entry.record)
            for entry in present.records]


def state_reported(package: es.TaskPackage) -> str:
    apdu_type, report = ill(package.task_specific_parameters.status_or_error_report)
    assert apdu_type == "Status-Or-Error-Report"
    return report["status-report"]["provider-status-report"]


# -- what yaz-client sends --------------------------------------------------------------------
def test_yaz_client_itemorder_ill_names_a_result_set_item_and_sends_an_empty_ill_request():
    """`find ...` then `itemorder ill 1` (tests/data/z3950/README.md): the result set item says
    which record; YAZ's ILL-Request is its defaults only, a copy asked for by nobody."""
    request = decoded_capture("es-itemorder-ill-request")
    item_order = request.task_specific_parameters
    assert item_order.result_set_item == es.ResultSetItem("1", 1)   # "1" whatever the set's name
    assert item_order.contact is item_order.supplemental_description is item_order.additional_billing is None
    apdu_type, value = ill(item_order.item_request)
    assert apdu_type == "ILL-Request"
    assert value["requester-id"] == value["responder-id"] == value["client-id"] == {}
    assert value["transaction-id"] == {"initial-requester-id": {}, "transaction-group-qualifier": "",
                                       "transaction-qualifier": ""}
    assert value["item-id"] == {"item-type": "monograph"}
    assert value["iLL-service-type"] == ["copy-non-returnable"]
    assert value["search-type"] == {"expiry-flag": "no-Expiry"}
    again = es.decode_extended_services(ber.decode(es.encode_extended_services(request)))
    assert again == request
    assert ber.encode(again.task_specific_parameters.item_request.value) == ber.encode(item_order.item_request.value)


# -- the order --------------------------------------------------------------------------------
def test_the_order_yaz_client_sends_becomes_a_transaction_routed_to_a_holding_library(catalog):
    association = opened(catalog)
    assert found(association).result_count == 1
    response = exchange(association, capture("es-itemorder-ill-request"))
    assert response.operation_status == es.OperationStatus.DONE and response.diagnostics == ()
    [transaction] = transactions(catalog)
    assert transaction.library == "NORTH" and transaction.peer in HOLDERS and set(transaction.rota) == HOLDERS
    assert transaction.state == "PENDING" and transaction.requested_services == ["copy-non-returnable"]
    assert transaction.item["title"] == "History of Mary, Queen of Scots"
    package = response.task_package
    assert package.target_reference == transaction.display_id.encode()
    assert package.task_status == es.TaskStatus.PENDING and package.user_id == "nadia"
    target = package.task_specific_parameters
    assert isinstance(target, es.ItemOrderTaskPackage) and target.auxiliary_status is None
    assert state_reported(package) == "pENDING"
    apdu_type, sent = ill(target.item_request)
    assert apdu_type == "ILL-Request" and sent["item-id"]["title"] == "History of Mary, Queen of Scots"
    assert sent["item-id"]["verification-reference-source"] == "union catalogue record 1"


def test_the_task_package_follows_the_transaction_to_shipped(catalog):
    association = opened(catalog)
    found(association)
    reference = order(association).task_package.target_reference.decode()
    deliver(catalog)
    [transaction] = transactions(catalog)
    staff(catalog, transaction.peer, "answer", {"kind": "will-supply"})
    staff(catalog, transaction.peer, "ship", {})
    deliver(catalog)
    [package] = packages(association, reference)
    assert package.task_status == es.TaskStatus.ACTIVE and state_reported(package) == "sHIPPED"
    assert package.target_reference == reference.encode() and package.user_id == "nadia"
    assert [p.target_reference for p in packages(association, "nadia")] == [reference.encode()]



def test_a_user_s_orders_are_found_by_their_index_and_an_older_store_is_indexed_once(catalog, monkeypatch):
    association = opened(catalog)
    found(association)
    references = [order(association).task_package.target_reference for _ in range(2)]
    with monkeypatch.context() as patched:     # no reading of every transaction
        patched.setattr(Reader, "ill_transactions", lambda reader: pytest.fail("read every transaction"))
        assert [p.target_reference for p in packages(association, "nadia")] == references
    with catalog.store.writing() as writer:    # as a store written before the index
        writer.txn.delete(ILL_ORDERS_INDEXED, db=writer.db["meta"])
        for key, _ in list(writer._ill_range(b"b")):
            writer.txn.delete(key, db=writer.db["ill"])
    assert [p.target_reference for p in packages(association, "nadia")] == references
    with catalog.store.reading() as reader:
        assert reader.ill_orders_of("nadia") == [1, 2] and reader.ill_orders_of("erin") == []

def test_a_library_that_cannot_supply_passes_the_order_along_the_rota(catalog):
    association = opened(catalog)
    found(association)
    reference = order(association).task_package.target_reference.decode()
    deliver(catalog)
    [first] = transactions(catalog)
    staff(catalog, first.peer, "answer", {"kind": "unfilled", "reason": "not-owned"})
    deliver(catalog)
    [package] = packages(association, reference)
    [second] = [t for t in transactions(catalog) if t.forwarded_from == first.number]
    assert {first.peer, second.peer} == HOLDERS
    assert package.task_specific_parameters.auxiliary_status == es.AuxiliaryStatus.FORWARDED
    assert package.task_status == es.TaskStatus.PENDING and package.target_reference == reference.encode()
    _, report = ill(package.task_specific_parameters.status_or_error_report)
    assert report["transaction-id"]["sub-transaction-qualifier"] == "2"
    assert report["responder-id"]["person-or-institution-symbol"] == ("institution-symbol", second.peer)


def test_an_ill_request_alone_says_which_item_and_which_library(catalog):
    """No result set item: the ILL-Request's Item-Id (an ISBN here) finds the holders; staff who
    work for no one library say which library asks with requester-id."""
    with catalog.store.reading() as reader:
        item = next(item for item in map(item_from_record, map(reader.record, range(1, 301))) if item.get("iSBN"))
    request = ill_request("NORTH", item={"title": item["title"], "iSBN": item["iSBN"]}, services=["loan"],
                          need_before="2099-01-31", max_cost="EUR 12.50", patron="Ada Reader", note="for a thesis")
    response = order(opened(catalog, "hub"), result_set_item=None, item_request=request)
    assert response.operation_status == es.OperationStatus.DONE, response.diagnostics
    [transaction] = transactions(catalog)
    assert transaction.library == "NORTH" and transaction.peer in HOLDERS
    assert transaction.requested_services == ["loan"] and transaction.expiry_date == "20990131"
    assert transaction.max_cost == {"currency-code": "EUR", "monetary-value": "12.50"}
    _, sent = ill(response.task_package.task_specific_parameters.item_request)
    assert sent["client-id"] == {"client-name": "Ada Reader"} and sent["requester-note"] == "for a thesis"


def test_waiting_for_no_package_still_orders(catalog):
    association = opened(catalog)
    found(association)
    response = order(association, wait_action=es.WaitAction.DONT_RETURN_PACKAGE, package_name="p1")
    assert response.operation_status == es.OperationStatus.DONE and response.task_package is None
    assert len(transactions(catalog)) == 1


@pytest.mark.parametrize("user, result_set_item, item_request, condition", [
    (None, es.ResultSetItem("1", 1), None, 1004),                       # anonymous: log in first
    ("cato", es.ResultSetItem("1", 1), None, 222),                      # not ILL staff
    ("nadia", es.ResultSetItem("1", 1), ill_request("EAST"), 222),      # another library's request
    ("nadia", es.ResultSetItem("1", 1), ill_request("NOWHERE"), 222),   # no such member
    ("nadia", None, None, 1008),                                        # nothing names the item
    ("nadia", es.ResultSetItem("other", 1), None, 30),                  # no such result set
    ("nadia", es.ResultSetItem("1", 2), None, 13),                      # past its end
    ("nadia", es.ResultSetItem("1", 1), External(MARCXML, OCTET_ALIGNED, b"<x/>"), 1009),
    ("nadia", es.ResultSetItem("1", 1), YAZ_ITEM_REQUEST, 1057),        # YAZ's ItemRequest, not ILL's
    ("nadia", es.ResultSetItem("north", 1), None, 224),                 # only the requester holds it
])
def test_refused_orders_say_why_and_change_nothing(catalog, user, result_set_item, item_request, condition):
    association = opened(catalog, user)
    found(association)
    found(association, "@attr 1=4 genji", "north")
    response = order(association, result_set_item, item_request)
    assert response.operation_status == es.OperationStatus.FAILURE and response.task_package is None
    assert response.diagnostics[0].condition == condition, response.diagnostics
    assert transactions(catalog) == []


def test_other_functions_and_a_node_serving_no_library_are_refused(template, tmp_path):
    catalog = open_copy(template, tmp_path, CONFIG.replace("ill: {serves: [NORTH, EAST, SOUTH]}\n", ""))
    try:
        association = opened(catalog)
        found(association)
        assert order(association).diagnostics[0].condition == 221     # no ill_address is this node's
        assert order(association, function=es.Function.DELETE).diagnostics[0].condition == 1040
    finally:
        catalog.close()


def test_task_packages_are_shown_to_their_library_only(catalog):
    association = opened(catalog)
    found(association)
    reference = order(association).task_package.target_reference.decode()
    assert packages(opened(catalog, "erin"), reference) == []
    assert packages(opened(catalog, None), reference) == []
    assert packages(opened(catalog, "erin"), "erin") == []
    assert len(packages(opened(catalog, "hub"), reference)) == 1           # staff of every library here
    [refused] = packages(association, reference, syntax="1.2.840.10003.5.10")
    assert refused.condition == 238
    for query, count in ((f"@or {reference} nadia", 1), (f"@and nadia {reference}", 1), (f"@not nadia {reference}", 0),
                         (f"@or {reference} erin", 1), (f"@and {reference} erin", 0)):
        search = exchange(association, z.SearchRequest(query=parse_pqf(query), database_names=("IR-Extend-1",)))
        assert search.result_count == count, query
    search = exchange(association, z.SearchRequest(query=parse_pqf(f"@prox 0 1 1 2 k 2 {reference} nadia"),
                                                   database_names=("IR-Extend-1",)))
    assert search.records.condition == 110


# -- yaz-client and `unishelf serve` ----------------------------------------------------------
@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
def test_yaz_client_orders_a_found_record_and_later_sees_it_shipped(template, tmp_path):
    config_file = copied(template, tmp_path, CONFIG + yaml.safe_dump({"users": USERS, "listen": {"ftp_port": 0}}))
    with serving(tmp_path, config_file) as (ports, _):
        port = ports["z3950"]
        out = yaz(port, [f"find {MARY}", "itemorder ill 1"], user="nadia/secret")
        assert "Number of hits: 1" in out and "Status: done" in out, out
        reference = re.search(r"Target Reference: (\S+)", out)[1]
        config = load_config(config_file, {"data_dir": str(tmp_path)})
        store = Store(config.store_path)
        try:
            with store.reading() as reader:
                [transaction] = [Transaction(**r) for r in reader.ill_transactions() if r["role"] == REQUESTER]
            assert transaction.display_id == reference and transaction.library == "NORTH"
            assert transaction.peer in HOLDERS
            show = ["base IR-Extend-1", f"find {reference}", "format extended", "show 1"]
            assert "taskStatus 0" in yaz(port, show, user="nadia/secret")       # pending
            node = node_for_store(config, store)
            responder = wait_for(store, lambda t: t.role == RESPONDER and t.library == transaction.peer)
            node.command(str(responder.number), "answer", {"kind": "will-supply"}, "staff")
            node.command(str(responder.number), "ship", {}, "staff")
            wait_for(store, lambda t: t.number == transaction.number and t.state == "SHIPPED")
        finally:
            store.close()
        out = yaz(port, show, user="nadia/secret")
        assert f"targetReference OCTETSTRING(len={len(reference)}) {reference}" in out and "taskStatus 1" in out


def wait_for(store, wanted, seconds=10) -> Transaction:
    """The transaction the daemon's deliveries (every `ill.send.poll_ms`) bring about."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.reading() as reader:
            matching = [t for t in (Transaction(**r) for r in reader.ill_transactions()) if wanted(t)]
        if matching:
            return matching[0]
        time.sleep(0.1)
    raise AssertionError("the ILL daemon did not deliver in time")
