"""Pages rendered ahead of the harvester: served only when the store is as it was, bounded, and
prepared by the twisted.web adapter after a page has gone and before the next request is read."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from unishelf.config import ConfigError, load_config
from unishelf.oaipmh.provider import Provider
from unishelf.oaipmh.read_ahead import MAX_AGE, KeptPage, ReadAhead
from unishelf.oaipmh.resource import OAIResource

from conftest import DATA, load, make_catalog

BASE = "http://localhost/oai"
FIRST = {"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"]}
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def catalog(tmp_path):
    catalog = make_catalog(tmp_path, **{"oai.page_size": 10})
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    yield catalog
    catalog.close()


def document(provider, arguments, now=NOW) -> bytes:
    return b"".join(provider.respond(arguments, BASE, now).chunks())


def following(page) -> dict:
    return {"verb": [page.verb], "resumptionToken": [page.token]}


def renders(provider, monkeypatch) -> list:
    """Counts the provider's record rendering from now on."""
    calls, render = [], provider._render
    monkeypatch.setattr(provider, "_render", lambda *a: calls.append(1) or render(*a))
    return calls


def test_a_prepared_page_is_the_page_the_request_would_get_without_rendering_again(catalog, monkeypatch):
    provider, plain = Provider(catalog), Provider(catalog)
    plain.read_ahead = ReadAhead(0)
    next_page = provider.respond(FIRST, BASE, NOW).next_page
    assert next_page.verb == "ListRecords" and f">{next_page.token}</resumptionToken>".encode() in document(plain, FIRST)
    provider.prepare(next_page, NOW)
    calls = renders(provider, monkeypatch)
    assert document(provider, following(next_page)) == document(plain, following(next_page))
    assert calls == []
    document(provider, following(next_page))   # a kept page is served once
    assert calls != []


def test_a_page_kept_before_the_store_changed_is_not_served(catalog, monkeypatch):
    provider, plain = Provider(catalog), Provider(catalog)
    plain.read_ahead = ReadAhead(0)
    next_page = provider.respond(FIRST, BASE, NOW).next_page
    provider.prepare(next_page, NOW)
    before = document(plain, following(next_page))
    moved = int(re.search(rb"<identifier>oai:unishelf.localhost:(\d+)<", before)[1])
    with catalog.store.writing() as writer:   # a record of that page changes: it moves to the end of the log
        catalog.catalogue.attach_holdings(writer, moved, "SOUTH", [{"library": "SOUTH"}])
        writer.flush()
    served = document(provider, following(next_page))
    assert served == document(plain, following(next_page)) != before
    assert f"<identifier>oai:unishelf.localhost:{moved}<".encode() not in served


def test_nothing_is_prepared_once_the_store_has_changed_or_with_read_ahead_off(catalog, monkeypatch):
    provider = Provider(catalog)
    next_page = provider.respond(FIRST, BASE, NOW).next_page
    with catalog.store.writing() as writer:
        catalog.catalogue.attach_holdings(writer, 1, "SOUTH", [{"library": "SOUTH"}])
        writer.flush()
    calls = renders(provider, monkeypatch)
    provider.prepare(next_page, NOW)
    assert calls == []
    off = Provider(catalog)
    off.read_ahead = ReadAhead(0)
    calls = renders(off, monkeypatch)
    off.prepare(off.respond(FIRST, BASE, NOW).next_page, NOW)
    assert calls == []


def test_the_last_page_names_no_next_page(catalog):
    provider = Provider(catalog)
    provider.config = dict(provider.config, page_size=1000)
    assert provider.respond(FIRST, BASE, NOW).next_page is None


def test_read_ahead_keeps_a_few_pages_each_for_a_while():
    kept = ReadAhead(2)
    for token in "abc":
        kept.keep("ListRecords", token, KeptPage([token.encode()], None, 7, 1000.0))
    assert kept.take("ListRecords", "a", 7, 1000.0) is None            # the oldest made room
    assert kept.take("ListIdentifiers", "b", 7, 1000.0) is None        # another verb's token
    assert kept.take("ListRecords", "b", 7, 1000.0 + MAX_AGE + 1) is None
    assert kept.take("ListRecords", "c", 8, 1000.0) is None            # the store changed
    kept.keep("ListRecords", "d", KeptPage([b"d"], None, 7, 1000.0))
    assert kept.take("ListRecords", "d", 7, 1000.0 + MAX_AGE).pieces == [b"d"]
    for token in "efe":                                                # kept again: the newest
        kept.keep("ListRecords", token, KeptPage([token.encode()], None, 7, 1000.0))
    kept.keep("ListRecords", "g", KeptPage([b"g"], None, 7, 1000.0))
    assert kept.take("ListRecords", "f", 7, 1000.0) is None and kept.take("ListRecords", "e", 7, 1000.0)


# -- the twisted.web adapter --------------------------------------------------------------------
def get(resource, arguments, channel=None, method=b"GET", headers=None) -> DummyRequest:
    request = DummyRequest([])
    request.method, request.clientproto, request.channel = method, b"HTTP/1.1", channel or DummyChannel()
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    request.prePathURL = lambda: BASE.encode()
    request.args = {key.encode(): [value.encode() for value in values] for key, values in arguments.items()}
    resource.render(request)   # DummyRequest runs a pull producer until it unregisters
    return request


def test_a_page_goes_whole_and_the_next_is_prepared_before_the_request_finishes(catalog, monkeypatch):
    provider, clock = Provider(catalog), Clock()
    prepared = []
    monkeypatch.setattr(provider, "prepare", lambda page: prepared.append((page, request.finished)))
    resource = OAIResource(provider, clock)
    request = get(resource, FIRST)     # the first response on a connection: nothing is prepared
    assert request.finished and clock.getDelayedCalls() == []
    request = get(resource, FIRST, request.channel)
    body = b"".join(request.written)
    assert request.responseHeaders.getRawHeaders(b"content-length") == [str(len(body)).encode()]
    assert len(request.written) == 1 and not request.finished and prepared == []
    clock.advance(0)
    [(page, finished_then)] = prepared
    assert f">{page.token}</resumptionToken>".encode() in body and not finished_then and request.finished


def test_a_page_longer_than_a_kept_page_may_be_is_streamed_and_not_prepared(catalog, monkeypatch):
    monkeypatch.setattr("unishelf.oaipmh.resource.PAGE_BYTES", 1000)
    monkeypatch.setattr("unishelf.oaipmh.resource.WRITE_AT_ONCE", 1000)
    provider, clock = Provider(catalog), Clock()
    monkeypatch.setattr(provider, "prepare", lambda page: pytest.fail("a streamed page is not followed up"))
    request = get(OAIResource(provider, clock), FIRST)
    assert request.finished and len(request.written) >= 2
    assert request.responseHeaders.getRawHeaders(b"content-length") is None
    assert b"".join(request.written).count(b"<record>") == 10 and request.written[-1].endswith(b"</OAI-PMH>\n")
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("pages", [-1, "many"])
def test_read_ahead_is_a_number_of_pages(pages):
    with pytest.raises(ConfigError, match="oai.read_ahead"):
        load_config(None, {"oai.read_ahead": pages})


def test_nothing_is_prepared_for_a_harvester_that_opens_a_connection_per_request(catalog, monkeypatch):
    provider, clock = Provider(catalog), Clock()
    monkeypatch.setattr(provider, "prepare", lambda page: pytest.fail("another process may get the next request"))
    resource = OAIResource(provider, clock)
    for _ in range(3):
        assert get(resource, FIRST).finished
    assert clock.getDelayedCalls() == []


def test_nothing_is_prepared_when_the_connection_closes_after_the_response(catalog, monkeypatch):
    provider, clock = Provider(catalog), Clock()
    monkeypatch.setattr(provider, "prepare", lambda page: pytest.fail("the harvester waits for the close"))
    resource = OAIResource(provider, clock)
    channel = get(resource, FIRST).channel
    assert get(resource, FIRST, channel, headers={b"connection": b"close"}).finished
    assert clock.getDelayedCalls() == []


def test_a_head_request_leaves_the_kept_page_for_the_get(catalog, monkeypatch):
    provider, clock = Provider(catalog), Clock()
    next_page = provider.respond(FIRST, BASE).next_page
    provider.prepare(next_page)
    resource = OAIResource(provider, clock)
    head = get(resource, following(next_page), method=b"HEAD")
    assert head.finished and clock.getDelayedCalls() == []
    calls = renders(provider, monkeypatch)
    get(resource, following(next_page))
    assert calls == []


def test_a_page_too_long_to_keep_is_not_kept_and_the_chain_goes_on_from_a_kept_page(catalog, monkeypatch):
    provider = Provider(catalog)
    first = provider.respond(FIRST, BASE, NOW)
    monkeypatch.setattr("unishelf.oaipmh.provider.PAGE_BYTES", 1000)
    provider.prepare(first.next_page, NOW)
    calls = renders(provider, monkeypatch)
    second = provider.respond(following(first.next_page), BASE, NOW)
    b"".join(second.chunks())
    assert calls != []                                   # rendered on request: nothing was kept
    monkeypatch.undo()
    provider.prepare(second.next_page, NOW)
    third = provider.respond(following(second.next_page), BASE, NOW)
    body = b"".join(third.chunks())
    assert third.next_page and f">{third.next_page.token}</resumptionToken>".encode() in body


def test_records_rendered_on_request_are_not_read_ahead_but_their_headers_are(catalog):
    provider = Provider(catalog)
    assert provider.respond({"verb": ["ListRecords"], "metadataPrefix": ["mods"]}, BASE).next_page is None
    assert provider.respond({"verb": ["ListIdentifiers"], "metadataPrefix": ["mods"]}, BASE).next_page


def test_a_response_that_fails_before_its_first_byte_is_a_500(catalog, monkeypatch):
    provider = Provider(catalog)
    monkeypatch.setattr(provider, "_render", lambda *a: 1 / 0)
    request = get(OAIResource(provider, Clock()), FIRST)
    assert request.finished and request.responseCode == 500


def test_a_harvester_gone_while_its_next_page_is_prepared_gets_no_finish(catalog, monkeypatch):
    provider, clock = Provider(catalog), Clock()
    prepared = []
    monkeypatch.setattr(provider, "prepare", prepared.append)
    resource = OAIResource(provider, clock)
    request = get(resource, FIRST, get(resource, FIRST).channel)
    request.processingFailed(Failure(ConnectionDone()))       # the connection is lost
    clock.advance(0)
    assert prepared and not request.finished
