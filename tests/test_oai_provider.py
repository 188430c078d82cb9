"""The OAI-PMH provider core, without sockets: every verb, every error, tokens, sets, dates.

Every response is validated against OAI-PMH.xsd with the payload schemas (oai_dc, MARC21 slim,
MODS, oai-identifier) loaded, since the protocol's wildcards are strict.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from unishelf.marc.rendered_codec import ZSTD_MAGIC
from unishelf.oaipmh.arguments import OAIErrors, parse_arguments
from unishelf.oaipmh.provider import Provider
from unishelf.oaipmh.tokens import ResumptionToken

from conftest import DATA, load, make_catalog

NS = {"o": "http://www.openarchives.org/OAI/2.0/", "dc": "http://purl.org/dc/elements/1.1/",
      "marc": "http://www.loc.gov/MARC21/slim", "mods": "http://www.loc.gov/mods/v3"}
BASE = "http://localhost/oai"
SCHEMA = etree.XMLSchema(etree.parse(str(DATA / "schemas" / "oai-all.xsd")))


def ask(provider, now=None, **arguments):
    """The parsed, schema-valid response to a request given as keyword arguments."""
    response = provider.respond({k.rstrip("_"): v if isinstance(v, list) else [v] for k, v in arguments.items()},
                                BASE, now)
    document = etree.fromstring(b"".join(response.chunks()))
    assert SCHEMA.validate(document), SCHEMA.error_log
    return document


def errors(document) -> list[str]:
    return [e.get("code") for e in document.findall("o:error", NS)]


def harvest(provider, verb="ListRecords", **arguments):
    """Every item of a list, following tokens; also the pages' tokens."""
    document = ask(provider, verb=verb, **arguments)
    items, tokens = [], []
    while True:
        tag = "o:record" if verb == "ListRecords" else "o:header"
        items += document.findall(f"o:{verb}/{tag}", NS)
        token = document.find(f"o:{verb}/o:resumptionToken", NS)
        if token is None or not token.text:
            tokens.append(token)
            return items, tokens
        tokens.append(token)
        document = ask(provider, verb=verb, resumptionToken=token.text)


def identifier(item) -> str:
    return item.findtext(".//o:identifier", namespaces=NS)


@pytest.fixture(scope="module")
def provider(loaded):
    return Provider(loaded)


@pytest.fixture
def small_pages(loaded):
    provider = Provider(loaded)
    provider.config = dict(provider.config, page_size=7)
    return provider


def test_identify(provider):
    document = ask(provider, verb="Identify")
    identify = document.find("o:Identify", NS)
    assert identify.findtext("o:baseURL", namespaces=NS) == BASE
    assert identify.findtext("o:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert [c.text for c in identify.findall("o:compression", NS)] == ["gzip", "deflate"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", identify.findtext("o:earliestDatestamp", namespaces=NS))
    assert document.find("o:request", NS).attrib == {"verb": "Identify"}


@pytest.mark.parametrize("arguments, code", [
    ({}, "badVerb"),
    ({"verb": "identify"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "set": "x"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2001-01-01T00:00:00"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2001-13-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2001-01-01", "until": "2002-01-01T00:00:00Z"},
     "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2002-01-01", "until": "2001-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": ""}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": ""}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": ResumptionToken(
        "ListRecords", "oai_dc", None, None, None, -5, 0, 1, 4_000_000_000).encode()}, "badResumptionToken"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:unishelf.localhost:\u00b2"},
     "idDoesNotExist"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:unishelf.localhost:\u0663"},
     "idDoesNotExist"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:unishelf.localhost:4294967296"},
     "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "dc"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:elsewhere.org:1"}, "idDoesNotExist"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:unishelf.localhost:999999"},
     "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:unishelf.localhost:x"}, "idDoesNotExist"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "until": "1990-01-01"}, "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "library:NOWHERE"}, "noRecordsMatch"),
])
def test_errors_are_answered_as_the_specification_says(provider, arguments, code):
    document = ask(provider, **arguments)
    assert errors(document) == [code] or (code == "badArgument" and set(errors(document)) == {code})
    request = document.find("o:request", NS)
    if code in ("badVerb", "badArgument"):
        assert request.attrib == {}          # nothing of a bad request is echoed
    else:
        assert request.get("verb") == arguments["verb"]
    assert request.text == BASE


def test_every_argument_error_is_reported():
    with pytest.raises(OAIErrors) as caught:
        parse_arguments({"verb": ["ListRecords"], "foo": ["1"], "bar": ["2"]})
    assert [e.code for e in caught.value.errors] == ["badArgument", "badArgument"]


def test_list_metadata_formats_for_the_repository_and_for_an_item(provider, loaded):
    document = ask(provider, verb="ListMetadataFormats")
    prefixes = [p.text for p in document.iterfind(".//o:metadataPrefix", NS)]
    assert {"oai_dc", "marc21", "marcxml", "mods"} <= set(prefixes)
    unimarc_id = next(c.record_id for c in changes(loaded) if c.syntax == "unimarc")
    document = ask(provider, verb="ListMetadataFormats", identifier=f"oai:unishelf.localhost:{unimarc_id}")
    assert "marc21" not in [p.text for p in document.iterfind(".//o:metadataPrefix", NS)]


def changes(catalog):
    with catalog.store.reading() as reader:
        return list(reader.changes())


def test_list_sets_lists_libraries_and_types_with_their_parents(provider):
    specs = [s.text for s in ask(provider, verb="ListSets").iterfind(".//o:setSpec", NS)]
    assert specs.index("library") < specs.index("library:NORTH")
    assert {"library:CENTRAL", "library:EAST", "type", "type:book", "type:serial"} <= set(specs)


def test_a_full_harvest_pages_with_tokens_and_gets_every_record_once(small_pages, loaded):
    bibs = [c for c in changes(loaded) if c.kind == "bib"]
    items, tokens = harvest(small_pages, metadataPrefix="oai_dc")
    assert sorted(identifier(i) for i in items) == sorted(f"oai:unishelf.localhost:{c.record_id}" for c in bibs)
    assert len(tokens) == -(-len(bibs) // 7)
    first = tokens[0]
    assert first.get("cursor") == "0" and int(first.get("completeListSize")) == len(bibs)
    assert first.get("expirationDate").endswith("Z")
    assert tokens[-1].text is None and int(tokens[-1].get("cursor")) == 7 * (len(tokens) - 1)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", first.text)   # URL-safe


def test_marc21_lists_only_marc21_records_and_they_are_marcxml(small_pages, loaded):
    items, _ = harvest(small_pages, metadataPrefix="marc21")
    expected = [c for c in changes(loaded) if c.kind == "bib" and c.syntax == "marc21"]
    assert len(items) == len(expected)
    assert all(i.find("o:metadata/marc:record", NS) is not None for i in items)


def test_mods_and_oai_dc_carry_every_syntax(provider, loaded):
    for prefix, root in (("mods", "mods:mods"), ("oai_dc", "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc")):
        items, _ = harvest(provider, metadataPrefix=prefix)
        assert len(items) == len([c for c in changes(loaded) if c.kind == "bib"])
        assert all(i.find(f"o:metadata/{root}", NS) is not None for i in items)


def test_list_identifiers_gives_the_same_headers_as_list_records(small_pages):
    headers, _ = harvest(small_pages, "ListIdentifiers", metadataPrefix="oai_dc")
    records, _ = harvest(small_pages, metadataPrefix="oai_dc")
    assert [etree.tostring(h) for h in headers] == [etree.tostring(r.find("o:header", NS)) for r in records]


def test_set_harvest_and_set_specs_in_headers(provider, loaded):
    headers, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", set_="library:EAST")
    held = loaded.engine.search(__import__("unishelf.search.tree", fromlist=["Term"]).Term("library", "EAST")).bitmap
    assert sorted(int(identifier(h).rsplit(":", 1)[1]) for h in headers) == sorted(held)
    assert all("library:EAST" in [s.text for s in h.findall("o:setSpec", NS)] for h in headers)
    parent, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", set_="library")
    assert len(parent) >= len(headers)
    types, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", set_="type:serial")
    assert types and all("type:serial" in [s.text for s in h.findall("o:setSpec", NS)] for h in types)


def test_get_record(provider, loaded):
    change = next(c for c in changes(loaded) if c.syntax == "marc21")
    document = ask(provider, verb="GetRecord", identifier=f"oai:unishelf.localhost:{change.record_id}",
                   metadataPrefix="marc21")
    record = document.find("o:GetRecord/o:record", NS)
    assert record.findtext("o:header/o:datestamp", namespaces=NS) == change.datestamp
    unimarc = next(c for c in changes(loaded) if c.syntax == "unimarc")
    document = ask(provider, verb="GetRecord", identifier=f"oai:unishelf.localhost:{unimarc.record_id}",
                   metadataPrefix="marc21")
    assert errors(document) == ["cannotDisseminateFormat"]


def test_tokens_expire_and_belong_to_their_verb(small_pages):
    document = ask(small_pages, verb="ListIdentifiers", metadataPrefix="oai_dc")
    token = document.findtext("o:ListIdentifiers/o:resumptionToken", namespaces=NS)
    assert errors(ask(small_pages, verb="ListRecords", resumptionToken=token)) == ["badResumptionToken"]
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert errors(ask(small_pages, later, verb="ListIdentifiers", resumptionToken=token)) == ["badResumptionToken"]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert errors(ask(small_pages, verb="ListIdentifiers", resumptionToken=tampered)) == ["badResumptionToken"]
    again = ask(small_pages, verb="ListIdentifiers", resumptionToken=token)   # idempotent while valid
    assert etree.tostring(again.find("o:ListIdentifiers", NS)) == etree.tostring(
        ask(small_pages, verb="ListIdentifiers", resumptionToken=token).find("o:ListIdentifiers", NS))


def test_token_round_trip():
    token = ResumptionToken("ListRecords", "oai_dc", "library:X", "2001-01-01", None, 42, 100, 1000, 2_000_000_000)
    assert ResumptionToken.decode(token.encode(), "ListRecords", 0) == token


@pytest.fixture
def changing(tmp_path):
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    provider = Provider(catalog)
    provider.config = dict(provider.config, page_size=10)
    yield catalog, provider
    catalog.close()


def test_a_harvest_during_updates_neither_skips_nor_repeats_unchanged_records(changing):
    catalog, provider = changing
    ids = [c.record_id for c in changes(catalog)]
    document = ask(provider, verb="ListIdentifiers", metadataPrefix="oai_dc")
    seen = [identifier(h) for h in document.iterfind(".//o:header", NS)]
    token = document.findtext(".//o:resumptionToken", namespaces=NS)
    harvested, pending = ids[:10], ids[10:]
    changed_seen, changed_pending, deleted = harvested[3], pending[5], pending[7]
    with catalog.store.writing() as writer:       # one already sent, one not yet, one deleted
        for record_id in (changed_seen, changed_pending):
            catalog.catalogue.attach_holdings(writer, record_id, "SOUTH", [{"library": "SOUTH"}])
        catalog.catalogue.delete(writer, deleted)
        writer.flush()
    while token:
        document = ask(provider, verb="ListIdentifiers", resumptionToken=token)
        seen += [identifier(h) for h in document.iterfind(".//o:header", NS)]
        token = document.findtext(".//o:resumptionToken", namespaces=NS)
    unchanged = set(ids) - {changed_seen, changed_pending, deleted}
    counts = {i: seen.count(f"oai:unishelf.localhost:{i}") for i in ids}
    assert all(counts[i] == 1 for i in unchanged)
    assert counts[changed_seen] == 2 and counts[changed_pending] == 1 and counts[deleted] == 1


def test_deleted_records_are_headers_with_status_and_stay_in_their_sets(changing):
    catalog, provider = changing
    victim = changes(catalog)[0].record_id
    with catalog.store.writing() as writer:
        catalog.catalogue.delete(writer, victim)
        writer.flush()
    oai_id = f"oai:unishelf.localhost:{victim}"
    for arguments in ({}, {"set_": "library:NORTH"}, {"set_": "type:book"}):
        records, _ = harvest(provider, metadataPrefix="marc21", **arguments)
        [tombstone] = [r for r in records if identifier(r) == oai_id]
        assert tombstone.find("o:header", NS).get("status") == "deleted"
        assert tombstone.find("o:metadata", NS) is None
        assert "library:NORTH" in [s.text for s in tombstone.iterfind(".//o:setSpec", NS)]
    document = ask(provider, verb="GetRecord", identifier=oai_id, metadataPrefix="oai_dc")
    assert document.find(".//o:header", NS).get("status") == "deleted"


def test_from_and_until_select_by_datestamp_inclusive(changing):
    catalog, provider = changing
    everything = changes(catalog)
    with catalog.store.writing() as writer:   # a later datestamp for one record
        writer.txn.put(b"datestamp", b"2099-01-01T00:00:00Z", db=writer.db["meta"])
        catalog.catalogue.attach_holdings(writer, everything[0].record_id, "SOUTH", [{"library": "SOUTH"}])
        writer.flush()
    late = f"oai:unishelf.localhost:{everything[0].record_id}"
    headers, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", from_="2099-01-01")
    assert [identifier(h) for h in headers] == [late]
    headers, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", from_="2099-01-01T00:00:00Z",
                         until="2099-01-01T00:00:00Z")
    assert [identifier(h) for h in headers] == [late]
    headers, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", until=everything[-1].datestamp[:10])
    assert late not in [identifier(h) for h in headers] and len(headers) == len(everything) - 1
    document = ask(provider, verb="ListIdentifiers", metadataPrefix="oai_dc", from_="2099-01-02")
    assert errors(document) == ["noRecordsMatch"]


def test_configured_query_sets(tmp_path):
    catalog = make_catalog(tmp_path, **{"oai.sets": [{"spec": "cjk", "name": "Chinese", "query": "@attr 1=54 chi"}]})
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    provider = Provider(catalog)
    headers, _ = harvest(provider, "ListIdentifiers", metadataPrefix="oai_dc", set_="cjk")
    assert headers and all("cjk" in [s.text for s in h.findall("o:setSpec", NS)] for h in headers)
    assert "cjk" in [s.text for s in ask(provider, verb="ListSets").iterfind(".//o:setSpec", NS)]
    catalog.close()


def test_characters_xml_forbids_never_reach_a_response(tmp_path):
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "edge-cases" / "marc-all.marc"], "NORTH")
    provider = Provider(catalog)
    for prefix in ("marc21", "oai_dc", "mods"):
        harvest(provider, metadataPrefix=prefix)     # ask() parses and validates every page
    catalog.close()


def test_a_page_holds_no_read_snapshot_while_it_waits_for_the_harvester(small_pages, loaded):
    response = small_pages.respond({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"]}, BASE)
    chunks = response.chunks()
    next(chunks), next(chunks), next(chunks)     # the head, the verb and the first group of records
    slots = loaded.store.env.readers().splitlines()[1:]   # pid, thread, txnid ("-": no snapshot held)
    assert all(slot.split()[-1] == "-" for slot in slots)


@pytest.mark.parametrize("prefix", ["oai_dc", "marc21"])
def test_a_rendering_that_cannot_be_read_is_rendered_again(tmp_path, prefix):
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    with catalog.store.writing() as writer:   # say, a frame compressed with another dictionary
        writer.put_rendered(3, {prefix: ZSTD_MAGIC + b"not a zstandard frame"})
    records, _ = harvest(Provider(catalog), metadataPrefix=prefix)
    assert len(records) == 300 and any(identifier(r).endswith(":3") for r in records)
    catalog.close()
