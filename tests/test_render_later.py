"""Loads that leave the renderings for later (`load.render_later`), `unishelf prerender`, and
the server's background renderer (`unishelf/prerenderer.py`).

Until its renderings are made, a record is harvested as the provider renders it on the fly; once
made, they are byte for byte what a load that renders at once stores."""
from __future__ import annotations

import time

from lxml import etree
from twisted.internet.task import Clock

from conftest import DATA, make_catalog, serving
from unishelf import cli
from unishelf.marc.loader import Loader, renderers
from unishelf.marc.reading import RawRecord, decode
from unishelf.marc.record import Field, parse_iso2709, write_iso2709
from unishelf.marc.store import ALL_KEY, UNRENDERED_KEY, Store, record_key
from unishelf.oaipmh.provider import Provider
from unishelf.prerenderer import CHECK_SECONDS, QUICK_LOOK_SECONDS, PrerenderService

FILES = [(DATA / "marc21-utf8-sample.mrc", "NORTH", "auto"), (DATA / "marcxml-sample.xml", "WEST", "auto"),
         (DATA / "unimarc-sample.mrc", "CENTRAL", "unimarc")]
OAI = "{http://www.openarchives.org/OAI/2.0/}"


def loaded(path, render_later: bool):
    catalog = make_catalog(path)
    loader = Loader(catalog.store, catalog.catalogue, batch_size=100, render_later=render_later)
    for file, library, fmt in FILES:
        loader.load([file], fmt, library)
    return catalog


def stored_renderings(catalog) -> dict[bytes, bytes]:
    with catalog.store.reading() as reader:
        with reader.txn.cursor(db=reader.db["rendered"]) as cursor:
            return dict(cursor.iternext())


def pending(catalog) -> set[int]:
    with catalog.store.reading() as reader:
        return set(reader.bitmap(UNRENDERED_KEY))


def metadata(catalog, prefix: str) -> dict[str, bytes]:
    """Each record's <metadata> in a full ListRecords harvest, by identifier."""
    provider = Provider(catalog)
    found, token = {}, None
    while True:
        arguments = {"resumptionToken": [token]} if token else {"metadataPrefix": [prefix]}
        page = etree.fromstring(b"".join(provider.respond({"verb": ["ListRecords"], **arguments},
                                                          "http://localhost/oai").chunks()))
        for record in page.iter(f"{OAI}record"):
            found[record.findtext(f".//{OAI}identifier")] = etree.tostring(record.find(f"{OAI}metadata"))
        token = page.findtext(f".//{OAI}resumptionToken")
        if not token:
            return found


def test_renderings_left_for_later_harvest_the_same_and_are_made_as_a_load_makes_them(tmp_path):
    now, later = loaded(tmp_path / "now", False), loaded(tmp_path / "later", True)
    with later.store.reading() as reader:
        bibliographic = {i for i in reader.bitmap(ALL_KEY) if reader.record(i).kind == "bib"}
    assert len(bibliographic) > 100 and pending(later) == bibliographic
    assert stored_renderings(later) == {} and len(stored_renderings(now)) >= len(bibliographic)
    for prefix in ("oai_dc", "marc21"):
        assert metadata(later, prefix) == metadata(now, prefix)
    calls = [later.catalogue.render_pending(later.store, 50) for _ in range(len(bibliographic) // 50 + 1)]
    assert [done for done, _ in calls[:-1]] == [50] * (len(calls) - 1)
    assert sum(done for done, _ in calls) == len(bibliographic) and calls[-1][1] == 0 and pending(later) == set()
    assert stored_renderings(later) == stored_renderings(now)
    now.close()
    later.close()


def test_renderings_made_in_worker_processes_are_those_made_here(tmp_path):
    here, there = loaded(tmp_path / "here", True), loaded(tmp_path / "there", True)
    while here.catalogue.render_pending(here.store, 40)[1]:
        pass
    with renderers(there.catalogue, there.store, 2) as render_ids:
        while there.catalogue.render_pending(there.store, 40, render_ids)[1]:
            pass
    assert pending(there) == set() and stored_renderings(there) == stored_renderings(here) != {}
    here.close()
    there.close()


def test_a_record_changed_before_its_renderings_are_made(tmp_path):
    """Deleted: no longer left. Replaced at once (a catalogue update): rendered then. Replaced by
    another load that renders later: left, and rendered as it is now."""
    catalog = loaded(tmp_path, True)
    deleted, updated, reloaded = sorted(pending(catalog))[:3]
    with catalog.store.writing() as writer:
        catalog.catalogue.delete(writer, deleted)
        stored = writer.record(updated)
        record = parse_iso2709(stored.raw)
        record.fields.append(Field("500", indicators="  ", subfields=[("a", "Revised.")]))
        revised = decode(RawRecord("revised", write_iso2709(record), "iso2709"))
        catalog.catalogue.replace(writer, stored, revised, "NORTH")
        writer.flush()
    with catalog.store.reading() as reader:
        record = parse_iso2709(reader.record(reloaded).raw)
    record.fields.append(Field("500", indicators="  ", subfields=[("a", "Revised again.")]))
    (tmp_path / "revised.mrc").write_bytes(write_iso2709(record))
    report = Loader(catalog.store, catalog.catalogue, render_later=True).load([tmp_path / "revised.mrc"], "auto", "NORTH")
    assert report.counts["updated"] == 1
    assert reloaded in pending(catalog) and not pending(catalog) & {deleted, updated}
    with catalog.store.reading() as reader:
        assert reader.rendered(updated, "oai_dc") is not None and reader.rendered(deleted, "oai_dc") is None
    while catalog.catalogue.render_pending(catalog.store, 1000)[1]:
        pass
    with catalog.store.reading() as reader:
        stored = reader.record(reloaded)
        assert b"Revised again." in stored.raw and b"Revised again." in reader.rendered(reloaded, "oai_dc")
        assert reader.rendered(reloaded, "oai_dc") == catalog.catalogue.render(
            parse_iso2709(stored.raw), stored.syntax, stored.kind)["oai_dc"]
        assert reader.txn.get(record_key(deleted) + b"oai_dc", db=reader.db["rendered"]) is None
    catalog.close()


def test_a_record_a_renderer_fails_on_does_not_hold_up_the_rest(tmp_path, caplog):
    catalog = loaded(tmp_path, True)
    failing = min(pending(catalog))
    render_dc = catalog.catalogue.renderers["oai_dc"]

    def oai_dc(record, syntax):
        if record.control("001") == failing_control:
            raise ValueError("a crosswalk bug")
        return render_dc(record, syntax)

    with catalog.store.reading() as reader:
        failing_control = parse_iso2709(reader.record(failing).raw).control("001")
    catalog.catalogue.renderers["oai_dc"] = oai_dc
    done, left = catalog.catalogue.render_pending(catalog.store, 10)
    assert (done, left) == (10, len(pending(catalog))) and failing not in pending(catalog)
    assert f"record {failing}: rendering for harvests failed" in caplog.text
    with catalog.store.reading() as reader:
        assert reader.rendered(failing, "oai_dc") is None and reader.rendered(failing + 1, "oai_dc") is not None
    catalog.close()


def test_unishelf_prerender_makes_what_the_load_left(tmp_path, capsys):
    config = tmp_path / "later.yaml"
    config.write_text("load: {render_later: true}\n")
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert cli.main([*common, "load", "--quiet", "--library", "NORTH", str(DATA / "marc21-utf8-sample.mrc")]) == 0
    capsys.readouterr()
    assert cli.main([*common, "prerender", "--quiet"]) == 0
    rendered = int(capsys.readouterr().out.split(" records rendered")[0].replace(",", ""))
    assert rendered > 100
    assert cli.main([*common, "prerender", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("0 records rendered")


def test_unishelf_serve_makes_in_the_background_what_a_load_left(tmp_path):
    config = tmp_path / "later.yaml"
    config.write_text("load: {render_later: true}\n")
    data = tmp_path / "data"
    assert cli.main(["--config", str(config), "--data-dir", str(data), "load", "--quiet", "--library", "NORTH",
                     str(DATA / "marc21-utf8-sample.mrc")]) == 0
    with serving(data, config):
        store = Store(data / "store", readonly=True)
        with store.reading() as reader:
            left = len(reader.bitmap(UNRENDERED_KEY))
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            with store.reading() as reader:
                left = len(reader.bitmap(UNRENDERED_KEY))
        with store.reading() as reader:
            rendered = [reader.rendered(i, "oai_dc") for i in reader.bitmap(ALL_KEY)]
        store.close()
    assert left == 0 and len(rendered) > 100 and all(rendered)


class ProcessClock(Clock):
    """A clock that records the processes it is asked to spawn, and signals sent to them."""

    def __init__(self):
        super().__init__()
        self.spawned, self.signals = [], []

    def spawnProcess(self, process, executable, args, env, childFDs):
        process.transport = self
        self.spawned.append(args)

    def signalProcess(self, name):
        self.signals.append(name)


def test_the_background_renderer_waits_until_no_load_is_marking_more(tmp_path):
    """It runs `unishelf prerender` once the marked records stop growing, one child at a time,
    and stops it with the server."""
    catalog = loaded(tmp_path, True)
    clock = ProcessClock()
    renderer = PrerenderService(catalog, clock)
    renderer.startService()
    Loader(catalog.store, catalog.catalogue, render_later=True).load([DATA / "cjk-sample.mrc"], "auto", "EAST")
    clock.advance(QUICK_LOOK_SECONDS)
    assert clock.spawned == []   # more were marked since the first look
    clock.advance(CHECK_SECONDS)
    assert len(clock.spawned) == 1 and clock.spawned[0][-2:] == ["prerender", "--quiet"]
    clock.advance(CHECK_SECONDS)
    assert len(clock.spawned) == 1   # its child is at it
    renderer.stopService()
    assert clock.signals == ["TERM"]
    stopped_at_once = PrerenderService(catalog, clock)
    stopped_at_once.startService()
    stopped_at_once.stopService()
    clock.advance(CHECK_SECONDS)
    assert len(clock.spawned) == 1
    catalog.close()
