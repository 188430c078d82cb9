"""Z39.50 APDU codec against real yaz-client / yaz-ztest captures (tests/data/z3950)."""
from __future__ import annotations

from pathlib import Path

import pytest

from unishelf.z3950.apdu import (
    BIB1_DIAG_OID, AnonymousAuth, Close, DefaultDiagnostic, DeleteResultSetRequest,
    DeleteResultSetResponse, IdPass, InitializeRequest, InitializeResponse, NamePlusRecord,
    OpenAuth, PresentRequest, PresentResponse, RawQuery, ScanRequest, ScanResponse, SearchRequest,
    SearchResponse, SortAttributes, SortField, SortKeySpec, SortRequest, SortResponse, TermInfo,
    UnsupportedAPDU, decode_apdu, encode_apdu, octet_record, sutrs_record,
)
from unishelf.ber import (
    CONTEXT, OCTET_ALIGNED, SINGLE_ASN1_TYPE, UNIVERSAL, BERError, Node, decode_external,
)
from unishelf.z3950.pqf import parse_pqf
from unishelf.z3950.rpn import (
    BIB1_OID, Attribute, AttributesPlusTerm, Operation, Proximity, ResultSetId, RPNQuery,
)

CAPTURES = Path(__file__).parent / "data" / "z3950"
ALL_CAPTURES = sorted(path.stem for path in CAPTURES.glob("*.hex"))
USMARC, MARCXML = "1.2.840.10003.5.10", "1.2.840.10003.5.109.10"


def capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text())


def apdu(name: str):
    return decode_apdu(capture(name))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_every_capture_round_trips(name):
    decoded = apdu(name)
    assert not isinstance(decoded, UnsupportedAPDU)
    assert decode_apdu(encode_apdu(decoded)) == decoded


def test_init_request():
    init = apdu("init-request")
    assert isinstance(init, InitializeRequest)
    assert init.protocol_version == {1, 2, 3}
    assert {"search", "present", "delSet", "scan", "sort", "namedResultSets"} <= init.options
    assert init.preferred_message_size == init.exceptional_record_size == 0x4000000
    assert (init.implementation_id, init.implementation_name) == ("81", "YAZ")
    assert init.implementation_version.startswith("5.34.0")
    assert init.id_authentication is None and init.other_info is None


def test_init_authentication_forms():
    assert apdu("init-request-open-auth").id_authentication == OpenAuth("alice/secret")
    assert apdu("init-request-idpass").id_authentication == IdPass(None, "alice", "secret")
    assert apdu("init-request-idpass-group").id_authentication == IdPass("grp", "alice", "secret")
    anonymous = InitializeRequest(id_authentication=AnonymousAuth())
    assert decode_apdu(encode_apdu(anonymous)).id_authentication == AnonymousAuth()


def test_init_charset_negotiation_is_kept_raw_as_an_external():
    init = apdu("init-request-charset")
    assert "negotiationModel" in init.options
    item = init.other_info.only_child()          # OtherInformation: SEQUENCE OF SEQUENCE
    external = decode_external(item.fields()[(2, 4)])  # externallyDefinedInfo [4] IMPLICIT
    assert external.direct_reference == "1.2.840.10003.15.3"
    response = apdu("init-response-charset")
    assert response.result is True and response.other_info is not None


def test_init_response():
    response = apdu("init-response")
    assert isinstance(response, InitializeResponse)
    assert response.result is True
    assert response.implementation_name == "GFS/YAZ"


def test_search_request_simple():
    search = apdu("search-request")
    assert isinstance(search, SearchRequest)
    assert (search.small_set_upper_bound, search.large_set_lower_bound,
            search.medium_set_present_number) == (0, 1, 0)
    assert search.replace_indicator is True
    assert search.result_set_name == "1"
    assert search.database_names == ("Default",)
    assert search.query == RPNQuery(BIB1_OID, AttributesPlusTerm((Attribute(1, 4),), "water"))


def test_search_request_and_matches_pqf():
    query = apdu("search-request-and").query
    assert query == parse_pqf('@and @attr 1=4 "water supply" @attr 1=1003 smith')
    assert query.root.op == "and"
    assert query.root.left.term == "water supply"


def test_search_request_prox():
    root = apdu("search-request-prox").query.root
    assert root == Operation("prox", AttributesPlusTerm((), "a"), AttributesPlusTerm((), "b"),
                             Proximity(False, 3, True, 2, "known", 2))


def test_query_forms_round_trip():
    query = RPNQuery(BIB1_OID, Operation(
        "or",
        AttributesPlusTerm((Attribute(1, "title", "1.2.840.10003.3.5"), Attribute(4, 109)),
                           "42", "numeric"),
        Operation("and-not", ResultSetId("set1"),
                  AttributesPlusTerm((), "2.3.4", "oid"))), {"query_type": 101})
    search = SearchRequest(query=query, database_names=("a", "b"),
                           small_set_element_set_names="F",
                           medium_set_element_set_names=(("a", "B"),),
                           preferred_record_syntax=USMARC, reference_id=b"r1")
    again = decode_apdu(encode_apdu(search))
    assert again == search
    assert again.query.extra == {"query_type": 101}


def test_other_query_types_stay_raw():
    iso8777 = Node(CONTEXT, True, 2, children=[Node(UNIVERSAL, False, 4, b"find x")])
    decoded = decode_apdu(encode_apdu(SearchRequest(query=RawQuery(2, iso8777))))
    assert decoded.query == RawQuery(2, iso8777)
    with pytest.raises(BERError):
        encode_apdu(SearchRequest(query=None))


def test_search_responses():
    response = apdu("search-response")
    assert isinstance(response, SearchResponse)
    assert response.search_status is True and response.records is None
    diagnostic = apdu("search-response-diagnostic")
    assert diagnostic.result_count == 0 and diagnostic.search_status is False
    assert diagnostic.result_set_status == 3
    assert diagnostic.records == DefaultDiagnostic(109, "Nosuch", BIB1_DIAG_OID, addinfo_v2=True)


@pytest.mark.parametrize("name, syntax", [("present-request-xml", MARCXML),
                                          ("present-request-usmarc", USMARC)])
def test_present_request(name, syntax):
    present = apdu(name)
    assert isinstance(present, PresentRequest)
    assert (present.result_set_id, present.result_set_start_point,
            present.number_of_records_requested) == ("1", 1, 3)
    assert present.preferred_record_syntax == syntax


def test_present_response_usmarc():
    response = apdu("present-response-usmarc")
    assert isinstance(response, PresentResponse)
    assert (response.number_of_records_returned, response.next_result_set_position,
            response.present_status) == (3, 4, 0)
    first = response.records[0]
    assert first.name == "Default"
    assert first.record.direct_reference == USMARC and first.record.encoding == OCTET_ALIGNED
    assert first.record.value[:5] == b"00366" and first.record.value.endswith(b"\x1d")


def test_present_response_xml_and_sutrs():
    xml = apdu("present-response-xml").records[0].record
    assert xml.direct_reference == MARCXML and xml.value.startswith(b"<record")
    sutrs = apdu("present-response-sutrs").records[0].record
    assert sutrs.encoding == SINGLE_ASN1_TYPE
    assert sutrs == sutrs_record("This is dummy SUTRS record number 1\n")


def test_present_response_built_by_the_server_round_trips():
    records = (NamePlusRecord("cat", octet_record(USMARC, b"00024nam" + b"x" * 2000)),
               NamePlusRecord("cat", sutrs_record("plain text")),
               NamePlusRecord(None, DefaultDiagnostic(14, "record 3")))
    response = PresentResponse(b"ref", 3, 4, 0, records)
    assert decode_apdu(encode_apdu(response)) == response
    present = PresentRequest(result_set_id="s", number_of_records_requested=3,
                             additional_ranges=((5, 2),), record_composition="B",
                             preferred_record_syntax=USMARC, max_record_size=100000)
    assert decode_apdu(encode_apdu(present)) == present


def test_scan():
    request = apdu("scan-request")
    assert isinstance(request, ScanRequest)
    assert request.database_names == ("Default",) and request.attribute_set == BIB1_OID
    assert request.term_list_and_start_point == AttributesPlusTerm((Attribute(1, 4),), "water")
    assert (request.step_size, request.number_of_terms_requested,
            request.preferred_position_in_response) == (0, 20, 1)
    response = apdu("scan-response")
    assert isinstance(response, ScanResponse)
    assert (response.scan_status, response.number_of_entries_returned,
            response.position_of_term) == (0, 20, 1)
    assert response.entries[0] == TermInfo("WATER", global_occurrences=10)
    built = ScanResponse(scan_status=6, number_of_entries_returned=1,
                         entries=(TermInfo("x", display_term="X", global_occurrences=2),
                                  DefaultDiagnostic(2)),
                         nonsurrogate_diagnostics=(DefaultDiagnostic(1, "x"),))
    assert decode_apdu(encode_apdu(built)) == built


def test_sort():
    field = apdu("sort-request-field")
    assert isinstance(field, SortRequest)
    assert field.input_result_set_names == ("1",) and field.sorted_result_set_name == "1"
    assert field.sort_sequence == (SortKeySpec(SortField("+"), 0, 1, b"4"),)
    attributes = apdu("sort-request-attributes")
    assert attributes.sort_sequence == (
        SortKeySpec(SortAttributes(BIB1_OID, (Attribute(1, 4),)), 0, 1, "null"),
        SortKeySpec(SortField("title"), 1, 1, "null"))
    response = apdu("sort-response")
    assert isinstance(response, SortResponse) and response.sort_status == 0
    built = SortRequest(None, ("a",), "b", (SortKeySpec((("db", SortField("f")),), 1, 0, "abort"),))
    assert decode_apdu(encode_apdu(built)) == built


def test_delete():
    request = apdu("delete-request")
    assert request == DeleteResultSetRequest(None, 0, ("default",))
    response = apdu("delete-response")
    assert isinstance(response, DeleteResultSetResponse)
    assert response.delete_operation_status == 1
    assert response.delete_list_statuses == (("default", 0),)


def test_close():
    assert apdu("close-request") == Close(close_reason=0)
    assert apdu("close-response").diagnostic_information == "Association terminated by client"


def test_unsupported_apdu_is_kept_raw():
    access_control = bytes.fromhex("bc099f25064368616c6c67")  # [28] { [37] "Challg" }
    decoded = decode_apdu(access_control)
    assert isinstance(decoded, UnsupportedAPDU) and decoded.node.number == 28
    assert encode_apdu(decoded) == access_control


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_every_truncation_of_a_capture_raises_ber_error(name):
    data = capture(name)
    for cut in range(0, len(data), max(1, len(data) // 40)):
        with pytest.raises(BERError):
            decode_apdu(data[:cut])


@pytest.mark.parametrize("data", [
    bytes.fromhex("0201 01"),               # not context-tagged
    bytes.fromhex("9601 01"),               # primitive
    bytes.fromhex("b600"),                  # SearchRequest with nothing in it
    bytes.fromhex("b403 830100"),           # Init without options and sizes
    bytes.fromhex("b503 8c0101"),           # InitResponse without the rest
    bytes.fromhex("b809 9f1f0131 9e0101 9d"),  # truncated
    bytes.fromhex("bf2b05 a303020101"),     # SortRequest with an INTEGER as a name list
])
def test_malformed_apdus_raise_ber_error(data):
    with pytest.raises(BERError):
        decode_apdu(data)


def test_corrupted_captures_raise_only_ber_error():
    """Flip each byte of real APDUs: decoding either succeeds or raises BERError, nothing else."""
    for name in ("search-request-prox", "init-request-charset", "scan-response",
                 "sort-request-attributes", "search-response-diagnostic"):
        data = capture(name)
        for index in range(len(data)):
            for value in (0x00, 0xFF, data[index] ^ 0x20, data[index] ^ 0x01):
                corrupted = data[:index] + bytes([value]) + data[index + 1:]
                try:
                    decode_apdu(corrupted)
                except BERError:
                    pass
