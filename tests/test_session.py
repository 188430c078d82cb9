"""Named result sets of one client session: the backend under Z39.50 and SRU."""
from __future__ import annotations

import pytest

from unishelf.search.session import Session
from unishelf.search.tree import QueryError
from unishelf.z3950.pqf import parse_pqf


def tree(catalog, pqf):
    return catalog.bib1.to_tree(parse_pqf(pqf))


def test_named_sets_replace_present_sort_and_delete(loaded):
    session = Session(loaded.engine, max_result_sets=3)
    history = session.search(tree(loaded, "@attr 1=4 history"), ["unicat"], "h")
    assert session.present("h", 1, 5) == history.ids(0, 5)
    assert session.present("h", len(history), 10) == history.ids(len(history) - 1, 1)
    with pytest.raises(QueryError) as error:
        session.search(tree(loaded, "@attr 1=4 war"), ["unicat"], "h", replace=False)
    assert error.value.code == "result-set-exists"
    both = session.search(tree(loaded, "@and @set h @attr 1=4 united"), ["unicat"], "both")
    assert set(both.ids()) <= set(history.ids())
    sorted_set = session.sort(["h"], "by-title", [("title", True)])
    assert sorted(sorted_set.ids()) == sorted(history.ids())
    with pytest.raises(QueryError) as error:
        session.search(tree(loaded, "@attr 1=4 war"), ["unicat"], "fourth")
    assert error.value.code == "too-many-result-sets"
    assert session.delete(["h", "missing"]) == {"h": True, "missing": False}
    with pytest.raises(QueryError) as error:
        session.present("h", 1, 1)
    assert error.value.code == "no-result-set"
    assert session.delete() == {"both": True, "by-title": True}


@pytest.mark.parametrize("start, count", [(0, 1), (10_000, 1), (1, -1)])
def test_present_out_of_range(loaded, start, count):
    session = Session(loaded.engine)
    session.search(tree(loaded, "@attr 1=4 history"), ["unicat"])
    with pytest.raises(QueryError) as error:
        session.present("default", start, count)
    assert error.value.code == "present-out-of-range"


def test_sorting_several_sets_at_once_is_refused(loaded):
    session = Session(loaded.engine)
    session.search(tree(loaded, "@attr 1=4 history"), ["unicat"], "a")
    session.search(tree(loaded, "@attr 1=4 war"), ["unicat"], "b")
    with pytest.raises(QueryError) as error:
        session.sort(["a", "b"], "c", [("title", True)])
    assert error.value.code == "unsupported-sort"
