"""The CQL 1.2 parser: the syntax tree of good queries and the SRU diagnostic of bad ones."""
from __future__ import annotations

import pytest

from unishelf.sru.cql import (
    MAX_BOOLEANS,
    MAX_NESTING,
    Boolean,
    CQLError,
    Modifier,
    Name,
    Query,
    SearchClause,
    SortKey,
    parse,
    term_characters,
)

EQ = Name(None, "=")


def clause(term, index=None, relation=EQ, *modifiers):
    return SearchClause(index, relation, tuple(modifiers), term)


def root(text):
    return parse(text).root


# --- search clauses ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("fish", clause("fish")),
    ('"squirrels fish"', clause("squirrels fish")),
    ('""', clause("")),
    ("dc.title any fish", clause("fish", Name("dc", "title"), Name(None, "any"))),
    ("title=fish", clause("fish", Name(None, "title"))),
    ('dc.title = "fish food"', clause("fish food", Name("dc", "title"))),
    ("a.b.c = x", clause("x", Name("a", "b.c"))),           # the first dot separates the prefix
    ("dc.title cql.adj x", clause("x", Name("dc", "title"), Name("cql", "adj"))),
    ("date within \"1990 2000\"", clause("1990 2000", Name(None, "date"), Name(None, "within"))),
    ("title = and", clause("and", Name(None, "title"))),    # keywords are terms where terms go
    ('"and"', clause("and")),
    ("sortby", clause("sortby")),
    ("prox = x", clause("x", Name(None, "prox"))),
    ("中国", clause("中国")),
])
def test_search_clause(text, expected):
    assert root(text) == expected


@pytest.mark.parametrize("symbol", ["=", "==", "<>", "<", ">", "<=", ">="])
def test_every_comparison_symbol(symbol):
    assert root(f"date {symbol} 2000") == clause("2000", Name(None, "date"), Name(None, symbol))
    assert root(f"date{symbol}2000") == clause("2000", Name(None, "date"), Name(None, symbol))


def test_relation_modifiers_with_and_without_values():
    assert root("title any/relevant/cql.locale=fr fish") == clause(
        "fish", Name(None, "title"), Name(None, "any"),
        Modifier(Name(None, "relevant")), Modifier(Name("cql", "locale"), "=", "fr"))


def test_terms_keep_their_escapes_for_masking():
    assert root(r'"say \"hi\" \*"').term == r'say \"hi\" \*'
    assert root(r"fo\*o").term == r"fo\*o"
    assert root(r'"back\\"').term == "back\\\\"


def test_term_characters_mark_the_masking_characters():
    assert term_characters(r"a*\*?\?^\^\\") == [
        ("a", False), ("*", True), ("*", False), ("?", True), ("?", False), ("^", True), ("^", False),
        ("\\", False)]
    assert term_characters("x\\") == [("x", False), ("\\", False)]


# --- booleans ---------------------------------------------------------------------------------

def test_booleans_are_left_associative_and_case_insensitive():
    assert root("a AND b Or c not d") == Boolean(
        "not", (), Boolean("or", (), Boolean("and", (), clause("a"), clause("b")), clause("c")), clause("d"))


def test_parentheses_group():
    assert root("a and (b or c)") == Boolean("and", (), clause("a"), Boolean("or", (), clause("b"), clause("c")))
    assert root("((a))") == clause("a")


def test_boolean_modifiers():
    assert root("a prox/unit=word/distance<=2/ordered b") == Boolean(
        "prox", (Modifier(Name(None, "unit"), "=", "word"), Modifier(Name(None, "distance"), "<=", "2"),
                 Modifier(Name(None, "ordered"))), clause("a"), clause("b"))
    assert root("a and/rel.combine=sum b").modifiers == (Modifier(Name("rel", "combine"), "=", "sum"),)


def test_a_term_before_a_boolean_is_a_bare_term():
    assert root("title and x") == Boolean("and", (), clause("title"), clause("x"))


# --- prefix assignments -----------------------------------------------------------------------

def test_prefix_assignment_gives_names_their_uri():
    query = parse('> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title any fish')
    assert query.root == clause("fish", Name("dc", "title", "info:srw/cql-context-set/1/dc-v1.1"),
                                Name(None, "any"))


def test_prefixes_are_case_insensitive():
    assert root("> DC = u dc.title = x").index == Name("dc", "title", "u")


def test_default_context_set_applies_to_indexes_without_prefix_only():
    query = root('> "info:x" title any/relevant x')
    assert query.index == Name(None, "title", "info:x")
    assert query.relation == Name(None, "any")
    assert query.modifiers == (Modifier(Name(None, "relevant")),)


def test_prefix_assignments_are_scoped_and_the_innermost_wins():
    query = root("> a = outer (> a = inner a.x = 1) and a.y = 2")
    assert query.left.index == Name("a", "x", "inner")
    assert query.right.index == Name("a", "y", "outer")


def test_prefixed_relations_and_modifiers_resolve_too():
    query = root("> c = uri title c.adj/c.relevant x")
    assert query.relation == Name("c", "adj", "uri")
    assert query.modifiers == (Modifier(Name("c", "relevant", "uri")),)


def test_prefix_assignments_apply_to_sort_keys():
    assert parse("> d = u x sortBy d.date").sort == (SortKey(Name("d", "date", "u")),)


def test_unassigned_prefix_has_no_uri():
    assert root("dc.title = x").index == Name("dc", "title", None)


# --- sortBy -----------------------------------------------------------------------------------

def test_sort_keys_with_modifiers():
    assert parse("dc.title any fish sortBy dc.date/sort.descending dc.title/ascending title") == Query(
        clause("fish", Name("dc", "title"), Name(None, "any")),
        (SortKey(Name("dc", "date"), (Modifier(Name("sort", "descending")),)),
         SortKey(Name("dc", "title"), (Modifier(Name(None, "ascending")),)),
         SortKey(Name(None, "title"))))


def test_sortby_keyword_is_case_insensitive():
    assert parse("x SORTBY title").sort == (SortKey(Name(None, "title")),)


def test_name_prints_as_written():
    assert str(Name("dc", "title")) == "dc.title"
    assert str(Name(None, "title")) == "title"


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, diagnostic", [
    ("", 10),                           # nothing to search
    ("   ", 10),
    ("title =", 10),                    # no term after the relation
    ("title = /x", 10),
    ("title any/ fish", 10),            # modifier without a name
    ("title any/locale= fish", 10),     # modifier without a value
    ("a and", 10),                      # boolean without its right operand
    ("a b", 10),                        # two terms, no boolean: b is read as a relation, then no term
    ("a b c d", 10),
    ("= x", 10),
    ("> dc =", 10),                     # incomplete prefix assignment
    (">", 10),
    ("a sortBy", 10),                   # sortBy without keys
    ("a sortBy title = x", 10),
    ('fish "cat"', 10),
    ("(a", 13),                         # unbalanced parentheses
    ("a)", 13),
    ("()", 13),
    ("(a b)", 13),
    ('"open', 14),                      # unterminated quotes
    ('title = "a \\"', 14),
])
def test_syntax_errors(text, diagnostic):
    with pytest.raises(CQLError) as raised:
        parse(text)
    assert raised.value.diagnostic == diagnostic
    assert raised.value.message and raised.value.details


def test_deep_nesting_is_a_diagnostic_not_a_recursion_error():
    with pytest.raises(CQLError) as raised:
        parse("(" * 1000 + "a" + ")" * 1000)
    assert raised.value.diagnostic == 13
    assert root("(" * MAX_NESTING + "a" + ")" * MAX_NESTING) == clause("a")


def test_too_many_booleans_is_a_diagnostic():
    with pytest.raises(CQLError) as raised:
        parse(" or ".join(["a"] * 1001))
    assert raised.value.diagnostic == 38
    assert parse(" or ".join(["a"] * (MAX_BOOLEANS + 1)))


def test_deep_prefix_assignments_do_not_recurse():
    assert root("> p = u " * 1000 + "p.x = 1").index == Name("p", "x", "u")


def test_error_details_give_the_offset():
    with pytest.raises(CQLError) as raised:
        parse("title = a and")
    assert raised.value.details == "13"
