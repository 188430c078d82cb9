"""SRU request parameters: versions, operations, every parameter and every way one can be wrong."""
from __future__ import annotations

import pytest

from unishelf.sru.parameters import parse_request
from unishelf.sru.settings import SRUSettings

SETTINGS = SRUSettings(default_records=10, max_records=50, default_terms=20, max_terms=100, max_result_set_ttl=600)


def parse(**parameters):
    return parse_request({name: [str(value)] for name, value in parameters.items()}, SETTINGS)


def diagnostic(**parameters):
    request = parse(**parameters)
    assert request.error is not None, request
    return request.error.number, request.error.details


@pytest.mark.parametrize("given, answered", [(None, "2.0"), ("1.1", "1.1"), ("1.2", "1.2"), ("2.0", "2.0")])
def test_the_version_is_the_one_asked_for_and_2_0_without_one(given, answered):
    request = parse(query="x") if given is None else parse(query="x", version=given)
    assert request.version == answered and request.error is None


@pytest.mark.parametrize("given, answered", [("1.0", "1.1"), ("0.9", "1.1"), ("3.0", "2.0"), ("abc", "2.0")])
def test_an_unsupported_version_is_diagnostic_5_in_the_nearest_version(given, answered):
    request = parse(query="x", version=given)
    assert request.version == answered
    assert (request.error.number, request.error.details) == (5, "2.0")


@pytest.mark.parametrize("parameters, operation", [
    ({"query": "x"}, "searchRetrieve"), ({"scanClause": "x"}, "scan"), ({}, "explain"),
    ({"x-pquery": "@attr 1=4 x"}, "searchRetrieve"), ({"x-pScanClause": "@attr 1=4 x"}, "scan"),
    ({"operation": "explain", "query": "x"}, "explain"),
    ({"operation": "searchRetrieve", "query": "x"}, "searchRetrieve"),
])
def test_the_operation_is_named_or_inferred_as_sru_2_0_does(parameters, operation):
    request = parse(**parameters)
    assert request.operation == operation


def test_an_unknown_operation_is_diagnostic_4():
    assert diagnostic(operation="update", version="1.2") == (4, "update")


@pytest.mark.parametrize("version, name", [("1.2", "sortKeys"), ("1.1", "recordXMLEscaping"), ("2.0", "recordXPath"),
                                           ("1.2", "queryType"), ("2.0", "facetLimit"), ("1.2", "bogus")])
def test_a_parameter_the_version_does_not_have_is_diagnostic_8(version, name):
    assert diagnostic(query="x", version=version, **{name: "1"}) == (8, name)


def test_scan_and_explain_take_only_their_own_parameters():
    assert diagnostic(operation="scan", scanClause="x", maximumRecords=1) == (8, "maximumRecords")
    assert diagnostic(operation="explain", version="1.2", query="x") == (8, "query")


def test_extensions_are_ignored():
    assert parse(query="x", **{"x-foo": "1", "x-info-5-restrictorType": "a"}).error is None


def test_empty_values_count_as_absent_and_the_first_of_a_repeat_wins():
    request = parse_request({"query": ["a", "b"], "startRecord": [""], "recordSchema": [""]}, SETTINGS)
    assert request.query == "a" and request.start_record == 1 and request.schema.name == "marcxml"
    assert parse_request({"query": [""]}, SETTINGS).operation == "explain"


def test_search_retrieve_defaults_come_from_the_settings():
    request = parse(query="dc.title=water")
    assert (request.query, request.query_type, request.start_record, request.maximum_records) == (
        "dc.title=water", "cql", 1, 10)
    assert request.schema.name == "marcxml" and request.escaping == "xml"
    assert request.result_set_ttl is None and request.sort_keys is None and request.stylesheet is None


def test_search_retrieve_reads_every_parameter():
    request = parse(version="1.1", query="a", startRecord=3, maximumRecords=7, recordSchema="info:srw/schema/1/dc-v1.1",
                    recordPacking="string", resultSetTTL=60, sortKeys="dc.title,,0", stylesheet="/s.xsl")
    assert (request.start_record, request.maximum_records, request.schema.name, request.escaping) == (
        3, 7, "dc", "string")
    assert (request.result_set_ttl, request.sort_keys, request.stylesheet) == (60, "dc.title,,0", "/s.xsl")


def test_sru_2_0_escapes_with_record_xml_escaping_and_packs_records_whole():
    assert parse(query="a", recordXMLEscaping="string").escaping == "string"
    assert parse(query="a", recordPacking="packed", queryType="cql", renderedBy="client",
                 httpAccept="application/sru+xml", responseType="application/sru+xml").error is None
    assert diagnostic(query="a", recordPacking="unpacked") == (71, "unpacked")
    assert diagnostic(query="a", recordXMLEscaping="json") == (71, "json")
    assert diagnostic(query="a", version="1.2", recordPacking="packed") == (71, "packed")
    assert parse(query="a", version="1.2", recordPacking="XML").escaping == "xml"


def test_maximum_records_is_cut_to_the_maximum_and_result_set_ttl_too():
    request = parse(query="a", maximumRecords=5000, resultSetTTL=99999)
    assert request.maximum_records == 50 and request.result_set_ttl == 600
    assert parse(query="a", maximumRecords=0, resultSetTTL=0).maximum_records == 0


@pytest.mark.parametrize("name, value", [("startRecord", "0"), ("startRecord", "-1"), ("startRecord", "x"),
                                         ("maximumRecords", "-1"), ("maximumRecords", "1.5"),
                                         ("resultSetTTL", "-5"), ("startRecord", "١"), ("startRecord", "9" * 5000)])
def test_numbers_that_are_not_whole_or_too_small_are_diagnostic_6(name, value):
    assert diagnostic(query="a", **{name: value}) == (6, name)


def test_search_retrieve_needs_a_query():
    assert diagnostic(operation="searchRetrieve", version="1.2") == (7, "query")


def test_a_pqf_extension_query_is_read_when_there_is_no_cql_one():
    request = parse(**{"x-pquery": "@attr 1=4 water"})
    assert (request.query, request.query_type) == ("@attr 1=4 water", "pqf")
    assert parse(query="water", **{"x-pquery": "@attr 1=4 x"}).query_type == "cql"


@pytest.mark.parametrize("parameters, expected", [
    ({"queryType": "searchTerms"}, (6, "queryType")), ({"renderedBy": "server"}, (6, "renderedBy")),
    ({"version": "1.1", "recordXPath": "/record"}, (72, "/record")), ({"recordSchema": "rdf"}, (66, "rdf")),
])
def test_what_the_server_does_not_do_is_diagnosed(parameters, expected):
    assert diagnostic(query="a", **parameters) == expected


def test_record_schemas_are_named_by_short_name_identifier_or_alias():
    for name, schema in [("MARCXML", "marcxml"), ("info:srw/schema/1/marcxml-v1.1", "marcxml"), ("dc", "dc"),
                         ("info:srw/schema/1/mods-v3.7", "mods"), ("opacxml", "opac"), ("OPAC", "opac")]:
        assert parse(query="a", recordSchema=name).schema.name == schema


def test_scan_parameters_and_their_limits():
    request = parse(scanClause="dc.title=a", responsePosition=3, maximumTerms=10)
    assert (request.operation, request.scan_clause, request.response_position, request.maximum_terms) == (
        "scan", "dc.title=a", 3, 10)
    assert parse(scanClause="a").maximum_terms == 20 and parse(scanClause="a").response_position == 1
    assert parse(scanClause="a", responsePosition=0).response_position == 0
    assert diagnostic(operation="scan") == (7, "scanClause")
    assert diagnostic(scanClause="a", maximumTerms=101) == (121, "100")
    assert diagnostic(scanClause="a", maximumTerms=0) == (6, "maximumTerms")
    assert diagnostic(scanClause="a", maximumTerms=5, responsePosition=7) == (120, "7")
    assert diagnostic(scanClause="a", responsePosition=-1) == (6, "responsePosition")
    assert diagnostic(scanClause="a", queryType="pqf") == (6, "queryType")
    assert parse(**{"x-pScanClause": "@attr 1=4 a"}).query_type == "pqf"


def test_explain_reads_packing_and_stylesheet():
    request = parse(operation="explain", version="1.2", recordPacking="string", stylesheet="e.xsl")
    assert (request.operation, request.escaping, request.stylesheet, request.error) == (
        "explain", "string", "e.xsl", None)


def test_an_error_keeps_what_was_read_for_the_response():
    request = parse(version="1.1", operation="scan", scanClause="a", maximumTerms="x", stylesheet="s.xsl")
    assert (request.operation, request.version, request.stylesheet, request.error.number) == ("scan", "1.1", "s.xsl", 6)
