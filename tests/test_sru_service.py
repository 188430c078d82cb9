"""The SRU server without HTTP: searchRetrieve, scan and explain on the shared backend, and the
same query in CQL over SRU and in RPN over Z39.50 finding the same records."""
from __future__ import annotations

import pytest
from lxml import etree

from test_sru_responses import NS, VERSIONS, prefix, validate
from unishelf.auth import Users
from unishelf.marc.record import parse_iso2709
from unishelf.sru import record_schemas
from unishelf.sru import service as service_module
from unishelf.sru.result_sets import ResultSetStore
from unishelf.sru.service import SRUService
from unishelf.sru.settings import SRUSettings
from unishelf.z3950 import apdu as z
from unishelf.z3950.association import USMARC_OID, Association, Limits
from unishelf.z3950.pqf import parse_pqf

MARC = "{http://www.loc.gov/MARC21/slim}"


@pytest.fixture
def service(loaded, tmp_path):
    kept = ResultSetStore(tmp_path / "result-sets", 50)
    yield SRUService(loaded, SRUSettings(max_records=400), result_sets=kept)
    kept.close()


def ask(service, database="unicat", **parameters) -> tuple[str, str]:
    parameters = {name.replace("_", "-") if name.startswith("x_") else name: value
                  for name, value in parameters.items()}
    text = service.respond(database, {name: [str(value)] for name, value in parameters.items()}, "sru.test", 80)
    return text, parameters.get("version", "2.0")


def answer(service, database="unicat", **parameters) -> etree._Element:
    """The response, checked valid against its version's schemas."""
    return validate(*ask(service, database, **parameters))


def diagnostics(root) -> list[tuple[str, str]]:
    return [(d.findtext("{*}uri").rsplit("/", 1)[1], d.findtext("{*}details") or "")
            for d in root.iterfind("{*}diagnostics/{*}diagnostic")]


def hits(root) -> int:
    return int(root.findtext("{*}numberOfRecords"))


def control_numbers(root) -> list[str]:
    return [r.findtext(f"{MARC}controlfield[@tag='001']") for r in root.iter(f"{MARC}record")]


def engine_count(catalog, pqf, database="unicat") -> int:
    return len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf)), [database]))


@pytest.mark.parametrize("version", VERSIONS)
def test_search_retrieve_counts_pages_and_positions_records(loaded, service, version):
    total = engine_count(loaded, "@attr 1=4 history")
    first = answer(service, query="dc.title = history", maximumRecords=4, version=version)
    assert hits(first) == total > 6 and diagnostics(first) == []
    p = prefix(version)
    assert [r.findtext(f"{p}:recordPosition", namespaces=NS) for r in first.iterfind(f".//{p}:record", NS)] == [
        "1", "2", "3", "4"]
    assert first.findtext("{*}nextRecordPosition") == "5"
    rest = answer(service, query="dc.title = history", startRecord=5, maximumRecords=100, version=version)
    assert len(control_numbers(rest)) == total - 4 and rest.find("{*}nextRecordPosition") is None
    whole = answer(service, query="dc.title = history", maximumRecords=100, version=version)
    assert control_numbers(whole) == control_numbers(first) + control_numbers(rest)


def test_maximum_records_zero_only_counts(service):
    root = answer(service, query="dc.title = history", maximumRecords=0)
    assert hits(root) > 0 and root.find("{*}records") is None and root.find("{*}nextRecordPosition") is None


def test_the_default_and_the_maximum_number_of_records(loaded, tmp_path):
    kept = ResultSetStore(tmp_path / "rs", 5)
    service = SRUService(loaded, SRUSettings(default_records=3, max_records=5), result_sets=kept)
    assert len(control_numbers(answer(service, query="cql.allRecords = 1"))) == 3
    root = answer(service, query="cql.allRecords = 1", maximumRecords=1000)
    assert len(control_numbers(root)) == 5 and root.findtext("{*}nextRecordPosition") == "6"
    kept.close()


def test_a_first_record_past_the_end_is_diagnostic_61_with_the_count(service):
    root = answer(service, query="dc.title = history", startRecord=1000, version="1.2")
    assert hits(root) > 0 and diagnostics(root) == [("61", "1000")] and root.find("{*}records") is None
    assert diagnostics(answer(service, query="dc.title = zzzzqqq")) == []


@pytest.mark.parametrize("schema", ["marcxml", "dc", "mods", "opac"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_record_schema_is_valid_in_every_version(service, schema, version):
    root = answer(service, query="(dc.title = history or dc.title = 中國) not bath.possessingInstitution = CENTRAL",
                  recordSchema=schema, maximumRecords=60, version=version)
    identifier = record_schemas.record_schema(schema).identifier
    assert {r.text for r in root.iter("{*}recordSchema")} == {identifier}


def test_opac_records_carry_the_holdings_of_every_member_library(loaded, service):
    root = answer(service, query="dc.title = 中國", recordSchema="opac", maximumRecords=1)
    opac = root.find(".//opacRecord")
    assert opac.find(f"bibliographicRecord/{MARC}record") is not None
    assert [h.findtext("nucCode") for h in opac.iterfind("holdings/holding")] == ["EAST"]


@pytest.mark.parametrize("schema, given", [("marcxml", False), ("opac", False), ("dc", True), ("mods", True)])
def test_unimarc_records_are_surrogate_diagnostics_where_the_schema_is_marc21(service, schema, given):
    root = answer(service, "CENTRAL", query="cql.allRecords = 1", recordSchema=schema, maximumRecords=3)
    schemas = [r.text for r in root.iter("{*}recordSchema")]
    if given:
        assert schemas == [record_schemas.record_schema(schema).identifier] * 3
    else:
        assert schemas == ["info:srw/schema/1/diagnostics-v1.1"] * 3
        surrogate = root.find(".//{*}recordData/{*}diagnostic")
        assert surrogate.findtext("{*}uri") == "info:srw/diagnostic/1/67"
        assert "UNIMARC" in surrogate.findtext("{*}details")


def test_a_record_a_crosswalk_fails_on_is_a_surrogate_and_the_rest_still_come(service, monkeypatch):
    real = record_schemas.schema_record
    calls = []

    def record(schema, stored, reader):
        calls.append(stored.id)
        if len(calls) == 2:
            raise RuntimeError("a crosswalk bug")
        return real(schema, stored, reader)

    monkeypatch.setattr(service_module, "schema_record", record)
    root = answer(service, query="dc.title = history", recordSchema="dc", maximumRecords=3, version="1.2")
    surrogates = [d.findtext("{*}uri") for d in root.iterfind(".//{*}recordData/{*}diagnostic")]
    assert surrogates == ["info:srw/diagnostic/1/63"] and len(list(root.iter("{*}record"))) == 3


def test_record_packing_string_and_the_stylesheet(service):
    text, _ = ask(service, query="dc.title = history", maximumRecords=1, recordPacking="string", version="1.1",
                  stylesheet="/sru.xsl")
    root = validate(text, "1.1")
    assert root.findtext(".//{*}recordPacking") == "string"
    assert etree.fromstring(root.findtext(".//{*}recordData").encode()).tag == f"{MARC}record"
    assert '<?xml-stylesheet type="text/xsl" href="/sru.xsl"?>' in text


# -- CQL over SRU and RPN over Z39.50 --------------------------------------------------------------
SAME_QUERIES = [
    ("dc.title = history", "@attr 1=4 history"),
    ("dc.creator = smith", "@attr 1=1003 smith"),
    ('dc.title = "united states"', '@attr 1=4 "united states"'),
    ('dc.subject all "world war"', '@attr 1=21 @attr 4=6 "world war"'),
    ("dc.date >= 2000", "@attr 1=31 @attr 2=4 2000"),
    ("dc.title = hist*", "@attr 1=4 @attr 5=1 hist"),
    ("dc.title = 中國", "@attr 1=4 中国"),
    ("dc.title = history and dc.subject = war", "@and @attr 1=4 history @attr 1=21 war"),
    ("dc.title = history not dc.subject = war", "@not @attr 1=4 history @attr 1=21 war"),
    ("dc.title = water or dc.title = china", "@or @attr 1=4 water @attr 1=4 china"),
    ("dc.language = chi", "@attr 1=54 chi"),
    ("bath.possessingInstitution = EAST", "@attr 1=library EAST"),
]


def z3950_control_numbers(catalog, pqf: str) -> tuple[int, list[str]]:
    """Hits and the 001s of the MARC 21 records (UNIMARC ones come as diagnostics in USMARC, as
    they come as surrogate diagnostics in MARCXML over SRU)."""
    association = Association(catalog, Users([], True), Limits())

    def exchange(request):
        (reply,) = association.receive(z.encode_apdu(request))
        return z.decode_apdu(reply)

    exchange(z.InitializeRequest(options=frozenset({"search", "present"})))
    found = exchange(z.SearchRequest(query=parse_pqf(pqf), database_names=("unicat",), small_set_upper_bound=0))
    if not found.result_count:
        return 0, []
    shown = exchange(z.PresentRequest(result_set_start_point=1, number_of_records_requested=found.result_count,
                                      preferred_record_syntax=USMARC_OID))
    return found.result_count, [parse_iso2709(r.record.value).control("001") for r in shown.records
                                if not isinstance(r.record, z.DefaultDiagnostic)]


@pytest.mark.parametrize("cql, pqf", SAME_QUERIES)
def test_the_same_query_in_cql_over_sru_and_rpn_over_z3950_finds_the_same_records(loaded, service, cql, pqf):
    count, expected = z3950_control_numbers(loaded, pqf)
    root = answer(service, query=cql, maximumRecords=400, version="1.2")
    assert hits(root) == count
    assert sorted(control_numbers(root)) == sorted(expected)
    assert hits(answer(service, x_pquery=pqf, maximumRecords=0)) == count


def test_same_queries_are_not_all_empty(loaded):
    assert all(engine_count(loaded, pqf) for _, pqf in SAME_QUERIES)


# -- diagnostics ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, number", [
    ("dc.title = (", "13"), ("dc.title =", "10"), ('dc.title = "open', "14"), ("dc.nothing = x", "16"),
    ("nope.title = x", "15"), ("dc.title foo x", "19"), ("dc.title =/bogus x", "20"), ("dc.date within 1999", "36"),
    ("cql.resultSetId = nothing", "51"), ("dc.title = x sortBy dc.subject", "80"),
])
@pytest.mark.parametrize("version", VERSIONS)
def test_query_errors_are_diagnostics_in_valid_responses(service, query, number, version):
    root = answer(service, query=query, version=version)
    assert [n for n, _ in diagnostics(root)] == [number] and hits(root) == 0


def test_a_pqf_syntax_error_is_diagnostic_10(service):
    assert [n for n, _ in diagnostics(answer(service, x_pquery="@and @attr 1=4 x"))] == ["10"]


@pytest.mark.parametrize("parameters, expected", [
    ({"query": "x", "version": "1.0"}, ("5", "2.0")), ({"query": "x", "bogus": "1"}, ("8", "bogus")),
    ({"operation": "searchRetrieve", "version": "1.2"}, ("7", "query")),
    ({"query": "x", "startRecord": "0"}, ("6", "startRecord")), ({"query": "x", "recordSchema": "ead"}, ("66", "ead")),
    ({"query": "x", "recordXMLEscaping": "json"}, ("71", "json")),
    ({"operation": "update", "version": "1.2"}, ("4", "update")),
])
def test_bad_parameters_are_diagnostics_in_valid_responses(service, parameters, expected):
    root = answer(service, **parameters)
    assert diagnostics(root) == [expected]


def test_an_unknown_database_is_diagnostic_235_and_library_views_and_names_resolve(loaded, service):
    assert diagnostics(answer(service, "NOWHERE", query="x")) == [("235", "NOWHERE")]
    assert diagnostics(answer(service, "NOWHERE", scanClause="dc.title = x")) == [("235", "NOWHERE")]
    east = hits(answer(service, "EAST", query="cql.allRecords = 1", maximumRecords=0))
    assert east == loaded.engine.count("EAST") > 0
    default = answer(service, "Default", query="cql.allRecords = 1", maximumRecords=0)
    assert hits(default) == loaded.engine.count("unicat")


# -- result sets and sorting ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_a_kept_result_set_is_named_and_reusable_by_later_requests(service, version):
    first = answer(service, query="dc.title = history sortBy dc.date/descending", resultSetTTL=120, maximumRecords=3,
                   version=version)
    name = first.findtext("{*}resultSetId")
    assert name and first.findtext("{*}resultSetTTL" if version == "2.0" else "{*}resultSetIdleTime") == "120"
    page = answer(service, query=f'cql.resultSetId = "{name}"', startRecord=4, maximumRecords=100, version=version)
    assert page.findtext("{*}resultSetId") == name and hits(page) == hits(first)
    everything = answer(service, query="dc.title = history sortBy dc.date/descending", maximumRecords=100)
    assert control_numbers(first) + control_numbers(page) == control_numbers(everything)
    refined = answer(service, query=f'cql.resultSetId = "{name}" and dc.subject = war', maximumRecords=0)
    assert hits(refined) == hits(answer(service, query="dc.title = history and dc.subject = war", maximumRecords=0))
    assert answer(service, query="dc.title = history", maximumRecords=0).find("{*}resultSetId") is None


def test_an_expired_result_set_is_diagnostic_51(loaded, tmp_path):
    now = [0.0]
    kept = ResultSetStore(tmp_path / "rs", 5, clock=lambda: now[0])
    service = SRUService(loaded, SRUSettings(), result_sets=kept)
    name = answer(service, query="dc.title = history", resultSetTTL=10).findtext("{*}resultSetId")
    now[0] = 11
    assert diagnostics(answer(service, query=f"cql.resultSetId = {name}")) == [("51", name)]
    kept.close()


def test_a_result_set_is_kept_only_when_asked_with_a_positive_ttl(service):
    assert answer(service, query="dc.title = history", resultSetTTL=0).find("{*}resultSetId") is None


def test_a_result_set_reused_in_a_narrower_database_keeps_only_its_records(loaded, service):
    name = answer(service, query="cql.allRecords = 1", resultSetTTL=60, maximumRecords=0).findtext("{*}resultSetId")
    root = answer(service, "EAST", query=f"cql.resultSetId = {name}", maximumRecords=0)
    assert hits(root) == loaded.engine.count("EAST")


def sort_values(root) -> list[str]:
    return [r.findtext(f"{MARC}controlfield[@tag='008']")[7:11] for r in root.iter(f"{MARC}record")]


def test_sort_by_in_cql_and_sort_keys_in_1_1_sort_alike(service):
    cql = answer(service, query="dc.title = history sortBy dc.date/descending", maximumRecords=100, version="1.2")
    keys = answer(service, query="dc.title = history", sortKeys="dc.date,,0", maximumRecords=100, version="1.1")
    years = sort_values(cql)
    assert years == sorted(years, reverse=True) and control_numbers(cql) == control_numbers(keys)
    ascending = answer(service, query="dc.title = history", sortKeys="dc.date", maximumRecords=100, version="2.0")
    assert sort_values(ascending) == sorted(years)


@pytest.mark.parametrize("sort_keys, number", [("dc.date,,1,1", "91"), ("dc.date,,1,0,highValue", "92"),
                                               ("dc.date,ead", "87"), ("dc.date,,2", "90"), ("dc.subject", "80"),
                                               ("dc.date,,1,0,,x", "6")])
def test_sort_keys_the_engine_cannot_honour_are_diagnosed(service, sort_keys, number):
    root = answer(service, query="dc.title = history", sortKeys=sort_keys, version="1.1")
    assert [n for n, _ in diagnostics(root)] == [number]


def test_sort_keys_and_sort_by_together_are_refused(service):
    root = answer(service, query="dc.title = x sortBy dc.title", sortKeys="dc.date", version="1.1")
    assert diagnostics(root) == [("6", "sortKeys")]


# -- scan ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_scan_lists_terms_with_their_record_counts_as_the_engine_does(loaded, service, version):
    root = answer(service, scanClause="dc.title = hist", maximumTerms=5, version=version)
    terms = [(t.findtext("{*}value"), int(t.findtext("{*}numberOfRecords"))) for t in root.iter("{*}term")]
    assert terms == loaded.engine.scan("title", "hist", ["unicat"], count=5)
    around = answer(service, scanClause="dc.title = hist", maximumTerms=5, responsePosition=3, version=version)
    listed = [t.findtext("{*}value") for t in around.iter("{*}term")]
    assert listed[2:] == [value for value, _ in terms[:3]] and listed[1] < "hist"


def test_scan_of_headings_a_library_view_and_pqf(loaded, service):
    root = answer(service, "EAST", scanClause="dc.title == a", maximumTerms=3)
    assert [t.findtext("{*}value") for t in root.iter("{*}term")] == [
        value for value, _ in loaded.engine.scan("title", "a", ["EAST"], count=3, whole_field=True)]
    pqf = answer(service, x_pScanClause="@attr 1=4 hist", maximumTerms=5)
    cql = answer(service, scanClause="dc.title = hist", maximumTerms=5)
    assert etree.tostring(pqf) == etree.tostring(cql)


@pytest.mark.parametrize("clause, number", [("dc.identifier = 0", "16"), ("a and b", "10"),
                                            ("dc.title = x sortBy dc.title", "10"), ("dc.nothing = x", "16"),
                                            ("cql.allRecords = 1", "16"), ("dc.title = (", "13")])
def test_scan_clauses_that_cannot_be_scanned_are_diagnosed(service, clause, number):
    root = answer(service, scanClause=clause, version="1.2")
    assert [n for n, _ in diagnostics(root)] == [number] and root.find("{*}terms") is None
    assert [n for n, _ in diagnostics(answer(service, x_pScanClause="@and a b"))] == ["10"]


# -- explain -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_explain_describes_the_database_asked_for(loaded, service, version):
    root = answer(service, "WEST", version=version) if version == "2.0" else answer(service, "WEST", version=version,
                                                                                     operation="explain")
    explain = root.find(".//{http://explain.z3950.org/dtd/2.0/}explain")
    assert explain.findtext("{*}serverInfo/{*}database") == "WEST"
    assert explain.findtext("{*}serverInfo/{*}host") == "sru.test" and diagnostics(root) == []


def test_explain_of_an_unknown_database_describes_the_union_catalogue_with_diagnostic_235(service):
    root = answer(service, "NOWHERE", operation="explain", version="1.2", recordPacking="string")
    assert diagnostics(root) == [("235", "NOWHERE")]
    assert "<database numRecs=" in root.findtext(".//{*}recordData") and ">unicat</database>" in root.findtext(
        ".//{*}recordData")
    assert diagnostics(answer(service, operation="explain", version="1.2", bogus=1)) == [("8", "bogus")]


def test_a_bug_still_gives_a_valid_response_with_diagnostic_1(service, monkeypatch):
    monkeypatch.setattr(service.engine, "search", lambda *args: 1 / 0)
    assert diagnostics(answer(service, query="dc.title = x", version="1.2")) == [("1", "searchRetrieve")]
