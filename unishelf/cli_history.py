"""`unishelf history ID`: who changed a record, when, how, and which fields each change touched."""
from __future__ import annotations

import sys
from collections import Counter

from .app import open_catalog
from .marc.record import parse_iso2709


def register(commands):
    history = commands.add_parser("history", help="the recorded changes of a record, oldest first")
    history.add_argument("record_id", type=int)
    history.set_defaults(handler=cmd_history)


def field_changes(before: bytes | None, after: bytes | None) -> str:
    """Tags whose fields a change added, removed or altered: "+650 -500 ~245"."""
    def fields(raw):
        return Counter((f.tag, f.value if f.value is not None else (f.indicators, tuple(f.subfields)))
                       for f in parse_iso2709(raw).fields) if raw else Counter()
    old, new = fields(before), fields(after)
    removed = {tag for tag, _ in old - new}
    added = {tag for tag, _ in new - old}
    return " ".join([f"~{t}" for t in sorted(added & removed)] + [f"+{t}" for t in sorted(added - removed)]
                    + [f"-{t}" for t in sorted(removed - added)]) or "no field changed"


def cmd_history(config, args) -> int:
    catalog = open_catalog(config, readonly=True)
    try:
        with catalog.store.reading() as reader:
            stored = reader.record(args.record_id)
            entries = reader.history(args.record_id)
    finally:
        catalog.close()
    if stored is None:
        print(f"unishelf history: there is no record {args.record_id}", file=sys.stderr)
        return 1
    state = "deleted" if stored.deleted else "current"
    print(f"record {stored.id}: {stored.syntax} {stored.kind}, {state} since {stored.datestamp} (version {stored.seq})")
    if not entries:
        print("  no recorded changes (loaded in bulk)")
    for entry in entries:
        who = entry["user"] + (f" ({entry['library']})" if entry["library"] else "")
        changed = "record deleted" if entry["after"] is None else field_changes(entry["before"], entry["after"])
        print(f"  {entry['datestamp']}  v{entry['seq']:<8} {who:<24} {entry['action']:<8} "
              f"{entry['outcome']:<10} {changed}")
    return 0
