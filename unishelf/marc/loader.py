"""Bulk loading: files in, records stored, every bad record reported and kept aside.

Records are written in batches, one LMDB transaction each: a batch is durable once its commit
returns, and the progress line only counts committed records. A record that cannot be read is
reported (file, position, reason), appended to the rejects file as it was, and counted; the load
goes on. MARC21 holdings records (MFHD) attach their 852 holdings to the bibliographic record
their 004 names, even when that record comes later in the load.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Callable

from pyroaring import BitMap

from .catalogue import AlreadyStored, Catalogue, Prepared
from .reading import ReadRecord, Rejected, count_records, decode, raw_records
from .store import ALL_KEY, Store, one_id, posting_value


COLLECT_EVERY = 10   # batches (chunks, in a worker) between a load's garbage collections


@contextmanager
def _collected_between_batches():
    """Run the cyclic garbage collector between a load's batches only.

    A load makes millions of small containers (records, fields, index entries, postings) that
    live until their batch is written. The collector's automatic passes walk each of them at
    least once, however rarely they run: that cost a load's workers 4-7% of their CPU on the LC
    records, even at 140 times fewer passes than Python's default. So they are off while
    loading. A full pass runs every `COLLECT_EVERY` batches instead (in a worker, chunks),
    between two, when little is alive; what was alive before the load is frozen out of it
    (`gc.freeze`). A cycle, should a load make any, is still collected. The collector is
    restored after; objects a caller froze itself stay frozen."""
    enabled = gc.isenabled()
    freezing = gc.get_freeze_count() == 0
    gc.disable()
    if freezing:
        gc.freeze()
    try:
        yield
    finally:
        if freezing:
            gc.unfreeze()
        if enabled:
            gc.enable()


@dataclass
class LoadReport:
    counts: Counter = field(default_factory=Counter)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)  # file, position, reason
    warnings: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(self.counts[k] for k in ("created", "updated", "attached", "unchanged", "rejected"))

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        parts = [f"{self.counts[k]} {k}" for k in ("created", "updated", "attached", "unchanged", "rejected")]
        lines = [f"{self.read} records read in {self.seconds:.1f} s ({rate:,.0f}/s): " + ", ".join(parts)]
        lines += [f"  warning x{n}: {w}" for w, n in self.warnings.most_common()]
        return "\n".join(lines)


class Loader:
    """Loads files into the store; `workers` processes decode and index while this one writes."""

    def __init__(self, store: Store, catalogue: Catalogue, batch_size: int = 20000,
                 rejects_path: Path | None = None, progress: Callable[[str], None] | None = None,
                 workers: int = 0, max_batch_size: int | None = None, render_later: bool = False):
        """`render_later`: store records without their renderings (`Catalogue.render_pending`
        makes them)."""
        self.store = store
        self.catalogue = catalogue
        self.batch_size = batch_size
        self.max_batch_size = max(max_batch_size or batch_size, batch_size)
        self.rejects_path = rejects_path
        self.progress = progress
        self.workers = workers
        self.render_later = render_later

    @_collected_between_batches()
    def load(self, paths, fmt: str = "auto", library: str | None = None) -> LoadReport:
        report = LoadReport()
        self._report, self._batches = report, 0
        with self.store.reading() as reader:
            self._stored_before = len(reader.bitmap(ALL_KEY))
        started = time.perf_counter()
        batch: list[tuple[str, list, dict]] = []   # (file, prepared chunk, chunk postings)
        batch_records = 0
        deferred: list[tuple[str, ReadRecord]] = []
        counts = {path: count_records(path, fmt) for path in paths}   # each file read once for it
        with self._preparer(parallel=sum(counts.values()) >= PARALLEL_FROM) as prepare:
            for path in paths:
                with self.store.writing() as writer:
                    first_id = writer.reserve_ids(counts[path])
                chunks = _chunks(raw_records(path, fmt), library, first_id, not self.render_later)
                for results, postings in prepare(chunks):
                    for result in results:
                        if isinstance(result, Rejected):
                            self._reject(report, str(path), result.position, result.reason, result.raw)
                            continue
                        item = result.item if isinstance(result, (Prepared, AlreadyStored)) else result
                        for warning in item.warnings:
                            report.warnings[warning] += 1
                    batch.append((str(path), results, postings))
                    batch_records += len(results)
                    if batch_records >= self._batch_target():
                        deferred += self._write(batch, library, report, started)
                        batch, batch_records = [], 0
        deferred = self._write(batch, library, report, started) + deferred
        retry = [(path, [item for _, item in group], {}) for path, group in groupby(deferred, key=lambda d: d[0])]
        unresolved = self._write(retry, library, report, started)
        for path, item in unresolved:
            link = (item.record.control("004") or "").strip()
            reason = (f"holdings record for 004 {link!r}, which is not in the catalogue" if link
                      else "holdings record without a 004 naming its bibliographic record")
            self._reject(report, path, item.position, reason, item.raw)
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _preparer(self, parallel: bool):
        """A function from chunks of raw records to prepared chunks (see `_prepare_chunk`), in order."""
        if self.workers <= 0 or not parallel:
            _init_worker(self.catalogue, self.store)
            yield lambda chunks: map(_prepare_chunk, chunks)
            return
        with _worker_pool(self.catalogue, self.store, self.workers) as pool:
            yield lambda chunks: _bounded_map(pool, chunks, window=self._window)

    def _batch_target(self) -> int:
        """Records in the next write transaction: `batch_size`, growing with the store to
        1/`STORE_PER_BATCH` of its live records, up to `max_batch_size`.

        A commit rewrites every postings page its batch's terms touch, and 10,000 LC records
        touch nearly all of them: at a fixed batch size, the bytes a load writes a record grow
        with the store. 250,000 new records into a store of 250,000 LC records wrote 25.2 GiB at
        10,000 a batch against 9.9 GiB at 25,000, at the same rate on a fast disk, for 290 MiB
        more memory (see `_window`)."""
        stored = self._stored_before + self._report.counts["created"]
        return min(max(stored // STORE_PER_BATCH, self.batch_size), self.max_batch_size)

    def _window(self) -> int:
        """Chunks in flight: a batch's worth and one more a worker, so that the workers go on
        while the writer flushes and commits a batch (three quarters of its time on 250,000 LC
        records). With three chunks a worker whatever the batch, a 20,000-record batch starved
        them: 2,211 against 2,453 records/s at 5,000."""
        return max(self._batch_target() // CHUNK_RECORDS, 1) + self.workers

    def _write(self, batch, library, report, started):
        """Write one batch in one transaction; return the holdings records still unresolved."""
        unresolved = []
        if not batch:
            return unresolved
        with self.store.writing() as writer:
            for path, results, postings in batch:
                skipped, prepared = BitMap(), 0
                for result in results:
                    if isinstance(result, Prepared):
                        prepared += 1
                        outcome = self.catalogue.add(writer, result)
                        report.counts[outcome.action] += 1
                        if outcome.action != "created":
                            skipped.add(result.record_id)
                    elif isinstance(result, AlreadyStored):   # not in the chunk's postings: never skipped
                        report.counts[self.catalogue.add_stored(writer, result, library).action] += 1
                    elif isinstance(result, ReadRecord) and not self._attach_mfhd(writer, result, library, report):
                        unresolved.append((path, result))
                if postings and len(skipped) < prepared:   # a chunk all merged or unchanged adds none
                    writer.index_chunk(postings, skipped)
            writer.flush()
        self._batches += 1
        if self._batches % COLLECT_EVERY == 0:   # see _collected_between_batches
            gc.collect()
        if self.progress:
            elapsed = time.perf_counter() - started
            self.progress(f"{report.read:>9,} records  {report.read / elapsed:8,.0f}/s  "
                          f"{report.counts['rejected']:,} rejected")
        return unresolved

    def _attach_mfhd(self, writer, item: ReadRecord, library, report) -> bool:
        record = item.record
        bib_control = (record.control("004") or "").strip()
        scope = (record.control("003") or "").strip() or "@" + (library or "-")
        targets = writer.match(f"ctl:{scope}:{bib_control}") if bib_control else []
        if not targets:
            return False
        for code, items in self.catalogue.holdings_of(record, library).items():
            outcome = self.catalogue.attach_holdings(writer, targets[0], code, items)
            report.counts[outcome.action] += 1
        return True

    def _reject(self, report, path, position, reason, raw):
        report.counts["rejected"] += 1
        report.rejects.append((path, position, reason))
        if self.rejects_path:
            with open(self.rejects_path, "ab") as handle:
                handle.write(raw if raw.endswith(b"\x1d") else raw + b"\x1d")


# Records a worker prepares at a time. A chunk's postings hold a term once however many of its
# records have it, so larger chunks leave the writer fewer to merge: 250,000 LC records, four
# runs each, 4,000 against 1,000 a chunk: the writer's CPU 46.5 against 52.6 s, its bytes 5.9
# against 6.5-6.8 GiB, the rate 2,957 against 2,860 records/s, the workers' CPU the same, for
# 170 MiB more private memory.
CHUNK_RECORDS = 4000
STORE_PER_BATCH = 10   # a batch grows to one record in this many of the store's (Loader._batch_target)
PARALLEL_FROM = 5000  # records; below this, starting worker processes costs more than it saves
# The one writer is a load's critical path: with two workers and a writer on two cores, the
# scheduler took the writer off its core to run a worker, which only filled the chunk window
# further. Lower-priority workers run when the writer waits (250,000 records: 11% faster, same CPU).
WORKER_NICENESS = 10
_worker_catalogue: Catalogue | None = None
_worker_store: Store | None = None
_worker_collects = False   # a worker process: collect garbage every COLLECT_EVERY jobs
_worker_chunks = 0   # jobs (chunks to prepare, ids to render) a worker process has taken


def _chunks(raws, library, first_id: int, render: bool = True):
    """Jobs for `_prepare_chunk`: records, their library, the id set aside for the first, and
    whether to render them."""
    chunk = []
    for raw in raws:
        chunk.append(raw)
        if len(chunk) >= CHUNK_RECORDS:
            yield chunk, library, first_id, render
            first_id += len(chunk)
            chunk = []
    if chunk:
        yield chunk, library, first_id, render


@contextmanager
def renderers(catalogue: Catalogue, store: Store, workers: int):
    """A function from record ids to their renderings (`Catalogue.renderings_of`) made in
    `workers` processes like a load's, for `Catalogue.render_pending`; None: made in this one."""
    if workers <= 1:
        yield None
        return
    with _worker_pool(catalogue, store, workers) as pool:
        def render_ids(ids: list[int]) -> dict:
            rendered = {}
            for part in pool.map(_renderings_of, [ids[start::workers] for start in range(workers)]):
                rendered.update(part)
            return rendered
        yield render_ids


def _worker_pool(catalogue: Catalogue, store: Store, workers: int):
    """`workers` processes of `_init_worker`, each opening the store itself: spawned, not
    forked, since this process has the LMDB environment open, which a child must not inherit."""
    context = multiprocessing.get_context("spawn")
    return context.Pool(workers, _init_worker, (catalogue, (str(store.path), store.env.info()["map_size"])))


def _collect_now_and_then():
    """In a worker process, a full garbage collection every `COLLECT_EVERY` jobs (see
    _init_worker and _collected_between_batches)."""
    global _worker_chunks
    if _worker_collects:
        _worker_chunks += 1
        if _worker_chunks % COLLECT_EVERY == 0:
            gc.collect()


def _renderings_of(ids: list[int]) -> dict:
    """`Catalogue.renderings_of` in a worker process."""
    _collect_now_and_then()
    return _worker_catalogue.renderings_of(_worker_store, ids)


def _bounded_map(pool, jobs, window: Callable[[], int]):
    """Like pool.imap, but with at most `window()` chunks in flight: memory stays flat when the
    workers are faster than the writer (Pool.imap reads ahead without limit)."""
    in_flight: deque = deque()
    for job in jobs:
        in_flight.append(pool.apply_async(_prepare_chunk, (job,)))
        if len(in_flight) >= window():
            yield in_flight.popleft().get()
    while in_flight:
        yield in_flight.popleft().get()


def _init_worker(catalogue: Catalogue, store: Store | tuple[str, int]):
    """`store`: the loader's own in its process; in a worker process, its path and map size, for
    the worker to open read-only itself (an LMDB environment must not cross a fork or spawn)."""
    global _worker_catalogue, _worker_store, _worker_collects
    _worker_catalogue = catalogue
    if isinstance(store, Store):
        _worker_store = store
    else:
        os.nice(WORKER_NICENESS)
        _worker_store = Store(store[0], map_size=store[1], readonly=True)
        gc.disable()   # a worker process only loads: it collects between chunks instead
        gc.freeze()    # (see _collected_between_batches)
        _worker_collects = True


def _prepare_chunk(job) -> tuple[list[Prepared | AlreadyStored | ReadRecord | Rejected], dict[bytes, bytes]]:
    """Decode and index a chunk of records (in a worker); holdings records go back as read.

    A record whose bytes are stored already (a catalogue sent again) is neither indexed nor
    rendered: only its holdings go back, which is what the writer will attach. Nor is a record
    that matches a stored one it would attach to (another library's copy): its contribution
    goes back incomplete (see `Catalogue.add`). Nor are terms made for a record that would
    replace a stored one: the writer compares its index entry with the stored record's, and
    makes its terms from the entry only should it be created after all; the worker finds the
    stored record's match keys for the writer to take out. The records are completed a step
    at a time over the chunk (`Catalogue.complete_many`). Their terms come back inverted, as
    one postings value (`store.posting_value`) of record ids per term (the ids set aside for the
    chunk): far fewer and smaller objects to send than a set of terms per record, and a term
    new to the store is written as it comes.
    """
    raws, library, first_id, render = job
    _collect_now_and_then()
    catalogue = _worker_catalogue
    items = [decode(raw) for raw in raws]
    stored: set[str] = set()   # digests of records whose bytes are stored
    contributed: dict[int, tuple[Prepared, str | None]] = {}   # position -> (contribution, how it matches)
    with _worker_store.reading() as reader:   # one short read transaction a chunk
        for position, item in enumerate(items):
            if not isinstance(item, ReadRecord) or item.kind == "holdings":
                continue
            if reader.has_match(f"digest:{item.digest}"):
                stored.add(item.digest)
                continue
            contribution = catalogue.contribution(item, library)
            found = catalogue.match_by_keys(reader, contribution)   # its bytes are not stored: just looked
            if found and found[0] == "replace":
                stored_record = found[1]
                contribution.replacing = (stored_record.id, stored_record.digest,
                                          catalogue.stored_match_keys(stored_record))
            contributed[position] = contribution, found[0] if found else None
    results = []
    completing: list[Prepared] = []
    new: list[bool] = []   # for each of `completing`: a new record, whose terms join the chunk's
    for position, item in enumerate(items):
        record_id = first_id + position
        if isinstance(item, ReadRecord) and item.digest in stored:
            holdings = catalogue.contributed_holdings(item, library)
            item.record = None   # the writer needs only the bytes
            item = AlreadyStored(item, holdings, record_id)
        elif position in contributed:
            item, how = contributed[position]
            item.record_id = record_id
            if how != "attach":   # another library's copy of a stored record adds its holdings alone
                completing.append(item)
                new.append(how is None)
        results.append(item)
    postings = ChunkPostings()
    catalogue.complete_many(completing, with_terms=new, postings=postings, render=render)
    for item in results:
        if isinstance(item, Prepared):
            item.item.record = None  # the writer needs only the bytes: far cheaper to send
    return results, postings.finish()


class ChunkPostings:
    """The terms of a chunk's new records inverted: term -> one postings value
    (`store.posting_value`) of the ids of the records that have it.

    Most terms are of one record. They share one value, made once and pickled once a record;
    only the terms of several records are turned into values at the end."""

    def __init__(self):
        self._postings: dict[bytes, bytes | list[int]] = {}   # a term's value while of one record, then its ids
        self._shared: list[bytes] = []   # the terms of more than one record

    def add(self, record_id: int, terms):
        """A record's terms; ids come increasing."""
        postings = self._postings
        setdefault = postings.setdefault
        alone = posting_value(record_id)
        for term in terms:
            found = setdefault(term, alone)   # one lookup for a term new to the chunk
            if found is alone:
                continue
            if type(found) is bytes:
                postings[term] = [one_id(found), record_id]
                self._shared.append(term)
            else:
                found.append(record_id)

    def finish(self) -> dict[bytes, bytes]:
        """The chunk's postings, once all its records are added."""
        postings = self._postings
        for term in self._shared:
            postings[term] = posting_value(postings[term])
        self._shared = []
        return postings


def print_progress(line: str):
    sys.stderr.write("\r" + line)
    sys.stderr.flush()
