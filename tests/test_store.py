"""The store and union-catalogue rules: merging, reloading, deleting, durability, concurrency."""
from __future__ import annotations

import gc
import itertools
import os
import re
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from pyroaring import BitMap

from conftest import DATA, load, make_catalog
from unishelf.marc.access_points import AccessPoints
from unishelf.marc.reading import raw_records, read_file
from unishelf.config import CONFIG_DIR
from unishelf.marc.store import (ALL_KEY, FORMAT, MAX_KEY_BYTES, PAIR_WORDS_KEY, Store, StoreFormatError, compact,
                                 posting_list, posting_value, term_key)
from unishelf.z3950.pqf import parse_pqf

REPO = Path(__file__).resolve().parent.parent


def count(catalog, pqf, databases=("unicat",)):
    return len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf)), databases))


def postings(catalog) -> dict:
    with catalog.store.reading() as reader:
        return {key: posting_list(value) for key, value in reader.terms_from(b"", b"")}


def prepare_chunk_here(catalog, raws, library, first_id):
    """What a loader worker sends back for a chunk, prepared in this process; the collector's
    threshold, which a worker sets for itself, is put back."""
    from unishelf.marc import loader
    threshold = gc.get_threshold()
    try:
        loader._init_worker(catalog.catalogue, catalog.store)
        return loader._prepare_chunk((raws, library, first_id, True))
    finally:
        gc.set_threshold(*threshold)


def test_reloading_the_same_file_updates_and_never_duplicates(catalog):
    first = load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    assert first.counts["created"] == 300
    indexed = postings(catalog)
    second = load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    assert second.counts["unchanged"] == 300 and second.counts["created"] == 0
    assert catalog.engine.count("unicat") == 300
    assert postings(catalog) == indexed and len(indexed) > 10000


def test_a_worker_sends_only_the_holdings_of_a_record_stored_already(catalog):
    from unishelf.marc.catalogue import AlreadyStored, Prepared
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    raws = [*itertools.islice(raw_records(DATA / "marc21-utf8-sample.mrc", "auto"), 3),
            next(raw_records(DATA / "cjk-sample.mrc", "auto"))]   # three stored, one new
    results, postings = prepare_chunk_here(catalog, raws, "SOUTH", 1000)
    assert [type(r) for r in results] == [AlreadyStored] * 3 + [Prepared]
    assert [r.record_id for r in results] == [1000, 1001, 1002, 1003]
    assert all(set(r.holdings) == {"SOUTH"} and r.item.record is None for r in results[:3])
    assert set().union(*map(posting_list, postings.values())) == {1003}   # only the new record is indexed


def test_a_chunks_postings_invert_its_records_terms_and_share_each_records_one_id_value(catalog):
    from unishelf.marc.reading import decode
    raws = list(itertools.islice(raw_records(DATA / "marc21-utf8-sample.mrc", "auto"), 20))
    expected: dict[bytes, set[int]] = {}
    for record_id, raw in enumerate(raws, 500):
        for term in catalog.catalogue.prepare(decode(raw), "NORTH").terms:
            expected.setdefault(term, set()).add(record_id)
    _, postings = prepare_chunk_here(catalog, raws, "NORTH", 500)
    assert {term: set(posting_list(value)) for term, value in postings.items()} == expected
    alone = {}   # one value object a record, whatever the number of its terms of it alone
    for term, ids in expected.items():
        if len(ids) == 1:
            alone.setdefault(ids.pop(), set()).add(id(postings[term]))
    assert len(alone) == 20 and all(len(objects) == 1 for objects in alone.values())


def test_a_record_whose_stored_bytes_went_before_the_write_is_added_in_full(catalog):
    from unishelf.marc.catalogue import AlreadyStored
    item = next(iter(read_file(DATA / "marc21-utf8-sample.mrc")))
    title_word = item.record.first("245").get("a").split()[0]
    stored = AlreadyStored(item, catalog.catalogue.contributed_holdings(item, "NORTH"), 0)
    item.record = None   # as a worker sends it
    with catalog.store.writing() as writer:
        stored.record_id = writer.reserve_ids(1)
        outcome = catalog.catalogue.add_stored(writer, stored, "NORTH")
        writer.flush()
    assert outcome.action == "created" and outcome.record_id == stored.record_id
    assert catalog.engine.count("NORTH") == 1 and count(catalog, f"@attr 1=4 {title_word}") == 1


def another_librarys_copy(record, tmp_path) -> Path:
    """A file holding `record` as another library catalogues it: its own control number and a
    local note, the same ISBN."""
    from unishelf.marc.record import Field, write_iso2709
    for field in record.fields:
        if field.tag == "001":
            field.value = "west-000001"
    record.fields.append(Field("500", indicators="  ", subfields=[("a", "Local copy note.")]))
    path = tmp_path / "west.mrc"
    path.write_bytes(write_iso2709(record))
    return path


def test_a_worker_leaves_another_librarys_copy_of_a_stored_record_unindexed(catalog, tmp_path):
    from unishelf.marc.catalogue import Prepared
    item = next(i for i in read_file(DATA / "marc21-utf8-sample.mrc") if i.record.first("020"))
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    raws = [next(raw_records(another_librarys_copy(item.record, tmp_path), "auto")),
            next(raw_records(DATA / "cjk-sample.mrc", "auto"))]   # a copy, then a new record
    results, postings = prepare_chunk_here(catalog, raws, "WEST", 1000)
    assert [type(r) for r in results] == [Prepared, Prepared]
    copy, new = results
    assert copy.entry is None and copy.rendered is None and set(copy.holdings) == {"WEST"}
    assert new.entry is not None and new.rendered
    assert set().union(*map(posting_list, postings.values())) == {1001}   # only the new record is indexed


def test_a_copy_whose_stored_record_went_before_the_write_is_completed_and_added(catalog, tmp_path):
    item = next(i for i in read_file(DATA / "marc21-utf8-sample.mrc") if i.record.first("020"))
    title_word = item.record.first("245").get("a").split()[0]
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    raws = [next(raw_records(another_librarys_copy(item.record, tmp_path), "auto"))]
    with catalog.store.writing() as writer:
        first_id = writer.reserve_ids(1)
    (copy,), _ = prepare_chunk_here(catalog, raws, "WEST", first_id)
    before = count(catalog, f"@attr 1=4 {title_word}")
    with catalog.store.writing() as writer:   # what it matched is deleted before the write
        matched = catalog.catalogue.find_match(writer, copy)
        catalog.catalogue.delete(writer, matched)
        outcome = catalog.catalogue.add(writer, copy)
        writer.flush()
    assert outcome.action == "created" and outcome.record_id == first_id
    assert catalog.engine.count("WEST") == 1 and count(catalog, f"@attr 1=4 {title_word}") == before
    with catalog.store.reading() as reader:
        assert reader.rendered(first_id, "oai_dc") and reader.entry(first_id)


def revision_of_the_first(path: Path, *fields) -> Path:
    """A file holding the sample's first record with these fields added."""
    from unishelf.marc.record import write_iso2709
    record = next(iter(read_file(DATA / "marc21-utf8-sample.mrc"))).record
    record.fields.extend(fields)
    path.write_bytes(write_iso2709(record))
    return path


def test_a_revision_whose_stored_record_went_before_the_write_is_created_with_its_terms(catalog, tmp_path):
    from unishelf.marc.record import Field
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    revised = revision_of_the_first(tmp_path / "revised.mrc",
                                    Field("500", indicators="  ", subfields=[("a", "Revision.")]))
    with catalog.store.writing() as writer:
        first_id = writer.reserve_ids(1)
    (revision,), postings = prepare_chunk_here(catalog, list(raw_records(revised, "auto")), "NORTH", first_id)
    assert revision.entry is not None and revision.terms is None and not postings   # taken for a replacement
    with catalog.store.writing() as writer:   # what it would replace is deleted before the write
        catalog.catalogue.delete(writer, catalog.catalogue.find_match(writer, revision))
        outcome = catalog.catalogue.add(writer, revision)
        writer.flush()
    assert outcome.action == "created" and outcome.record_id == first_id
    assert count(catalog, "@attr 1=1016 revision") == 1
    assert_indexed_as_extracted(catalog)


def test_a_revision_written_after_another_takes_out_the_match_keys_of_the_other(catalog, tmp_path):
    from unishelf.marc.record import Field
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    first = revision_of_the_first(tmp_path / "first.mrc",
                                  Field("500", indicators="  ", subfields=[("a", "First revision.")]))
    (prepared,), _ = prepare_chunk_here(catalog, list(raw_records(first, "auto")), "NORTH", 900)
    assert prepared.replacing is not None   # the stored record's match keys, as the worker saw it
    second = revision_of_the_first(tmp_path / "second.mrc",
                                   Field("020", indicators="  ", subfields=[("a", "9781234567897")]))
    assert load(catalog, [second], "NORTH").counts["updated"] == 1   # the stored record changes meanwhile
    with catalog.store.writing() as writer:
        assert catalog.catalogue.add(writer, prepared).action == "updated"
        writer.flush()
    assert count(catalog, "@attr 1=7 9781234567897") == 0
    assert_indexed_as_extracted(catalog)


def test_a_load_turns_the_collectors_passes_off_yet_collects_cycles_between_batches(catalog, monkeypatch):
    from unishelf.marc import loader as loading
    monkeypatch.setattr(loading, "CHUNK_RECORDS", 5)
    monkeypatch.setattr(loading, "COLLECT_EVERY", 2)

    class Node:
        pass

    cycles, during = [], []

    def progress(line):   # after each batch
        during.append((gc.isenabled(), gc.get_freeze_count() > 0))
        node = Node()
        node.itself = node
        cycles.append(weakref.ref(node))

    frozen_before = gc.get_freeze_count()
    report = loading.Loader(catalog.store, catalog.catalogue, batch_size=10, progress=progress).load(
        [DATA / "marc21-utf8-sample.mrc"], "auto", "NORTH")
    assert report.counts["created"] >= 30 and len(during) >= 3
    assert all(not enabled and frozen for enabled, frozen in during)
    assert cycles[0]() is None   # made after the first batch, collected after the second
    assert gc.isenabled() and gc.get_freeze_count() == frozen_before


def test_a_loads_batches_grow_with_the_store_up_to_the_largest_allowed(tmp_path, monkeypatch):
    """A commit rewrites every postings page its batch touches: larger batches as the store
    grows keep the bytes written a record from growing with it."""
    from unishelf.marc import loader as loading
    monkeypatch.setattr(loading, "CHUNK_RECORDS", 1)
    monkeypatch.setattr(loading, "STORE_PER_BATCH", 2)

    def batch_sizes(directory, max_batch_size):
        catalog = make_catalog(tmp_path / directory)
        stored = []

        def progress(line):   # after each batch
            with catalog.store.reading() as reader:
                stored.append(len(reader.bitmap(ALL_KEY)))

        loading.Loader(catalog.store, catalog.catalogue, batch_size=4, max_batch_size=max_batch_size,
                       progress=progress).load([DATA / "marc21-utf8-sample.mrc"], "auto", "NORTH")
        catalog.close()
        return [after - before for before, after in zip([0] + stored, stored)]

    fixed = batch_sizes("fixed", None)
    assert len(fixed) > 8 and set(fixed[:-1]) == {4}
    growing = batch_sizes("growing", 10)
    assert sum(growing) == sum(fixed)
    assert growing[:3] == [4, 4, 4] and growing[3:5] == [6, 9] and set(growing[5:-1]) == {10}


def test_worker_processes_yield_the_cores_to_the_writer(catalog):
    """The writer is a load's critical path; its workers run at a lower priority."""
    import multiprocessing

    from unishelf.marc.loader import WORKER_NICENESS, _init_worker
    store = (str(catalog.store.path), catalog.store.env.info()["map_size"])
    with multiprocessing.get_context("spawn").Pool(1, _init_worker, (catalog.catalogue, store)) as pool:
        worker_niceness = pool.apply(os.nice, (0,))
    assert worker_niceness == min(os.nice(0) + WORKER_NICENESS, 19)


def test_another_librarys_copy_attaches_holdings_instead_of_duplicating(catalog):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    report = load(catalog, [DATA / "marc21-utf8-sample.mrc"], "SOUTH")
    assert report.counts["unchanged"] + report.counts["attached"] == 300
    assert catalog.engine.count("unicat") == 300
    assert catalog.engine.count("NORTH") == catalog.engine.count("SOUTH") == 300
    with catalog.store.reading() as reader:
        some_id = next(iter(reader.bitmap(b"\x00all")))
        assert set(reader.holdings(some_id)) == {"NORTH", "SOUTH"}


def test_a_changed_record_from_another_library_matches_by_isbn(catalog, tmp_path):
    item = next(i for i in read_file(DATA / "marc21-utf8-sample.mrc") if i.record.first("020"))
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    report = load(catalog, [another_librarys_copy(item.record, tmp_path)], "WEST")
    assert report.counts["attached"] == 1
    assert catalog.engine.count("unicat") == 300 and catalog.engine.count("WEST") == 1


def test_a_librarys_own_records_sharing_an_isbn_stay_distinct(catalog):
    # dp2's print book and its e-book surrogate share an ISBN (see tests/data/PROVENANCE.md)
    report = load(catalog, [DATA / "marcxml-sample.xml"], "WEST")
    assert report.counts["created"] == 40


def test_mfhd_holdings_records_attach_to_their_bibliographic_records(catalog):
    report = load(catalog, [DATA / "holdings-sample.mrc"])
    bibs = [i for i in read_file(DATA / "holdings-sample.mrc") if i.kind == "bib"]
    assert catalog.engine.count("unicat") == len(bibs)
    assert report.counts["rejected"] == 0
    with catalog.store.reading() as reader:
        held = [reader.holdings(r) for r in reader.bitmap(b"\x00all")]
    assert sum(1 for h in held if h) >= 1


def test_delete_leaves_a_tombstone_and_a_new_change(catalog):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    result = catalog.engine.search(catalog.bib1.to_tree(parse_pqf("@attr 1=4 history")))
    victim = result.ids(0, 1)[0]
    before = count(catalog, "@attr 1=4 history")
    with catalog.store.reading() as reader:
        last_seq = reader.counter("seq")
    with catalog.store.writing() as writer:
        catalog.catalogue.delete(writer, victim)
        writer.flush()
    assert count(catalog, "@attr 1=4 history") == before - 1
    with catalog.store.reading() as reader:
        tombstone = reader.record(victim)
        assert tombstone.deleted and tombstone.seq == last_seq + 1
        [change] = reader.changes(last_seq)
        assert (change.seq, change.record_id, change.deleted) == (last_seq + 1, victim, True)
        assert change.datestamp == tombstone.datestamp
        assert reader.holdings(victim) == {}
        assert len(list(reader.changes())) == 300          # one change entry per record, latest only


def test_change_log_is_ordered_and_datestamps_never_go_back(catalog):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    with catalog.store.reading() as reader:
        changes = list(reader.changes())
        assert [c.datestamp for c in changes] == [reader.record(c.record_id).datestamp for c in changes]
    stamps = [c.datestamp for c in changes]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert stamps == sorted(stamps) and stamps[0].endswith("Z")


def test_readers_in_other_processes_see_committed_data_while_a_write_is_open(catalog, tmp_path):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    script = ("import sys; from unishelf.marc.store import Store; "
              "s = Store(sys.argv[1], readonly=True)\n"
              "with s.reading() as r: print(len(r.bitmap(b'\\x00all')))")
    with catalog.store.writing():   # the single writer holds its lock; readers never wait for it
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", script, str(catalog.config.store_path)],
                             capture_output=True, text=True, timeout=60, cwd=REPO)
        assert time.monotonic() - started < 30
    assert out.stdout.strip() == "300", out.stderr


def test_kill_9_during_a_load_loses_no_committed_batch(tmp_path):
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    loader = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(data_dir), str(DATA / "cjk-sample.mrc")],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    committed = 0
    for line in loader.stdout:
        committed = int(line)
        if committed >= 50:
            break
    os.kill(loader.pid, signal.SIGKILL)
    loader.wait()
    assert committed >= 50
    catalog = make_catalog(data_dir)
    try:
        stored = catalog.engine.count("unicat")
        assert stored >= committed
        with catalog.store.reading() as reader:      # every stored record is whole and indexed
            for record_id in reader.bitmap(b"\x00all"):
                assert reader.record(record_id).raw.endswith(b"\x1d")
                assert reader.entry(record_id)
        report = load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
        assert report.counts["created"] + report.counts["unchanged"] == 150
        assert catalog.engine.count("unicat") == 150
    finally:
        catalog.close()


KILL_SCRIPT = """
import sys
from pathlib import Path
from unishelf.app import open_catalog
from unishelf.config import load_config
from unishelf.marc.loader import Loader
catalog = open_catalog(load_config(None, {"data_dir": sys.argv[1]}))
def report(line):
    with catalog.store.reading() as reader:
        print(len(reader.bitmap(b"\\x00all")), flush=True)
loader = Loader(catalog.store, catalog.catalogue, batch_size=10, workers=0, progress=report)
while True:
    loader.load([Path(sys.argv[2])], "auto", "EAST")
"""


def test_worker_processes_index_exactly_like_the_single_process_loader(tmp_path, monkeypatch):
    """Chunks indexed in workers, with merges and rejects among them, give the same postings."""
    from unishelf.marc.loader import Loader
    files = [(DATA / "marc21-utf8-sample.mrc", "NORTH"), (DATA / "edge-cases" / "bad_records.mrc", "NORTH"),
             (DATA / "marc21-utf8-sample.mrc", "SOUTH"), (DATA / "cjk-sample.mrc", "SOUTH"),
             (DATA / "holdings-sample.mrc", None)]
    postings = []
    monkeypatch.setattr("unishelf.marc.loader.PARALLEL_FROM", 0)
    for workers in (0, 2):
        catalog = make_catalog(tmp_path / f"w{workers}")
        loader = Loader(catalog.store, catalog.catalogue, batch_size=120, workers=workers)
        for path, library in files:
            loader.load([path], "auto", library)
        with catalog.store.reading() as reader:
            ids = sorted(reader.bitmap(b"\x00all"))
            postings.append(({key: posting_list(value) for key, value in reader.terms_from(b"", b"")},
                             len(ids)))
        catalog.close()
    assert postings[0][1] == postings[1][1] > 450
    assert postings[0][0] == postings[1][0]


def test_a_term_of_one_record_is_kept_as_its_id_and_grows_into_a_bitmap(tmp_path):
    assert all(len(BitMap(ids).serialize()) != 4 for ids in ([], [7], [1, 2], range(100), range(0, 1 << 20, 3)))
    store = Store(tmp_path / "store")
    with store.writing() as writer:
        writer.index(7, {b"t", b"u"}, ())
        writer.index(9, {b"u"}, ())
        writer.flush()
    with store.reading() as reader:
        assert reader.txn.get(b"t", db=reader.db["postings"]) == posting_value([7]) == (7).to_bytes(4, "little")
        assert reader.bitmap(b"t") == BitMap([7]) and reader.bitmap(b"u") == BitMap([7, 9])
    with store.writing() as writer:
        writer.index(7, (), {b"t", b"u"})
        writer.flush()
    with store.reading() as reader:
        assert reader.txn.get(b"t", db=reader.db["postings"]) is None
        assert reader.txn.get(b"u", db=reader.db["postings"]) == posting_value(BitMap([9]))
        assert posting_list(posting_value(BitMap(range(5)))) == BitMap(range(5))


def test_a_store_of_format_5_is_read_as_it_is_and_marked_when_written(tmp_path):
    """Format 5 kept every term as a bitmap, which format 6 reads: no reload to upgrade."""
    store = Store(tmp_path / "store")
    with store.writing() as writer:
        writer.txn.put(b"format", b"5", db=writer.db["meta"])
        writer.txn.put(b"t", BitMap([7]).serialize(), db=writer.db["postings"])
    store.close()
    for readonly, marked in ((True, b"5"), (False, FORMAT)):
        store = Store(tmp_path / "store", readonly=readonly)
        with store.reading() as reader:
            assert reader.bitmap(b"t") == BitMap([7])
            assert reader.txn.get(b"format", db=reader.db["meta"]) == marked
        store.close()


def indexes_with_pair_words(directory: Path, words: list[str] | None) -> str:
    """A copy of the shipped indexes.yaml with `words` as its pair list (None: no list)."""
    directory.mkdir(exist_ok=True)
    text = (CONFIG_DIR / "indexes.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^pair_words: .*$", "" if words is None else "pair_words: words.txt", text, flags=re.M)
    (directory / "words.txt").write_text("\n".join(words or []), encoding="utf-8")
    (directory / "indexes.yaml").write_text(text, encoding="utf-8")
    return str(directory / "indexes.yaml")


def test_a_store_keeps_the_pair_words_it_was_made_with(tmp_path):
    """A pair the list left out is in none of the store's records: with a later list holding its
    words, its phrase would be looked up by the pair and missed. So the store's list stays."""
    catalog = make_catalog(tmp_path)
    shipped = catalog.points.pair_words
    assert "of" in shipped and "descendants" not in shipped
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    phrase = '@attr 1=4 @attr 4=1 "descendants of"'
    found = count(catalog, phrase)
    catalog.close()
    catalog = make_catalog(tmp_path, indexes=indexes_with_pair_words(tmp_path / "config", ["descendants", "of"]))
    assert catalog.points.pair_words == shipped
    assert count(catalog, phrase) == found > 0
    catalog.close()


def test_a_store_made_before_pair_lists_has_every_pair_and_keeps_them(tmp_path):
    catalog = make_catalog(tmp_path, indexes=indexes_with_pair_words(tmp_path / "config", None))
    assert catalog.points.pair_words is None
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    with catalog.store.writing() as writer:   # a format 6 store has no list
        writer.txn.delete(PAIR_WORDS_KEY, db=writer.db["meta"])
    catalog.close()
    catalog = make_catalog(tmp_path)   # the shipped list would leave pairs out: not taken
    assert catalog.points.pair_words is None
    load(catalog, [DATA / "marc8-sample.mrc"], "SOUTH")
    with catalog.store.reading() as reader:
        assert reader.bitmap(term_key("title", "p", "descendants of"))
    assert_indexed_as_extracted(catalog)
    catalog.close()


def test_a_store_of_an_older_format_is_refused_with_a_clear_message(tmp_path):
    store = Store(tmp_path / "store")
    with store.writing() as writer:
        writer.txn.put(b"format", b"1", db=writer.db["meta"])
    store.close()
    with pytest.raises(StoreFormatError, match="older unishelf"):
        Store(tmp_path / "store")
    with pytest.raises(StoreFormatError):
        Store(tmp_path / "store", readonly=True)


def test_a_store_of_a_newer_format_asks_for_a_newer_unishelf(tmp_path):
    store = Store(tmp_path / "store")
    with store.writing() as writer:
        writer.txn.put(b"format", b"%d" % (int(FORMAT) + 1), db=writer.db["meta"])
    store.close()
    with pytest.raises(StoreFormatError, match="newer unishelf"):
        Store(tmp_path / "store", readonly=True)


def test_holdings_that_come_and_go_index_a_record_as_extracting_it_again_would(catalog):
    # the default access points draw the holding libraries alone into `library`: the fast way
    assert catalog.points.holdings_points("marc21") == ("library",)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "SOUTH")   # attaches SOUTH to all 300
    with catalog.store.writing() as writer:
        catalog.catalogue.remove_holdings(writer, 5, "NORTH")
        writer.flush()
    assert_indexed_as_extracted(catalog)
    assert catalog.engine.count("NORTH") == 299 and catalog.engine.count("SOUTH") == 300


def test_a_librarys_revised_records_index_as_extracting_them_again_would(catalog, tmp_path):
    from unishelf.marc.record import Field, write_iso2709
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    revised = tmp_path / "revised.mrc"
    with open(revised, "wb") as out:
        for position, item in enumerate(read_file(DATA / "marc21-utf8-sample.mrc")):
            item.record.fields.append(Field("500", indicators="  ", subfields=[("a", f"Revision {position}.")]))
            out.write(write_iso2709(item.record))
    halves = tmp_path / "half.mrc"   # SOUTH holds every other record: their libraries differ from NORTH's copy
    halves.write_bytes(b"".join(raw.data for raw in itertools.islice(
        raw_records(DATA / "marc21-utf8-sample.mrc", "auto"), 0, None, 2)))
    assert load(catalog, [halves], "SOUTH").counts["attached"] == 150
    assert load(catalog, [revised], "NORTH").counts["updated"] == 300
    assert_indexed_as_extracted(catalog)
    assert count(catalog, "@attr 1=1016 revision") == 300 and catalog.engine.count("SOUTH") == 150


def test_a_record_and_its_revision_in_one_file_index_as_the_revision(catalog, tmp_path):
    from unishelf.marc.record import Field, write_iso2709
    items = list(itertools.islice(read_file(DATA / "marc21-utf8-sample.mrc"), 3))
    both = tmp_path / "both.mrc"
    with open(both, "wb") as out:
        for item in items:
            out.write(write_iso2709(item.record))
        items[1].record.fields.append(Field("500", indicators="  ", subfields=[("a", "Revision.")]))
        out.write(write_iso2709(items[1].record))   # its worker took it for new, as the first was
    report = load(catalog, [both], "NORTH")
    assert report.counts["created"] == 3 and report.counts["updated"] == 1
    assert_indexed_as_extracted(catalog)
    assert count(catalog, "@attr 1=1016 revision") == 1


def assert_indexed_as_extracted(catalog):
    """Every record's stored entry, sort keys, postings and match keys are what extracting it
    again gives."""
    expected: dict[bytes, BitMap] = {}
    expected_keys = set()
    with catalog.store.reading() as reader:
        for record_id in reader.bitmap(ALL_KEY):
            stored = reader.record(record_id)
            record = catalog.catalogue.parse_stored(stored)
            entry, sortkeys = catalog.catalogue.index_entry(record, stored.syntax, sorted(reader.holdings(record_id)))
            assert reader.entry(record_id) == entry and reader.sortkeys(record_id) == sortkeys
            for term in catalog.catalogue.terms(entry, stored.kind):
                expected.setdefault(term, BitMap()).add(record_id)
            expected_keys |= {(key, record_id) for _, key in catalog.catalogue.match_keys(record, stored.syntax,
                                                                                          stored.owner)}
            expected_keys.add((f"digest:{stored.digest}", record_id))
        stored_keys = {(key.decode(), int.from_bytes(value, "big")) for key, value
                       in reader.txn.cursor(db=reader.db["matchkeys"]).iternext()}
    assert postings(catalog) == expected
    assert stored_keys == expected_keys


def test_an_access_point_drawing_on_holdings_and_fields_alike_needs_the_record_again():
    points = {"library": {"kind": "code", "marc21": ["@holdings"], "unimarc": ["@holdings"]},
              "place": {"kind": "code", "marc21": ["@holdings", "852b"], "unimarc": ["@holdings"]}}
    access_points = AccessPoints(points, {})
    assert access_points.holdings_points("marc21") is None
    assert access_points.holdings_points("unimarc") == ("library", "place")
    entry = {"library": ["north"], "place": ["north"]}
    assert access_points.with_libraries(entry, "unimarc", ["SOUTH", "EAST"]) == {
        "library": ["south", "east"], "place": ["south", "east"]}


def test_change_counts_follow_the_change_log(catalog):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "unimarc-sample.mrc"], "CENTRAL", fmt="unimarc")
    with catalog.store.writing() as writer:
        catalog.catalogue.delete(writer, 1)
        catalog.catalogue.attach_holdings(writer, 2, "SOUTH", [{"note": "x"}])
        writer.flush()
    with catalog.store.reading() as reader:
        changes = list(reader.changes())
        for kind, syntax in {(c.kind, c.syntax) for c in changes}:
            assert reader.change_count(kind, syntax) == sum(1 for c in changes if (c.kind, c.syntax) == (kind, syntax))


def test_compact_keeps_everything_and_frees_pages(catalog, tmp_path):
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    with catalog.store.writing() as writer:
        for record_id in range(1, 100):
            catalog.catalogue.delete(writer, record_id)
        writer.flush()
    with catalog.store.reading() as reader:
        expected = [(c.record_id, c.deleted) for c in reader.changes()]
    path = catalog.store.path
    catalog.close()
    before, after = compact(path)
    assert after <= before
    reopened = Store(path, readonly=True)
    with reopened.reading() as reader:
        assert [(c.record_id, c.deleted) for c in reader.changes()] == expected
    reopened.close()


def test_changes_are_dated_when_their_transaction_commits(tmp_path, monkeypatch):
    """A load's transaction takes a while; a harvest during it must not get a responseDate later
    than the datestamps the load then commits, or an incremental harvest would miss them."""
    from unishelf.marc import store as store_module
    seconds = itertools.count()
    monkeypatch.setattr(store_module, "utc_now", lambda: f"2030-01-01T00:00:{next(seconds):02d}Z")
    catalog = make_catalog(tmp_path)
    items = list(itertools.islice(read_file(DATA / "marc21-utf8-sample.mrc"), 3))
    with catalog.store.writing() as writer:
        for item in items:
            catalog.catalogue.add(writer, catalog.catalogue.prepare(item, "NORTH"))
        provisional = next(seconds)           # the clock has moved on while the transaction ran
    with catalog.store.reading() as reader:
        changes = list(reader.changes())
        assert {change.datestamp for change in changes} == {f"2030-01-01T00:00:{provisional + 1:02d}Z"}
        assert all(reader.record(change.record_id).datestamp == change.datestamp for change in changes)
    catalog.close()


def test_terms_of_ascii_and_other_text_take_the_same_shape(catalog):
    """ASCII values are made into keys as bytes, others as text: both cut to LMDB's key size,
    both with the pairs of words in the pair list alone."""
    long_ascii, long_other = " ".join(["water"] * 150), " ".join(["ʻabd"] * 150)
    values = [long_ascii, long_other, "water resources", "ʻabd ʻal", "søren kierkegaard", "water kierkegaard"]
    terms = catalog.catalogue.terms({"title": values}, "bib")
    assert all(len(term) <= MAX_KEY_BYTES for term in terms)
    assert {term_key("title", "f", long_ascii), term_key("title", "f", long_other),
            term_key("title", "w", "water"), term_key("title", "p", "water resources"),
            term_key("title", "f", "water resources"), term_key("title", "w", "ʻabd"),
            term_key("title", "p", "ʻabd ʻal"), term_key("title", "p", "ʻabd ʻabd"),
            term_key("title", "w", "søren"), term_key("title", "w", "kierkegaard")} <= terms
    assert not {term_key("title", "p", "søren kierkegaard"), term_key("title", "p", "water kierkegaard")} & terms
    assert len(term_key("title", "f", long_ascii)) == MAX_KEY_BYTES   # the cut was made
