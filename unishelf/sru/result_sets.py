"""Result sets kept for later requests (resultSetTTL, then `cql.resultSetId = "name"`).

SRU is stateless: a client pages through a result set, or refines it, by naming it in a later
request, and that request may come over another connection to another serving process. So the
result sets live in a small LMDB environment of their own beside the store, which every process
opens, rather than in one process's memory. A result set is kept as its membership (a roaring
bitmap) and, when it has one, its order (sorted or ranked); nothing of it needs to survive a
crash, so commits are not synced. Each use gives a result set its full time to live again (what
SRU 1.x calls resultSetIdleTime); at most `capacity` are kept, and keeping one more first drops
the expired ones, then the ones closest to expiry.
"""
from __future__ import annotations

import secrets
import struct
import time
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Iterator

import lmdb
from pyroaring import BitMap

from unishelf.search.engine import ResultSet

_EXPIRY = struct.Struct(">dI")   # expires at (epoch seconds), time to live (seconds)
_LENGTH = struct.Struct(">I")    # bytes of the serialised bitmap, before the order
MAP_SIZE = 4 << 30               # address space only: the file grows with what is kept


class ResultSetStore:
    def __init__(self, path: str | Path, capacity: int, clock: Callable[[], float] = time.time):
        Path(path).mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=MAP_SIZE, max_dbs=2, sync=False, metasync=False,
                             readahead=False, max_readers=512)
        self.sets = self.env.open_db(b"sets")
        self.expiry = self.env.open_db(b"expiry")
        self.capacity = capacity
        self.clock = clock

    def close(self):
        self.env.close()

    def keep(self, result: ResultSet, ttl: int) -> str:
        """Keep a result set for `ttl` seconds after each use; returns the name it is kept under."""
        name = secrets.token_hex(8)
        order = array("I", result.ids()) if result.order is not None or result.groups else array("I")
        bitmap = result.bitmap.serialize()
        now = self.clock()
        with self.env.begin(write=True) as txn:
            self._make_room(txn, now)
            key = name.encode()
            txn.put(key, _LENGTH.pack(len(bitmap)) + bitmap + order.tobytes(), db=self.sets)
            txn.put(key, _EXPIRY.pack(now + ttl, ttl), db=self.expiry)
        return name

    def get(self, name: str) -> tuple[ResultSet, int] | None:
        """(result set, seconds it lives) kept under `name`, living its time again from now; None if
        it expired or never was."""
        key = name.encode()
        now = self.clock()
        with self.env.begin(write=True) as txn:
            expiry = txn.get(key, db=self.expiry)
            if expiry is None:
                return None
            expires, ttl = _EXPIRY.unpack(expiry)
            if expires < now:
                self._drop(txn, key)
                return None
            txn.put(key, _EXPIRY.pack(now + ttl, ttl), db=self.expiry)
            data = txn.get(key, db=self.sets)
        (length,) = _LENGTH.unpack_from(data)
        bitmap = BitMap.deserialize(data[_LENGTH.size:_LENGTH.size + length])
        order = array("I")
        order.frombytes(data[_LENGTH.size + length:])
        return ResultSet(bitmap, order.tolist() if order else None), ttl

    def names(self) -> list[str]:
        now = self.clock()
        with self.env.begin() as txn:
            return [key.decode() for key, value in txn.cursor(db=self.expiry)
                    if _EXPIRY.unpack(value)[0] >= now]

    def kept(self) -> int:
        with self.env.begin() as txn:
            return txn.stat(self.expiry)["entries"]

    def by_name(self) -> Mapping:
        """The kept result sets as a read-only mapping, read only as a query names them: what the
        engine takes to evaluate `cql.resultSetId` (a ResultSetRef)."""
        return _ByName(self)

    def _make_room(self, txn, now: float):
        entries = [(_EXPIRY.unpack(value)[0], bytes(key)) for key, value in txn.cursor(db=self.expiry)]
        entries.sort()
        expired = sum(1 for expires, _ in entries if expires < now)
        surplus = len(entries) - self.capacity + 1
        for _, key in entries[:max(expired, surplus)]:
            self._drop(txn, key)

    def _drop(self, txn, key: bytes):
        txn.delete(key, db=self.expiry)
        txn.delete(key, db=self.sets)


class _ByName(Mapping):
    """Reads each result set once however often the query names it."""

    def __init__(self, store: ResultSetStore):
        self.store = store
        self.read: dict[str, ResultSet | None] = {}

    def __getitem__(self, name: str) -> ResultSet:
        if name not in self.read:
            kept = self.store.get(name)
            self.read[name] = kept[0] if kept else None
        if self.read[name] is None:
            raise KeyError(name)
        return self.read[name]

    def __contains__(self, name) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.names())

    def __len__(self) -> int:
        """Kept result sets, counting expired ones not yet dropped: cheap, as the engine asks it of
        every search."""
        return self.store.kept()
