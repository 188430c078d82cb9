"""The Z39.50 server: the association without sockets, the Twisted adapter, and yaz-client."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twisted.internet.testing import StringTransport

from conftest import DATA, REPO, HeldWrites, free_port, load, make_catalog, serving
from unishelf.auth import Users, hash_password
from unishelf.ber import Framer, context_constructed, context_primitive, decode, oid_content
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es
from unishelf.z3950.association import USMARC_OID, XML_OIDS, Association, Limits
from unishelf.z3950.pqf import parse_pqf
from unishelf.z3950.rpn import Attribute
from unishelf.z3950.server import Z3950Factory

USERS = [{"name": "cat", "password_hash": hash_password("secret", iterations=1000), "roles": ["cataloguer"]}]


def exchange(association, request):
    (reply,) = association.receive(z.encode_apdu(request))
    return z.decode_apdu(reply)


def opened(catalog, anonymous=True, **limits):
    association = Association(catalog, Users(USERS, anonymous), Limits(**limits))
    response = exchange(association, z.InitializeRequest(options=frozenset({"search", "present", "scan", "sort",
                                                                              "delSet", "namedResultSets"})))
    assert response.result is True
    return association


def search(association, pqf, **fields):
    fields.setdefault("database_names", ("unicat",))
    return exchange(association, z.SearchRequest(query=parse_pqf(pqf), **fields))


def count(catalog, pqf):
    return len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf))))


def test_init_negotiates_options_sizes_and_identifies_the_server(loaded):
    association = Association(loaded, Users(USERS, True), Limits(max_apdu=500_000))
    response = exchange(association, z.InitializeRequest(
        options=frozenset({"search", "present", "extendedServices", "scan", "resourceCtrl"}),
        preferred_message_size=2_000_000))
    assert response.result and response.options == {"search", "present", "scan", "extendedServices"}
    assert response.preferred_message_size == 500_000 and 3 in response.protocol_version
    assert response.implementation_id == "unishelf"


@pytest.mark.parametrize("authentication, anonymous, accepted", [
    (z.IdPass(user_id="cat", password="secret"), False, True),
    (z.OpenAuth("cat/secret"), False, True),
    (z.IdPass(user_id="cat", password="wrong"), True, False),
    (None, False, False),
    (None, True, True),
])
def test_init_authenticates_against_the_configured_users(loaded, authentication, anonymous, accepted):
    association = Association(loaded, Users(USERS, anonymous), Limits())
    response = exchange(association, z.InitializeRequest(id_authentication=authentication))
    assert response.result is accepted
    assert association.closed is not accepted


def test_search_counts_match_the_engine_and_piggyback_small_sets(loaded):
    association = opened(loaded)
    response = search(association, "@attr 1=4 history")
    assert response.search_status and response.result_count == count(loaded, "@attr 1=4 history") > 5
    assert response.number_of_records_returned == 0
    small = search(association, "@attr 1=4 history", small_set_upper_bound=1000,
                   preferred_record_syntax=USMARC_OID, result_set_name="small")
    assert small.result_count == small.number_of_records_returned == len(small.records) > 5
    medium = search(association, "@attr 1=4 history", small_set_upper_bound=1, large_set_lower_bound=1000,
                    medium_set_present_number=3, preferred_record_syntax=USMARC_OID)
    assert medium.number_of_records_returned == 3 and medium.next_result_set_position == 4


def test_present_in_every_syntax_and_element_set(loaded):
    association = opened(loaded)
    search(association, "@attr 1=4 history")
    for syntax, check in [(USMARC_OID, lambda v: v.endswith(b"\x1d")),
                          (XML_OIDS[0], lambda v: v.startswith(b"<record xmlns=")),
                          (z.SUTRS_OID, lambda v: v.text().startswith("Title: "))]:
        response = exchange(association, z.PresentRequest(result_set_start_point=2, number_of_records_requested=3,
                                                          preferred_record_syntax=syntax))
        assert response.number_of_records_returned == 3 and response.next_result_set_position == 5
        assert all(r.record.direct_reference == syntax and check(r.record.value) for r in response.records)
    brief = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=1,
                                                   record_composition="B", preferred_record_syntax=USMARC_OID))
    full = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=1,
                                                  record_composition="F", preferred_record_syntax=USMARC_OID))
    assert len(brief.records[0].record.value) < len(full.records[0].record.value)


def comp_spec(schema_oid: str | None = None, element_set: str | None = None):
    """A complex recordComposition: CompSpec with a generic Specification, as yaz-client sends."""
    schema = b"" if schema_oid is None else context_primitive(1, oid_content(schema_oid))
    elements = b"" if element_set is None else context_constructed(
        2, context_primitive(1, element_set.encode()))
    return decode(context_constructed(209, context_primitive(1, b"\x00")
                                      + context_constructed(2, schema + elements)))


def test_xml_element_sets_name_the_schemas_yaz_servers_offer(loaded):
    """Zebra and Koha's servers give MARCXML, Dublin Core, MODS and OPAC XML by these element set
    names of the XML syntax; clients written against them ask so, simply or in a CompSpec."""
    association = opened(loaded)
    search(association, "@attr 1=4 history", database_names=("NORTH",))
    starts = {"marcxml": b"<record xmlns=", "dc": b"<srw_dc:dc ", "mods": b"<mods ", "opac": b"<opacRecord>"}
    for name, start in starts.items():
        for composition in (name, name.upper(), comp_spec(element_set=name)):
            response = exchange(association, z.PresentRequest(
                result_set_start_point=1, number_of_records_requested=2, record_composition=composition,
                preferred_record_syntax=XML_OIDS[0]))
            assert response.number_of_records_returned == 2
            assert all(r.record.direct_reference == XML_OIDS[0] and r.record.value.startswith(start)
                       for r in response.records), (name, composition)
    no_syntax = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=1,
                                                      record_composition="dc"))
    assert no_syntax.records[0].record.direct_reference == XML_OIDS[0]
    for composition, syntax in [("dc", USMARC_OID), ("nonesuch", XML_OIDS[0]),
                                (comp_spec("1.2.840.10003.13.2", "F"), XML_OIDS[0])]:
        refused = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=1,
                                                         record_composition=composition,
                                                         preferred_record_syntax=syntax))
        assert refused.present_status == 5 and refused.records.condition == 25
    search(association, "@attr 1=1003 asimov", database_names=("CENTRAL",))
    unimarc = {name: exchange(association, z.PresentRequest(
        result_set_start_point=1, number_of_records_requested=1, record_composition=name,
        preferred_record_syntax=XML_OIDS[0])).records[0].record for name in ("marcxml", "dc")}
    assert unimarc["marcxml"].condition == 238 and unimarc["dc"].value.startswith(b"<srw_dc:dc ")


def test_database_specific_element_set_names_apply_to_the_result_sets_database(loaded):
    """Present may name an element set per database (databaseSpecific): the result set's
    database takes the one paired with it, and a list that leaves it out gets diagnostic 25."""
    association = opened(loaded)
    search(association, "@attr 1=4 history", database_names=("NORTH",))

    def present(composition, syntax):
        return exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=2,
                                                      record_composition=composition,
                                                      preferred_record_syntax=syntax))

    dc = present((("SOUTH", "marcxml"), ("north", "dc")), XML_OIDS[0])
    assert dc.number_of_records_returned == 2
    assert all(r.record.value.startswith(b"<srw_dc:dc ") for r in dc.records)
    brief, full = (present((("NORTH", name),), USMARC_OID) for name in ("B", "F"))
    assert len(brief.records[0].record.value) < len(full.records[0].record.value)
    assert full.records[0].record.value == present("F", USMARC_OID).records[0].record.value
    left_out = present((("SOUTH", "dc"),), XML_OIDS[0])
    assert left_out.present_status == 5
    assert (left_out.records.condition, left_out.records.addinfo) == (25, "NORTH")


def test_records_that_cannot_be_given_in_a_syntax_get_a_surrogate_diagnostic(loaded):
    association = opened(loaded)
    search(association, "@attr 1=4 history", database_names=("NORTH",))
    unimarc = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=2,
                                                     preferred_record_syntax="1.2.840.10003.5.1"))
    assert unimarc.number_of_records_returned == 2
    assert all(isinstance(r.record, z.DefaultDiagnostic) and r.record.condition == 238 for r in unimarc.records)


@pytest.mark.parametrize("pqf, condition", [("@attr 1=9999 x", 114), ("@attr 2=100 x", 117),
                                            ("@attr 5=102 x", 120), ("@set nothing", 30),
                                            ("@attr 1=4 @attr 2=0 history", 117), ("@attr 1=4 @attr 3=0 history", 119),
                                            ("@attr 1=4 @attr 5=0 history", 120), ("@attr 1=4 @attr 6=0 history", 122)])
def test_bad_searches_get_bib1_diagnostics(loaded, pqf, condition):
    response = search(opened(loaded), pqf)
    assert not response.search_status and response.records.condition == condition


def test_scan_arguments_out_of_range_get_a_diagnostic_or_are_bounded(loaded):
    association = opened(loaded)
    start = parse_pqf("@attr 1=4 water").root
    backwards = exchange(association, z.ScanRequest(database_names=("unicat",), number_of_terms_requested=5,
                                                     step_size=-1, term_list_and_start_point=start))
    assert backwards.scan_status == 6 and backwards.nonsurrogate_diagnostics[0].condition == 205
    huge = exchange(association, z.ScanRequest(database_names=("unicat",), number_of_terms_requested=2**62,
                                                preferred_position_in_response=2**62, term_list_and_start_point=start))
    assert huge.number_of_entries_returned <= 1000 and huge.scan_status == 1


def test_scan_position_of_term_says_where_the_start_term_stands(loaded):
    association = opened(loaded)

    def scan(term, position):
        return exchange(association, z.ScanRequest(
            database_names=("unicat",), number_of_terms_requested=5, preferred_position_in_response=position,
            term_list_and_start_point=parse_pqf(f"@attr 1=4 {term}").root))

    inside = scan("water", 3)
    assert inside.position_of_term == 3
    assert inside.entries[1].term < "water" <= inside.entries[2].term
    first = scan("0", 3)   # no title word sorts before "0": the start term is the index's first
    assert first.number_of_entries_returned == 5 and first.position_of_term == 1
    assert first.entries[0].term == scan("0", 1).entries[0].term


def test_an_integer_no_field_needs_closes_the_association_cleanly(loaded):
    association = opened(loaded)
    # a PresentRequest whose resultSetStartPoint [30] is a 9-octet INTEGER
    oversized = b"\xb8\x18\x9f\x1f\x07default" + b"\x9e\x09\x01" + b"\x00" * 8 + b"\x9d\x01\x01"
    (reply,) = association.receive(oversized)
    assert isinstance(z.decode_apdu(reply), z.Close) and association.closed


def test_unknown_database_is_diagnosed(loaded):
    response = search(opened(loaded), "@attr 1=4 x", database_names=("nope",))
    assert response.records.condition == 109


def test_present_out_of_range_and_missing_sets(loaded):
    association = opened(loaded)
    search(association, "@attr 1=4 history")
    beyond = exchange(association, z.PresentRequest(result_set_start_point=10_000, number_of_records_requested=1))
    assert beyond.records.condition == 13
    missing = exchange(association, z.PresentRequest(result_set_id="other", number_of_records_requested=1))
    assert missing.records.condition == 30


def test_scan_sort_and_delete(loaded):
    association = opened(loaded)
    scan = exchange(association, z.ScanRequest(
        database_names=("unicat",), number_of_terms_requested=5, preferred_position_in_response=1,
        term_list_and_start_point=parse_pqf("@attr 1=4 water").root))
    assert scan.number_of_entries_returned == 5 and scan.entries[0].term >= "water"
    assert scan.entries[0].global_occurrences == count(loaded, f"@attr 1=4 @attr 4=2 {scan.entries[0].term}")
    search(association, "@attr 1=4 history")
    sort = exchange(association, z.SortRequest(
        input_result_set_names=("default",), sorted_result_set_name="by-date",
        sort_sequence=(z.SortKeySpec(z.SortAttributes("1.2.840.10003.3.1", (Attribute(1, 31),)),
                                     sort_relation=1),)))
    assert sort.sort_status == 0 and sort.result_count == count(loaded, "@attr 1=4 history")
    deleted = exchange(association, z.DeleteResultSetRequest(delete_function=0,
                                                            result_set_list=("by-date", "nope")))
    assert dict(deleted.delete_list_statuses) == {"by-date": 0, "nope": 1}


def test_init_negotiates_utf8_when_the_client_proposes_it(loaded):
    from pathlib import Path as P
    capture = bytes.fromhex((P(__file__).parent / "data" / "z3950" / "init-request-charset.hex").read_text().strip())
    association = Association(loaded, Users(USERS, True), Limits())
    (reply,) = association.receive(capture)
    response = z.decode_apdu(reply)
    assert response.result and "negotiationModel" in response.options
    assert response.other_info is not None
    plain = exchange(Association(loaded, Users(USERS, True), Limits()), z.InitializeRequest())
    assert plain.other_info is None and "negotiationModel" not in plain.options


def test_requests_before_init_and_garbage_close_the_association_cleanly(loaded):
    association = Association(loaded, Users(USERS, True), Limits())
    (reply,) = association.receive(z.encode_apdu(z.SearchRequest(query=parse_pqf("x"))))
    assert isinstance(z.decode_apdu(reply), z.Close) and association.closed
    association = opened(loaded)
    (reply,) = association.receive(b"\x30\x84\xff\xff\xff\xff garbage")
    assert z.decode_apdu(reply).close_reason == 6 and association.closed


def test_oversized_apdus_are_refused(loaded):
    association = opened(loaded, max_apdu=200)
    (reply,) = association.receive(z.encode_apdu(z.SearchRequest(query=parse_pqf("@attr 1=4 " + "x" * 500))))
    assert isinstance(z.decode_apdu(reply), z.Close)


def test_the_twisted_adapter_answers_and_enforces_the_connection_limit(loaded):
    factory = Z3950Factory(loaded, Users(USERS, True), Limits(), max_connections=1, idle_timeout=60)
    first, second = factory.buildProtocol(None), factory.buildProtocol(None)
    first_transport, second_transport = StringTransport(), StringTransport()
    first.makeConnection(first_transport)
    second.makeConnection(second_transport)
    assert second_transport.disconnecting and factory.active == 1
    first.dataReceived(z.encode_apdu(z.InitializeRequest()))
    assert z.decode_apdu(first_transport.value()).result is True
    first_transport.clear()
    first.dataReceived(z.encode_apdu(z.Close()))
    assert isinstance(z.decode_apdu(first_transport.value()), z.Close) and first_transport.disconnecting
    first.connectionLost()
    assert factory.active == 0


def test_the_adapter_answers_a_write_where_writes_run_and_what_follows_after_it(loaded):
    writes = HeldWrites()
    factory = Z3950Factory(loaded, Users(USERS, True), Limits(), max_connections=1, idle_timeout=60, writes=writes)
    protocol, transport = factory.buildProtocol(None), StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(z.encode_apdu(z.InitializeRequest()))
    transport.clear()
    water = z.encode_apdu(z.SearchRequest(query=parse_pqf("@attr 1=4 water"), database_names=("unicat",)))
    update = es.ExtendedServicesRequest(package_type=es.UPDATE_OID, task_specific_parameters=es.UpdateRequest(
        action=es.UpdateAction.RECORD_INSERT, database="unicat", package_type=es.UPDATE_OID))
    protocol.dataReceived(z.encode_apdu(update) + water)
    protocol.dataReceived(water)
    assert transport.value() == b"" and transport.producerState == "paused" and len(writes.calls) == 1
    writes.release()
    replies = Framer(1 << 20).feed(transport.value())
    answered = [type(z.decode_apdu(reply)) for reply in replies]
    assert answered == [es.ExtendedServicesResponse, z.SearchResponse, z.SearchResponse]
    assert z.decode_apdu(replies[0]).diagnostics   # anonymous: refused, so the shared store is unchanged
    assert transport.producerState == "producing" and not transport.disconnecting


YAZ_CLIENT = shutil.which("yaz-client")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`unishelf serve` on a free port over a store with the test samples."""
    data_dir = tmp_path_factory.mktemp("z3950")
    catalog = make_catalog(data_dir)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    catalog.close()
    config = data_dir / "unishelf.yaml"
    config.write_text(f"users: [{{name: cat, password_hash: '{USERS[0]['password_hash']}', roles: [cataloguer]}}]\n"
                      "access: {anonymous: false}\n"
                      "libraries: [{code: NORTH}, {code: EAST}]\n")
    with serving(data_dir, config) as (ports, _):
        yield ports["z3950"], make_catalog(data_dir)


def yaz(port, commands, user="cat/secret"):
    script = f"open tcp:127.0.0.1:{port}\n" + "\n".join(commands) + "\nclose\nquit\n"
    args = [YAZ_CLIENT] + (["-u", user] if user else [])
    result = subprocess.run(args, input=script, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "LANG": "C.UTF-8"})
    return result.stdout + result.stderr  # yaz-client prints some records (Explain) on stderr


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
class TestYazClient:
    def test_search_show_formats_and_elements(self, server):
        port, catalog = server
        expected = count(catalog, "@attr 1=21 history")
        out = yaz(port, ["find @attr 1=21 history", "show 1+2", "format xml", "show 3",
                         "format sutrs", "show 4", "elements B", "format usmarc", "show 5",
                         "elements F", "format opac", "show 6"])
        assert "Data holdings 0" in out and "nucCode: NORTH" in out
        assert f"Number of hits: {expected}," in out
        assert "Record type: USmarc" in out and "Record type: XML" in out and "Record type: SUTRS" in out
        assert "<record xmlns=\"http://www.loc.gov/MARC21/slim\">" in out and "Title: " in out

    def test_xml_element_sets_and_schemas(self, server):
        port, _ = server
        out = yaz(port, ["find @attr 1=21 history", "format xml", "elements dc", "show 1", "elements mods",
                         "show 2", "schema 1.2.840.10003.13.2", "elements F", "show 3",
                         "schema dc", "elements marcxml", "show 4"])   # an unknown schema: yaz-client drops it
        assert "<srw_dc:dc " in out and "<mods " in out and "<record xmlns=" in out
        assert "[25] Specified element set name not valid" in out and "addinfo '1.2.840.10003.13.2'" in out

    def test_databases_cjk_scan_sort_and_delete(self, server):
        port, catalog = server
        east = len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf("@attr 1=4 中国")), ["EAST"]))
        out = yaz(port, ["base EAST", "find @attr 1=4 中國", "scan @attr 1=4 water", "base Default",
                         "find @attr 1=4 history", "sort 1=31 >", "show 1", "delete 2", "show 1"])
        assert f"Number of hits: {east}," in out and east > 0
        assert "Received ScanResponse" in out and "entries" in out
        assert "SortResponse: status=success" in out
        assert "[30] Specified result set does not exist" in out

    def test_diagnostics_keep_the_association_open(self, server):
        port, _ = server
        out = yaz(port, ["find @attr 1=9999 x", "querytype ccl", "find ti=water", "querytype prefix",
                         "find @attr 1=4 history"])
        assert "[114]" in out and "[107]" in out and out.count("Search was a success") == 1

    def test_utf8_is_negotiated(self, server):
        port, _ = server
        out = yaz(port, ["find @attr 1=4 中国"], user="cat/secret").replace("\n", " ")
        negotiated = subprocess.run([YAZ_CLIENT, "-u", "cat/secret"], capture_output=True, text=True, timeout=60,
                                    input=f"charset UTF-8\nopen tcp:127.0.0.1:{port}\nquit\n").stdout
        assert "Accepted character set : UTF-8" in negotiated and "negotiationModel" in negotiated
        assert "Accepted character set" not in out

    def test_explain_records_decode_in_yaz_client(self, server):
        port, _ = server
        out = yaz(port, ["base IR-Explain-1", "find @attrset exp1 @attr 1=1 databaseinfo", "format explain",
                         "show 1+4"])
        assert "Number of hits: 4," in out and "EAST" in out and "Union catalogue" in out
        assert "ODR" not in out and "decoding error" not in out.lower()

    def test_wrong_credentials_are_refused(self, server):
        port, _ = server
        assert "Connection rejected by v3 target" in yaz(port, ["find x"], user="cat/wrong")
        assert "Connection rejected by v3 target" in yaz(port, ["find x"], user=None)


def test_idle_associations_are_closed_with_lack_of_activity(loaded):
    from twisted.internet.task import Clock
    factory = Z3950Factory(loaded, Users(USERS, True), Limits(), max_connections=5, idle_timeout=30)
    protocol = factory.buildProtocol(None)
    clock = Clock()
    protocol.callLater = clock.callLater
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(z.encode_apdu(z.InitializeRequest()))
    transport.clear()
    clock.advance(29)
    assert not transport.disconnecting
    clock.advance(2)
    assert z.decode_apdu(transport.value()).close_reason == 7 and transport.disconnecting


ZOOMSH = shutil.which("zoomsh")


@pytest.mark.skipif(ZOOMSH is None, reason="zoomsh not installed (apt-get install yaz)")
def test_zoomsh_searches_shows_and_scans(server):
    port, catalog = server
    expected = count(catalog, "@attr 1=21 history")
    result = subprocess.run([ZOOMSH, "set user cat", "set password secret", f"connect 127.0.0.1:{port}",
                             "search @attr 1=21 history", "set preferredRecordSyntax xml", "show 0 2",
                             "scan @attr 1=21 hist", "quit"], capture_output=True, text=True, timeout=60)
    assert f"{expected} hits" in result.stdout
    assert result.stdout.count("syntax=XML") == 2 and "history" in result.stdout


def test_opac_records_carry_every_librarys_holdings(loaded):
    from unishelf.ber import decode_external
    from unishelf.z3950.opac import OPAC_OID
    association = opened(loaded)
    search(association, "@attr 1=4 history", database_names=("NORTH",))
    response = exchange(association, z.PresentRequest(result_set_start_point=1, number_of_records_requested=1,
                                                      preferred_record_syntax=OPAC_OID))
    record = response.records[0].record
    assert record.direct_reference == OPAC_OID
    opac = record.value.fields()
    bibliographic = decode_external(opac[(2, 1)])
    assert bibliographic.direct_reference == USMARC_OID and bibliographic.value.endswith(b"\x1d")
    holdings = opac[(2, 2)].children
    assert holdings and holdings[0].fields()[(2, 8)].text() == "NORTH"
    circulation = holdings[0].fields()[(2, 19)].only_child().fields()
    assert circulation[(2, 1)].boolean() is True


def worker_pids(data_dir) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"unishelf.worker" in command and str(data_dir).encode() in command:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
def test_worker_processes_share_the_port_and_stop_with_serve(tmp_path):
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    catalog.close()
    port = free_port()
    config = tmp_path / "unishelf.yaml"
    config.write_text("listen: {workers: 3}\nlibraries: [{code: NORTH}]\n")
    serve = subprocess.Popen([sys.executable, "-m", "unishelf.cli", "--config", str(config), "--data-dir",
                              str(tmp_path), "serve", "--z3950-port", str(port), "--http-port", str(free_port())],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(worker_pids(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        assert len(worker_pids(tmp_path)) == 2
        for _ in range(6):  # whichever process accepts, the answer is the same
            assert "Number of hits: " in yaz(port, ["find @attr 1=21 history"], user=None)
    finally:
        serve.kill()  # even without a clean shutdown the workers notice and stop
        serve.wait(timeout=10)
    deadline = time.monotonic() + 15
    while worker_pids(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_pids(tmp_path) == []


def test_ir_explain_1_describes_the_target_databases_access_points_and_syntaxes(loaded):
    from unishelf.ber import encode
    from unishelf.z3950.explain import EXPLAIN_OID
    association = opened(loaded)
    explain = ("IR-Explain-1",)
    databases = search(association, "@attrset exp1 @attr 1=1 databaseinfo", database_names=explain)
    assert databases.search_status and databases.result_count == len(loaded.engine.databases)
    one = search(association, "@attrset exp1 @and @attr 1=1 databaseinfo @attr 1=3 NORTH",
                 database_names=explain, result_set_name="north")
    assert one.result_count == 1
    shown = exchange(association, z.PresentRequest(result_set_id="north", result_set_start_point=1,
                                                   number_of_records_requested=1))
    record = shown.records[0].record
    assert record.direct_reference == EXPLAIN_OID and b"NORTH" in encode(record.value)
    for category in ("targetinfo", "recordsyntaxinfo", "attributedetails"):
        assert search(association, f"@attrset exp1 @attr 1=1 {category}", database_names=explain).result_count
    assert search(association, "@attrset exp1 @attr 1=9 x", database_names=explain).records.condition == 114
    other = search(association, "@attr 1=4 history")  # an ordinary search replaces the explain set
    assert other.result_count and exchange(association, z.PresentRequest(
        result_set_start_point=1, number_of_records_requested=1,
        preferred_record_syntax=USMARC_OID)).number_of_records_returned == 1


def test_server_made_result_sets_count_toward_the_limit_and_keep_their_names(loaded):
    association = opened(loaded, max_result_sets=3)
    for name in ("e1", "e2"):
        assert search(association, "@attr exp1 1=1 databaseInfo", database_names=("IR-Explain-1",),
                      result_set_name=name).search_status
    assert search(association, "@attr 1=4 history", result_set_name="h").search_status
    too_many = search(association, "@attr exp1 1=1 databaseInfo", database_names=("IR-Explain-1",),
                      result_set_name="e3")
    assert not too_many.search_status and too_many.records.condition == 112
    kept = search(association, "@attr 1=4 water", result_set_name="e1", replace_indicator=False)
    assert not kept.search_status and kept.records.condition == 21


def test_a_query_oring_two_hundred_terms_is_answered(loaded):
    pqf = "@or " * 200 + " ".join(f"w{i}" for i in range(200)) + " history"
    response = search(opened(loaded), pqf)
    assert response.search_status and response.result_count == count(loaded, pqf)
