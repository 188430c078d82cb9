"""CQL to the query tree through config/cql.yaml: the trees, every diagnostic, the configuration
checks, and that a query in CQL finds exactly what the same query in PQF (Bib-1) finds."""
from __future__ import annotations

import copy

import pytest
import yaml

from unishelf.config import CONFIG_DIR
from unishelf.marc.access_points import AccessPoints
from unishelf.search.tree import AllRecords, And, Not, Or, Prox, Range, ResultSetRef, Term
from unishelf.sru.cql import CQLError, parse
from unishelf.sru.cql_query import CQLConfigError, CQLMapping
from unishelf.z3950.pqf import parse_pqf


@pytest.fixture(scope="module")
def points():
    return AccessPoints.from_file(CONFIG_DIR / "indexes.yaml")


@pytest.fixture(scope="module")
def data():
    with open(CONFIG_DIR / "cql.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def mapping(data, points):
    return CQLMapping(data, points)


def tree(mapping, text):
    return mapping.to_tree(parse(text).root)


def phrase(index, text, **options):
    return Term(index, text, "=", "phrase", **options)


# --- search clauses to terms --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("fish", phrase("any", "fish")),                                    # cql.serverChoice
    ('"fish food"', phrase("any", "fish food")),
    ("dc.title = fish", phrase("title", "fish")),
    ("DC.TITLE = fish", phrase("title", "fish")),                       # names ignore case
    ("title = fish", phrase("title", "fish")),                          # unprefixed: unishelf set
    ("creator = smith", phrase("author", "smith")),                     # ... then dc
    ("serverChoice = fish", phrase("any", "fish")),                     # ... then cql
    ('> "info:srw/cql-context-set/1/dc-v1.1" creator = x', phrase("author", "x")),
    ('> d = "info:srw/cql-context-set/1/dc-v1.1" d.creator = x', phrase("author", "x")),
    ("unishelf.author-personal = smith", phrase("author-personal", "smith")),
    ("bath.corporateName = unesco", phrase("author-corporate", "unesco")),
    ("dc.title adj \"fish food\"", phrase("title", "fish food")),
    ("dc.title cql.adj x", phrase("title", "x")),
    ("dc.title scr x", phrase("title", "x")),                           # CQL 1.1 names
    ("dc.title exact \"fish food\"", Term("title", "fish food", "=", "field")),
    ("dc.title == \"fish food\"", Term("title", "fish food", "=", "field")),
    ("dc.title =/string \"fish food\"", Term("title", "fish food", "=", "field")),
    ("dc.title all \"fish food\"", Term("title", "fish food", "=", "words")),
    ("dc.title ANY \"fish food\"", Term("title", "fish food", "=", "any-words")),
    ("dc.title any/relevant \"fish food\"", Term("title", "fish food", "=", "any-words", ranked=True)),
    ("dc.title =/relevant/ignoreCase/cql.ignoreAccents/word fish", phrase("title", "fish", ranked=True)),
    ("dc.date < 2000", Term("date", "2000", "<", "word")),
    ("dc.date >= 1990", Term("date", "1990", ">=", "word")),
    ("dc.date within \"1990 2000\"", Range("date", "1990", "2000")),
    ("class-lc within \"QA PZ\"", Range("class-lc", "QA", "PZ")),
    ("bath.isbn = 0-262-03293-7", phrase("isbn", "0-262-03293-7")),
    ("dc.identifier = 0262032937", Or(Or(Or(phrase("isbn", "0262032937"), phrase("issn", "0262032937")),
                                         phrase("lccn", "0262032937")), phrase("oclc", "0262032937"))),
    ("isbn == 0262032937", Term("isbn", "0262032937", "=", "field")),  # a code is whole anyway
    ("cql.resultSetId = \"set 1\"", ResultSetRef("set 1")),
    ("cql.allRecords = 1", AllRecords()),
    ("cql.allRecords > \"\"", AllRecords()),                            # any relation and term
    ("dc.title <> fish", Not(AllRecords(), phrase("title", "fish"))),
    ("cql.allRecords = 1 not dc.title = fish", Not(AllRecords(), phrase("title", "fish"))),
])
def test_clause(mapping, text, expected):
    assert tree(mapping, text) == expected


# --- masking and anchoring ------------------------------------------------------------------------

@pytest.mark.parametrize("term, text, truncation", [
    ("fish*", "fish", "right"),
    ("*fish", "fish", "left"),
    ("*fish*", "fish", "both"),
    ('"fish foo*"', "fish foo", "right"),
    ('"*ish food*"', "ish food", "both"),
    ("f?sh", "f?sh", "masked"),
    ("f*sh", "f*sh", "masked"),
    ("*f?sh", "*f?sh", "masked"),
    ('"fish* food"', "fish* food", "masked"),
    (r"fish\*", "fish ", "none"),                # escaped: a plain (unindexed) character
    (r"f\?sh*", "f sh", "right"),
])
def test_masking(mapping, term, text, truncation):
    assert tree(mapping, f"dc.title = {term}") == phrase("title", text, truncation=truncation)


def test_unmasked_makes_masking_characters_plain(mapping):
    assert tree(mapping, "dc.title =/unmasked \"f*sh^\"") == phrase("title", "f sh^")


def test_masked_is_the_default(mapping):
    assert tree(mapping, "dc.title =/masked fish*") == phrase("title", "fish", truncation="right")


def test_masking_on_codes(mapping):
    assert tree(mapping, "class-lc = QA76*") == phrase("class-lc", "QA76", truncation="right")
    assert tree(mapping, "date = 19?5") == phrase("date", "19?5", truncation="masked")


def test_caret_at_the_start_anchors_to_the_start_of_a_field(mapping):
    assert tree(mapping, 'dc.title = "^fish food"') == phrase("title", "fish food", first_in_field=True)
    assert tree(mapping, "dc.title = ^fish*") == phrase("title", "fish", truncation="right", first_in_field=True)


def test_carets_at_both_ends_are_the_whole_field(mapping):
    assert tree(mapping, 'dc.title = "^fish food^"') == Term("title", "fish food", "=", "field")


def test_caret_at_the_end_anchors_to_the_end_of_a_field(mapping):
    assert tree(mapping, 'dc.title = "fish food^"') == Or(
        Term("title", "fish food", "=", "field"), Term("title", "* fish food", "=", "field", "masked"))
    assert tree(mapping, 'dc.title = "foo*^"') == Or(
        Term("title", "foo", "=", "field", "right"), Term("title", "* foo*", "=", "field", "masked"))
    assert tree(mapping, 'dc.title = "*food^"') == Term("title", "food", "=", "field", "left")


def test_anchors_do_nothing_to_codes(mapping):
    assert tree(mapping, "isbn = ^0262032937^") == phrase("isbn", "0262032937")


def test_all_and_any_with_masking_or_anchors_take_each_word_alone(mapping):
    assert tree(mapping, 'dc.title all "fish* ^food"') == And(
        Term("title", "fish", "=", "word", "right"), Term("title", "food", "=", "word", first_in_field=True))
    assert tree(mapping, 'dc.title any/relevant "f?sh food"') == Or(
        Term("title", "f?sh", "=", "any-words", "masked", ranked=True),
        Term("title", "food", "=", "any-words", ranked=True))


def test_all_and_any_on_codes_take_each_value_alone(mapping):
    assert tree(mapping, 'isbn any "0262032937 0801865964"') == Or(
        Term("isbn", "0262032937", "=", "any-words"), Term("isbn", "0801865964", "=", "any-words"))


# --- booleans and proximity ------------------------------------------------------------------------

def test_booleans(mapping):
    assert tree(mapping, "a and (b or c) not d") == Not(
        And(phrase("any", "a"), Or(phrase("any", "b"), phrase("any", "c"))), phrase("any", "d"))


@pytest.mark.parametrize("modifiers, distance, ordered", [
    ("", 1, False),
    ("/unit=word", 1, False),
    ("/distance<=3", 3, False),
    ("/distance<3", 2, False),
    ("/distance=1/ordered", 1, True),
    ("/cql.distance<=2/unordered/unit=WORD", 2, False),
])
def test_prox(mapping, modifiers, distance, ordered):
    assert tree(mapping, f"title = fish prox{modifiers} title = \"food chain\"") == Prox(
        phrase("title", "fish"), phrase("title", "food chain"), distance, ordered)


# --- diagnostics -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, diagnostic", [
    ("foo.title = x", 15),                              # unknown context set prefix
    ('> dc = "info:nothing" dc.title = x', 15),         # unknown context set URI
    ("title foo.adj x", 15),
    ("title =/foo.relevant x", 15),
    ("title = a prox/foo.distance<=2 title = b", 15),
    ("dc.nothing = x", 16),                             # unknown index
    ("nothing = x", 16),
    ("rec.id < 12", 19),                                # record numbers: =, == or any
    ("rec.id = twelve", 36),
    ("rec.id = \"1 2\"", 36),
    ("title encloses x", 19),                           # unsupported relation
    ("title foo x", 19),
    ("title dc.adj x", 19),                             # relations come from the cql set
    ("title =/fuzzy x", 20),                            # unsupported relation modifiers
    ("title =/respectCase x", 20),
    ("title =/regexp x", 20),
    ("title =/relevant=1 x", 20),
    ("title =/dc.relevant x", 20),
    ("cql.resultSetId =/relevant x", 20),
    ("title =/masked/unmasked x", 21),                  # contradicting modifiers
    ("title any/string x", 21),
    ("title < x", 22),                                  # text has no order
    ("any == x", 22),                                   # any has no whole-field index
    ("dc.identifier within \"1 2\"", 22),
    ("cql.resultSetId <> x", 22),
    ('title = ""', 27),                                 # empty terms
    ('title = "  "', 27),
    ('title = "!!!"', 27),
    ('title = "^"', 27),
    (r'isbn = "\*"', 27),
    ('cql.resultSetId = ""', 27),
    ("date < 19*", 28),                                 # masking with ordering
    ('date within "19?0 2000"', 28),
    ("title = *", 29),                                  # a word of masking characters only
    ('title = "fish *"', 29),
    ("title = ?", 29),
    ("date > ^1990", 31),                               # anchoring with ordering
    ("title = fo^o", 32),                               # ^ inside a term
    ('any = "fish^"', 32),                              # any has no whole field to end
    ("title = fish* prox title = food", 33),
    ("title = ^fish prox title = food", 34),
    ("date < abc", 36),                                 # not a value of the index
    ("date within 1990", 36),
    ('date within "1990 abc"', 36),
    ("title = a prox subject = b", 39),                 # proximity needs one index
    ("(title = a and title = b) prox title = c", 39),
    ("title all \"a b\" prox title = c", 39),
    ("title = a prox/distance>2 title = b", 40),
    ("title = a prox/distance=3 title = b", 40),
    ("title = a prox/distance<=x title = b", 41),
    ("title = a prox/distance<=² title = b", 41),
    ("title = a prox/distance<1 title = b", 41),
    ("title = a prox/distance<=0 title = b", 41),
    ("title = a prox/unit=sentence title = b", 42),
    ("title = a prox/unit title = b", 42),
    ("title = a prox/ordered=1 title = b", 43),
    ("title = a prox/ordered/unordered title = b", 44),
    ("a and/rel.combine=sum b", 46),                    # only prox takes modifiers
    ("a or/x b", 46),
    ("title = a prox/exclusion title = b", 46),
    ("title = a prox/dc.distance<=2 title = b", 46),
])
def test_diagnostics(mapping, text, diagnostic):
    with pytest.raises(CQLError) as raised:
        tree(mapping, text)
    assert raised.value.diagnostic == diagnostic
    assert raised.value.message


# --- sorting ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, keys", [
    ("dc.title", [("title", True)]),
    ("dc.title/sort.descending dc.date/sort.ascending", [("title", False), ("date", True)]),
    ("dc.creator/descending/ignoreCase/sort.ignoreAccents/missingLow", [("author", False)]),
    ("date/ascending", [("date", True)]),
])
def test_sort_keys(mapping, spec, keys):
    assert mapping.sort_keys(parse(f"x sortBy {spec}").sort) == keys


@pytest.mark.parametrize("spec, diagnostic", [
    ("dc.nothing", 16),
    ("foo.title", 15),
    ("dc.subject", 80),                     # not sortable
    ("dc.identifier", 80),
    ("dc.title/sort.locale=fr", 82),
    ("dc.title/sort.unicodeCollation=1", 82),
    ("dc.title/dc.ascending", 82),
    ("dc.title/ascending=1", 82),
    ("dc.title/sort.ascending/sort.descending", 90),
    ("dc.title/respectCase", 91),
    ("dc.title/sort.missingOmit", 92),
    ("dc.title/sort.missingValue=zzz", 92),
])
def test_sort_diagnostics(mapping, spec, diagnostic):
    with pytest.raises(CQLError) as raised:
        mapping.sort_keys(parse(f"x sortBy {spec}").sort)
    assert raised.value.diagnostic == diagnostic


# --- Explain ---------------------------------------------------------------------------------------

def test_context_sets(mapping):
    sets = mapping.context_sets()
    assert sets["dc"] == "info:srw/cql-context-set/1/dc-v1.1"
    assert sets["cql"] == "info:srw/cql-context-set/1/cql-v1.2"


def test_indexes_cover_every_access_point_by_its_own_name(mapping, points):
    indexes = mapping.indexes()
    own = {info.name: info for info in indexes if info.prefix == "unishelf"}
    assert set(own) == set(points.points)
    assert own["title"].points == ("title",) and own["title"].sortable and own["title"].title == "Title"
    assert not own["subject"].sortable
    by_name = {(info.prefix, info.name): info for info in indexes}
    assert by_name[("dc", "identifier")].points == ("isbn", "issn", "lccn", "oclc")
    assert by_name[("rec", "id")].points == ("@record-id",)


# --- configuration checks --------------------------------------------------------------------------

def edited(data, change):
    copied = copy.deepcopy(data)
    change(copied)
    return copied


@pytest.mark.parametrize("change, message", [
    (lambda d: d["indexes"]["dc"].update(title={"point": "titel", "title": "T"}),
     "indexes.dc.title.point: 'titel' is not an access point"),
    (lambda d: d["indexes"]["dc"].update(title={"point": ["title", "@all-records"], "title": "T"}),
     "a special point stands alone"),
    (lambda d: d["indexes"]["dc"].update(title={"point": "title"}), "needs exactly point and title"),
    (lambda d: d["indexes"].update(xyz={"a": {"point": "title", "title": "A"}}), "indexes.xyz"),
    (lambda d: d.pop("indexes"), "indexes: missing"),
    (lambda d: d["context_sets"].update(dc="info:x"), "context_sets.dc: must list"),
    (lambda d: d["context_sets"].pop("sort"), "needs the 'sort' context set"),
    (lambda d: d.update(unprefixed=["nope"]), "unprefixed: 'nope'"),
    (lambda d: d.update(bare_term_index="cql.nothing"), "bare_term_index"),
    (lambda d: d["relations"].update(adj={"relation": "~", "structure": "phrase"}), "relations.adj.relation"),
    (lambda d: d["relations"].update(adj={"relation": "=", "structure": "x"}), "relations.adj.structure"),
    (lambda d: d["relations"].update(adj="phrase"), "relations.adj: must be range"),
    (lambda d: d["relation_aliases"].update(near="nearby"), "relation_aliases.near"),
    (lambda d: d["relations_by_kind"].update(text=["=", "near"]), "relations_by_kind.text: 'near'"),
    (lambda d: d["relations_by_kind"].pop("isbn"), "says nothing of 'isbn'"),
    (lambda d: d["relation_modifiers"].update(fuzzy="maybe"), "relation_modifiers.fuzzy"),
    (lambda d: d["sort_modifiers"].update(ascending="up"), "sort_modifiers.ascending"),
])
def test_configuration_errors_name_the_key(data, points, change, message):
    with pytest.raises(CQLConfigError) as raised:
        CQLMapping(edited(data, change), points, "cql.yaml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("cql.yaml: ")


def test_from_file_reads_the_shipped_mapping(loaded):
    mapping = CQLMapping.from_file(loaded.config.path("cql"), loaded.points)
    assert mapping.to_tree(parse("dc.title = water").root) == phrase("title", "water")


# --- the same query in CQL and in PQF finds the same records -------------------------------------

@pytest.fixture(scope="module")
def shipped(loaded):
    return CQLMapping.from_file(loaded.config.path("cql"), loaded.points)


def cql_result(catalog, mapping, text, databases=("unicat",)):
    return catalog.engine.search(mapping.to_tree(parse(text).root), databases)


def pqf_result(catalog, text, databases=("unicat",)):
    return catalog.engine.search(catalog.bib1.to_tree(parse_pqf(text)), databases)


@pytest.mark.parametrize("cql_text, pqf_text", [
    ("dc.title = history", "@attr 1=4 history"),
    ("history", "@attr 1=1016 history"),
    ('dc.title = "united states"', '@attr 1=4 "united states"'),
    ('dc.creator = "henderson dee"', '@attr 1=1003 @attr 4=1 "henderson dee"'),
    ("bath.personalName = abbott", "@attr 1=1 abbott"),
    ('dc.subject = "indians of north america"', '@attr 1=21 "indians of north america"'),
    ("bath.isbn = 082632262X", "@attr 1=7 082632262X"),
    ("dc.identifier = 0-8263-2262-X", "@attr 1=7 082632262X"),
    ("bath.lccn = 00012079", "@attr 1=9 00012079"),
    ('dc.date within "1990 2000"', "@and @attr 1=31 @attr 2=4 1990 @attr 1=31 @attr 2=2 2000"),
    ("dc.date >= 2000", "@attr 1=31 @attr 2=4 2000"),
    ("dc.title = hist*", "@attr 1=4 @attr 5=1 hist"),
    ("dc.title = *ory", "@attr 1=4 @attr 5=2 ory"),
    ('dc.title = "*quake*"', "@attr 1=4 @attr 5=3 quake"),
    ("dc.title = h?story", '@attr 1=4 @attr 5=104 "h#story"'),
    ('dc.title = "^history"', "@attr 1=4 @attr 3=1 history"),
    ('dc.title == "true devotion"', '@attr 1=4 @attr 4=3 "true devotion"'),
    ('dc.title all "war spanish"', '@attr 1=4 @attr 4=6 "war spanish"'),
    ('dc.title any "earthquakes anecdotes"', "@or @attr 1=4 earthquakes @attr 1=4 anecdotes"),
    ("dc.title = history and dc.subject = history", "@and @attr 1=4 history @attr 1=21 history"),
    ("dc.title = history or dc.title = war", "@or @attr 1=4 history @attr 1=4 war"),
    ("dc.title = history not dc.subject = history", "@not @attr 1=4 history @attr 1=21 history"),
    ("dc.subject = fiction prox/distance<=2 dc.subject = juvenile",
     "@prox 0 2 0 2 k 2 @attr 1=21 fiction @attr 1=21 juvenile"),
    ("dc.subject = juvenile prox/ordered dc.subject = fiction",
     "@prox 0 1 1 2 k 2 @attr 1=21 juvenile @attr 1=21 fiction"),
    ("dc.title = 图书馆", "@attr 1=4 圖書館"),
    ("bath.possessingInstitution = north and dc.language = eng",
     "@and @attr 1=library north @attr 1=54 eng"),
    ("unishelf.class-lc = QA*", "@attr 1=16 @attr 5=1 QA"),
])
def test_cql_and_pqf_find_the_same_records(loaded, shipped, cql_text, pqf_text):
    expected = pqf_result(loaded, pqf_text)
    assert len(expected) > 0
    assert cql_result(loaded, shipped, cql_text).bitmap == expected.bitmap


def test_relevance_ranks_as_pqf_relevance_does(loaded, shipped):
    expected = pqf_result(loaded, '@attr 1=1003 @attr 2=102 "john smith"')
    found = cql_result(loaded, shipped, 'dc.creator any/relevant "john smith"')
    assert len(expected) > 1
    assert found.ids() == expected.ids()


def test_all_records_is_every_record_of_the_databases_searched(loaded, shipped):
    for database in ("unicat", "NORTH", "EAST"):
        assert len(cql_result(loaded, shipped, "cql.allRecords = 1", [database])) == loaded.engine.count(database)


def test_not_equal_is_every_other_record_of_the_databases_searched(loaded, shipped):
    history = pqf_result(loaded, "@attr 1=4 history", ["NORTH"])
    others = cql_result(loaded, shipped, "dc.title <> history", ["NORTH"])
    assert len(history) > 0
    assert others.bitmap == loaded.engine.scope("NORTH") - history.bitmap


def test_result_set_reference(loaded, shipped):
    first = pqf_result(loaded, "@attr 1=4 history")
    found = loaded.engine.search(shipped.to_tree(parse('cql.resultSetId = "s1" and dc.subject = history').root),
                                 result_sets={"s1": first})
    assert found.bitmap == pqf_result(loaded, "@and @attr 1=4 history @attr 1=21 history").bitmap


def test_end_anchored_terms_find_fields_ending_with_them(loaded, shipped):
    words = cql_result(loaded, shipped, "dc.title = history")
    ending = cql_result(loaded, shipped, 'dc.title = "history^"')
    with loaded.store.reading() as reader:
        expected = {r for r in words.bitmap
                    if any(v == "history" or v.endswith(" history") for v in reader.entry(r)["title"])}
    assert expected and set(ending.bitmap) == expected


def test_sort_keys_sort_with_the_engine(loaded, shipped):
    query = parse("dc.date within \"1990 2000\" sortBy dc.date/sort.descending")
    result = loaded.engine.sort(loaded.engine.search(shipped.to_tree(query.root)), shipped.sort_keys(query.sort))
    with loaded.store.reading() as reader:
        years = [reader.entry(r)["date"][0] for r in result.ids()]
    assert years == sorted(years, reverse=True) and years[0] == "2000" and years[-1] == "1990"


def test_rec_id_finds_records_by_their_number(loaded, mapping):
    from unishelf.sru.cql import parse
    with loaded.store.reading() as reader:
        first, second = [c.record_id for c in reader.changes()][:2]
    found = loaded.engine.search(mapping.to_tree(parse(f"rec.id = {first}").root))
    assert list(found.bitmap) == [first]
    found = loaded.engine.search(mapping.to_tree(parse(f'rec.id any "{first} {second} 999999"').root))
    assert sorted(found.bitmap) == sorted([first, second])
