"""Kept result sets: shared through LMDB, living their TTL again on each use, at most `capacity`."""
from __future__ import annotations

import pytest
from pyroaring import BitMap

from unishelf.search.engine import ResultSet
from unishelf.sru.result_sets import ResultSetStore


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    kept = ResultSetStore(tmp_path / "sets", capacity=3, clock=clock)
    yield kept
    kept.close()


def test_a_kept_result_set_comes_back_with_its_order_and_ttl(store):
    plain = ResultSet(BitMap([5, 1, 9]))
    ordered = ResultSet(BitMap([5, 1, 9]), [9, 5, 1])
    ranked = ResultSet(BitMap([5, 1, 9]), groups=[(2.0, BitMap([9])), (1.0, BitMap([1, 5]))])
    names = [store.keep(result, 60) for result in (plain, ordered, ranked)]
    assert len(set(names)) == 3
    back = [store.get(name) for name in names]
    assert [(list(result.ids()), ttl) for result, ttl in back] == [([1, 5, 9], 60), ([9, 5, 1], 60), ([9, 1, 5], 60)]
    assert back[0][0].order is None and list(back[2][0].bitmap) == [1, 5, 9]


def test_each_use_gives_a_result_set_its_time_to_live_again(store, clock):
    name = store.keep(ResultSet(BitMap([1])), 60)
    clock.now += 50
    assert store.get(name) is not None
    clock.now += 50
    assert store.get(name) is not None
    clock.now += 61
    assert store.get(name) is None
    assert store.get(name) is None and store.names() == []


def test_unknown_names_are_none(store):
    assert store.get("nothing") is None


def test_at_most_capacity_are_kept_dropping_the_expired_then_those_expiring_first(store, clock):
    short = store.keep(ResultSet(BitMap([1])), 10)
    long = [store.keep(ResultSet(BitMap([2])), 100) for _ in range(2)]
    newest = store.keep(ResultSet(BitMap([3])), 50)
    assert store.get(short) is None and all(store.get(name) for name in long + [newest])
    clock.now += 60
    latest = store.keep(ResultSet(BitMap([4])), 100)
    assert store.get(newest) is None
    assert sorted(store.names()) == sorted(long + [latest])


def test_another_process_sees_the_same_result_sets(tmp_path, clock):
    first = ResultSetStore(tmp_path / "shared", 10, clock)
    name = first.keep(ResultSet(BitMap([7, 8]), [8, 7]), 30)
    first.close()
    second = ResultSetStore(tmp_path / "shared", 10, clock)
    assert second.get(name)[0].ids() == [8, 7]
    second.close()


def test_the_engine_reads_them_by_name(store):
    name = store.keep(ResultSet(BitMap([3, 4])), 60)
    by_name = store.by_name()
    assert name in by_name and "other" not in by_name
    assert list(by_name[name].bitmap) == [3, 4] and list(by_name) == [name] and len(by_name) == 1
    with pytest.raises(KeyError):
        by_name["other"]
