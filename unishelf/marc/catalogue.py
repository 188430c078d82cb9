"""Union-catalogue writes: add, update, merge and delete records with their holdings.

A record a library contributes either becomes a new record, updates the one it was loaded as
before (same bytes, or same 001/003), or, when it matches another library's record by a match
key (OCLC number, LCCN, ISBN, ISSN, as config orders them), adds the library's holdings to that
record instead of creating a duplicate. Within one library's own catalogue distinct records stay
distinct even when they share an ISBN. Every change updates the index, the datestamp and the
change log in the caller's write transaction.
"""
from __future__ import annotations

import logging
import marshal
from dataclasses import dataclass
from itertools import islice

from . import normalize
from .access_points import AccessPoints, isbn13, normalise_lccn, oclc_numbers, sort_title
from .reading import ReadRecord
from .rendered_codec import CODEC
from .record import MarcRecord, parse_iso2709
from .store import ALL_KEY, MAX_KEY_BYTES, SEP, UNRENDERED_KEY, StoredRecord, Writer, kind_key, term_key

MATCH_RULES = ("control", "oclc", "lccn", "isbn", "issn")
log = logging.getLogger("unishelf.catalogue")
CJK_FIRST = "\u3040"  # no CJK character sorts before this: a cheap test before the regex
SHORT_TERM = 100      # characters: a postings key this short always fits LMDB's key size


@dataclass
class Outcome:
    action: str          # created | updated | attached | unchanged | rejected
    record_id: int | None = None
    reason: str = ""


@dataclass
class Prepared:
    """Everything about a record that needs no store: made in worker processes during loads.

    A `contribution` holds what the record brings (holdings, contributor, match keys); `complete`
    adds its index entry, terms and renderings, which only a record to be created or replaced needs."""

    item: ReadRecord
    holdings: dict[str, list[dict]]
    contributor: str | None
    keys: list[tuple[str, str]]
    entry: bytes | None = None   # the index entry and sort keys, marshalled as stored; None: not complete
    sortkeys: bytes | None = None
    terms: set[bytes] | None = None  # None: not made (see `_create`)
    in_chunk: bool = False   # its terms are in its loader chunk's postings, under `record_id`
    # OAI-PMH metadata by format, made where the record is parsed; None once complete: left for
    # later (`render_pending`)
    rendered: dict[str, bytes] | None = None
    record_id: int | None = None  # the id a loader set aside for it, should it be created
    # what a loader worker found it would replace: (record id, digest, its match keys)
    replacing: tuple[int, str, list[tuple[str, str]]] | None = None


@dataclass
class AlreadyStored:
    """A record whose bytes the store held when a loader worker read it: loaded before, so only
    its holdings are left to attach, and the worker skips indexing and rendering it."""

    item: ReadRecord
    holdings: dict[str, list[dict]]
    record_id: int   # the id a loader set aside for it, should its bytes be gone by the write


@dataclass
class HoldingsFieldMap:
    """Which subfields of a holdings field (852, Koha's 952, ...) carry which holdings item data."""

    tag: str
    library: str = "a"
    location: str = "b"
    call_number: str = "h"
    barcode: str = "p"
    status: str = ""
    note: str = "z"

    def item(self, field) -> dict:
        item = {}
        for name in ("location", "call_number", "barcode", "status", "note"):
            codes = getattr(self, name)
            value = " ".join(v for c, v in field.subfields if c in codes) if codes else ""
            if value:
                item[name] = value
        return item


class Catalogue:
    def __init__(self, points: AccessPoints, match_rules=MATCH_RULES,
                 holdings_fields: list[HoldingsFieldMap] | None = None, renderers: dict | None = None):
        """`renderers`: format name -> function(record, syntax) giving the record's metadata in that
        format (None where it cannot carry the syntax), stored with each bibliographic record."""
        self.points = points
        self.renderers = renderers or {}
        self.match_rules = tuple(match_rules)
        self.holdings_fields = {m.tag: m for m in (holdings_fields or [HoldingsFieldMap("852")])}
        # access point -> register -> the start of its postings keys, as text; and as bytes,
        # for the word, pair and whole-field registers in that order (see `terms`)
        self._prefixes = {name: {register: term_key(name, register, "").decode("utf-8") for register in "wfp"}
                          for name in points.points}
        self._byte_prefixes = {name: tuple(term_key(name, register, "") for register in "wpf")
                               for name in points.points}
        self._pair_words = (None if points.pair_words is None
                            else frozenset(word.encode("utf-8") for word in points.pair_words))

    # -- reading a record's facts -------------------------------------------------------------
    def match_keys(self, record: MarcRecord, syntax: str, library: str | None) -> list[tuple[str, str]]:
        keys = []
        for rule in self.match_rules:
            if rule == "control":
                control = (record.control("001") or "").strip()
                if control:
                    scope = (record.control("003") or "").strip() or "@" + (library or "-")
                    keys.append((rule, f"ctl:{scope}:{control}"))
            elif rule == "oclc":
                keys.extend((rule, f"oclc:{n}") for n in oclc_numbers(record))
            elif rule == "lccn" and syntax == "marc21":
                keys.extend((rule, f"lccn:{v}") for f in record.get_fields("010")
                            for v in f.get_all("a") if normalise_lccn(v))
            elif rule == "isbn":
                tag = "020" if syntax == "marc21" else "010"
                keys.extend((rule, f"isbn:{i}") for f in record.get_fields(tag)
                            for i in map(isbn13, f.get_all("a")) if i)
            elif rule == "issn":
                tag = "022" if syntax == "marc21" else "011"
                keys.extend((rule, f"issn:{v.replace('-', '').upper()}") for f in record.get_fields(tag)
                            for v in f.get_all("a") if v)
        return list(dict.fromkeys(keys))

    def holdings_of(self, record: MarcRecord, library: str | None) -> dict[str, list[dict]]:
        """Holdings items by library code: from holdings fields, else one item for `library`."""
        by_library: dict[str, list[dict]] = {}
        for f in record.fields:
            mapping = self.holdings_fields.get(f.tag)
            if mapping is None or f.value is not None:
                continue
            code = library or (f.get(mapping.library) or "").strip()
            if code:
                by_library.setdefault(code, []).append(mapping.item(f))
        if library and library not in by_library:
            by_library[library] = [{}]
        return by_library

    def index_entry(self, record: MarcRecord, syntax: str, libraries: list[str]) -> tuple[dict, tuple]:
        entry = self.points.extract(record, syntax, libraries)
        sortkeys = tuple(
            sort_title(record) if name == "title" else (entry.get(name) or [""])[0]
            for name in self.points.sortable)
        return entry, sortkeys

    def terms(self, entry: dict, kind: str) -> set[bytes]:
        """The postings keys of an index entry (see `store.term_key`).

        This is a loader's hottest loop. An ASCII value (99% of the LC records' text) is encoded
        once and its keys made as bytes: prefix + token or pair, sliced to LMDB's key size (a
        slice that cuts nothing is the key itself; an ASCII cut never splits a character).
        Other values' keys are made as text and encoded one by one; only text long enough to
        need cutting goes through `term_key`, and CJK runs are looked for in them alone."""
        terms = {ALL_KEY, kind_key(kind)}
        add = terms.add
        pair_words = self._pair_words
        for name, values in entry.items():
            point = self.points[name]
            prefixes = self._prefixes[name]
            keys = []   # text keys of non-ASCII values and of non-text access points
            if point.kind != "text":
                words = set(values)
            else:
                words, ascii_words = set(), set()
                word_prefix, pair_prefix, field_prefix = self._byte_prefixes[name]
                for value in values:
                    if value.isascii():
                        data = value.encode("ascii")
                        if point.whole_field:
                            add((field_prefix + data)[:MAX_KEY_BYTES])
                        tokens = data.split(b" ")
                        ascii_words.update(tokens)
                        if point.word_pairs:
                            pairs = zip(tokens, tokens[1:])
                            if pair_words is not None:
                                pairs = [(a, b) for a, b in pairs if a in pair_words and b in pair_words]
                            for a, b in pairs:
                                add((pair_prefix + a + b" " + b)[:MAX_KEY_BYTES])
                        continue
                    if point.whole_field:
                        keys.append(prefixes["f"] + value)
                    tokens = value.split(" ")
                    for token in tokens:
                        if token[0] >= CJK_FIRST and normalize.is_cjk(token):
                            words.update(normalize.index_terms(token))
                        else:
                            words.add(token)
                    if point.word_pairs:
                        keys.extend(prefixes["p"] + pair
                                    for pair in normalize.word_pairs(tokens, self.points.pair_words))
                for word in ascii_words:
                    add((word_prefix + word)[:MAX_KEY_BYTES])
            keys.extend(prefixes["w"] + word for word in words)
            for key in keys:
                if len(key) > SHORT_TERM:   # the rare key that may need cutting to LMDB's size
                    point_name, register, text = key.split(SEP, 2)
                    add(term_key(point_name, register, text))
                else:
                    add(key.encode("utf-8"))
        return terms

    def contributed_holdings(self, item: ReadRecord, library: str | None) -> dict[str, list[dict]]:
        return self.holdings_of(item.record, library) if item.kind == "bib" else {}

    def prepare(self, item: ReadRecord, library: str | None) -> Prepared:
        return self.complete(self.contribution(item, library))

    def contribution(self, item: ReadRecord, library: str | None) -> Prepared:
        """What a contributed record brings: enough to `match` it, not yet to store it."""
        holdings = self.contributed_holdings(item, library)
        contributor = library or next(iter(holdings), None)
        return Prepared(item, holdings, contributor, self.match_keys(item.record, item.syntax, contributor))

    def complete(self, prepared: Prepared, with_terms: bool = True) -> Prepared:
        """Index and render a contribution (its record parsed again if it was sent as bytes).
        A record that will replace a stored one needs no terms (see `_store_reindexed`)."""
        self.complete_many([prepared], [with_terms])
        return prepared

    def complete_many(self, contributions: list[Prepared], with_terms: list[bool], postings=None,
                      render: bool = True):
        """`complete` each contribution, one step at a time over them all, so that each step's
        code and tables stay in the processor's caches: a load's workers, which complete 1,000
        records at a time, spent 3-4% less CPU on 100,000 LC records than record by record.

        With `postings` (a loader chunk's `ChunkPostings`), the terms go there as each record's
        are made, under its `record_id`, instead of onto the contribution: inverted while they
        are still in the processor's cache (a chunk of LC records: 1% faster than in a pass of
        their own after all the records' terms are made).

        Without `render`, the renderings of bibliographic records are left for `render_pending`
        (a loader's `render_later`)."""
        for prepared in contributions:
            if prepared.item.record is None:
                prepared.item.record = parse_iso2709(prepared.item.raw)
        entries = [self.index_entry(prepared.item.record, prepared.item.syntax, sorted(prepared.holdings))
                   for prepared in contributions]
        for prepared, (entry, sortkeys) in zip(contributions, entries):
            prepared.entry, prepared.sortkeys = marshal.dumps(entry), marshal.dumps(sortkeys)
        for prepared, (entry, _), wanted in zip(contributions, entries, with_terms):
            if not wanted:
                continue
            if postings is None:
                prepared.terms = self.terms(entry, prepared.item.kind)
            else:
                postings.add(prepared.record_id, self.terms(entry, prepared.item.kind))
                prepared.in_chunk = True
        for prepared in contributions:
            item = prepared.item
            later = not render and self.renderers and item.kind == "bib"
            prepared.rendered = None if later else self.render(item.record, item.syntax, item.kind)

    def render(self, record: MarcRecord, syntax: str, kind: str) -> dict[str, bytes]:
        """The record's renderings by format, as the store keeps them (rendered_codec.py)."""
        if kind != "bib":
            return {}
        rendered = {}
        for name, renderer in self.renderers.items():
            text = renderer(record, syntax)
            if text is not None:
                rendered[name] = CODEC.encode(name, text.encode("utf-8"))
        return rendered

    def render_pending(self, store, limit: int, render_ids=None) -> tuple[int, int]:
        """Render up to `limit` of the records a load left without their renderings (the
        lowest ids first) and store them; return how many it took off the list, and how many
        are left on it. `render_ids`: ids -> `renderings_of` them, made elsewhere (the
        loader's worker processes: `loader.renderers`); by default, here.

        The records are rendered outside the write transaction, then stored in one; a record
        changed meanwhile (another digest) stays left for the next call."""
        with store.reading() as reader:
            ids = list(islice(reader.bitmap(UNRENDERED_KEY), limit))
        rendered = render_ids(ids) if render_ids else self.renderings_of(store, ids)
        with store.writing() as writer:
            left = writer.bitmap(UNRENDERED_KEY)
            listed = len(left)
            for record_id in ids:
                if record_id not in left:
                    continue   # rendered, or replaced with renderings, by another writer meanwhile
                stored = writer.record(record_id)
                gone = stored is None or stored.deleted
                if not gone and rendered.get(record_id, ("",))[0] != stored.digest:
                    continue   # replaced meanwhile by a load that renders later: the next call's
                writer.drop_rendered(record_id)   # (and its mark)
                if not gone:
                    writer.put_rendered(record_id, rendered[record_id][1])
                left.discard(record_id)
            writer.flush()
        return listed - len(left), len(left)

    def renderings_of(self, store, ids: list[int]) -> dict[int, tuple[str, dict[str, bytes]]]:
        """Record id -> (its digest, its renderings) for the live records of `ids`. A record a
        renderer fails on is logged and gets none (a harvest renders it as it goes), so that one
        record cannot hold up the rest for good."""
        with store.reading() as reader:
            records = [reader.record(record_id) for record_id in ids]
        rendered = {}
        for stored in records:
            if stored is None or stored.deleted:
                continue
            try:
                renderings = self.render(self.parse_stored(stored), stored.syntax, stored.kind)
            except Exception:
                log.exception("record %d: rendering for harvests failed; left to render as harvested", stored.id)
                renderings = {}
            rendered[stored.id] = stored.digest, renderings
        return rendered

    # -- writing ------------------------------------------------------------------------------
    def add(self, writer: Writer, prepared: Prepared) -> Outcome:
        """Store a bibliographic or authority record (see `prepare`) as new, update or merge.

        Attaching takes only the contribution. A loader worker leaves incomplete a record it
        found to attach; should the store have changed since, the record is completed here."""
        match = self.match(writer, prepared)
        if match is not None and match[0] == "attach":
            return self._attach(writer, match[1].id, prepared.holdings)
        if prepared.entry is None:
            self.complete(prepared)
        if match is None:
            return self._create(writer, prepared)
        return self._replace(writer, match[1], prepared)

    def add_stored(self, writer: Writer, stored: AlreadyStored, library: str | None) -> Outcome:
        """What `add` does for a record whose bytes are stored: attach its holdings to the record
        that has them. Should they have gone since the worker looked (deleted or replaced by
        another writer), the record is prepared here and added like any other."""
        same_bytes = self._same_bytes(writer, stored.item)
        if same_bytes is not None:
            return self._attach(writer, same_bytes, stored.holdings)
        item = stored.item
        item.record = parse_iso2709(item.raw)
        prepared = self.prepare(item, library)
        prepared.record_id = stored.record_id
        return self.add(writer, prepared)

    def find_match(self, reader, prepared: Prepared) -> int | None:
        """The record that `add` would update or attach this one to, if any."""
        match = self.match(reader, prepared)
        return match[1].id if match else None

    def match(self, reader, prepared: Prepared) -> tuple[str, StoredRecord] | None:
        """("replace" | "attach", the stored record) for a contributed record, or None: a new one."""
        same_bytes = self._same_bytes(reader, prepared.item)
        if same_bytes is not None:
            return "attach", reader.record(same_bytes)
        return self.match_by_keys(reader, prepared)

    def match_by_keys(self, reader, prepared: Prepared) -> tuple[str, StoredRecord] | None:
        """`match` for a record whose bytes are known not to be stored: by its match keys alone."""
        item, contributor = prepared.item, prepared.contributor
        for rule, key in prepared.keys:
            for candidate in reader.match(key):
                stored = reader.record(candidate)
                if stored is None or stored.deleted or stored.kind != item.kind:
                    continue
                if rule == "control":
                    return ("replace" if stored.owner in (None, contributor) else "attach"), stored
                if stored.owner != contributor:
                    return "attach", stored
        return None

    @staticmethod
    def _same_bytes(reader, item: ReadRecord) -> int | None:
        """The stored record loaded from these very bytes, if any."""
        same_bytes = reader.match(f"digest:{item.digest}")
        return same_bytes[0] if same_bytes else None

    def replace(self, writer, stored: StoredRecord, item: ReadRecord, library: str | None) -> Outcome:
        """A new version of a stored record; of the holdings it carries only `library`'s count."""
        keys = self.match_keys(item.record, item.syntax, stored.owner)
        carried = self.holdings_of(item.record, None).get(library) if library else None
        return self._replace(writer, stored, self.complete(
            Prepared(item, {library: carried} if carried else {}, stored.owner, keys), with_terms=False))

    def remove_holdings(self, writer, record_id: int, library: str) -> Outcome:
        writer.set_holdings(record_id, library, [])
        self._reindex_holdings(writer, writer.record(record_id))
        return Outcome("updated", record_id)

    def _create(self, writer, prepared: Prepared) -> Outcome:
        item, holdings = prepared.item, prepared.holdings
        record_id = prepared.record_id or writer.next_counter("record_id")
        stored = StoredRecord(record_id, item.raw, item.syntax, item.kind, prepared.contributor, "", 0,
                              digest=item.digest)
        self._log_change(writer, stored, None, sorted(holdings))
        writer.put_record(stored)
        writer.put_rendered(record_id, prepared.rendered)
        for _, key in prepared.keys:
            writer.add_match_key(key, record_id)
        writer.add_match_key(f"digest:{item.digest}", record_id)
        for code, items in holdings.items():
            writer.set_holdings(record_id, code, items)
        writer.put_entry_blobs(record_id, prepared.entry, prepared.sortkeys)
        if not prepared.in_chunk:   # (else the loader adds the chunk's postings itself)
            terms = prepared.terms
            if terms is None:   # a loader worker took it for a replacement
                terms = self.terms(marshal.loads(prepared.entry), item.kind)
            writer.index(record_id, terms, ())
        return Outcome("created", record_id)

    def _replace(self, writer, stored: StoredRecord, prepared: Prepared) -> Outcome:
        """A complete contribution (`complete`) takes a stored record's place; what the record
        is indexed under is the contribution's, not made again here (see `_reindex_replaced`)."""
        item = prepared.item
        for _, key in self.stored_match_keys(stored, prepared.replacing):
            writer.remove_match_key(key, stored.id)
        writer.remove_match_key(f"digest:{stored.digest}", stored.id)
        for _, key in prepared.keys:
            writer.add_match_key(key, stored.id)
        writer.add_match_key(f"digest:{item.digest}", stored.id)
        stored.raw, stored.syntax, stored.digest = item.raw, item.syntax, item.digest
        writer.drop_rendered(stored.id)
        writer.put_rendered(stored.id, prepared.rendered)
        for code, items in prepared.holdings.items():
            writer.set_holdings(stored.id, code, items)
        self._reindex_replaced(writer, stored, prepared)
        return Outcome("updated", stored.id)

    def stored_match_keys(self, stored: StoredRecord, replacing=None) -> list[tuple[str, str]]:
        """The match keys of a stored record: as a loader worker found them (`replacing`) when
        it saw the record as it is, else from the record (parsing it was a sixth of the
        writer's time on a reload of revised records)."""
        if replacing is not None and replacing[:2] == (stored.id, stored.digest):
            return replacing[2]
        return self.match_keys(self.parse_stored(stored), stored.syntax, stored.owner)

    def _reindex_replaced(self, writer, stored: StoredRecord, prepared: Prepared):
        """Index a replaced record with the entry its contribution was made with (`complete`),
        its holding libraries brought up to the stored record's; where holdings feed other
        access points, the record is extracted again."""
        libraries = sorted(writer.holdings(stored.id))
        if self.points.holdings_points(stored.syntax) is None:
            self._reindex(writer, stored, self.parse_stored(stored), libraries)
            return
        entry_blob = prepared.entry
        entry = marshal.loads(entry_blob)
        if libraries != sorted(prepared.holdings):
            entry = self.points.with_libraries(entry, stored.syntax, libraries)
            entry_blob = marshal.dumps(entry)
        self._store_reindexed(writer, stored, entry, entry_blob, prepared.sortkeys, libraries)

    def _attach(self, writer, record_id: int, holdings: dict) -> Outcome:
        """Set libraries' holdings on a record: attached when a library is new to it."""
        current = writer.holdings(record_id)
        changed = {code: items for code, items in holdings.items() if current.get(code) != items}
        if not changed:
            return Outcome("unchanged", record_id)
        for code, items in changed.items():
            writer.set_holdings(record_id, code, items)
        self._reindex_holdings(writer, writer.record(record_id))
        return Outcome("attached" if changed.keys() - current.keys() else "updated", record_id)

    def attach_holdings(self, writer, record_id: int, library: str, items: list[dict]) -> Outcome:
        return self._attach(writer, record_id, {library: items})

    def _reindex(self, writer, stored: StoredRecord, record: MarcRecord, libraries: list[str]):
        entry, sortkeys = self.index_entry(record, stored.syntax, libraries)
        self._store_reindexed(writer, stored, entry, marshal.dumps(entry), marshal.dumps(sortkeys), libraries)

    def _reindex_holdings(self, writer, stored: StoredRecord):
        """Index a record again after its holdings changed. Only the access points drawn from
        the holding libraries change, so where no other draws on them the record is neither
        parsed nor extracted again. Loading a member library's copies of stored records is
        mostly this: the writer spent 0.4 ms a record on it, parsing and extracting."""
        libraries = sorted(writer.holdings(stored.id))
        old_entry = writer.entry(stored.id)
        if self.points.holdings_points(stored.syntax) is None or not old_entry:
            self._reindex(writer, stored, self.parse_stored(stored), libraries)
            return
        entry = self.points.with_libraries(old_entry, stored.syntax, libraries)
        self._store_reindexed(writer, stored, entry, marshal.dumps(entry), None, libraries, old_entry)

    def _store_reindexed(self, writer, stored: StoredRecord, entry: dict, entry_blob: bytes,
                         sortkeys_blob: bytes | None, libraries: list[str], old_entry: dict | None = None):
        """Store a record's new index entry (and sort keys, unless None: unchanged) and log the
        change. Only the access points whose values changed are turned into terms to compare: a
        revised record's changes are a few fields, and making the terms of both whole entries was
        a third of a reload's writer."""
        if old_entry is None:
            old_entry = writer.entry(stored.id)
        changed = [name for name in old_entry.keys() | entry.keys() if old_entry.get(name) != entry.get(name)]
        old_terms = self.terms({name: old_entry[name] for name in changed if name in old_entry}, stored.kind)
        new_terms = self.terms({name: entry[name] for name in changed if name in entry}, stored.kind)
        writer.put_entry_blobs(stored.id, entry_blob, sortkeys_blob)
        writer.index(stored.id, new_terms - old_terms, old_terms - new_terms)
        self._log_change(writer, stored, stored.seq, libraries)
        writer.put_record(stored)

    def _log_change(self, writer, stored: StoredRecord, previous_seq: int | None, libraries):
        material_type = self.points.material_type(stored.raw[:24].decode("ascii", "replace"), stored.syntax)
        writer.log_change(stored, previous_seq, libraries, material_type)

    def delete(self, writer, record_id: int) -> Outcome:
        """Delete a record, leaving a tombstone (id, datestamp, deleted) for harvesters."""
        stored = writer.record(record_id)
        if stored is None or stored.deleted:
            return Outcome("rejected", record_id, "no such record")
        writer.index(record_id, set(), self.terms(writer.entry(record_id), stored.kind))
        writer.drop_entry(record_id)
        for _, key in self.match_keys(self.parse_stored(stored), stored.syntax, stored.owner):
            writer.remove_match_key(key, record_id)
        writer.remove_match_key(f"digest:{stored.digest}", record_id)
        libraries = sorted(writer.holdings(record_id))
        for code in libraries:
            writer.set_holdings(record_id, code, [])
        stored.deleted = True
        writer.drop_rendered(record_id)
        self._log_change(writer, stored, stored.seq, libraries)   # set harvests still see the tombstone
        writer.put_record(stored)
        return Outcome("deleted", record_id)

    @staticmethod
    def parse_stored(stored: StoredRecord) -> MarcRecord:
        return parse_iso2709(stored.raw)
