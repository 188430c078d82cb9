"""Real harvesters against `unishelf serve`: sickle, the pyoai client (package oaipmh) and HTTP::OAI.

Each gets every record and tombstone of the catalogue, page by page, while it changes under them.
"""
from __future__ import annotations

import gzip
import http.client
import shutil
import subprocess
import urllib.parse
import urllib.request
import zlib

import pytest
from lxml import etree

from conftest import DATA, load, make_catalog, serving

OAI_PMH = shutil.which("oai_pmh")
NS = {"o": "http://www.openarchives.org/OAI/2.0/"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("oai")
    catalog = make_catalog(data_dir)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    load(catalog, [DATA / "unimarc-sample.mrc"], "CENTRAL", fmt="unimarc")
    with catalog.store.writing() as writer:
        catalog.catalogue.delete(writer, 3)
        writer.flush()
    catalog.close()
    config = data_dir / "unishelf.yaml"
    config.write_text("libraries: [{code: NORTH}, {code: EAST}, {code: CENTRAL}]\n"
                      "oai: {page_size: 25, repository_identifier: union.example.org}\n")
    with serving(data_dir, config) as (ports, _):
        catalog = make_catalog(data_dir)
        yield f"http://127.0.0.1:{ports['http']}/oai", catalog
        catalog.close()


def expected(catalog, syntaxes=("marc21", "unimarc")):
    """oai identifier -> deleted, for every bibliographic record in the store."""
    with catalog.store.reading() as reader:
        return {f"oai:union.example.org:{c.record_id}": c.deleted
                for c in reader.changes() if c.kind == "bib" and c.syntax in syntaxes}


def test_sickle_harvests_every_record_and_tombstone(server):
    from sickle import Sickle
    url, catalog = server
    for prefix, syntaxes in (("oai_dc", ("marc21", "unimarc")), ("marc21", ("marc21",))):
        got = {r.header.identifier: r.header.deleted
               for r in Sickle(url).ListRecords(metadataPrefix=prefix, ignore_deleted=False)}
        assert got == expected(catalog, syntaxes)
        assert any(got.values())
    record = next(iter(Sickle(url).ListRecords(metadataPrefix="oai_dc", set="library:EAST")))
    assert "library:EAST" in record.header.setSpecs and record.metadata["title"]
    posted = list(Sickle(url, http_method="POST").ListIdentifiers(metadataPrefix="mods", ignore_deleted=False))
    assert len(posted) == len(expected(catalog))


def test_pyoai_client_harvests_with_dates_and_sets(server):
    from oaipmh.client import Client
    from oaipmh.metadata import MetadataRegistry, oai_dc_reader
    url, catalog = server
    registry = MetadataRegistry()
    registry.registerReader("oai_dc", oai_dc_reader)
    client = Client(url, registry)
    assert client.identify().repositoryName() == "unishelf union catalogue"
    got = {header.identifier(): header.isDeleted()
           for header, _, _ in client.listRecords(metadataPrefix="oai_dc")}
    assert got == expected(catalog)
    assert {s[0] for s in client.listSets()} >= {"library:NORTH", "type:book"}
    earliest = client.identify().earliestDatestamp()
    assert len(list(client.listIdentifiers(metadataPrefix="oai_dc", from_=earliest))) == len(got)


@pytest.mark.skipif(OAI_PMH is None, reason="HTTP::OAI not installed (apt-get install libhttp-oai-perl)")
def test_http_oai_harvests_every_record(server):
    url, catalog = server
    result = subprocess.run([OAI_PMH, "-X", "ListIdentifiers", "--metadataPrefix", "oai_dc", url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    got = {line.split(": ", 1)[1] for line in lines if line.startswith("identifier: ")}
    assert got == set(expected(catalog))
    assert lines.count("status: deleted") == sum(expected(catalog).values())


def test_compression_only_when_asked(server):
    url, _ = server
    plain = urllib.request.urlopen(url + "?verb=Identify")
    assert plain.headers.get("Content-Encoding") is None and plain.headers["Content-Type"].startswith("text/xml")
    body = plain.read()
    for encoding, decode in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
        request = urllib.request.Request(url + "?verb=Identify", headers={"Accept-Encoding": encoding})
        response = urllib.request.urlopen(request)
        assert response.headers["Content-Encoding"] == encoding
        document = etree.fromstring(decode(response.read()))
        assert document.find("o:Identify", NS) is not None
    assert etree.fromstring(body).find("o:Identify", NS) is not None


def test_a_harvest_while_the_catalogue_changes_gets_every_unchanged_record_once(server):
    from sickle import Sickle
    url, catalog = server
    before = expected(catalog)
    order = list(before)
    changed, deleted = order[2], order[-3]          # one already harvested, one not yet
    seen = []
    for number, record in enumerate(Sickle(url).ListRecords(metadataPrefix="oai_dc", ignore_deleted=False)):
        seen.append(record.header.identifier)
        if number == 30:                            # on the second page of 25
            with catalog.store.writing() as writer:
                catalog.catalogue.attach_holdings(writer, int(changed.rsplit(":", 1)[1]), "EAST", [{"note": "x"}])
                catalog.catalogue.delete(writer, int(deleted.rsplit(":", 1)[1]))
                writer.flush()
    assert all(seen.count(i) == 1 for i in before if i not in (changed, deleted))
    assert seen.count(changed) == 2 and seen.count(deleted) == 1   # the change comes again, at the end
    assert set(seen) == set(expected(catalog))


def test_a_keep_alive_harvest_read_ahead_while_the_catalogue_changes_gets_every_unchanged_record_once(server):
    """One connection throughout, as the benchmark's harvester keeps it: every page after the
    second is read ahead, and the page kept when the catalogue changed is not served."""
    url, catalog = server
    before = expected(catalog)
    order = list(before)
    changed = next(i for i in order[5:] if not before[i])         # on the first page
    deleted = next(i for i in order[80:] if not before[i])        # on the fourth, read ahead by then
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    query, seen, pages = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}, [], 0
    while query:
        connection.request("GET", f"{address.path}?{urllib.parse.urlencode(query)}")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and int(response.getheader("Content-Length")) == len(body)
        document = etree.fromstring(body)
        seen += [h.text for h in document.iterfind(".//o:header/o:identifier", NS)]
        pages += 1
        if pages == 3:
            with catalog.store.writing() as writer:
                catalog.catalogue.attach_holdings(writer, int(changed.rsplit(":", 1)[1]), "EAST", [{"note": "y"}])
                catalog.catalogue.delete(writer, int(deleted.rsplit(":", 1)[1]))
                writer.flush()
        token = document.findtext(".//o:resumptionToken", namespaces=NS)
        query = {"verb": "ListRecords", "resumptionToken": token} if token else None
    connection.close()
    assert all(seen.count(i) == 1 for i in before if i not in (changed, deleted))
    assert seen.count(changed) == 2 and seen.count(deleted) == 1
    assert set(seen) == set(expected(catalog)) and pages > 4
