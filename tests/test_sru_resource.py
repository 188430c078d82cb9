"""The twisted.web adapter: database from the path, GET, POST forms, SOAP (SRW), compression, and
the address Explain names; driven with twisted's DummyRequest, no sockets."""
from __future__ import annotations

import gzip
import zlib
from io import BytesIO

import pytest
from lxml import etree
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from conftest import DATA, make_catalog
from test_sru_responses import validate
from unishelf import http
from unishelf.sru.resource import SRUResource
from unishelf.sru.result_sets import ResultSetStore
from unishelf.sru.service import SRUService
from unishelf.sru.settings import SRUSettings
from unishelf.sru.soap import SOAPFault, soap_arguments

SOAP_REQUEST = (DATA / "sru" / "yaz-srw-searchRetrieve.xml").read_bytes()


@pytest.fixture
def sru(loaded, tmp_path):
    kept = ResultSetStore(tmp_path / "result-sets", 10)
    yield SRUResource(SRUService(loaded, SRUSettings(), result_sets=kept))
    kept.close()


def get(resource, path=b"unicat", method=b"GET", args=None, headers=None, body=None) -> tuple[DummyRequest, bytes]:
    request = DummyRequest([part for part in path.split(b"/")] if path else [])
    request.method = method
    request.args = {key.encode(): [value.encode()] for key, value in (args or {}).items()}
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    if body is not None:
        request.content = BytesIO(body)
    return request, resource.render(request)


def test_get_answers_for_the_database_of_the_path(loaded, sru):
    request, body = get(sru, b"EAST", args={"query": "cql.allRecords = 1", "maximumRecords": "0", "version": "1.2"})
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/xml; charset=utf-8"]
    root = validate(body.decode(), "1.2")
    assert int(root.findtext("{*}numberOfRecords")) == loaded.engine.count("EAST")


def test_no_database_in_the_path_is_the_union_catalogue_and_an_encoded_name_is_decoded(loaded, sru):
    for path in (b"", b"%75nicat"):
        _, body = get(sru, path, args={"query": "cql.allRecords = 1", "maximumRecords": "0"})
        assert int(validate(body.decode(), "2.0").findtext("{*}numberOfRecords")) == loaded.engine.count("unicat")
    _, body = get(sru, b"unicat/more", args={"query": "x"})
    assert b"info:srw/diagnostic/1/235" in body


def test_post_forms_are_answered_as_get(sru):
    _, body = get(sru, method=b"POST", args={"query": "dc.title = history", "maximumRecords": "1"},
                  headers={b"content-type": b"application/x-www-form-urlencoded"})
    assert validate(body.decode(), "2.0").findtext("{*}records/{*}record/{*}recordPosition") == "1"


def test_explain_names_the_host_and_port_the_client_used(sru):
    for host, expected in [(b"sru.example.org:8080", ("sru.example.org", "8080")), (b"[::1]:81", ("::1", "81")),
                           (b"plain.example.org", ("plain.example.org", "80"))]:
        _, body = get(sru, headers={b"host": host}, args={"version": "1.2"})
        server = validate(body.decode(), "1.2").find(".//{*}serverInfo")
        assert (server.findtext("{*}host"), server.findtext("{*}port")) == expected
    _, body = get(sru, args={"version": "1.2"})
    assert validate(body.decode(), "1.2").findtext(".//{*}serverInfo/{*}host") == "127.0.0.1"


@pytest.mark.parametrize("accept, decompress", [(b"gzip", gzip.decompress), (b"deflate", zlib.decompress)])
def test_responses_are_compressed_when_asked(sru, accept, decompress):
    request, body = get(sru, args={"query": "dc.title = history"}, headers={b"accept-encoding": accept})
    assert request.responseHeaders.getRawHeaders(b"content-encoding") == [accept]
    validate(decompress(body).decode(), "2.0")
    _, plain = get(sru, args={"query": "dc.title = history"}, headers={b"accept-encoding": b"gzip;q=0"})
    validate(plain.decode(), "2.0")


def test_srw_soap_requests_as_yaz_sends_them_get_soap_responses(loaded, sru):
    request, body = get(sru, method=b"POST", body=SOAP_REQUEST, headers={b"content-type": b"text/xml"})
    envelope = etree.fromstring(body)
    assert envelope.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    response = envelope.find("{*}Body")[0]
    validate(etree.tostring(response).decode(), "1.2")
    assert response.findtext("{*}version") == "1.2" and response.find("{*}diagnostics") is None
    _, plain = get(sru, args={"version": "1.2", "query": "dc.title=water", "maximumRecords": "0"})
    assert response.findtext("{*}numberOfRecords") == validate(plain.decode(), "1.2").findtext("{*}numberOfRecords")


def test_soap_arguments_are_the_request_elements_and_pqf_elements_become_extensions():
    assert soap_arguments(SOAP_REQUEST) == {"operation": ["searchRetrieve"], "version": ["1.2"],
                                            "query": ["dc.title=water"], "maximumRecords": ["0"]}
    scan = (b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
            b'<zs:scanRequest xmlns:zs="http://www.loc.gov/zing/srw/"><zs:version>1.1</zs:version>'
            b"<zs:pScanClause>@attr 1=4 a</zs:pScanClause><zs:xQuery><x/></zs:xQuery></zs:scanRequest>"
            b"</S:Body></S:Envelope>")
    assert soap_arguments(scan) == {"operation": ["scan"], "version": ["1.1"], "x-pScanClause": ["@attr 1=4 a"]}


@pytest.mark.parametrize("body", [
    b"not xml", b"<a/>",
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><other/></S:Body></S:Envelope>'])
def test_what_is_not_an_srw_request_is_a_soap_fault(sru, body):
    with pytest.raises(SOAPFault):
        soap_arguments(body)
    request, answer = get(sru, method=b"POST", body=body, headers={b"content-type": b"text/xml; charset=utf-8"})
    assert request.responseCode == 500 and b"<faultcode>SOAP-ENV:Client</faultcode>" in answer


def test_the_http_site_serves_sru_at_slash_sru(tmp_path):
    catalog = make_catalog(tmp_path)
    site = http.site(catalog)
    request = DummyRequest([b"sru", b"unicat"])
    child = getChildForRequest(site.resource, request)
    assert isinstance(child, SRUResource) and request.postpath == [b"unicat"]
    child.service.result_sets.close()
    catalog.close()
