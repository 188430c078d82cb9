"""Query benchmark: a fixed mix of PQF queries against a loaded store, in one process.

    python bench/bench_query.py [--data-dir DIR] [--records N] [--rounds R]

The store is the one `bench_load.py --keep DIR` left (loaded first if missing). Queries are drawn
with a fixed seed from the same LC records: title, author and subject words of every frequency,
ISBNs, LCCNs, two-word AND queries, two-word phrases and right truncation. Each query is timed
from PQF text to the ids of the first 10 records plus those 10 records read from the store, warm.
Prints queries per second and p50/p99 latency per kind and overall. Not a test: no assertions.
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402

from unishelf.app import open_catalog  # noqa: E402
from unishelf.config import load_config  # noqa: E402
from unishelf.marc import normalize  # noqa: E402
from unishelf.marc.reading import read_file  # noqa: E402
from unishelf.z3950.pqf import parse_pqf  # noqa: E402

PER_KIND = 200


def query_mix(records: Path, seed: int = 20261123) -> list[tuple[str, str]]:
    """(kind, PQF) pairs drawn from every 50th record of the corpus."""
    rng = random.Random(seed)
    titles, authors, subjects, isbns, lccns, phrases = [], [], [], [], [], []
    for number, item in enumerate(read_file(records)):
        if number % 50 or not hasattr(item, "record"):
            continue
        record = item.record
        title = record.first("245")
        if title:
            words = [w for w in normalize.fold_tokens(title.text("ab")) if len(w) > 2 and w.isascii()]
            titles += words
            phrases += [f"{a} {b}" for a, b in zip(words, words[1:])]
        author = record.first("100")
        if author and author.get("a"):
            authors += [w for w in normalize.fold_tokens(author.get("a")) if len(w) > 2 and w.isascii()][:1]
        for field in record.get_fields("650"):
            subjects += [w for w in normalize.fold_tokens(field.text("a")) if len(w) > 3 and w.isascii()]
        for field in record.get_fields("020"):
            if field.get("a"):
                isbns.append(field.get("a").split(" ")[0])
        if record.first("010") and record.first("010").get("a"):
            lccns.append(record.first("010").get("a").strip())
    pick = lambda pool: [rng.choice(pool) for _ in range(PER_KIND)]  # noqa: E731
    mix = [("title word", f"@attr 1=4 {w}") for w in pick(titles)]
    mix += [("author word", f"@attr 1=1003 {w}") for w in pick(authors)]
    mix += [("subject word", f"@attr 1=21 {w}") for w in pick(subjects)]
    mix += [("isbn", f'@attr 1=7 "{w}"') for w in pick(isbns)]
    mix += [("lccn", f'@attr 1=9 "{w}"') for w in pick(lccns)]
    mix += [("title AND author", f"@and @attr 1=4 {t} @attr 1=1003 {a}")
            for t, a in zip(pick(titles), pick(authors))]
    mix += [("title AND subject", f"@and @attr 1=4 {t} @attr 1=21 {s}")
            for t, s in zip(pick(titles), pick(subjects))]
    mix += [("title phrase", f'@attr 1=4 @attr 4=1 "{p}"') for p in pick(phrases)]
    mix += [("title truncated", f"@attr 1=4 @attr 5=1 {w[:4]}") for w in pick(titles)]
    mix += [("any word", f"@attr 1=1016 {w}") for w in pick(titles + subjects)]
    mix += [("author phrase", f'@attr 1=1003 @attr 4=1 "{a} {b}"') for a, b in zip(pick(authors), pick(titles))]
    mix += [("any phrase", f'@attr 1=1016 @attr 4=1 "{p}"') for p in pick(phrases)]
    mix += [("ranked any", f'@attr 2=102 @attr 1=1016 "{p}"') for p in pick(phrases)]
    return mix


def run(catalog, pqf: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf)))
    with catalog.store.reading() as reader:
        for record_id in result.ids(0, 10):
            reader.record(record_id)
    return time.perf_counter() - started, len(result)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--data-dir", help="default bench/.cache/unishelf-N")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    records = lc_corpus.subset(args.records)
    data_dir = Path(args.data_dir or BENCH / ".cache" / f"unishelf-{args.records}")
    if not (data_dir / "store").exists():
        subprocess.run([sys.executable, str(BENCH / "bench_load.py"), "--records", str(args.records),
                        "--no-zebra", "--no-reloads", "--keep", str(data_dir)], check=True)
    catalog = open_catalog(load_config(None, {"data_dir": str(data_dir)}), readonly=True)
    print(f"store: {data_dir} ({catalog.engine.count('unicat'):,} records)")
    mix = query_mix(records)
    for _, pqf in mix:  # warm the page cache and the code
        run(catalog, pqf)
    timings: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    started = time.perf_counter()
    for _ in range(args.rounds):
        for kind, pqf in mix:
            seconds, count = run(catalog, pqf)
            timings.setdefault(kind, []).append(seconds)
            hits.setdefault(kind, []).append(count)
    elapsed = time.perf_counter() - started
    every = [t for values in timings.values() for t in values]
    print(f"{'kind':<18} {'queries':>7} {'mean hits':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for kind, values in timings.items():
        print(f"{kind:<18} {len(values):>7} {statistics.mean(hits[kind]):>9.0f} "
              f"{percentile(values, .5) * 1e3:>7.2f} {percentile(values, .99) * 1e3:>7.2f} {max(values) * 1e3:>7.2f}")
    print(f"{'all':<18} {len(every):>7} {'':>9} {percentile(every, .5) * 1e3:>7.2f} "
          f"{percentile(every, .99) * 1e3:>7.2f} {max(every) * 1e3:>7.2f}")
    print(f"{len(every) / elapsed:,.0f} queries/s (one process, one thread)")
    catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
