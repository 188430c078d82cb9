"""Scan: the index terms around a start term, with their record counts."""
from __future__ import annotations

import pytest

from unishelf.search.tree import QueryError
from unishelf.z3950.pqf import parse_pqf


def count(catalog, pqf, databases=("unicat",)):
    return len(catalog.engine.search(catalog.bib1.to_tree(parse_pqf(pqf)), databases))


def test_scan_lists_words_in_order_with_their_counts(loaded):
    entries = loaded.engine.scan("title", "water", count=10)
    terms = [t for t, _ in entries]
    assert len(entries) == 10 and terms == sorted(terms) and terms[0] >= "water"
    for term, occurrences in entries[:5]:
        assert occurrences == count(loaded, f'@attr 1=4 @attr 4=2 "{term}"')


def test_scan_position_shows_terms_before_the_start(loaded):
    entries = loaded.engine.scan("subject", "history", count=7, position=4)
    terms = [t for t, _ in entries]
    assert len(entries) == 7 and terms == sorted(terms)
    assert terms[2] < "history" <= terms[3] and entries.start_position == 4


def test_scan_from_before_the_first_term_lists_forwards_and_says_so(loaded):
    entries = loaded.engine.scan("subject", "0", count=7, position=4)
    assert len(entries) == 7 and entries.start_position == 1
    assert entries == loaded.engine.scan("subject", "0", count=7)


def test_scan_of_whole_fields_gives_headings(loaded):
    entries = loaded.engine.scan("subject", "united states", count=5, whole_field=True)
    assert all(term.startswith("united states") for term, _ in entries[:3])
    for term, occurrences in entries:
        assert occurrences == count(loaded, f'@attr 1=21 @attr 6=3 "{term}"')


def test_scan_counts_only_records_of_the_database(loaded):
    everywhere = dict(loaded.engine.scan("language", "a", count=50))
    east = dict(loaded.engine.scan("language", "a", databases=["EAST"], count=50))
    assert east["chi"] == count(loaded, "@attr 1=54 chi", ["EAST"]) <= everywhere["chi"]
    assert "ger" in everywhere and "ger" not in east


def test_scan_of_an_identifier_normalises_the_start_term(loaded):
    (first, occurrences), *_ = loaded.engine.scan("isbn", "0-262-03293-7", count=3)
    assert first >= "9780262032933" and occurrences >= 1


def test_scan_of_an_unknown_index_is_an_error(loaded):
    with pytest.raises(QueryError) as error:
        loaded.engine.scan("nowhere", "x")
    assert error.value.code == "unsupported-index"


def test_scan_step_size_skips_terms_between_entries(loaded):
    every = [t for t, _ in loaded.engine.scan("title", "water", count=30)]
    stepped = [t for t, _ in loaded.engine.scan("title", "water", count=10, step=2)]
    assert stepped == every[::3][:10]
    around = [t for t, _ in loaded.engine.scan("title", "water", count=6, position=3, step=1)]
    assert around[2:] == every[::2][:4] and around[:2] == sorted(around[:2]) and around[1] < "water"
