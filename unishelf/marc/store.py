"""The catalogue store: one LMDB environment holding everything the servers share.

Named databases:
  meta       counters (next record id, next change sequence, change log entries by kind and
             syntax), the latest datestamp, the store format
  records    record id -> the record (UTF-8 ISO 2709) and its state: syntax, kind, owner,
             datestamp, change sequence, deleted (a tombstone keeps id and datestamp for OAI-PMH)
  entries    record id -> its index entry (access point -> normalised values)
  sortkeys   record id -> (title, author, date) sort keys
  postings   index term -> its record ids: a term of one record as that id in 4 bytes (most
             terms: word pairs, whole fields, numbers), others as a roaring bitmap
  matchkeys  union-catalogue match key (isbn:..., ctl:...) -> record ids
  holdings   record id + library code -> that library's holdings of the record
  changes    change sequence -> (record id, kind, syntax, deleted, datestamp, holding libraries,
             material type); a record's latest change only, so harvesters can walk, count and
             list it without reading records
  rendered   record id + format -> the record's metadata already rendered in that OAI-PMH format
             (`oai.prerender`): MARCXML and MODS compressed with Zstandard and a dictionary
             per format (MARCXML is 2.3 KB a record: uncompressed, most would take a 4 KB
             overflow page), oai_dc as it is (rendered_codec.py); a harvest only decompresses
             and joins bytes
  history    record id + change sequence -> who changed the record, how, and the versions
             before and after (catalogue updates through Z39.50; `unishelf history ID`)
  users      user name -> password hash, roles and library (`unishelf user add`; config users too)
  ill        ISO ILL transactions (unishelf.ill_iso), by key prefix: t transaction key -> the
             transaction, n number -> its key, h number+seq -> one APDU of its history,
             r number+digest -> an APDU already taken, o seq -> an APDU waiting to be sent
             (the outbox), w date+number+kind -> a timer, c name -> a counter, s -> the
             libraries the node last served, u -> its HTTP base URL for download links,
             l lender+number -> a request of this node to that lender still open, L lender ->
             how many are, b user+number -> a request that user began (meta's
             ill_orders_indexed says every request is there)

LMDB gives one writer and any number of readers, across processes, that never block; a commit is
on disk before `commit` returns, so what was acknowledged survives kill -9. Open the environment
in each process after forking, never before.
"""
from __future__ import annotations

import marshal
import os
import shutil
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import lmdb
from pyroaring import BitMap

from .rendered_codec import CODEC

DATABASES = ("meta", "records", "entries", "sortkeys", "postings", "matchkeys", "holdings",
             "changes", "rendered", "history", "ill", "users")
FORMAT = b"7"   # raised whenever what the databases hold changes shape
READABLE_FORMATS = (b"5", b"6")  # older formats this one reads as they are: opened to write, marked FORMAT
ILL_ORDERS_INDEXED = b"ill_orders_indexed"   # every request's user is in the ill database's b index
SEP = "\x1f"
ALL_KEY = b"\x00all"             # every live record
KIND_PREFIX = "\x00kind" + SEP   # live records of a kind: bib, authority
UNRENDERED_KEY = b"\x00unrendered"   # records a load left without their renderings (`Catalogue.render_pending`)
MAX_KEY_BYTES = 480
PAIR_WORDS_KEY = b"pair-words"   # in meta: the store's `AccessPoints.pair_words`, a word a line
EVERY_PAIR = b"*"                # ... or this: every pair is indexed
_ID = struct.Struct(">I")
_SEQ = struct.Struct(">Q")
_ONE_ID = struct.Struct("<I")    # a postings value of one record (a roaring bitmap is never 4 bytes)


def record_key(record_id: int) -> bytes:
    return _ID.pack(record_id)


def posting_value(ids) -> bytes:
    """How the postings database keeps a term's record ids (a BitMap, a sorted list, or one id).

    One id alone takes 4 bytes against a bitmap's 18, is made four times faster and merged
    five times faster (`add_postings`): most terms are of one record, and a load makes and
    merges hundreds a record."""
    if type(ids) is int:
        return _ONE_ID.pack(ids)
    if len(ids) == 1:
        return _ONE_ID.pack(ids[0])
    return ids.serialize() if isinstance(ids, BitMap) else BitMap(ids).serialize()


def one_id(value: bytes) -> int:
    """The record id of a postings value of one record."""
    return _ONE_ID.unpack(value)[0]


def posting_list(value: bytes) -> BitMap:
    """The record ids of a postings value (see `posting_value`)."""
    return BitMap(_ONE_ID.unpack(value)) if len(value) == 4 else BitMap.deserialize(value)


def add_postings(bitmap: BitMap, value: bytes):
    """Add a postings value's ids to `bitmap`: for one id, a fifth of the cost of `posting_list`
    and a union (a load merges hundreds of thousands a batch)."""
    if len(value) == 4:
        bitmap.add(_ONE_ID.unpack(value)[0])
    else:
        bitmap.update(BitMap.deserialize(value))


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def term_key(point: str, register: str, term: str) -> bytes:
    """The postings key of a term: access point, register (w word, f whole field), term."""
    key = f"{point}{SEP}{register}{SEP}{term}".encode("utf-8")
    if len(key) > MAX_KEY_BYTES:
        key = key[:MAX_KEY_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return key


def _change_count_key(kind: str, syntax: str) -> bytes:
    return f"changes{SEP}{kind}{SEP}{syntax}".encode()


def _ill_orders_prefix(user: str) -> bytes:
    return b"b" + user.encode("utf-8") + SEP.encode()


def match_key(key: str) -> bytes:
    return key.encode("utf-8")[:MAX_KEY_BYTES]


def kind_key(kind: str) -> bytes:
    return (KIND_PREFIX + kind).encode("utf-8")


# positions in a change log row (Reader.change_rows): Change's fields after its sequence
ROW_RECORD_ID, ROW_KIND, ROW_SYNTAX, ROW_DELETED, ROW_DATESTAMP, ROW_LIBRARIES, ROW_MATERIAL_TYPE = range(7)


class Change(NamedTuple):
    """A record's latest change, as the change log keeps it (what OAI-PMH lists and counts)."""

    seq: int
    record_id: int
    kind: str
    syntax: str
    deleted: bool
    datestamp: str
    libraries: tuple[str, ...]   # holding libraries (a tombstone: those it had when deleted)
    material_type: str


@dataclass
class StoredRecord:
    id: int
    raw: bytes
    syntax: str
    kind: str
    owner: str | None
    datestamp: str
    seq: int
    deleted: bool = False
    digest: str = ""
    meta: dict = field(default_factory=dict)

    def pack(self) -> bytes:
        return marshal.dumps((self.raw, self.syntax, self.kind, self.owner, self.datestamp,
                              self.seq, self.deleted, self.digest, self.meta))

    @classmethod
    def unpack(cls, record_id: int, data: bytes) -> "StoredRecord":
        return cls(record_id, *marshal.loads(data))


def compact(path: str | Path) -> tuple[int, int]:
    """Rewrite the store without the free pages LMDB keeps after large writes (a bulk load
    leaves about a third of the file free). Run it with no server open on the store.
    Returns the data file's size before and after."""
    path = Path(path)
    before = (path / "data.mdb").stat().st_size
    copy = path.with_name(path.name + ".compacting")
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    env = lmdb.open(str(path), readonly=True, max_dbs=len(DATABASES) + 2, lock=True, subdir=True)
    try:
        env.copy(str(copy), compact=True)
    finally:
        env.close()
    old = path.with_name(path.name + ".old")
    path.rename(old)
    copy.rename(path)
    shutil.rmtree(old)
    return before, (path / "data.mdb").stat().st_size


class StoreFormatError(Exception):
    """The store was written by a version of unishelf that kept its data in another shape."""


class Store:
    def __init__(self, path: str | Path, map_size: int = 8 << 30, readonly: bool = False):
        self.path = Path(path)
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=len(DATABASES) + 2,
                             readonly=readonly, max_readers=512, readahead=False,
                             lock=True, subdir=True, create=not readonly)
        try:
            self._open(readonly)
        except (lmdb.NotFoundError, StoreFormatError) as error:
            self.env.close()
            found = error.args[0] if isinstance(error, StoreFormatError) else None
            if found is not None and found.isdigit() and int(found) > int(FORMAT):
                raise StoreFormatError(f"{self.path} was written by a newer unishelf (store format {found.decode()}; "
                                       f"this one knows formats up to {FORMAT.decode()}): upgrade unishelf") from None
            raise StoreFormatError(f"{self.path} was written by an older unishelf (store format "
                                   f"{FORMAT.decode()} is needed): move it away and load the records again") from None
        self.pid = os.getpid()

    def _open(self, readonly: bool):
        """Open the databases and check the format; to write, in one write transaction.

        Handles opened in a committed transaction stay valid for the environment's life, but
        py-lmdb ends a read transaction of a writable environment without committing it, so a
        store opened to write takes the write lock once: a serve started during a load waits for
        one of its batches, and no more (the pair words are read before they are written, the ILL
        stamps written on the process's write thread)."""
        if readonly:   # py-lmdb opens these in a read transaction it commits
            self._open_handles(create=False)
            with self.env.begin() as txn:
                found = txn.get(b"format", db=self.db["meta"])
            if found not in READABLE_FORMATS and found != FORMAT:
                raise StoreFormatError(found)
            return
        with self.env.begin(write=True) as txn:
            self._open_handles(txn=txn)
            found = txn.get(b"format", db=self.db["meta"])
            if found == FORMAT:
                return
            if found in READABLE_FORMATS:
                txn.put(b"format", FORMAT, db=self.db["meta"])   # what this version writes older ones cannot read
                return
            if found is None and txn.stat(self.db["records"])["entries"] == 0:
                txn.put(b"format", FORMAT, db=self.db["meta"])
                txn.put(ILL_ORDERS_INDEXED, b"", db=self.db["meta"])
                return
        raise StoreFormatError(found)

    def _open_handles(self, **how):
        self.db = {name: self.env.open_db(name.encode(), dupsort=name == "matchkeys", **how) for name in DATABASES}

    def pair_words(self, proposed: frozenset[str] | None) -> frozenset[str] | None:
        """The words whose pairs this store indexes (see `AccessPoints.pair_words`).

        They are the store's, fixed when it is made: a pair its list left out is in none of its
        records, so a later list with more words would miss phrases. A store without records
        takes `proposed` (None: every pair), to keep it (`keep_pair_words`) when it is opened to
        write; one made before stores kept a list has every pair."""
        with self.reading() as reader:
            found = reader.txn.get(PAIR_WORDS_KEY, db=self.db["meta"])
            if found is not None:
                return None if found == EVERY_PAIR else frozenset(found.decode("utf-8").split("\n"))
            return None if reader.txn.stat(self.db["records"])["entries"] else proposed

    def keep_pair_words(self, words: frozenset[str] | None):
        """Fix the store's pair words (`pair_words`) if they are not yet."""
        with self.reading() as reader:
            if reader.txn.get(PAIR_WORDS_KEY, db=self.db["meta"]) is not None:
                return   # without waiting for the write lock
        with self.env.begin(write=True) as txn:
            if txn.get(PAIR_WORDS_KEY, db=self.db["meta"]) is None:
                txn.put(PAIR_WORDS_KEY, EVERY_PAIR if words is None else "\n".join(sorted(words)).encode("utf-8"),
                        db=self.db["meta"])

    def stamp_ill_served(self, codes: list[str]):
        """Note the libraries the running ILL node serves: staff commands read them."""
        self._stamp_ill(b"s", list(codes))

    def stamp_ill_download_base(self, url: str):
        """Note the running node's download base URL: staff commands make links with it."""
        self._stamp_ill(b"u", url)

    def _stamp_ill(self, key: bytes, value):
        with self.writing() as writer:
            writer.txn.put(key, marshal.dumps(value), db=self.db["ill"])

    def close(self):
        self.env.close()

    def size(self) -> tuple[int, int]:
        """(bytes of the data file, bytes of pages in use): LMDB keeps freed pages for reuse."""
        page = self.env.stat()["psize"]
        with self.env.begin() as txn:
            used = sum(stats["branch_pages"] + stats["leaf_pages"] + stats["overflow_pages"]
                       for stats in [txn.stat(db) for db in self.db.values()] + [self.env.stat()])
        return (self.path / "data.mdb").stat().st_size, used * page

    @contextmanager
    def reading(self):
        """A short read transaction: a consistent snapshot that never blocks the writer."""
        with self.env.begin(buffers=False) as txn:
            yield Reader(self, txn)

    @contextmanager
    def writing(self):
        """The one write transaction; everything in it is committed (and durable) or nothing."""
        with self.env.begin(write=True) as txn:
            writer = Writer(self, txn)
            yield writer
            writer.stamp_changes()


class Reader:
    def __init__(self, store: Store, txn):
        self.store = store
        self.txn = txn
        self.db = store.db

    def record(self, record_id: int) -> StoredRecord | None:
        data = self.txn.get(record_key(record_id), db=self.db["records"])
        return StoredRecord.unpack(record_id, data) if data is not None else None

    def entry(self, record_id: int, containing: bytes | None = None) -> dict:
        """The record's index entry; empty, and not decoded, when its encoding lacks `containing`
        (marshal keeps text as UTF-8, so a value holding it is found in the bytes)."""
        data = self.txn.get(record_key(record_id), db=self.db["entries"])
        if data is None or (containing is not None and containing not in data):
            return {}
        return marshal.loads(data)

    def sortkeys(self, record_id: int) -> tuple:
        data = self.txn.get(record_key(record_id), db=self.db["sortkeys"])
        return marshal.loads(data) if data is not None else ()

    def bitmap(self, key: bytes) -> BitMap:
        data = self.txn.get(key, db=self.db["postings"])
        return posting_list(data) if data is not None else BitMap()

    def terms_from(self, start: bytes, stop_prefix: bytes):
        """(key, postings value) of postings from `start` while keys begin with `stop_prefix`."""
        cursor = self.txn.cursor(db=self.db["postings"])
        if not cursor.set_range(start):
            return
        for key, value in cursor:
            if not key.startswith(stop_prefix):
                return
            yield key, value

    def terms_before(self, start: bytes, stop_prefix: bytes):
        """Postings keys before `start`, nearest first (for scanning backwards)."""
        cursor = self.txn.cursor(db=self.db["postings"])
        if cursor.set_range(start):
            if not cursor.prev():
                return
        elif not cursor.last():
            return
        while True:
            key, value = cursor.item()
            if not key.startswith(stop_prefix):
                return
            yield key, value
            if not cursor.prev():
                return

    def term_counts(self, prefix: bytes) -> list[tuple[str, int]]:
        """(term, number of records) for every postings key beginning with `prefix`."""
        return [(key[len(prefix):].decode("utf-8"), len(posting_list(value)))
                for key, value in self.terms_from(prefix, prefix)]

    def has_match(self, key: str) -> bool:
        return self.txn.get(match_key(key), db=self.db["matchkeys"]) is not None

    def match(self, key: str) -> list[int]:
        cursor = self.txn.cursor(db=self.db["matchkeys"])
        if not cursor.set_key(match_key(key)):
            return []
        return [_ID.unpack(v)[0] for v in cursor.iternext_dup()]

    def holdings(self, record_id: int) -> dict[str, list[dict]]:
        prefix = record_key(record_id)
        cursor = self.txn.cursor(db=self.db["holdings"])
        result = {}
        if cursor.set_range(prefix):
            for key, value in cursor:
                if not key.startswith(prefix):
                    break
                result[key[4:].decode("utf-8")] = marshal.loads(value)
        return result

    def counter(self, name: str) -> int:
        data = self.txn.get(name.encode(), db=self.db["meta"])
        return _SEQ.unpack(data)[0] if data else 0

    def change_count(self, kind: str, syntax: str) -> int:
        """How many entries of the change log are records of this kind and syntax (OAI-PMH's
        completeListSize of a whole-repository list, without walking the log)."""
        data = self.txn.get(_change_count_key(kind, syntax), db=self.db["meta"])
        return _SEQ.unpack(data)[0] if data else 0

    def changes(self, after_seq: int = 0):
        """The latest `Change` of each record, in change order, after `after_seq`."""
        for seq, row in self.change_rows(after_seq):
            yield Change(seq, *row)

    def change_rows(self, after_seq: int = 0):
        """`changes` as (sequence, row) pairs, a row being a Change without its sequence, read
        by the ROW_ positions: what a walk over every record uses (an OAI-PMH harvest, where
        making and reading a Change for each record cost a fifth of preparing a page)."""
        cursor = self.txn.cursor(db=self.db["changes"])
        loads, sequence = marshal.loads, int.from_bytes   # a key is the big-endian sequence
        if cursor.set_range(_SEQ.pack(after_seq + 1)):
            for key, value in cursor:
                yield sequence(key), loads(value)

    def rendered(self, record_id: int, name: str) -> bytes | None:
        data = self.txn.get(record_key(record_id) + name.encode("ascii"), db=self.db["rendered"])
        return CODEC.decode(name, data) if data is not None else None

    def rendered_many(self, record_ids: list[int], name: str) -> list:
        """The renderings of many records in one format (bytes-like; None where there is none)."""
        suffix, get = name.encode("ascii"), self.txn.cursor(db=self.db["rendered"]).get
        key = struct.Struct(f"{_ID.format}{len(suffix)}s").pack   # a rendering's key in one call
        # one cursor: LMDB looks for the next key on the leaf page it is on before descending;
        # its values are copies (buffers=False), so the next get leaves them alone
        stored = [get(key(record_id, suffix)) for record_id in record_ids]
        found = iter(CODEC.decode_many(name, [data for data in stored if data is not None]))
        return [None if data is None else next(found) for data in stored]

    def user(self, name: str) -> dict | None:
        data = self.txn.get(name.encode("utf-8"), db=self.db["users"])
        return marshal.loads(data) if data else None

    def users(self) -> list[dict]:
        cursor = self.txn.cursor(db=self.db["users"])
        return [marshal.loads(value) for value in cursor.iternext(keys=False, values=True)]

    def history(self, record_id: int) -> list[dict]:
        """The recorded changes of a record, oldest first."""
        prefix = record_key(record_id)
        cursor = self.txn.cursor(db=self.db["history"])
        entries = []
        if cursor.set_range(prefix):
            for key, value in cursor:
                if not key.startswith(prefix):
                    break
                entries.append(marshal.loads(value))
        return entries

    # -- ILL transactions (the `ill` database) -------------------------------------------------
    def _ill_get(self, key: bytes):
        data = self.txn.get(key, db=self.db["ill"])
        return marshal.loads(data) if data is not None else None

    def _ill_range(self, prefix: bytes):
        cursor = self.txn.cursor(db=self.db["ill"])
        if cursor.set_range(prefix):
            for key, value in cursor:
                if not key.startswith(prefix):
                    return
                yield key, value

    def ill_transaction(self, key: str) -> dict | None:
        return self._ill_get(b"t" + key.encode("utf-8"))

    def ill_transaction_ends(self, key: str) -> list[dict]:
        """The transaction with this key and those whose key is it, a unit separator and a
        library's code (`transaction.end_key`): every end of one role and Transaction-Id here."""
        prefix = key.encode("utf-8")
        return [marshal.loads(value) for stored, value in self._ill_range(b"t" + prefix)
                if stored[1 + len(prefix):][:1] in (b"", SEP.encode())]

    def ill_transaction_numbered(self, number: int) -> dict | None:
        key = self.txn.get(b"n" + _ID.pack(number), db=self.db["ill"])
        return self._ill_get(b"t" + key) if key is not None else None

    def ill_transactions(self):
        for _, value in self._ill_range(b"t"):
            yield marshal.loads(value)

    def ill_orders_of(self, user: str) -> list[int] | None:
        """The numbers of the requests `user` began, oldest first; None in a store whose older
        requests are not indexed yet (`Writer.index_ill_orders` does that once)."""
        if self.txn.get(ILL_ORDERS_INDEXED, db=self.db["meta"]) is None:
            return None
        prefix = _ill_orders_prefix(user)
        return [_ID.unpack(key[len(prefix):])[0] for key, _ in self._ill_range(prefix)]

    def ill_history(self, number: int) -> list[dict]:
        return [marshal.loads(value) for _, value in self._ill_range(b"h" + _ID.pack(number))]

    def ill_has_received(self, number: int, digest: bytes) -> bool:
        return self.txn.get(b"r" + _ID.pack(number) + digest, db=self.db["ill"]) is not None

    def ill_outbox(self) -> list[dict]:
        """APDUs waiting to be sent, oldest first."""
        return [marshal.loads(value) for _, value in self._ill_range(b"o")]

    def ill_timers(self, before: str) -> list[tuple[str, int, str]]:
        """(date, transaction number, kind) of the timers set for a date before `before`."""
        timers = []
        for key, _ in self._ill_range(b"w"):
            day = key[1:9].decode("ascii")
            if day >= before:
                break
            timers.append((day, _ID.unpack(key[9:13])[0], key[13:].decode("ascii")))
        return timers

    def ill_served(self) -> list[str] | None:
        return self._ill_get(b"s")

    def ill_open_requests(self, peer: str) -> int:
        """How many of this node's requests to `peer` are open (routing's measure of its load)."""
        data = self.txn.get(b"L" + peer.encode("utf-8"), db=self.db["ill"])
        return _SEQ.unpack(data)[0] if data else 0

    def ill_download_base(self) -> str | None:
        """The base URL of the running node's HTTP listener, for download links staff make."""
        return self._ill_get(b"u")

    def record_ids(self):
        cursor = self.txn.cursor(db=self.db["records"])
        for key in cursor.iternext(keys=True, values=False):
            yield _ID.unpack(key)[0]


class Writer(Reader):
    """Write operations on top of reads; posting changes are gathered and written by `flush`."""

    def __init__(self, store: Store, txn):
        super().__init__(store, txn)
        # term -> changes in order (see _change): id added, -(id+1) removed, a chunk's postings
        # value added (with the chunk's skipped ids to take out again)
        self.pending: dict[bytes, object] = {}
        self.changed: dict[int, tuple] = {}   # record id -> (libraries, material type) of its change
        self.began = utc_now()

    def next_counter(self, name: str) -> int:
        value = self.counter(name) + 1
        self.txn.put(name.encode(), _SEQ.pack(value), db=self.db["meta"])
        return value

    def add_history(self, record_id: int, entry: dict):
        """Keep one change of a record (entry holds its seq, datestamp, user, action, versions)."""
        self.txn.put(record_key(record_id) + _SEQ.pack(entry["seq"]), marshal.dumps(entry), db=self.db["history"])

    def put_user(self, entry: dict):
        self.txn.put(entry["name"].encode("utf-8"), marshal.dumps(entry), db=self.db["users"])

    def remove_user(self, name: str) -> bool:
        return self.txn.delete(name.encode("utf-8"), db=self.db["users"])

    def put_ill_transaction(self, record: dict):
        key = record["key"].encode("utf-8")
        self.txn.put(b"t" + key, marshal.dumps(record), db=self.db["ill"])
        self.txn.put(b"n" + _ID.pack(record["number"]), key, db=self.db["ill"])

    def note_ill_order(self, user: str, number: int):
        """Index a request by the user who began it: Z39.50 users search their orders by name."""
        self.txn.put(_ill_orders_prefix(user) + _ID.pack(number), b"", db=self.db["ill"])

    def index_ill_orders(self, began: dict[int, str]):
        """Index the requests of a store written before the index (number -> user), once."""
        for number, user in began.items():
            self.note_ill_order(user, number)
        self.txn.put(ILL_ORDERS_INDEXED, b"", db=self.db["meta"])

    def add_ill_history(self, number: int, seq: int, entry: dict):
        self.txn.put(b"h" + _ID.pack(number) + _ID.pack(seq), marshal.dumps(entry), db=self.db["ill"])

    def note_ill_received(self, number: int, digest: bytes):
        self.txn.put(b"r" + _ID.pack(number) + digest, b"", db=self.db["ill"])

    def put_ill_outbox(self, entry: dict):
        self.txn.put(b"o" + _SEQ.pack(entry["seq"]), marshal.dumps(entry), db=self.db["ill"])

    def remove_ill_outbox(self, seq: int) -> bool:
        return self.txn.delete(b"o" + _SEQ.pack(seq), db=self.db["ill"])

    def set_ill_timer(self, day: str, number: int, kind: str, on: bool = True):
        key = b"w" + day.encode("ascii") + _ID.pack(number) + kind.encode("ascii")
        if on:
            self.txn.put(key, b"", db=self.db["ill"])
        else:
            self.txn.delete(key, db=self.db["ill"])

    def next_ill_counter(self, name: str) -> int:
        key = b"c" + name.encode("utf-8")
        data = self.txn.get(key, db=self.db["ill"])
        value = (_SEQ.unpack(data)[0] if data else 0) + 1
        self.txn.put(key, _SEQ.pack(value), db=self.db["ill"])
        return value

    def set_ill_open(self, peer: str, number: int, on: bool = True):
        """Mark a request to `peer` open or not; the per-lender count follows the marks."""
        key = b"l" + peer.encode("utf-8") + b"\x00" + _ID.pack(number)
        marked = self.txn.get(key, db=self.db["ill"]) is not None
        if on == marked:
            return
        if on:
            self.txn.put(key, b"", db=self.db["ill"])
        else:
            self.txn.delete(key, db=self.db["ill"])
        count = self.ill_open_requests(peer) + (1 if on else -1)
        self.txn.put(b"L" + peer.encode("utf-8"), _SEQ.pack(count), db=self.db["ill"])

    def put_record(self, record: StoredRecord):
        self.txn.put(record_key(record.id), record.pack(), db=self.db["records"])

    def log_change(self, record: StoredRecord, previous_seq: int | None, libraries, material_type: str):
        """Give the record a new change sequence; drop its previous change entry. Its datestamp
        and change entry are written by `stamp_changes` when the transaction is about to commit."""
        if previous_seq:
            previous = self.txn.pop(_SEQ.pack(previous_seq), db=self.db["changes"])
            if previous is not None:
                self._count_change(*marshal.loads(previous)[1:3], -1)
        self._count_change(record.kind, record.syntax, 1)
        record.seq = self.next_counter("seq")
        record.datestamp = self.began   # until the commit's own
        self.changed[record.id] = (tuple(libraries), material_type)

    def stamp_changes(self):
        """Date every record changed in this transaction by the moment it commits, and log it.

        A harvester that asked before the commit could not see the change, so its datestamp must
        not be earlier than that harvest's responseDate, or an incremental harvest from it would
        miss the record for good: a load's transaction can take seconds. Datestamps never go
        back, even if the clock does: harvesters find date ranges in the log by bisection."""
        if not self.changed:
            return
        latest = self.txn.get(b"datestamp", db=self.db["meta"])
        datestamp = max(utc_now(), latest.decode() if latest else "")
        self.txn.put(b"datestamp", datestamp.encode(), db=self.db["meta"])
        for record_id, (libraries, material_type) in self.changed.items():
            record = self.record(record_id)
            record.datestamp = datestamp
            self.put_record(record)
            history_key = record_key(record_id) + _SEQ.pack(record.seq)
            entry = self.txn.get(history_key, db=self.db["history"])
            if entry is not None:   # a catalogue update's history entry: the same datestamp
                self.txn.put(history_key, marshal.dumps({**marshal.loads(entry), "datestamp": datestamp}),
                             db=self.db["history"])
            # a change log row: its order is ROW_RECORD_ID ... ROW_MATERIAL_TYPE's, and Change's after seq
            self.txn.put(_SEQ.pack(record.seq), marshal.dumps((record.id, record.kind, record.syntax, record.deleted,
                                                                 datestamp, libraries, material_type)),
                         db=self.db["changes"])
        self.changed = {}

    def _count_change(self, kind: str, syntax: str, step: int):
        key = _change_count_key(kind, syntax)
        self.txn.put(key, _SEQ.pack(self.change_count(kind, syntax) + step), db=self.db["meta"])

    def put_entry_blobs(self, record_id: int, entry: bytes, sortkeys: bytes | None):
        """A record's marshalled index entry and sort keys (None: the stored ones stay)."""
        self.txn.put(record_key(record_id), entry, db=self.db["entries"])
        if sortkeys is not None:
            self.txn.put(record_key(record_id), sortkeys, db=self.db["sortkeys"])

    def drop_entry(self, record_id: int):
        self.txn.delete(record_key(record_id), db=self.db["entries"])
        self.txn.delete(record_key(record_id), db=self.db["sortkeys"])

    def put_rendered(self, record_id: int, rendered: dict[str, bytes] | None):
        """Renderings by format, as the store keeps them (`Catalogue.render` encodes them, in the
        loader's worker processes); None: they are left for later (`UNRENDERED_KEY`)."""
        if rendered is None:
            self.index(record_id, (UNRENDERED_KEY,), ())
            return
        prefix = record_key(record_id)
        for name, data in rendered.items():
            self.txn.put(prefix + name.encode("ascii"), data, db=self.db["rendered"])

    def drop_rendered(self, record_id: int):
        """Take a record's renderings out, and its mark of renderings left for later."""
        self.index(record_id, (), (UNRENDERED_KEY,))
        cursor = self.txn.cursor(db=self.db["rendered"])
        prefix = record_key(record_id)
        if cursor.set_range(prefix):
            while cursor.key().startswith(prefix) and cursor.delete():
                pass

    def add_match_key(self, key: str, record_id: int):
        self.txn.put(match_key(key), record_key(record_id), db=self.db["matchkeys"], dupdata=True)

    def remove_match_key(self, key: str, record_id: int):
        self.txn.delete(match_key(key), record_key(record_id), db=self.db["matchkeys"])

    def set_holdings(self, record_id: int, library: str, items: list[dict]):
        key = record_key(record_id) + library.encode("utf-8")
        if items:
            self.txn.put(key, marshal.dumps(items), db=self.db["holdings"])
        else:
            self.txn.delete(key, db=self.db["holdings"])

    def index(self, record_id: int, added, removed):
        """Record that a record gained and lost these terms (written by `flush`)."""
        self._change((key, record_id) for key in added)
        self._change((key, -record_id - 1) for key in removed)

    def reserve_ids(self, count: int) -> int:
        """Set aside `count` record ids (a loader assigns them before indexing); the first one."""
        first = self.counter("record_id") + 1
        self.txn.put(b"record_id", _SEQ.pack(first + count - 1), db=self.db["meta"])
        return first

    def index_chunk(self, postings: dict[bytes, bytes], skipped: BitMap):
        """Add a chunk's postings, made by a loader worker with the ids set aside for the chunk.

        `skipped` are ids of the chunk that were not created (the record merged into another or
        was unchanged): they are taken out again when the postings are written.
        """
        self._change(((key, (value, skipped)) for key, value in postings.items()) if skipped
                     else postings.items())

    def _change(self, changes):
        """Add (term, change) pairs to the terms' changes: the first alone, later ones in a list.
        Most terms of a load come from one chunk, and making a list for each cost the loader's
        writer a tenth of its time (allocation, and the collector walking them). A term new to
        the batch takes one dictionary lookup (`setdefault`): a batch gathers half a million."""
        pending = self.pending
        setdefault = pending.setdefault
        for key, part in changes:
            parts = setdefault(key, part)
            if parts is part:
                continue
            if type(parts) is list:
                parts.append(part)
            else:
                pending[key] = [parts, part]

    def flush(self):
        """Write the gathered posting changes: one read-modify-write per distinct term."""
        cursor = self.txn.cursor(db=self.db["postings"])
        for key in sorted(self.pending):
            parts = self.pending[key]
            found = cursor.set_key(key)
            if type(parts) is not list:
                if not found and type(parts) is bytes:
                    cursor.put(key, parts)  # a new term from one chunk: the worker's value as is
                    continue
                parts = [parts]
            bitmap = posting_list(cursor.value()) if found else BitMap()   # not copied into a new one
            for part in parts:  # in order: a record removed then added again stays
                if type(part) is int:
                    if part >= 0:
                        bitmap.add(part)
                    else:
                        bitmap.discard(-part - 1)
                elif type(part) is bytes:
                    add_postings(bitmap, part)
                else:
                    bitmap |= posting_list(part[0]) - part[1]
            if bitmap:
                cursor.put(key, posting_value(bitmap))
            elif found:
                cursor.delete()
        self.pending.clear()
