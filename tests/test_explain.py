"""Explain records: their BER structure, and YAZ's own Explain decoder reading them."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest

from unishelf.z3950 import apdu, explain
from unishelf.ber import (
    CONTEXT, SINGLE_ASN1_TYPE, UNIVERSAL, Framer, decode, decode_external, encode,
    encode_external,
)

BIB1 = "1.2.840.10003.3.1"
USMARC = "1.2.840.10003.5.10"

TARGET = explain.TargetInfo(name="Test Union Catalogue", recent_news="Opened today",
                            max_result_sets=10, max_result_size=5000,
                            description="Holdings of the member libraries")
DATABASE = explain.DatabaseInfo(name="books", title="Book collection",
                                description="Every book of every member", record_count=1234)
SYNTAX = explain.RecordSyntaxInfo(oid=USMARC, name="USMARC", description="MARC21 bibliographic")
ATTRIBUTES = explain.AttributeDetails(database="books", attribute_set_oid=BIB1, use_attributes=[
    (4, "Title"), (1003, "Author"), ("any", "Anywhere in the record"), (21, None)])


def human(node) -> list[str]:
    """The texts of a HumanString (language, when present, is ignored)."""
    return [item.fields()[(CONTEXT, 1)].text() for item in node.children]


def tags(node) -> list[int]:
    assert all(child.cls == CONTEXT for child in node.children)
    return [child.number for child in node.children]


# -- structure ------------------------------------------------------------------------------
def test_target_info():
    node = decode(explain.target_info(TARGET))
    assert node.tag == (CONTEXT, 0) and node.constructed
    assert tags(node) == [1, 2, 4, 5, 6, 7, 12]
    fields = node.fields()
    assert fields[(CONTEXT, 1)].text() == "Test Union Catalogue"
    assert human(fields[(CONTEXT, 2)]) == ["Opened today"]
    assert fields[(CONTEXT, 4)].boolean() is True and not fields[(CONTEXT, 4)].constructed
    assert fields[(CONTEXT, 5)].boolean() is True
    assert fields[(CONTEXT, 6)].integer() == 10
    assert fields[(CONTEXT, 7)].integer() == 5000
    assert human(fields[(CONTEXT, 12)]) == ["Holdings of the member libraries"]


def test_target_info_minimal_keeps_the_mandatory_booleans():
    node = decode(explain.target_info(explain.TargetInfo(
        name="x", named_result_sets=False, multiple_db_search=False)))
    assert tags(node) == [1, 4, 5]
    assert node.fields()[(CONTEXT, 4)].value == b"\x00"
    assert node.fields()[(CONTEXT, 5)].value == b"\x00"


def test_human_string_is_sequence_of_sequence_with_implicit_text():
    node = decode(explain.target_info(explain.TargetInfo(name="x", description="d")))
    description = node.fields()[(CONTEXT, 12)]
    assert description.constructed
    (item,) = description.children
    assert item.tag == (UNIVERSAL, 16) and item.constructed
    (text,) = item.children
    assert text.tag == (CONTEXT, 1) and not text.constructed and text.text() == "d"


def test_database_info():
    node = decode(explain.database_info(DATABASE))
    assert node.tag == (CONTEXT, 1)
    assert tags(node) == [1, 5, 6, 7, 9, 14]
    fields = node.fields()
    assert fields[(CONTEXT, 1)].text() == "books"
    assert fields[(CONTEXT, 5)].boolean() is False  # user-fee, mandatory
    assert fields[(CONTEXT, 6)].boolean() is True   # available
    assert human(fields[(CONTEXT, 7)]) == ["Book collection"]
    assert human(fields[(CONTEXT, 9)]) == ["Every book of every member"]
    count = fields[(CONTEXT, 14)]  # a CHOICE: the [14] tag is explicit
    assert count.constructed
    assert count.only_child().tag == (CONTEXT, 0) and count.only_child().integer() == 1234


def test_database_info_for_the_explain_database():
    node = decode(explain.database_info(explain.DatabaseInfo(
        name="IR-Explain-1", available=False, explain_database=True)))
    assert tags(node) == [1, 2, 5, 6]
    node.fields()[(CONTEXT, 2)].null()
    assert node.fields()[(CONTEXT, 6)].boolean() is False


def test_record_syntax_info():
    node = decode(explain.record_syntax_info(SYNTAX))
    assert node.tag == (CONTEXT, 4)
    assert tags(node) == [1, 2, 4]
    fields = node.fields()
    assert fields[(CONTEXT, 1)].oid() == USMARC
    assert fields[(CONTEXT, 2)].text() == "USMARC"
    assert human(fields[(CONTEXT, 4)]) == ["MARC21 bibliographic"]


def test_attribute_details():
    node = decode(explain.attribute_details(ATTRIBUTES))
    assert node.tag == (CONTEXT, 8)
    assert tags(node) == [1, 2]
    assert node.fields()[(CONTEXT, 1)].text() == "books"
    (set_details,) = node.fields()[(CONTEXT, 2)].children
    assert set_details.tag == (UNIVERSAL, 16)
    assert set_details.fields()[(CONTEXT, 0)].oid() == BIB1
    (type_details,) = set_details.fields()[(CONTEXT, 1)].children
    assert type_details.fields()[(CONTEXT, 0)].integer() == 1
    values = type_details.fields()[(CONTEXT, 2)].children
    seen = []
    for value in values:
        fields = value.fields()
        choice = fields[(CONTEXT, 0)].only_child()  # StringOrNumeric: explicit [0]
        number = choice.integer() if choice.tag == (CONTEXT, 2) else choice.text()
        assert choice.tag == ((CONTEXT, 2) if isinstance(number, int) else (CONTEXT, 1))
        description = fields.get((CONTEXT, 1))
        seen.append((number, None if description is None else human(description)[0]))
    assert seen == list(ATTRIBUTES.use_attributes)


def test_string_or_numeric_rejects_other_types():
    with pytest.raises(TypeError):
        explain.attribute_details(explain.AttributeDetails("b", BIB1, [(True, "x")]))


def test_explain_external_round_trips():
    record = explain.target_info(TARGET)
    external = explain.explain_external(record)
    assert external.direct_reference == "1.2.840.10003.5.100"
    assert external.encoding == SINGLE_ASN1_TYPE
    assert encode(external.value) == record
    again = decode_external(decode(encode_external(external)))
    assert again == external


# -- YAZ ------------------------------------------------------------------------------------
YAZ_CLIENT = shutil.which("yaz-client")


def _serve(listener: socket.socket, records: list[bytes], log: list[str]) -> None:
    """Answer one yaz-client connection: Init, Search (4 hits), Present (the Explain records)."""
    connection, _ = listener.accept()
    framer = Framer(1 << 20)
    with connection:
        connection.settimeout(30)
        while True:
            data = connection.recv(65536)
            if not data:
                return
            for raw in framer.feed(data):
                request = apdu.decode_apdu(raw)
                log.append(type(request).__name__)
                if isinstance(request, apdu.InitializeRequest):
                    response = apdu.InitializeResponse(
                        reference_id=request.reference_id,
                        options=frozenset({"search", "present"}),
                        implementation_name="explain-test")
                elif isinstance(request, apdu.SearchRequest):
                    log.append(",".join(request.database_names))
                    response = apdu.SearchResponse(reference_id=request.reference_id,
                                                   result_count=len(records))
                elif isinstance(request, apdu.PresentRequest):
                    start = request.result_set_start_point
                    chosen = records[start - 1:start - 1 + request.number_of_records_requested]
                    response = apdu.PresentResponse(
                        reference_id=request.reference_id,
                        number_of_records_returned=len(chosen),
                        next_result_set_position=start + len(chosen),
                        records=tuple(apdu.NamePlusRecord("IR-Explain-1",
                                                          explain.explain_external(record))
                                      for record in chosen))
                else:
                    return
                connection.sendall(apdu.encode_apdu(response))


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
def test_yaz_client_decodes_the_explain_records():
    records = [explain.target_info(TARGET), explain.database_info(DATABASE),
               explain.record_syntax_info(SYNTAX), explain.attribute_details(ATTRIBUTES)]
    log: list[str] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        server = threading.Thread(target=_serve, args=(listener, records, log), daemon=True)
        server.start()
        script = (f"open tcp:127.0.0.1:{port}\nbase IR-Explain-1\n"
                  "find @attrset exp1 @attr 1=1 targetinfo\nformat explain\nshow 1+4\nquit\n")
        result = subprocess.run([YAZ_CLIENT], input=script.encode(), capture_output=True,
                                timeout=60)
        server.join(10)
    output = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    assert log[:4] == ["InitializeRequest", "SearchRequest", "IR-Explain-1", "PresentRequest"]
    # YAZ rejects a whole APDU it cannot decode ("Decoding incoming APDU: ... ODR error").
    for bad in ("Decoding incoming APDU", "decoding error", "ODR", "Element path"):
        assert bad not in output, output
    assert output.count("OID: 1 2 840 10003 5 100") == 4, output
    # yaz-client prints each Explain-Record with its ODR pretty printer, field by field.
    for expected in [
        "targetInfo {", "name 'Test Union Catalogue'", "text 'Opened today'",
        "namedResultSets TRUE", "multipleDBsearch TRUE", "maxResultSets 10",
        "maxResultSize 5000", "text 'Holdings of the member libraries'",
        "databaseInfo {", "name 'books'", "userFee FALSE", "available TRUE",
        "text 'Book collection'", "text 'Every book of every member'", "actualNumber 1234",
        "recordSyntaxInfo {", "recordSyntax OID: 1 2 840 10003 5 10", "name 'USMARC'",
        "text 'MARC21 bibliographic'",
        "attributeDetails {", "databaseName 'books'", "attributeSet OID: 1 2 840 10003 3 1",
        "attributeType 1", "numeric 4", "text 'Title'", "numeric 1003", "text 'Author'",
        "string 'any'", "text 'Anywhere in the record'", "numeric 21",
    ]:
        assert expected in output, (expected, output)
