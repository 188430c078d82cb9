"""Where a first load's CPU goes: each stage alone, in microseconds a record, on the LC records.

    python bench/bench_stages.py [--records N]

`make bench-load` gives the whole: records per second, and the writer's CPU apart from its
workers'. This gives the parts, so that a change can be aimed at a stage and measured on it.
Each stage runs by itself over the same records held in memory, in this process, and its CPU
time is the best of three runs: what a worker does to a record (decode, contribution, index
entry, terms, each prerendered format, inverting the terms into chunk postings, pickling the
chunk's results), then the chunks whole as a worker makes them, then the writer (unpickling
the prepared chunks and writing them into a new store, as a load does).

The chunks whole cost a quarter to two fifths more than the sum of their stages (20,000
records: 401 against 326, 413 against 291 µs a record), in one process on an idle core: the
gap is in the code path, not in sharing the cores. Built up step by step, it is mostly memory:
decoding a chunk into a list costs 11 µs a record more than decoding each record and freeing
it (the heap grows and shrinks each chunk: about 2 page faults a record), rendering last costs
14 more than alone, and freeing the parsed records before pickling about 10. Doing each record
whole, or a chunk's steps by 30 or 100 records, was no cheaper; keeping the heap (glibc's
MALLOC_TRIM_THRESHOLD_) ended the faults here but saved nothing measurable in a load. So "in
all" adds the whole, not the stages, to the writer. The writer's part grows with the store: at
20,000 records it is about three quarters of what it is over 100,000. Not a test: no
assertions.
"""
from __future__ import annotations

import argparse
import gc
import marshal
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402

from unishelf.app import open_catalog  # noqa: E402
from unishelf.config import load_config  # noqa: E402
from unishelf.marc import loader  # noqa: E402
from unishelf.marc.reading import ReadRecord, decode, raw_records  # noqa: E402
from unishelf.marc.rendered_codec import CODEC  # noqa: E402

LIBRARY = "LC"


def cpu_seconds(run, repeat: int = 3) -> float:
    """The least process CPU time of `repeat` runs of `run()` (a full garbage collection before each)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def each(function, *iterables):
    """Call `function` on each item, keeping no result: as a load does, which frees each chunk's."""
    deque(map(function, *iterables), maxlen=0)


def chunked(values: list) -> list[list]:
    return [values[start:start + loader.CHUNK_RECORDS] for start in range(0, len(values), loader.CHUNK_RECORDS)]


def invert(records_terms) -> dict:
    postings = loader.ChunkPostings()
    for record_id, terms in records_terms:
        postings.add(record_id, terms)
    return postings.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    records = lc_corpus.subset(args.records)
    work = Path(tempfile.mkdtemp(prefix="unishelf-bench-stages-"))
    try:
        count, worker, whole, writer = measure(records, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{count:,} LC records ({records}); CPU microseconds a record, best of three")
    for name, seconds in worker.items():
        print(f"  worker: {name:<40} {seconds / count * 1e6:8.1f}")
    print(f"  worker: {'all of the above':<40} {sum(worker.values()) / count * 1e6:8.1f}")
    print(f"  worker: {'the chunks whole, as a load makes them':<40} {whole / count * 1e6:8.1f}")
    print(f"  writer: {'unpickling and writing the chunks':<40} {writer / count * 1e6:8.1f}")
    total = whole + writer
    cores = os.cpu_count() or 1
    print(f"  {'in all':<48} {total / count * 1e6:8.1f}   "
          f"({cores * count / total:,.0f} records/s, were it shared perfectly over {cores} cores)")
    return 0


def measure(records: Path, work: Path) -> tuple[int, dict, float, float]:
    """(records, worker stage -> CPU seconds, the worker's CPU seconds for the chunks whole, the
    writer's CPU seconds)."""
    opened = open_catalog(load_config(None, {"data_dir": str(work / "stages")}))
    catalogue = opened.catalogue
    loader._init_worker(catalogue, opened.store)   # the worker's state, in this process
    raws = list(raw_records(records))
    jobs = list(loader._chunks(raws, LIBRARY, 1))
    gc.disable()   # as in a worker process (see loader._collected_between_batches)
    whole = cpu_seconds(lambda: each(lambda job: ForkingPickler.dumps(loader._prepare_chunk(job)), jobs))
    gc.enable()
    sent = [bytes(ForkingPickler.dumps(loader._prepare_chunk(job))) for job in jobs]
    opened.close()
    # the writer first, while this process holds little else: the collector walks what it holds
    writer = cpu_seconds(lambda: load_prepared(records, work, sent), repeat=1)
    prepared = [pickle.loads(chunk) for chunk in sent]
    items = [item for item in map(decode, raws) if isinstance(item, ReadRecord)]
    contributions = [catalogue.contribution(item, LIBRARY) for item in items]
    entries = [catalogue.index_entry(item.record, item.syntax, [LIBRARY])[0] for item in items]
    terms = [catalogue.terms(entry, item.kind) for entry, item in zip(entries, items)]
    stages = {
        "decode (ISO 2709, digest)": lambda: each(decode, raws),
        "contribution (holdings, match keys)": lambda: each(lambda item: catalogue.contribution(item, LIBRARY), items),
        "index entry (extract, sort keys, marshal)": lambda: each(
            lambda item, contribution: marshal.dumps(
                catalogue.index_entry(item.record, item.syntax, sorted(contribution.holdings))),
            items, contributions),
        "terms": lambda: each(lambda entry, item: catalogue.terms(entry, item.kind), entries, items),
    }
    for name, renderer in catalogue.renderers.items():
        stages[f"render {name} (and compress)"] = lambda name=name, renderer=renderer: each(
            lambda item: CODEC.encode(name, renderer(item.record, item.syntax).encode("utf-8")), items)
    stages["inverting terms into chunk postings"] = lambda: each(invert, chunked(list(enumerate(terms, 1))))
    stages["pickling a chunk's results"] = lambda: each(ForkingPickler.dumps, prepared)
    gc.disable()   # as in a worker process (see loader._collected_between_batches)
    worker = {name: cpu_seconds(run) for name, run in stages.items()}
    gc.enable()
    return len(raws), worker, whole, writer


class PreparedLoader(loader.Loader):
    """A loader whose chunks come prepared and pickled, as from its workers: what it spends is
    the writer's part of a load."""

    def __init__(self, sent: list[bytes], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = sent

    @contextmanager
    def _preparer(self, parallel: bool):
        yield lambda jobs: (pickle.loads(chunk) for chunk, _ in zip(self.sent, jobs))


def load_prepared(records: Path, work: Path, sent: list[bytes]):
    """The writer's part of a load into a new store (the records' ids are those they were
    prepared with: the store's first)."""
    data_dir = work / "load"
    shutil.rmtree(data_dir, ignore_errors=True)
    config = load_config(None, {"data_dir": str(data_dir)})
    opened = open_catalog(config)
    try:
        PreparedLoader(sent, opened.store, opened.catalogue,
                       batch_size=config["load"]["batch_size"],
                       max_batch_size=config["load"]["max_batch_size"]).load([records], "auto", LIBRARY)
    finally:
        opened.close()


if __name__ == "__main__":
    sys.exit(main())
