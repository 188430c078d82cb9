"""bin/make-pair-words, which makes the shipped config/pair-words.txt, checked against word counts
made here with pymarc alone: a list it makes lists every common title word and no word that is
not common anywhere in the records."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pymarc
import pytest

REPO = Path(__file__).resolve().parent.parent
RECORDS = REPO / "tests" / "data" / "marc21-utf8-sample.mrc"
SHARE = 0.05
WORD = re.compile(r"[^\W_]+")


def words_made(share: float) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, str(REPO / "bin" / "make-pair-words"), "--share", str(share),
                           str(RECORDS)], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# Words in at least")
    return [line for line in lines if not line.startswith("#")], done.stderr


def ascii_words(texts) -> set[str]:
    """The ASCII words of the texts (runs of letters and digits, lower case), as far as they
    can be told without folding diacritics: 'Société' gives none, 'la' beside it one."""
    return {word for text in texts for word in WORD.findall(text.lower()) if word.isascii()}


@pytest.fixture(scope="module")
def records() -> list[pymarc.Record]:
    with open(RECORDS, "rb") as handle:
        return [record for record in pymarc.MARCReader(handle, to_unicode=True)
                if record is not None and record.leader[6] not in "uvxyz"]   # bibliographic only


@pytest.fixture(scope="module")
def made() -> tuple[list[str], str]:
    return words_made(SHARE)


def records_with(records, words_of) -> Counter:
    """Each word: how many records hold it."""
    return Counter(word for record in records for word in words_of(record))


def test_every_title_word_of_the_share_is_listed(records, made):
    words, _ = made
    least = SHARE * len(records)
    title_words = records_with(records, lambda r: ascii_words(v for f in r.get_fields("245")
                                                              for v in f.get_subfields("a")))
    common = {word for word, count in title_words.items() if count >= least}
    assert common and {"the", "of"} <= common
    assert common <= set(words)


def test_no_word_is_listed_that_too_few_records_hold_anywhere(records, made):
    words, stderr = made
    least = SHARE * len(records)
    anywhere = records_with(records, lambda r: ascii_words(subfield.value for field in r.get_fields()
                                                           if not field.is_control_field()
                                                           for subfield in field.subfields))
    ascii_listed = [word for word in words if word.isascii()]
    assert ascii_listed and all(anywhere[word] >= least for word in ascii_listed)
    assert f"of {len(records):,} records" in stderr   # every bibliographic record counted


def test_a_larger_share_lists_fewer_words(made):
    words, _ = made
    fewer, _ = words_made(SHARE * 4)
    assert fewer and set(fewer) < set(words)
    assert words == sorted(words)
