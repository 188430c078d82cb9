"""Load benchmark: unishelf and Zebra index the same Library of Congress records.

    python bench/bench_load.py [--records N] [--no-zebra] [--no-reloads] [--grow K] [--keep DIR] [--config FILE]

Prints records per second, wall and CPU seconds, peak memory and size on disk for both, and the
ratios; for unishelf also the writer process's own CPU and the bytes it wrote, apart from its
workers'. unishelf runs as its own `unishelf load` process (with its worker processes), measured
from outside like zebraidx, so both figures mean the same thing. A load leaves the renderings kept
for harvests for later (`load.render_later`), as zebraidx renders nothing; after each load,
`unishelf prerender` makes them, measured apart, so the store's size is that of a settled store.
Not a test: no assertions.

Then, unless --no-reloads, what a union catalogue does most after its first load: a second
library loads its copies of the same records (its own 001 and a local note, the same ISBNs and
LCCNs), which attach to the stored ones; the first library reloads its records revised (a note
added), which replace them; and the catalogue grows by as many new records again (new editions:
the same text with a new 001, no identifier that would match, an edition statement), which
double the store. Zebra updates its index with the revised records and the new editions too (it
replaces a record by its 001 and adds the others); it has no union-catalogue matching for the
copies. The changed files are made once and cached beside the corpus.

With --grow K, the catalogue then grows by K more sets of as many new editions (each set with
its own 001s), loaded one set at a time into both, to show how the rates, and the bytes the
writer writes, change as the store grows to millions of records (each set is cached too: 232 MB
for the 250,000 LC records).
"""
from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import lc_corpus  # noqa: E402
import zebra_side  # noqa: E402

from unishelf.marc.reading import raw_records  # noqa: E402
from unishelf.marc.record import Field, parse_iso2709, write_iso2709  # noqa: E402

UNISHELF = Path(sys.executable).with_name("unishelf")
CONFIG: list[str] = []   # ["--config", FILE] for every unishelf command, when --config is given


def unishelf(data_dir: Path, *arguments: str) -> list[str]:
    return [str(UNISHELF), *CONFIG, "--data-dir", str(data_dir), *arguments]


def tree_bytes(path: Path) -> int:
    """Bytes allocated on disk (as du counts them): LMDB files are sparse up to the map size."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def anonymous_memory(pid: int) -> int:
    """Private (anonymous) resident bytes of a process and its children, from /proc."""
    total = 0
    for task in [pid] + children(pid):
        try:
            for line in Path(f"/proc/{task}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    try:
        direct = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [grandchild for child in direct for grandchild in children(child)]


def own_usage(pid: int) -> tuple[float, int]:
    """CPU seconds of a process alone (not its children) and the bytes it has written to disk,
    from /proc: what the loader's writer process costs, apart from its workers."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    except OSError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(io["write_bytes"])


def load_unishelf(records: Path, data_dir: Path) -> dict:
    """The first load, measured (`run_load`), then the renderings it left for later
    (`run_prerender`), with the store's size before and after compacting. A store kept for the
    other benchmarks (`unishelf_side.store`) is thus a settled one."""
    figures = run_load(records, data_dir, "LC")
    figures["prerender"] = run_prerender(data_dir)
    stats = subprocess.run(unishelf(data_dir, "stats"), capture_output=True, text=True).stdout.splitlines()[0]
    loaded_bytes = tree_bytes(data_dir / "store")
    subprocess.run(unishelf(data_dir, "compact"), check=True, capture_output=True)
    return {**figures, "stats": stats, "loaded_disk_bytes": loaded_bytes, "disk_bytes": tree_bytes(data_dir / "store")}


def run_load(records: Path, data_dir: Path, library: str) -> dict:
    """Run `unishelf load` in a fresh process group and measure it (and its workers) from outside."""
    command = unishelf(data_dir, "load", "--quiet", "--library", library, str(records))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak_anonymous, writer = 0, (0.0, 0)
    while process.poll() is None:  # LMDB's mapped file counts in RSS; private memory is the cost
        peak_anonymous = max(peak_anonymous, anonymous_memory(process.pid))
        writer = max(writer, own_usage(process.pid))   # the last reading: within half a second of the end
        time.sleep(0.5)
    status = process.returncode
    wall = time.perf_counter() - started
    output = process.stdout.read()
    process.stdout.close()
    if status != 0:
        raise SystemExit(f"unishelf load failed:\n{output}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": after.ru_maxrss * 1024,
            "peak_anonymous_bytes": peak_anonymous, "writer_cpu_s": writer[0], "writer_written_bytes": writer[1],
            "summary": output.strip().splitlines()[0]}


def run_prerender(data_dir: Path) -> dict:
    """`unishelf prerender`, measured from outside: the renderings a load left for later
    (`load.render_later`), which a running server makes in the background."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(unishelf(data_dir, "prerender", "--quiet"), check=True, capture_output=True,
                            text=True).stdout.strip()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "summary": output}


def print_prerender(figures: dict):
    print(f"unishelf: then `unishelf prerender`: wall {figures['wall_s']:.1f} s, cpu {figures['cpu_s']:.1f} s: "
          f"{figures['summary']}", flush=True)


def another_librarys_copy(record):
    """The record as another library catalogues it: its own 001 and a local note."""
    for field in record.fields:
        if field.tag == "001":
            field.value = "copy-" + field.value.strip()
    record.fields.append(Field("590", indicators="  ", subfields=[("a", "Local copy.")]))
    return record


def revised(record):
    record.fields.append(Field("500", indicators="  ", subfields=[("a", "Revised record.")]))
    return record


def new_edition(record, number: int = 1):
    """The record as a new edition that matches no stored one: its own 001 (one for each
    `number`), no LCCN, ISBN, ISSN or OCLC number, and an edition statement."""
    record.fields = [field for field in record.fields if field.tag not in ("010", "020", "022", "035")]
    prefix = "edition-" if number == 1 else f"edition{number}-"
    for field in record.fields:
        if field.tag == "001":
            field.value = prefix + field.value.strip()
    record.fields.append(Field("250", indicators="  ", subfields=[("a", "New edition.")]))
    return record


# (change, library, what it is, whether Zebra loads it too)
RELOADS = ((another_librarys_copy, "COPY", "a second library's copies", False),
           (revised, "LC", "the first library's revised records", True),
           (new_edition, "LC", "as many new records (new editions)", True))


def edition_set(number: int, stored: int):
    """A `RELOADS` entry for another set of new editions, loaded into `stored` records."""
    change = functools.partial(new_edition, number=number)
    change.__name__ = f"new_edition{number}"   # its cached file's name (changed_records)
    return change, "LC", f"new editions, set {number}, into {stored:,} records", True


def changed_records(records: Path, change) -> Path:
    """The records, each changed by `change`: written once, cached beside them."""
    dest = lc_corpus.cache_dir() / f"{records.stem}-{change.__name__}.mrc"
    if dest.exists():
        return dest
    out, tmp = lc_corpus.atomic_target(dest)
    try:
        with out:
            for raw in raw_records(records):
                out.write(write_iso2709(change(parse_iso2709(raw.data))))
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def reload(records: Path, data_dir: Path, zebra_dir: Path | None, count: int, loads):
    """Each of `loads` (as `RELOADS`) into the loaded store, in order, and into Zebra's index
    where it compares (`zebra_dir`: None, no Zebra)."""
    for change, library, what, zebra_too in loads:
        changed = changed_records(records, change)
        ours = run_load(changed, data_dir, library)
        print(f"unishelf: {what}: {count / ours['wall_s']:,.0f} records/s, wall {ours['wall_s']:.1f} s, "
              f"cpu {ours['cpu_s']:.1f} s (the writer {ours['writer_cpu_s']:.1f} s, "
              f"{ours['writer_written_bytes'] / 2**30:.1f} GiB written; "
              f"private {ours['peak_anonymous_bytes'] / 2**20:,.0f} MiB): {ours['summary']}", flush=True)
        print_prerender(run_prerender(data_dir))
        if zebra_dir and zebra_too:
            theirs = zebra_side.update(changed, zebra_dir, count)
            print(f"   zebra: {what}: {count / theirs['wall_s']:,.0f} records/s, "
                  f"wall {theirs['wall_s']:.1f} s, cpu {theirs['cpu_s']:.1f} s")
            print(f"ratio unishelf/zebra for {what}: records/s {theirs['wall_s'] / ours['wall_s']:.2f}x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--no-zebra", action="store_true", help="unishelf only")
    parser.add_argument("--no-reloads", action="store_true", help="the first load only")
    parser.add_argument("--grow", type=int, default=0, metavar="K",
                        help="then K more sets of as many new editions, one at a time")
    parser.add_argument("--keep", metavar="DIR", help="leave the unishelf store here (for bench_query.py)")
    parser.add_argument("--config", metavar="FILE", help="unishelf's config (e.g. another oai.prerender)")
    args = parser.parse_args()
    if args.config:
        CONFIG[:] = ["--config", str(Path(args.config).resolve())]

    records = lc_corpus.subset(args.records)
    count = lc_corpus.count_records(records)
    print(f"corpus: {count:,} LC records, {records.stat().st_size / 1e6:.1f} MB ({records})")

    work = Path(tempfile.mkdtemp(prefix="unishelf-bench-load-"))
    data_dir = Path(args.keep) if args.keep else work / "unishelf"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    ours = load_unishelf(records, data_dir)
    print(f"unishelf: {ours['summary']}")
    print(f"unishelf: {ours['stats']}")
    print(f"unishelf: {ours['loaded_disk_bytes'] / 2**20:,.0f} MiB on disk after the load, "
          f"{ours['disk_bytes'] / 2**20:,.0f} MiB after `unishelf compact`")
    writer_cpu, workers_cpu = ours["writer_cpu_s"], ours["cpu_s"] - ours["writer_cpu_s"]
    print(f"unishelf: the writer process used {writer_cpu:.1f} s of CPU ({writer_cpu / count * 1000:.2f} ms a "
          f"record), its workers {workers_cpu:.1f} s ({workers_cpu / count * 1000:.2f} ms); "
          f"the writer wrote {ours['writer_written_bytes'] / 2**30:.1f} GiB to disk")
    report("unishelf", count, ours)
    print_prerender(ours["prerender"])

    theirs = None
    if not args.no_zebra:
        if zebra_side.available():
            result = zebra_side.index(records, work / "zebra")
            theirs = {"wall_s": result["wall_s"], "cpu_s": result["cpu_s"],
                      "peak_rss_bytes": result["peak_rss_bytes"], "disk_bytes": result["register_bytes"]}
            report("zebra", count, theirs)
        else:
            print("zebra: zebraidx not found (apt-get install idzebra-2.0); no comparison")
    if theirs:
        print(f"ratio unishelf/zebra: records/s {theirs['wall_s'] / ours['wall_s']:.2f}x, "
              f"size on disk {ours['disk_bytes'] / theirs['disk_bytes']:.2f}x, "
              f"peak memory {ours['peak_rss_bytes'] / theirs['peak_rss_bytes']:.2f}x")
    loads = [] if args.no_reloads else list(RELOADS)
    stored = count * (2 if loads else 1)   # the reloads add one set of new editions
    loads += [edition_set(number, stored + count * (number - 2)) for number in range(2, args.grow + 2)]
    reload(records, data_dir, work / "zebra" if theirs else None, count, loads)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(name: str, count: int, figures: dict):
    anonymous = figures.get("peak_anonymous_bytes")
    private = f" (private {anonymous / 2**20:,.0f} MiB)" if anonymous else ""
    print(f"{name:>8}: {count / figures['wall_s']:8,.0f} records/s  wall {figures['wall_s']:7.1f} s  "
          f"cpu {figures['cpu_s']:7.1f} s  peak RSS {figures['peak_rss_bytes'] / 2**20:7,.0f} MiB{private}  "
          f"disk {figures['disk_bytes'] / 2**20:7,.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
