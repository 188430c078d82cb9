"""Real SRU clients against `unishelf serve`: yaz-client (SRU GET, POST and SOAP), zoomsh and plain
HTTP, searching, showing, scanning and explaining the catalogue, and reusing result sets across
connections, which the two serving processes share."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest import DATA, load, make_catalog, serving
from test_sru_responses import validate
from unishelf.z3950.pqf import parse_pqf

YAZ_CLIENT = shutil.which("yaz-client")
ZOOMSH = shutil.which("zoomsh")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sru")
    catalog = make_catalog(data_dir)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    load(catalog, [DATA / "unimarc-sample.mrc"], "CENTRAL", fmt="unimarc")
    catalog.close()
    config = data_dir / "unishelf.yaml"
    config.write_text("libraries: [{code: NORTH}, {code: EAST}, {code: CENTRAL}]\nlisten: {workers: 2}\n")
    with serving(data_dir, config) as (ports, _):
        catalog = make_catalog(data_dir)
        yield f"http://127.0.0.1:{ports['http']}/sru", catalog
        catalog.close()


def count(catalog, pqf: str, database: str = "unicat") -> int:
    return len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf)), [database]))


def fetch(url: str, data: bytes | None = None, headers=None) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        return gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body


def query_url(base: str, database: str = "unicat", **parameters) -> str:
    return f"{base}/{database}?{urllib.parse.urlencode(parameters)}"


def test_plain_http_get_and_post_in_every_version(server):
    base, catalog = server
    expected = count(catalog, "@attr 1=4 history")
    for version in ("1.1", "1.2", "2.0"):
        got = validate(fetch(query_url(base, query="dc.title = history", version=version)).decode(), version)
        assert int(got.findtext("{*}numberOfRecords")) == expected
        form = urllib.parse.urlencode({"query": "dc.title = history", "version": version, "maximumRecords": "2"})
        posted = validate(fetch(f"{base}/unicat", form.encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"}).decode(), version)
        assert len(posted.findall("{*}records/{*}record")) == 2
    zipped = fetch(query_url(base, query="dc.title = history"), headers={"Accept-Encoding": "gzip"})
    validate(zipped.decode(), "2.0")


def test_a_result_set_is_reused_over_new_connections_whichever_process_answers(server):
    base, _ = server
    first = validate(fetch(query_url(base, query="dc.title = history sortBy dc.date", resultSetTTL=300,
                                     maximumRecords=1, version="1.2")).decode(), "1.2")
    name = first.findtext("{*}resultSetId")
    for start in range(2, 8):   # new connections each time: both serving processes answer some
        page = validate(fetch(query_url(base, query=f'cql.resultSetId = "{name}"', startRecord=start,
                                        maximumRecords=1, version="1.2")).decode(), "1.2")
        assert page.find("{*}diagnostics") is None and page.findtext("{*}resultSetId") == name
        assert page.findtext("{*}records/{*}record/{*}recordPosition") == str(start)


def test_explain_and_scan_over_http(server):
    base, catalog = server
    explain = validate(fetch(f"{base}/EAST").decode(), "2.0")
    assert explain.findtext(".//{*}serverInfo/{*}database") == "EAST"
    scan = validate(fetch(query_url(base, scanClause="dc.title = hist", maximumTerms=4, version="1.1")).decode(), "1.1")
    assert [t.findtext("{*}value") for t in scan.iter("{*}term")] == [
        term for term, _ in catalog.engine.scan("title", "hist", ["unicat"], count=4)]


def yaz(url: str, commands: list[str]) -> str:
    result = subprocess.run([YAZ_CLIENT, url], input="\n".join(commands) + "\nquit\n", capture_output=True, text=True,
                            timeout=60, env={**os.environ, "LANG": "C.UTF-8"})
    return result.stdout + result.stderr


@pytest.mark.skipif(YAZ_CLIENT is None, reason="yaz-client not installed (apt-get install yaz)")
class TestYazClient:
    def test_sru_get_searches_shows_in_each_schema_and_scans(self, server):
        base, catalog = server
        out = yaz(f"{base}/unicat", ["sru get 1.2", "find dc.title = history", "show 1", "schema dc", "show 2",
                                     "schema opac", "show 3", "scan dc.title = hist", "find dc.title = ("])
        assert f"Number of hits: {count(catalog, '@attr 1=4 history')}" in out
        assert "schema=info:srw/schema/1/marcxml-v1.1" in out and "schema=info:srw/schema/1/dc-v1.1" in out
        assert "<opacRecord><bibliographicRecord>" in out and "<nucCode>" in out
        assert "Received SRW Scan Response" in out and "history: " in out
        assert "SRW diagnostic info:srw/diagnostic/1/13" in out

    def test_sru_post_2_0_and_the_default_soap_binding(self, server):
        base, catalog = server
        expected = f"Number of hits: {count(catalog, '@attr 1=4 中國', 'EAST')}"
        assert expected in yaz(f"{base}/EAST", ["sru post 2.0", "find dc.title = 中國", "show 1"])
        soap = yaz(f"{base}/EAST", ["find dc.title = 中國", "show 1", "scan dc.title = 中"])
        assert expected in soap and "Received SRW Scan Response" in soap and "<record xmlns=" in soap

    def test_unimarc_records_come_as_surrogate_diagnostics_in_marcxml(self, server):
        base, _ = server
        out = yaz(f"{base}/CENTRAL", ["sru get 1.1", "find cql.allRecords = 1", "show 1", "schema mods", "show 2"])
        assert "info:srw/diagnostic/1/67" in out and "<mods " in out


@pytest.mark.skipif(ZOOMSH is None, reason="zoomsh not installed (apt-get install yaz)")
def test_zoomsh_searches_shows_and_scans_over_sru(server):
    base, catalog = server
    expected = count(catalog, "@attr 1=21 history")
    result = subprocess.run([ZOOMSH, "set sru get", f"connect {base}/unicat", "search cql:dc.subject = history",
                             "show 0 1", "set schema dc", "show 1 1", "search @attr 1=21 history",
                             "scan cql:dc.subject = hist", "quit"], capture_output=True, text=True, timeout=60)
    assert result.stdout.count(f"{expected} hits") == 2
    assert "<record xmlns=\"http://www.loc.gov/MARC21/slim\"" in result.stdout and "schema=dc" in result.stdout
    assert "history " in result.stdout
