"""The `unishelf` command: serve, load, export, stats and search the union catalogue."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import cli_history, cli_ill, cli_user
from .app import open_catalog
from .config import ConfigError, load_config
from .marc.catalogue import Catalogue
from .marc.loader import Loader, print_progress, renderers
from .marc.store import UNRENDERED_KEY, Store, StoreFormatError, compact, term_key
from .marc.marcxml import collection_end, collection_start, record_xml
from .marc.reading import FORMATS
from .search.bib1 import DIAGNOSTICS
from .search.tree import QueryError
from .z3950.pqf import PQFError, parse_pqf

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"
PRERENDER_BATCH = 2000   # records rendered a write transaction by `unishelf prerender`


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {"data_dir": args.data_dir}
    if args.command == "serve":
        overrides.update({"listen.host": args.host, "listen.z3950_port": args.z3950_port,
                          "listen.http_port": args.http_port, "listen.ill_port": args.ill_port,
                          "listen.ftp_port": args.ftp_port})
    try:   # some settings are checked only when used (a file to open, a renderer to find)
        return args.handler(load_config(args.config, overrides), args)
    except ConfigError as error:
        print(f"unishelf: invalid configuration: {error}", file=sys.stderr)
        return 2
    except StoreFormatError as error:
        print(f"unishelf: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unishelf", description=__doc__)
    parser.add_argument("--config", metavar="FILE", help="YAML configuration (default config/unishelf.yaml)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the store lives (overrides data_dir)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run every protocol daemon on the configured ports")
    serve.add_argument("--host")
    serve.add_argument("--z3950-port", type=int)
    serve.add_argument("--http-port", type=int)
    serve.add_argument("--ill-port", type=int)
    serve.add_argument("--ftp-port", type=int, help="the FTP drop for scanned copies (0: none)")
    serve.set_defaults(handler=cmd_serve)

    load = commands.add_parser("load", help="load MARC records (ISO 2709, MARC-8, MARCXML, UNIMARC)")
    load.add_argument("files", nargs="*", metavar="FILE")
    load.add_argument("--library", metavar="CODE", help="the member library whose holdings these are")
    load.add_argument("--format", choices=FORMATS, default="auto")
    load.add_argument("--rejects", metavar="FILE", help="where unreadable records go (default DATA_DIR/rejects.mrc)")
    load.add_argument("--demo", action="store_true", help="load the bundled demo catalogue")
    load.add_argument("--if-empty", action="store_true", help="do nothing when the store holds records")
    load.add_argument("--quiet", action="store_true", help="no progress line")
    load.set_defaults(handler=cmd_load)

    export = commands.add_parser("export", help="write records out as ISO 2709 or MARCXML")
    export.add_argument("query", nargs="?", help="PQF query (default: every record)")
    export.add_argument("--format", choices=("marc21", "marcxml"), default="marc21")
    export.add_argument("--output", "-o", metavar="FILE", help="default standard output")
    export.add_argument("--database", default="unicat")
    export.set_defaults(handler=cmd_export)

    stats = commands.add_parser("stats", help="record counts per database and member library")
    stats.set_defaults(handler=cmd_stats)

    compact = commands.add_parser("compact", help="rewrite the store without free pages (servers stopped)")
    compact.set_defaults(handler=cmd_compact)

    prerender = commands.add_parser("prerender", help="make the renderings a load left for later (load.render_later)")
    prerender.add_argument("--quiet", action="store_true", help="no progress line")
    prerender.add_argument("--workers", type=int, help="processes rendering (default load.workers)")
    prerender.set_defaults(handler=cmd_prerender)

    search = commands.add_parser("search", help="search with a PQF query, e.g. '@attr 1=4 water'")
    search.add_argument("query")
    search.add_argument("--count", action="store_true", help="print the number of hits only")
    search.add_argument("--database", action="append", help="default unicat; may be repeated")
    search.add_argument("--limit", type=int, default=10, help="records to show (default 10)")
    search.set_defaults(handler=cmd_search)
    cli_user.register(commands)
    cli_history.register(commands)
    cli_ill.register(commands)
    return parser


def cmd_serve(config, args) -> int:
    from .serve import serve
    return serve(config)


def cmd_load(config, args) -> int:
    catalog = open_catalog(config)
    try:
        with catalog.store.reading() as reader:
            stored = reader.counter("record_id")
        if args.if_empty and stored:
            print(f"store {config.store_path} already holds records; nothing loaded")
            return 0
        jobs = demo_jobs() if args.demo else [(args.library, args.format, args.files)]
        if not any(files for _, _, files in jobs):
            print("unishelf load: no files given", file=sys.stderr)
            return 2
        config.data_dir.mkdir(parents=True, exist_ok=True)
        rejects = Path(args.rejects) if args.rejects else config.data_dir / "rejects.mrc"
        loader = Loader(catalog.store, catalog.catalogue, batch_size=config["load"]["batch_size"],
                        rejects_path=rejects, progress=None if args.quiet else print_progress,
                        workers=config["load"]["workers"], max_batch_size=config["load"]["max_batch_size"],
                        render_later=config["load"]["render_later"])
        for library, fmt, files in jobs:
            report = loader.load(files, fmt, library)
            if not args.quiet:
                sys.stderr.write("\n")
            label = f" for {library}" if library else ""
            print(f"{', '.join(map(str, files))}{label}: {report.summary()}")
            for path, position, reason in report.rejects:
                print(f"  rejected: {path}: {position}: {reason}")
            if report.rejects:
                print(f"  rejected records were written to {rejects}")
        return 0
    finally:
        catalog.close()


def demo_jobs():
    """The demo catalogue: one file per member library, named by its code."""
    jobs = []
    for path in sorted(DEMO_DIR.rglob("*")):
        if path.suffix in (".mrc", ".xml") and path.is_file():
            fmt = "unimarc" if "unimarc" in path.parts else "auto"
            jobs.append((path.stem, fmt, [path]))
    return jobs


def cmd_export(config, args) -> int:
    catalog = open_catalog(config, readonly=True)
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:
        if args.query:
            ids = run_query(catalog, args.query, [args.database]).ids()
        else:
            ids = list(catalog.engine.scope(args.database))
        if args.format == "marcxml":
            out.write(collection_start().encode())
        for start in range(0, len(ids), 1000):
            with catalog.store.reading() as reader:
                for record_id in ids[start:start + 1000]:
                    stored = reader.record(record_id)
                    if args.format == "marc21":
                        out.write(stored.raw)
                    else:
                        record = Catalogue.parse_stored(stored)
                        out.write((record_xml(record, namespace=False) + "\n").encode("utf-8"))
        if args.format == "marcxml":
            out.write(collection_end().encode())
        return 0
    except (PQFError, QueryError) as error:
        print(f"unishelf export: {error}", file=sys.stderr)
        return 2
    finally:
        if args.output:
            out.close()
        catalog.close()


def cmd_stats(config, args) -> int:
    catalog = open_catalog(config, readonly=True)
    try:
        file_bytes, used_bytes = catalog.store.size()
        print(f"store: {config.store_path} ({file_bytes / 2**20:,.0f} MiB, {used_bytes / 2**20:,.0f} MiB in use)")
        for name in catalog.engine.databases:
            print(f"database {name:<16} {catalog.engine.count(name):>9,} records")
        with catalog.store.reading() as reader:
            held = reader.term_counts(term_key("library", "w", ""))
            deleted = sum(1 for record_id in reader.record_ids() if reader.record(record_id).deleted)
        for code, count in held:
            print(f"library  {code.upper():<16} {count:>9,} records held")
        print(f"deleted (tombstones)      {deleted:>9,}")
        return 0
    finally:
        catalog.close()


def cmd_prerender(config, args) -> int:
    """Render what loads left for later, a batch a transaction, while servers keep running: in
    `load.workers` processes (`--workers`), unless fewer than a batch are left."""
    catalog = open_catalog(config)
    workers = config["load"]["workers"] if args.workers is None else args.workers
    try:
        started, done = time.perf_counter(), 0
        with catalog.store.reading() as reader:
            left = len(reader.bitmap(UNRENDERED_KEY))
        with renderers(catalog.catalogue, catalog.store, workers if left >= PRERENDER_BATCH else 0) as render_ids:
            while left:
                rendered, left = catalog.catalogue.render_pending(catalog.store, PRERENDER_BATCH, render_ids)
                done += rendered
                if not args.quiet:
                    print_progress(f"{done:>9,} records rendered  {done / (time.perf_counter() - started):8,.0f}/s  "
                                   f"{left:,} left")
        if not args.quiet and done:
            sys.stderr.write("\n")
        print(f"{done:,} records rendered in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        catalog.close()


def cmd_compact(config, args) -> int:
    Store(config.store_path, readonly=True).close()   # refuses a missing or old-format store
    before, after = compact(config.store_path)
    print(f"store: {config.store_path}: {before / 2**20:,.0f} MiB -> {after / 2**20:,.0f} MiB")
    return 0


def run_query(catalog, text: str, databases):
    tree = catalog.bib1.to_tree(parse_pqf(text))
    return catalog.engine.search(tree, databases)


def cmd_search(config, args) -> int:
    catalog = open_catalog(config, readonly=True)
    try:
        result = run_query(catalog, args.query, args.database or ["unicat"])
    except PQFError as error:
        print(f"unishelf search: bad PQF query: {error}", file=sys.stderr)
        return 2
    except QueryError as error:
        print(f"unishelf search: diagnostic {DIAGNOSTICS.get(error.code, 100)}: {error}", file=sys.stderr)
        return 2
    try:
        if args.count:
            print(len(result))
            return 0
        print(f"{len(result)} hits")
        with catalog.store.reading() as reader:
            for position, record_id in enumerate(result.ids(0, args.limit), 1):
                print(f"{position:>3}. {brief(reader, record_id)}")
        return 0
    finally:
        catalog.close()


def brief(reader, record_id: int) -> str:
    """One line: id, title, author, date and the libraries holding the record."""
    entry = reader.entry(record_id)
    stored = reader.record(record_id)
    record = Catalogue.parse_stored(stored)
    title_field = record.first("245") or record.first("200")
    title = title_field.text("ab") if title_field else "(no title)"
    author = (record.first("100") or record.first("110") or record.first("700"))
    date = (entry.get("date") or [""])[0]
    libraries = ",".join(code.upper() for code in entry.get("library", []))
    parts = [f"[{record_id}] {title.strip(' /:')}"]
    if author:
        parts.append(author.text("a").strip(" ,."))
    if date:
        parts.append(date)
    if libraries:
        parts.append(f"held by {libraries}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
