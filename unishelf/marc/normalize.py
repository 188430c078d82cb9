"""Text folding and tokenising, shared by indexing and querying so both sides always agree.

Folding: Unicode NFKC, case folding, removal of combining marks (diacritics) and traditional to
simplified Chinese (PyICU's transliterator), so 'Émile', 'EMILE' and 'émile' meet, and so do
圖書館 and 图书馆.

Tokens: runs of letters and digits. Chinese and Japanese are written without spaces, so a run of
Han or kana stays one token in the folded text, and the index holds its single characters and its
overlapping character pairs (bigrams); a query of three or more such characters looks up its
bigrams and is then checked against the folded field text (see `phrase_pattern`).
"""
from __future__ import annotations

import functools
import re
import unicodedata

import icu

_TRADITIONAL_TO_SIMPLIFIED = icu.Transliterator.createInstance("Traditional-Simplified")

# Han (with extensions and compatibility ideographs), hiragana, katakana: scripts without spaces.
CJK_CHARS = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_IS_CJK = re.compile(f"[{CJK_CHARS}]")
# A token: a CJK run, or a run of other word characters (letters, digits, marks folded away).
_TOKEN = re.compile(f"[{CJK_CHARS}]+|[^\\W_{CJK_CHARS}]+")
# What _TOKEN finds in ASCII text, lower-cased: letters and digits kept, every other byte a blank.
_ASCII_TOKEN_BYTES = bytes(byte if chr(byte).isascii() and chr(byte).isalnum() else ord(" ")
                           for byte in range(256)).lower()
MASK_ANY, MASK_ONE = "*", "?"
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Fold text for comparison: NFKC, casefold, no diacritics, simplified Han.

    ASCII text (99% of the LC records' indexed values) is NFKC already and has neither marks
    nor Han, so lower case is all of its folding."""
    return text.lower() if text.isascii() else _fold_unicode(text)


@functools.lru_cache(maxsize=65536)
def _fold_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = unicodedata.normalize("NFC", _COMBINING.sub("", decomposed))
        if _HAN.search(text):
            text = _TRADITIONAL_TO_SIMPLIFIED.transliterate(text)
    return text


def fold_tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def field_key(text: str) -> str:
    """The whole-field form: folded tokens joined by single spaces (punctuation dropped).

    An ASCII text's tokens are its runs of ASCII letters and digits: one byte translation
    lower-cases it and blanks the rest, and a split finds them (0.5 µs a value on the LC
    records, against 1.0 for a pattern; a record has about 40)."""
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_TOKEN_BYTES).split()).decode("ascii")
    return " ".join(_TOKEN.findall(_fold_unicode(text)))


def is_cjk(token: str) -> bool:
    return bool(_IS_CJK.match(token))


def index_terms(token: str) -> list[str]:
    """What the word register holds for one token: the word, or a CJK run's characters and pairs."""
    if len(token) == 1 or not _IS_CJK.match(token):
        return [token]
    terms = list(token)
    terms.extend(token[i:i + 2] for i in range(len(token) - 1))
    return terms


def word_pairs(tokens: list[str], pair_words: frozenset[str] | None = None) -> list[str]:
    """'a b' for each two adjacent tokens that are words (CJK runs have their own pairs), both
    of `pair_words` when given (see `AccessPoints.pair_words`)."""
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:])
            if not _IS_CJK.match(a) and not _IS_CJK.match(b)
            and (pair_words is None or (a in pair_words and b in pair_words))]


def query_terms(token: str) -> list[str]:
    """The word-register terms whose intersection holds every record containing `token`.

    Any record containing the token contains all of these; whether they stand together is then
    checked with `phrase_pattern` when the token is a CJK run of three characters or more.
    """
    if len(token) <= 2 or not _IS_CJK.match(token):
        return [token]
    return [token[i:i + 2] for i in range(len(token) - 1)]


def needs_verification(query_tokens: list[str]) -> bool:
    """True when the postings alone over-approximate the tokens read as a phrase."""
    return len(query_tokens) > 1 or any(len(t) > 2 and _IS_CJK.match(t) for t in query_tokens)


def phrase_literal(query_tokens: list[str]) -> str | None:
    """Text that every whole-field string `phrase_pattern` finds holds, where there is one: the
    tokens joined by spaces, unless masked or CJK (whose runs may be joined without one)."""
    if any(MASK_ANY in t or MASK_ONE in t or _IS_CJK.search(t) for t in query_tokens):
        return None
    return " ".join(query_tokens)


def phrase_pattern(query_tokens: list[str], left_open: bool = False,
                   right_open: bool = False) -> re.Pattern:
    """A regex that finds the tokens as a phrase in a whole-field string (see `field_key`).

    Word boundaries are required except next to CJK characters, which stand inside longer runs;
    `left_open`/`right_open` drop the outer boundaries (left/right truncation). In a token, `*`
    stands for any run of characters and `?` for one character (masking).
    """
    def token_pattern(token: str) -> str:
        return "".join(r"\S*?" if c == MASK_ANY else r"\S" if c == MASK_ONE else re.escape(c)
                       for c in token)

    body = token_pattern(query_tokens[0])
    for before, token in zip(query_tokens, query_tokens[1:]):
        # Two CJK runs may stand with or without a space between them (they rarely have one).
        joint = " ?" if _IS_CJK.match(before[-1]) and _IS_CJK.match(token[0]) else " "
        body += joint + token_pattern(token)
    first, last = query_tokens[0], query_tokens[-1]
    start = "" if left_open or _IS_CJK.match(first[0]) else r"(?<![^ ])"
    end = "" if right_open or _IS_CJK.match(last[-1]) else r"(?![^ ])"
    return re.compile(start + body + end)
