"""Z39.50 Extended Services codec: yaz-client and zoomsh captures (tests/data/z3950/es-*.hex),
round trips of what a server builds, and yaz-client and zoomsh reading our responses."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from unishelf import ber
from unishelf.ber import (
    APPLICATION, CONTEXT, OCTET_ALIGNED, SINGLE_ASN1_TYPE, UNIVERSAL, BERError, External, Framer,
    Node,
)
from unishelf.z3950.apdu import (
    BIB1_DIAG_OID, Close, DefaultDiagnostic, InitializeResponse, NamePlusRecord, PresentResponse,
    decode_apdu, encode_apdu, octet_record, sutrs_record,
)
from unishelf.z3950.extended import (
    ITEM_ORDER_OID, TASK_PACKAGE_OID, UPDATE0_ALIAS_OID, UPDATE0_OID, UPDATE_OID,
    AuxiliaryStatus, Contact, CorrelationInfo, ExtendedServicesRequest, ExtendedServicesResponse,
    Function, IntUnit, ItemOrderRequest, ItemOrderTaskPackage, OperationStatus, Permission,
    RecordStatus, ResultSetItem, SuppliedRecord, TaskPackage, TaskPackageRecord, TaskStatus,
    UpdateAction, UpdateRequest, UpdateStatus, UpdateTaskPackage, WaitAction,
    decode_extended_services, decode_task_package, encode_extended_services, encode_task_package,
)

DATA = Path(__file__).parent / "data"
CAPTURES = DATA / "z3950"
ES_CAPTURES = sorted(path.stem for path in CAPTURES.glob("es-*.hex"))
USMARC, MARCXML = "1.2.840.10003.5.10", "1.2.840.10003.5.109.10"
ILL_APDU_OID = "1.0.10161.2.1"
YAZ_CLIENT, ZOOMSH = shutil.which("yaz-client"), shutil.which("zoomsh")


def capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text())


def es(name: str):
    return decode_extended_services(ber.decode(capture(name)))


def marcxml_record() -> bytes:
    """The record the captures carry as MARCXML: the sample's first, with its namespace."""
    text = (DATA / "marcxml-sample.xml").read_text(encoding="utf-8")
    record = re.search(r"<record>.*?</record>", text, re.S).group(0)
    return record.replace("<record>", '<record xmlns="http://www.loc.gov/MARC21/slim">', 1).encode()


def iso2709_record() -> bytes:
    """The record the captures carry as ISO 2709: the first of the MARC21 sample."""
    data = (DATA / "marc21-utf8-sample.mrc").read_bytes()
    return data[:int(data[:5])]


def round_trip(apdu):
    return decode_extended_services(ber.decode(encode_extended_services(apdu)))


# -- captures ---------------------------------------------------------------------------------


def test_there_are_captures():
    assert len(ES_CAPTURES) == 20


@pytest.mark.parametrize("name", ES_CAPTURES)
def test_every_capture_round_trips(name):
    decoded = es(name)
    assert isinstance(decoded, ExtendedServicesResponse if "response" in name
                      else ExtendedServicesRequest)
    assert round_trip(decoded) == decoded


@pytest.mark.parametrize("name, action", [
    ("es-update-insert-request", UpdateAction.RECORD_INSERT),
    ("es-update-replace-request", UpdateAction.RECORD_REPLACE),
    ("es-update-delete-request", UpdateAction.RECORD_DELETE),
    ("es-update-special-request", UpdateAction.SPECIAL_UPDATE),
])
def test_yaz_client_update_sends_marcxml(name, action):
    request = es(name)
    assert (request.function, request.package_type) == (Function.CREATE, UPDATE_OID)
    assert request.wait_action == WaitAction.WAIT_IF_POSSIBLE
    assert request.package_name is request.user_id is request.elements is None
    update = request.task_specific_parameters
    assert isinstance(update, UpdateRequest)
    assert (update.action, update.database, update.package_type) == (action, "Default", UPDATE_OID)
    assert update.schema is update.element_set is update.action_qualifier is None
    [supplied] = update.records
    assert supplied.record_id == b"id1"  # yaz-client always sends recordId as opaque
    assert supplied.supplemental_id is supplied.correlation is None
    assert supplied.record == External(MARCXML, OCTET_ALIGNED, marcxml_record())


def test_yaz_client_update_without_record_id():
    [supplied] = es("es-update-noid-request").task_specific_parameters.records
    assert supplied.record_id is None and supplied.record.value == marcxml_record()


def test_yaz_client_labels_every_update_document_as_xml():
    """`update insert id2 <file.mrc` sends ISO 2709 under the XML OID: a server must sniff."""
    [supplied] = es("es-update-iso2709-request").task_specific_parameters.records
    assert supplied.record == External(MARCXML, OCTET_ALIGNED, iso2709_record())


def test_zoom_update_with_usmarc_number_id_and_correlation():
    request = es("es-update-usmarc-request")
    assert (request.package_name, request.user_id) == ("pkg1", "alice")
    assert request.wait_action == WaitAction.WAIT
    update = request.task_specific_parameters
    assert (update.action, update.element_set) == (UpdateAction.RECORD_REPLACE, "F")
    [supplied] = update.records
    assert supplied.record_id == 42
    assert supplied.correlation == CorrelationInfo("first", 7)
    assert supplied.record == External(USMARC, OCTET_ALIGNED, iso2709_record())


def test_update_1_0_packages():
    update0 = es("es-update0-request").task_specific_parameters
    assert (update0.package_type, update0.action) == (UPDATE0_OID, UpdateAction.RECORD_INSERT)
    assert update0.records[0].record_id == b"id1"
    string_id = es("es-update0-string-id-request").task_specific_parameters
    assert (string_id.package_type, string_id.action) == (UPDATE0_OID, UpdateAction.RECORD_DELETE)
    assert string_id.records[0].record_id == "rec-9"
    alias = es("es-update0-alias-request")
    assert alias.package_type == alias.task_specific_parameters.package_type == UPDATE0_ALIAS_OID
    assert alias.task_specific_parameters.records[0].record.direct_reference == USMARC


def test_item_order_ill_request_is_kept_for_the_ill_codec():
    request = es("es-itemorder-ill-request")
    assert request.package_type == ITEM_ORDER_OID
    order = request.task_specific_parameters
    assert isinstance(order, ItemOrderRequest)
    assert order.result_set_item == ResultSetItem("1", 1)
    assert order.contact is order.supplemental_description is order.additional_billing is None
    assert order.item_request.direct_reference == ILL_APDU_OID
    assert order.item_request.encoding == SINGLE_ASN1_TYPE
    assert order.item_request.value.tag == (APPLICATION, 1)  # ILL-Request
    assert ber.encode(order.item_request.value)[:1] == b"\x61"


def test_item_order_item_request_wears_the_ill_apdu_oid():
    """`itemorder item` sends a Z39.50 ItemRequest SEQUENCE under the ILL APDU OID."""
    order = es("es-itemorder-item-request").task_specific_parameters
    assert order.item_request.direct_reference == ILL_APDU_OID
    assert order.item_request.value.tag == (UNIVERSAL, 16)


def test_item_order_xml_and_contact():
    xml = es("es-itemorder-xml-request").task_specific_parameters
    assert xml.item_request == External(MARCXML, OCTET_ALIGNED, marcxml_record())
    contact = es("es-itemorder-contact-request").task_specific_parameters
    assert contact.contact == Contact("Ann Lee", "+44 20 7946 0000", "ann@example.org")
    assert contact.result_set_item == ResultSetItem("default", 3)


def test_yaz_ztest_update_response():
    response = es("es-update-response")
    assert response.operation_status == OperationStatus.DONE and response.diagnostics == ()
    package = response.task_package
    assert isinstance(package, TaskPackage)
    assert (package.package_type, package.target_reference) == (UPDATE_OID, b"123")
    assert package.task_status == TaskStatus.PENDING
    update = package.task_specific_parameters
    assert isinstance(update, UpdateTaskPackage)
    assert (update.action, update.database) == (UpdateAction.RECORD_INSERT, "Default")
    assert update.update_status == UpdateStatus.SUCCESS and update.global_diagnostics == ()
    assert update.records == (TaskPackageRecord(record=sutrs_record("test")),)


def test_yaz_ztest_failure_and_update0_responses():
    failure = es("es-update-response-failure")
    assert failure.operation_status == OperationStatus.FAILURE
    assert failure.diagnostics == (DefaultDiagnostic(109, "fault", BIB1_DIAG_OID, True),)
    assert failure.task_package.task_specific_parameters.database == "fault"
    update0 = es("es-update0-response")
    assert update0.task_package is None and update0.diagnostics[0].condition == 401


def test_yaz_ztest_item_order_responses():
    plain = es("es-itemorder-response").task_package
    assert plain.target_reference == b"911"
    assert plain.task_specific_parameters == ItemOrderTaskPackage()
    xml = es("es-itemorder-response-xml").task_package.task_specific_parameters
    assert xml.item_request == External(MARCXML, OCTET_ALIGNED, b"<dummy>x</dummy>")
    contact = es("es-itemorder-response-contact").task_package.task_specific_parameters
    assert contact.contact.name == "Ann Lee"


# -- what a server builds ---------------------------------------------------------------------

RETENTION = IntUnit(7, ber.decode(bytes.fromhex("a207 a1051b03646179")))  # unitSystem "day"
DIAGNOSTIC = DefaultDiagnostic(224, "ES: immediate execution failed")


def full_task_package() -> TaskPackage:
    update = UpdateRequest(
        action=UpdateAction.SPECIAL_UPDATE, database="unicat", schema="1.2.840.10003.13.6",
        element_set="F", action_qualifier=External("1.2.3.4", OCTET_ALIGNED, b"qualifier"),
        records=())
    records = (
        TaskPackageRecord(record=octet_record(USMARC, iso2709_record()),
                          correlation=CorrelationInfo("first", 1)),
        TaskPackageRecord(diagnostics=(DefaultDiagnostic(1, "x"), DefaultDiagnostic(2)),
                          correlation=CorrelationInfo(id=2), status=RecordStatus.FAILURE,
                          supplemental_diagnostics=(DefaultDiagnostic(3, "more"),)),
        TaskPackageRecord(status=RecordStatus.QUEUED),
    )
    return TaskPackage(
        package_type=UPDATE_OID, package_name="nightly", user_id="cat",
        retention_time=RETENTION,
        permissions=(Permission("cat", (1, 2, 4)), Permission(None, (4,))),
        description="a batch", target_reference=b"unishelf-17",
        creation_date_time=datetime(2024, 2, 29, 13, 14, 15, 500000, tzinfo=timezone.utc),
        task_status=TaskStatus.ACTIVE, package_diagnostics=(DIAGNOSTIC,),
        task_specific_parameters=update.task_package(UpdateStatus.PARTIAL, records, (DIAGNOSTIC,)))


def test_a_full_task_package_round_trips_in_a_response_and_as_a_record():
    package = full_task_package()
    response = ExtendedServicesResponse(
        reference_id=b"r1", operation_status=OperationStatus.ACCEPTED, diagnostics=(DIAGNOSTIC,),
        task_package=package)
    assert round_trip(response) == response
    record = encode_task_package(package)
    assert record.direct_reference == TASK_PACKAGE_OID and decode_task_package(record) == package
    present = PresentResponse(number_of_records_returned=1, next_result_set_position=2,
                              records=(NamePlusRecord("ES", record),))
    [returned] = decode_apdu(encode_apdu(present)).records
    assert decode_task_package(returned.record) == package


def test_a_full_request_round_trips():
    records = (
        SuppliedRecord(record_id=7, supplemental_id=datetime(2024, 1, 2, 3, 4, 5),
                       correlation=CorrelationInfo("a", 1), record=octet_record(USMARC, b"m")),
        SuppliedRecord(record_id="s", supplemental_id="v2", record=octet_record(MARCXML, b"<r/>")),
        SuppliedRecord(record_id=b"\x00\xff", record=sutrs_record("text"),
                       supplemental_id=External(USMARC, OCTET_ALIGNED, b"old")),
    )
    request = ExtendedServicesRequest(
        reference_id=b"ref", function=Function.MODIFY, package_type=UPDATE_OID,
        package_name="p", user_id="u", retention_time=RETENTION,
        permissions=(Permission("u", (1, 5)),), description="d",
        task_specific_parameters=UpdateRequest(action=UpdateAction.RECORD_INSERT,
                                               database="unicat", records=records),
        wait_action=WaitAction.DONT_WAIT, elements="F",
        other_info=ber.decode(bytes.fromhex("bf8149 06 3004 8202 6869")))
    assert round_trip(request) == request
    order = ExtendedServicesRequest(
        package_type=ITEM_ORDER_OID, task_specific_parameters=ItemOrderRequest(
            supplemental_description=External("1.2.3", OCTET_ALIGNED, b"d"),
            contact=Contact(email="a@b"),
            additional_billing=ber.decode(bytes.fromhex("a304 a1028100")),  # prepay
            result_set_item=ResultSetItem("default", 2)))
    assert round_trip(order) == order
    delete = ExtendedServicesRequest(function=Function.DELETE, package_type=UPDATE_OID,
                                     package_name="nightly")
    assert round_trip(delete) == delete


def test_item_order_task_package_echoes_the_origin_part():
    order = ItemOrderRequest(contact=Contact("Ann"), result_set_item=ResultSetItem("default", 1))
    target = order.task_package(status_or_error_report=External(ILL_APDU_OID, OCTET_ALIGNED, b"s"),
                                auxiliary_status=AuxiliaryStatus.LOAN_QUEUE)
    package = TaskPackage(package_type=ITEM_ORDER_OID, task_specific_parameters=target)
    assert decode_task_package(encode_task_package(package)).task_specific_parameters == target
    assert target.contact == Contact("Ann")


def test_times_keep_their_zone_or_stay_local():
    for moment in (datetime(2024, 2, 29, 13, 14, 15), datetime(1999, 12, 31, 23, 59, 59, 123456),
                   datetime(2024, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5)))):
        package = TaskPackage(package_type=ITEM_ORDER_OID, creation_date_time=moment,
                              task_specific_parameters=ItemOrderTaskPackage())
        decoded = decode_task_package(encode_task_package(package)).creation_date_time
        assert decoded == moment and (decoded.tzinfo is None) == (moment.tzinfo is None)


@pytest.mark.parametrize("text, expected", [
    ("2024022913", datetime(2024, 2, 29, 13)),
    ("202402291314", datetime(2024, 2, 29, 13, 14)),
    ("20240229131415,25+0130", datetime(2024, 2, 29, 13, 14, 15, 250000,
                                        timezone(timedelta(hours=1, minutes=30)))),
    ("20240229131415-05", datetime(2024, 2, 29, 13, 14, 15, tzinfo=timezone(timedelta(hours=-5)))),
])
def test_generalized_time_forms(text, expected):
    assert time_in_a_task_package(text).creation_date_time == expected


@pytest.mark.parametrize("text", ["2024-02-29", "20241329101010", "2024022913+2500", ""])
def test_bad_generalized_time_is_a_ber_error(text):
    with pytest.raises(BERError):
        time_in_a_task_package(text)


def time_in_a_task_package(text: str) -> TaskPackage:
    package = TaskPackage(package_type=ITEM_ORDER_OID,
                          task_specific_parameters=ItemOrderTaskPackage())
    node = encode_task_package(package).value
    node.children.insert(1, Node(CONTEXT, False, 8, text.encode()))
    return decode_task_package(External(TASK_PACKAGE_OID, SINGLE_ASN1_TYPE, node))


def test_update_1_0_outcomes_follow_its_asn1():
    """1.0 has one explicitly tagged DiagRec where 1.1 has a list: one diagnostic reads as both."""
    one = TaskPackageRecord(diagnostics=(DIAGNOSTIC,), status=RecordStatus.FAILURE)
    for package_type in (UPDATE0_OID, UPDATE_OID):
        package = TaskPackage(package_type=package_type, task_specific_parameters=UpdateTaskPackage(
            action=UpdateAction.RECORD_DELETE, database="unicat", records=(one,),
            package_type=package_type))
        decoded = decode_task_package(encode_task_package(package))
        assert decoded.task_specific_parameters.records == (one,)
    refused = [
        UpdateTaskPackage(action=1, database="d", package_type=UPDATE0_OID,
                          action_qualifier=External("1.2.3", OCTET_ALIGNED, b"")),
        UpdateTaskPackage(action=1, database="d", package_type=UPDATE0_OID, records=(
            TaskPackageRecord(diagnostics=(DIAGNOSTIC, DIAGNOSTIC)),)),
        UpdateTaskPackage(action=1, database="d", package_type=UPDATE0_OID, records=(
            TaskPackageRecord(supplemental_diagnostics=(DIAGNOSTIC,)),)),
        UpdateTaskPackage(action=1, database="d", records=(
            TaskPackageRecord(record=sutrs_record("r"), diagnostics=(DIAGNOSTIC,)),)),
    ]
    for target in refused:
        with pytest.raises(BERError):
            encode_task_package(TaskPackage(package_type=target.package_type,
                                            task_specific_parameters=target))


def test_packages_not_modelled_stay_external():
    unknown = External("1.2.840.10003.9.1000.105.4", OCTET_ALIGNED, b"<update/>")  # XML-ES
    request = ExtendedServicesRequest(package_type=unknown.direct_reference,
                                      task_specific_parameters=unknown)
    assert round_trip(request).task_specific_parameters == unknown
    octets = External(UPDATE_OID, OCTET_ALIGNED, b"<not-asn1/>")  # yaz-client "xmles"
    request = ExtendedServicesRequest(package_type=UPDATE_OID, task_specific_parameters=octets)
    assert round_trip(request).task_specific_parameters == octets
    foreign = External("1.2.840.10003.5.109.10", OCTET_ALIGNED, b"<taskPackage/>")
    assert round_trip(ExtendedServicesResponse(task_package=foreign)).task_package == foreign


def test_unknown_enumerated_values_stay_integers():
    request = es("es-update-insert-request")
    request.wait_action = 9
    request.task_specific_parameters.action = 17
    decoded = round_trip(request)
    assert decoded.wait_action == 9 and not isinstance(decoded.wait_action, WaitAction)
    assert decoded.task_specific_parameters.action == 17


# -- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    bytes.fromhex("bf2e00"),                              # no function, packageType, waitAction
    bytes.fromhex("bf2e06 830101 8b0101"),                # no packageType
    bytes.fromhex("bf2e0c 830101 84062a8648ce1309"),      # truncated
    bytes.fromhex("bf2f03 830101 00"),                    # trailing byte
    bytes.fromhex("bf2f05 830101 a500"),                  # empty EXTERNAL
    bytes.fromhex("9f2e0101"),                            # primitive
    bytes.fromhex("b603 830101"),                         # a SearchRequest, not ES
])
def test_malformed_apdus_raise_ber_error(data):
    with pytest.raises(BERError):
        decode_extended_services(ber.decode(data))


def test_task_package_record_must_be_one():
    with pytest.raises(BERError):
        decode_task_package(octet_record(USMARC, b"x"))
    with pytest.raises(BERError):
        decode_task_package(External(TASK_PACKAGE_OID, SINGLE_ASN1_TYPE,
                                     ber.decode(b"\x02\x01\x01")))


@pytest.mark.parametrize("name", ["es-update-usmarc-request", "es-itemorder-ill-request",
                                  "es-update-response-failure", "es-itemorder-response-contact"])
def test_corrupted_and_truncated_captures_raise_only_ber_error(name):
    """Flip each byte and cut at every length: decoding succeeds or raises BERError."""
    data = capture(name)
    step = max(1, len(data) // 400)  # the MARC payload is opaque: sample it, cover the structure
    positions = {*range(min(160, len(data))), *range(0, len(data), step),
                 *range(max(0, len(data) - 80), len(data))}
    for index in sorted(positions):
        for value in (0x00, 0xFF, data[index] ^ 0x20, data[index] ^ 0x01, data[index] ^ 0x80):
            corrupted = data[:index] + bytes([value]) + data[index + 1:]
            try:
                decode_extended_services(ber.decode(corrupted))
            except BERError:
                pass
        with pytest.raises(BERError):
            decode_extended_services(ber.decode(data[:index]))


# -- yaz-client and zoomsh read what we encode ------------------------------------------------


@contextmanager
def es_target(answer):
    """A one-connection Z39.50 target on loopback: Init is accepted, every ES request is
    decoded with our codec and answered with `answer(request)`, encoded with it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    received, errors = [], []

    def serve():
        try:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(30)
                framer = Framer(1 << 24)
                while data := connection.recv(65536):
                    for raw in framer.feed(data):
                        node = ber.decode(raw)
                        if node.number == 46:
                            received.append(decode_extended_services(node))
                            reply = encode_extended_services(answer(received[-1]))
                        elif node.number == 20:
                            reply = encode_apdu(InitializeResponse(
                                options=frozenset({"search", "present", "extendedServices"}),
                                implementation_name="unishelf ES test target"))
                        else:
                            reply = encode_apdu(Close(close_reason=0))
                        connection.sendall(reply)
        except Exception as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        thread.join(timeout=30)
        listener.close()
        assert not errors, errors


def yaz_client(port: int, commands: list[str], cwd: Path) -> str:
    script = f"open tcp:127.0.0.1:{port}/unicat\n" + "\n".join(commands) + "\nclose\nquit\n"
    result = subprocess.run([YAZ_CLIENT], input=script, capture_output=True, text=True, timeout=60,
                            cwd=cwd, env={**os.environ, "LANG": "C.UTF-8"})
    return result.stdout + result.stderr


def answer_update(request: ExtendedServicesRequest) -> ExtendedServicesResponse:
    """What a target returns once the record is stored: the stored record in the task package."""
    update = request.task_specific_parameters
    stored = TaskPackageRecord(record=octet_record(USMARC, iso2709_record()),
                               correlation=update.records[0].correlation)
    package = TaskPackage(
        package_type=request.package_type, target_reference=b"unishelf-1",
        creation_date_time=datetime.now(timezone.utc), task_status=TaskStatus.COMPLETE,
        task_specific_parameters=update.task_package(UpdateStatus.SUCCESS, (stored,)))
    return ExtendedServicesResponse(reference_id=request.reference_id, task_package=package)


def answer_refusal(request: ExtendedServicesRequest) -> ExtendedServicesResponse:
    return ExtendedServicesResponse(
        reference_id=request.reference_id, operation_status=OperationStatus.FAILURE,
        diagnostics=(DefaultDiagnostic(109, "nosuch"),))


def answer_item_order(request: ExtendedServicesRequest) -> ExtendedServicesResponse:
    target = request.task_specific_parameters.task_package(
        item_request=External(MARCXML, OCTET_ALIGNED, b"<ill>queued</ill>"),
        auxiliary_status=AuxiliaryStatus.LOAN_QUEUE)
    package = TaskPackage(package_type=ITEM_ORDER_OID, target_reference=b"ILL-42",
                          task_status=TaskStatus.ACTIVE, task_specific_parameters=target)
    return ExtendedServicesResponse(operation_status=OperationStatus.ACCEPTED, task_package=package)


needs_yaz_client = pytest.mark.skipif(YAZ_CLIENT is None,
                                      reason="yaz-client not installed (apt-get install yaz)")


@needs_yaz_client
def test_yaz_client_reads_our_update_task_package(tmp_path):
    (tmp_path / "record.xml").write_bytes(marcxml_record())
    with es_target(answer_update) as (port, received):
        out = yaz_client(port, ["update replace id1 <record.xml",
                                "update0 insert none <record.xml"], tmp_path)
    assert [r.task_specific_parameters.action for r in received] == [
        UpdateAction.RECORD_REPLACE, UpdateAction.RECORD_INSERT]
    assert [r.package_type for r in received] == [UPDATE_OID, UPDATE0_OID]
    assert received[0].task_specific_parameters.records[0].record.value == marcxml_record()
    assert out.count("Status: done") == 2 and out.count("Target Reference: unishelf-1") == 2
    # yaz-client shows the task package records of Update 1.1 only; it has no printer for 1.0.
    assert out.count("task package record 1") == 1 and "Record type: USmarc" in out
    assert "245 10 $a" in out


@needs_yaz_client
def test_yaz_client_reads_our_failure(tmp_path):
    with es_target(answer_refusal) as (port, _):
        out = yaz_client(port, ['update delete id1 "<x/>"'], tmp_path)
    assert "Status: failure" in out and "[109] Database unavailable" in out and "nosuch" in out


@needs_yaz_client
def test_yaz_client_reads_our_item_order_task_package(tmp_path):
    with es_target(answer_item_order) as (port, received):
        out = yaz_client(port, ["itemorder ill 3"], tmp_path)
    assert received[0].task_specific_parameters.result_set_item == ResultSetItem("1", 3)
    assert "Status: accepted" in out and "Target Reference: ILL-42" in out
    assert "Got itemRequest doc <ill>queued</ill>" in out


@pytest.mark.skipif(ZOOMSH is None, reason="zoomsh not installed (apt-get install yaz)")
def test_zoomsh_reads_our_task_status(tmp_path):
    (tmp_path / "record.mrc").write_bytes(iso2709_record())
    with es_target(answer_update) as (port, received):
        result = subprocess.run(
            [ZOOMSH, "set syntax usmarc", "fset record record.mrc", "set action recordInsert",
             "set correlationInfo.id 5", f"connect 127.0.0.1:{port}/unicat", "ext update", "quit"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    [supplied] = received[0].task_specific_parameters.records
    assert supplied.record == External(USMARC, OCTET_ALIGNED, iso2709_record())
    assert supplied.correlation == CorrelationInfo(None, 5)
    assert "targetReference: unishelf-1" in result.stdout
    assert "operationStatus: done" in result.stdout and "taskStatus: complete" in result.stdout
