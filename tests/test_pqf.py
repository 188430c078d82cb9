"""PQF parsing and formatting; expected trees follow what libyaz's parser builds (see pqf.py)."""
from __future__ import annotations

import random

import pytest

from unishelf.z3950.pqf import PQFError, format_pqf, parse_pqf
from unishelf.z3950.rpn import (
    BIB1_OID,
    Attribute,
    AttributesPlusTerm,
    Operation,
    Proximity,
    ResultSetId,
    RPNQuery,
)

GILS_OID = "1.2.840.10003.3.5"
EXP1_OID = "1.2.840.10003.3.2"


def term(text, *attributes, term_type="general"):
    return AttributesPlusTerm(tuple(attributes), text, term_type)


def use(value, attribute_set=None):
    return Attribute(1, value, attribute_set)


def root(text):
    return parse_pqf(text).root


# --- terms and tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("dylan", "dylan"),
    ('"bob dylan"', "bob dylan"),
    ('"@and a b"', "@and a b"),             # a quoted term is never an operator
    ("{bob dylan}", "bob dylan"),           # YAZ also quotes with braces
    ('""', ""),
    (r'"say \"hi\""', 'say "hi"'),
    (r'"back\\slash"', "back\\slash"),
    (r"bob\ dylan", "bob dylan"),           # an escaped space keeps a bare word together
    (r"\@and", "@and"),
    (r'"\t\n\r\f"', "\t\n\r\f"),
    (r'"\q"', "q"),                         # any other escaped character stands for itself
    (r'"\xc3\xa9t\xc3\xa9"', "été"),        # byte escapes are UTF-8 ...
    (r'"\xe9t\xe9"', "été"),                # ... or else Latin-1
    (r'"\303\251\101"', "éA"),              # octal bytes
    (r'"\xzz"', "xzz"),                     # not a byte escape: \x is just x
    ("trailing\\", "trailing\\"),
    ('ab"cd', 'ab"cd'),                     # a quote only opens a string at a token's start
    ("}", "}"),
    ("中文", "中文"),
])
def test_term_text(text, expected):
    assert parse_pqf(text) == RPNQuery(BIB1_OID, term(expected))


def test_whitespace_is_spaces_tabs_and_newlines():
    assert root(" \t@and\n a\r\n\tb \n") == Operation("and", term("a"), term("b"))


def test_quoted_string_ends_a_token():
    assert root('@and "a"b') == Operation("and", term("a"), term("b"))


# --- @attrset -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, oid", [
    ("bib-1", BIB1_OID), ("bib1", BIB1_OID), ("BIB-1", BIB1_OID), ("Bib-1", BIB1_OID),
    ("exp1", EXP1_OID), ("ext-1", "1.2.840.10003.3.3"), ("gils", GILS_OID),
    ("gils-attset", GILS_OID), ("zthes", "1.2.840.10003.3.13"),
    ("1.2.840.10003.3.5", GILS_OID), ("1.2.840.010003.3.05", GILS_OID), ("1.2.3", "1.2.3"),
])
def test_attrset(name, oid):
    assert parse_pqf(f"@attrset {name} x") == RPNQuery(oid, term("x"))


def test_attrset_defaults_to_bib1():
    assert parse_pqf("x").attribute_set == BIB1_OID


# --- @attr --------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, attribute", [
    ("1=4", use(4)),
    ("1=04", use(4)),
    ("1=title", use("title")),
    ("1=/book/title", use("/book/title")),
    ("2=-1", Attribute(2, "-1")),           # only all-digit values are numeric
    ("7=1,2", Attribute(7, "1,2")),         # YAZ sends one string, not a list
    ("1=4=5", use("4=5")),
    ('"1=dc title"', use("dc title")),
    (r"1=a\ b", use("a b")),
    ("gils 1=2000", use(2000, GILS_OID)),
    ("GILS-attset 1=2000", use(2000, GILS_OID)),
    ("1.2.3 1=2000", use(2000, "1.2.3")),
    ("bib-1 1=4", use(4, BIB1_OID)),        # named explicitly, unlike the default (None)
])
def test_attribute(spec, attribute):
    assert root(f"@attr {spec} x") == term("x", attribute)


def test_attributes_accumulate_in_written_order():
    assert root("@attr 1=4 @attr 2=3 @attr 4=1 x") == term(
        "x", use(4), Attribute(2, 3), Attribute(4, 1))


def test_later_attribute_of_a_type_replaces_earlier():
    assert root("@attr 1=4 @attr 2=3 @attr 1=1003 x") == term("x", Attribute(2, 3), use(1003))


def test_attribute_set_applies_to_its_attribute_only():
    assert root("@attr gils 1=2038 @attr 2=3 x") == term("x", use(2038, GILS_OID), Attribute(2, 3))


def test_attributes_before_an_operator_apply_to_every_term_below():
    assert root("@attr 4=1 @and @attr 1=1 \"bob dylan\" @or @attr 1=4 slow train") == Operation(
        "and",
        term("bob dylan", Attribute(4, 1), use(1)),
        Operation("or", term("slow", Attribute(4, 1), use(4)), term("train", Attribute(4, 1))),
    )


def test_inner_attribute_overrides_outer_for_its_operand_only():
    assert root("@attr 1=4 @and @attr 1=1003 a b") == Operation(
        "and", term("a", use(1003)), term("b", use(4)))


def test_attributes_of_left_operand_do_not_reach_right():
    assert root("@and @attr 1=4 a b") == Operation("and", term("a", use(4)), term("b"))


def test_attributes_before_set_are_dropped():
    assert root("@attr 1=4 @and @set s1 x") == Operation("and", ResultSetId("s1"), term("x", use(4)))


# --- @term --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, term_type, text", [
    ("general", "general", "x"),
    ("numeric", "numeric", "42"),
    ("numeric", "numeric", "-7"),
    ("string", "characterString", "x"),
    ("oid", "oid", "1.2.3"),
    ("datetime", "dateTime", "2024-01-01"),
    ("null", "null", "x"),
])
def test_term_type(name, term_type, text):
    assert root(f"@term {name} {text}") == term(text, term_type=term_type)


def test_term_type_applies_below_an_operator_but_not_to_later_siblings():
    assert root("@or @term string @and a b c") == Operation(
        "or",
        Operation("and", term("a", term_type="characterString"),
                  term("b", term_type="characterString")),
        term("c"),
    )


def test_term_type_and_attributes_combine_in_any_order():
    expected = term("x", use(4), term_type="characterString")
    assert root("@term string @attr 1=4 x") == expected
    assert root("@attr 1=4 @term string x") == expected


# --- operators and result sets ------------------------------------------------------------------

@pytest.mark.parametrize("operator, op", [("@and", "and"), ("@or", "or"), ("@not", "and-not")])
def test_boolean_operator(operator, op):
    assert root(f"{operator} a b") == Operation(op, term("a"), term("b"))


def test_nesting_on_both_sides():
    assert root("@and @or a b @not c d") == Operation(
        "and", Operation("or", term("a"), term("b")), Operation("and-not", term("c"), term("d")))


@pytest.mark.parametrize("arguments, proximity", [
    ("0 3 1 2 k 2", Proximity(False, 3, True, 2, "known", 2)),
    ("1 0 0 3 known 1", Proximity(True, 0, False, 3, "known", 1)),
    ("0 10 1 5 1 11", Proximity(False, 10, True, 5, "known", 11)),
    ("0 2 1 9 p 7", Proximity(False, 2, True, 9, "private", 7)),
    ("0 2 1 1 private 7", Proximity(False, 2, True, 1, "private", 7)),
    ("0 2 1 1 2 7", Proximity(False, 2, True, 1, "private", 7)),
])
def test_prox(arguments, proximity):
    assert root(f"@prox {arguments} dylan zimmerman") == Operation(
        "prox", term("dylan"), term("zimmerman"), proximity)


@pytest.mark.parametrize("text, name", [
    ("@set Result-1", "Result-1"), ('@set "my set"', "my set"), ('@set "@and"', "@and")])
def test_result_set(text, name):
    assert root(text) == ResultSetId(name)


def test_result_sets_as_operands():
    assert root("@and @set seta @set setb") == Operation("and", ResultSetId("seta"), ResultSetId("setb"))


def test_deep_nesting_needs_no_recursion():
    depth = 20_000
    text = "@and " * depth + " ".join(["x"] * (depth + 1))
    query = parse_pqf(text)
    assert format_pqf(query) == text.strip()
    node = query.root
    for _ in range(depth):
        assert node.op == "and" and node.right == term("x")
        node = node.left
    assert node == term("x")


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, offset, message", [
    ("", 0, "empty query"),
    (" \t\n", 0, "empty query"),
    ("@and a", 6, "@and at offset 0 is missing its second operand"),
    ("@or", 3, "@or at offset 0 is missing its first operand"),
    ("@and @or a b", 12, "@and at offset 0 is missing its second operand"),
    ("@attr 1=4", 9, "query ends where a term"),
    ("@attrset gils", 13, "query ends where a term"),
    ("a b", 2, "unexpected 'b' after the end of the query"),
    ("@and a b @set c", 9, "unexpected @set after the end of the query"),
    ('"bob dylan', 0, 'unterminated "..." string'),
    ('a "b', 2, 'unterminated "..." string'),
    ("{bob", 0, "unterminated {...} string"),
    ("@foo", 0, "unknown operator '@foo'"),
    ("@", 0, "unknown operator '@'"),
    ("@AND a b", 0, "unknown operator '@AND'"),
    ("@1=4 x", 0, "unknown operator '@1=4'"),
    ("@attr", 5, "@attr expects [SET] TYPE=VALUE, found the end of the query"),
    ("@attr @and a b", 6, "@attr expects [SET] TYPE=VALUE, found @and"),
    ("@attr 1", 7, "@attr expects TYPE=VALUE after '1', found the end of the query"),
    ("@attr 1 x", 6, "@attr expects [SET] TYPE=VALUE, found '1' followed by 'x'"),
    ("@attr gils @and a b", 11, "@attr expects TYPE=VALUE after 'gils', found @and"),
    ("@attr x=4 y", 6, "attribute type must be a number, found 'x'"),
    ("@attr =4 y", 6, "attribute type must be a number, found ''"),
    ("@attr 1= x", 6, "attribute 1= has no value"),
    ("@attr foo 1=4 x", 6, "unknown attribute set 'foo'"),
    ('@attr "" 1=4 x', 6, "unknown attribute set ''"),
    ("@attrset", 8, "@attrset expects an attribute-set name, found the end of the query"),
    ("@attrset @and a b", 9, "@attrset expects an attribute-set name, found @and"),
    ("@attrset nope x", 9, "unknown attribute set 'nope'"),
    ("@attrset 1 x", 9, "unknown attribute set '1'"),
    ("@and @attrset gils a b", 5, "@attrset is allowed only at the start of the query"),
    ("@attrset gils @attrset gils x", 14, "@attrset is allowed only at the start of the query"),
    ("@set", 4, "@set expects a result-set name, found the end of the query"),
    ("@set @and", 5, "@set expects a result-set name, found @and"),
    ("@term", 5, "@term expects a term type"),
    ("@term unicode x", 6, "unknown term type 'unicode'"),
    ("@term numeric 12a", 14, "@term numeric needs an integer term, found '12a'"),
    ("@prox", 5, "@prox expects exclusion 0 or 1, found the end of the query"),
    ("@prox 2 3 1 2 k 2 a b", 6, "@prox expects exclusion 0 or 1, found '2'"),
    ("@prox void 3 1 2 k 2 a b", 6, "@prox expects exclusion 0 or 1, found 'void'"),
    ("@prox 0 x 1 2 k 2 a b", 8, "@prox expects a distance (number), found 'x'"),
    ("@prox 0 -1 1 2 k 2 a b", 8, "@prox expects a distance (number), found '-1'"),
    ("@prox 0 3 yes 2 k 2 a b", 10, "@prox expects ordered 0 or 1, found 'yes'"),
    ("@prox 0 3 1 lt k 2 a b", 12, "@prox expects a relation (number), found 'lt'"),
    ("@prox 0 3 1 2 q 2 a b", 14, "@prox expects which-code k(nown) or p(rivate), found 'q'"),
    ("@prox 0 3 1 2 3 2 a b", 14, "@prox expects which-code k(nown) or p(rivate), found '3'"),
    ("@prox 0 3 1 2 k word a b", 16, "@prox expects a unit (number), found 'word'"),
    ("@prox 0 3 1 2 k @and a b", 16, "@prox expects a unit (number), found @and"),
    ("@prox 0 3 1 2 k 2 a", 19, "@prox at offset 0 is missing its second operand"),
])
def test_error(text, offset, message):
    with pytest.raises(PQFError) as caught:
        parse_pqf(text)
    assert caught.value.offset == offset
    assert message in str(caught.value)
    assert str(caught.value).endswith(f"(at offset {offset})")


def test_error_is_a_value_error():
    assert issubclass(PQFError, ValueError)


# --- format_pqf ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("dylan", "dylan"),
    ("{bob dylan}", '"bob dylan"'),
    ("@attrset bib1 @attr 1=4 x", "@attr 1=4 x"),
    ("@attrset gils @attr 1=2000 x", "@attrset GILS @attr 1=2000 x"),
    ("@attrset 1.2.3 x", "@attrset 1.2.3 x"),
    ("@attr 4=1 @and @attr 1=1 a b", "@and @attr 4=1 @attr 1=1 a @attr 4=1 b"),
    ("@attr gils 1=2038 @attr 1.2.3 2=3 x", "@attr GILS 1=2038 @attr 1.2.3 2=3 x"),
    ('@attr "1=dc title" @attr 2=a\\"b x', '@attr "1=dc title" @attr "2=a\\"b" x'),
    ("@term string @or a b", "@or @term string a @term string b"),
    ("@term datetime 2024", "@term datetime 2024"),
    ("@not a @set s1", "@not a @set s1"),
    ('@set "my set"', '@set "my set"'),
    ("@prox 0 3 1 2 known 2 a b", "@prox 0 3 1 2 k 2 a b"),
    ("@prox 1 1 0 4 2 8 a b", "@prox 1 1 0 4 p 8 a b"),
    (r"\@and", '"@and"'),
    ('""', '""'),
    (r'"a\tb\nc\x01\x7fd \\ \""', r'"a\tb\nc\x01\x7fd \\ \""'),
    ('"{x}"', '"{x}"'),
    ("été", "été"),
])
def test_format_is_canonical(text, canonical):
    query = parse_pqf(text)
    assert format_pqf(query) == canonical
    assert parse_pqf(canonical) == query


def test_format_of_an_operand_omits_attrset():
    operand = Operation("or", term("a", use(4, EXP1_OID)), ResultSetId("s"))
    assert format_pqf(operand) == "@or @attr Exp-1 1=4 a @set s"
    assert parse_pqf(format_pqf(operand)).root == operand


def _random_operand(rng, depth):
    choice = rng.random()
    if depth < 5 and choice < 0.5:
        op = rng.choice(["and", "or", "and-not", "prox"])
        proximity = None
        if op == "prox":
            proximity = Proximity(rng.random() < 0.5, rng.randint(0, 9), rng.random() < 0.5,
                                  rng.randint(1, 6), rng.choice(["known", "private"]), rng.randint(1, 11))
        return Operation(op, _random_operand(rng, depth + 1), _random_operand(rng, depth + 1), proximity)
    text = rng.choice(["a", "bob dylan", "@x", 'q"uote', "back\\slash", "", "tab\t", "中文", "{b}"])
    if choice < 0.6:
        return ResultSetId(text or "s")
    types = rng.sample(range(1, 10), rng.randint(0, 3))
    attributes = tuple(
        Attribute(t, rng.choice([rng.randint(0, 2000), "title", "dc title", "1,2", "a=b"]),
                  rng.choice([None, None, BIB1_OID, GILS_OID, "1.2.3"]))
        for t in types)
    term_type = rng.choice(["general", "characterString", "oid", "dateTime", "null"])
    return AttributesPlusTerm(attributes, text, term_type)


def test_round_trip_of_random_queries():
    rng = random.Random(3950)
    for _ in range(500):
        query = RPNQuery(rng.choice([BIB1_OID, GILS_OID, "1.2.3.4"]), _random_operand(rng, 0))
        assert parse_pqf(format_pqf(query)) == query


@pytest.mark.parametrize("operand, message", [
    (term("x", use(4), use(1003)), "two attributes of one type"),
    (term("x", use("4")), "string attribute value '4'"),
    (term("x", use("")), "string attribute value ''"),
    (term("x", Attribute(2, -1)), "negative"),
    (term("x", Attribute(-1, 4)), "negative"),
    (term("x", use(4, "gils")), "attribute set 'gils' is not a dotted OID"),
    (term("x", term_type="external"), "no @term for term type 'external'"),
    (Operation("xor", term("a"), term("b")), "no operator for 'xor'"),
    (Operation("prox", term("a"), term("b")), "operation 'prox' with proximity None"),
    (Operation("and", term("a"), term("b"), Proximity()), "operation 'and' with proximity"),
    (Operation("prox", term("a"), term("b"), Proximity(which_code="other")), "which_code 'other'"),
])
def test_format_refuses_what_pqf_cannot_express(operand, message):
    with pytest.raises(ValueError) as caught:
        format_pqf(operand)
    assert message in str(caught.value)


def test_format_refuses_a_bad_query_attribute_set():
    with pytest.raises(ValueError, match="not a dotted OID"):
        format_pqf(RPNQuery("bib-1", term("x")))


def test_format_refuses_a_non_operand():
    with pytest.raises(TypeError, match="not an RPN operand"):
        format_pqf(Operation("and", term("a"), "b"))
