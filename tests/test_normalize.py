from unishelf.marc import normalize


def test_fold_removes_case_diacritics_and_compatibility_forms():
    assert normalize.fold("Émile ZOLA") == "emile zola"
    assert normalize.fold("Pe\u0301rez") == "perez"          # decomposed accent, as in LC records
    assert normalize.fold("ＡＢＣ１２３") == "abc123"          # full-width forms (NFKC)
    assert normalize.fold("Straße") == "strasse"              # case folding, not lowercasing


def test_ascii_text_takes_a_shorter_way_to_the_same_keys():
    """fold and field_key skip Unicode folding for ASCII; what they give must not change."""
    samples = ["Smith, John, 1950-", "  Water--Pollution.  ", "snake_case and CamelCase", "a\x00b\tc\x1fd",
               "ISBN 0-262-03293-7 (pbk.)", "", "___", "$1,000 & more!", "".join(map(chr, range(128)))]
    for text in samples:
        assert normalize.fold(text) == normalize._fold_unicode(text)
        assert normalize.field_key(text) == " ".join(normalize._TOKEN.findall(normalize._fold_unicode(text)))


def test_fold_maps_traditional_to_simplified_chinese():
    assert normalize.fold("圖書館") == normalize.fold("图书馆") == "图书馆"


def test_tokens_keep_cjk_runs_and_split_words():
    assert normalize.fold_tokens("Tu shu guan 图书馆学, 2nd ed.") == ["tu", "shu", "guan", "图书馆学", "2nd", "ed"]
    assert normalize.fold_tokens("東京の図書館") == ["东京の図书馆"]


def test_cjk_runs_are_indexed_as_characters_and_pairs():
    assert normalize.index_terms("图书馆") == ["图", "书", "馆", "图书", "书馆"]
    assert normalize.query_terms("图书馆") == ["图书", "书馆"]
    assert normalize.query_terms("书") == ["书"]
    assert normalize.index_terms("water") == ["water"]


def test_phrase_pattern_respects_word_boundaries_but_not_inside_cjk_runs():
    field = normalize.field_key("Water-supply in 中华人民共和国图书馆学会 reports")
    assert normalize.phrase_pattern(["water", "supply"]).search(field)
    assert not normalize.phrase_pattern(["ater", "supply"]).search(field)
    assert normalize.phrase_pattern(["ater", "supply"], left_open=True).search(field)
    assert normalize.phrase_pattern(["图书馆"]).search(field)
    assert normalize.phrase_pattern(["学会", "reports"]).search(field)
    assert not normalize.phrase_pattern(["report"]).search(field)
    assert normalize.phrase_pattern(["report"], right_open=True).search(field)


def test_a_phrase_literal_is_in_every_field_its_pattern_finds():
    field = normalize.field_key("Water-supply in 中华人民共和国图书馆学会 reports")
    for tokens, open_ends in ((["water", "supply"], {}), (["ater", "supply"], {"left_open": True}),
                              (["report"], {"right_open": True})):
        assert normalize.phrase_pattern(tokens, **open_ends).search(field)
        assert normalize.phrase_literal(tokens) in field
    assert normalize.phrase_literal(["学会", "reports"]) is None   # a CJK run may join the next word
    assert normalize.phrase_literal(["gu*r", "music"]) is None


def test_masking_in_phrase_patterns():
    field = "guitar music"
    assert normalize.phrase_pattern(["gu*r"]).search(field)
    assert normalize.phrase_pattern(["g?itar"]).search(field)
    assert not normalize.phrase_pattern(["g?tar"]).search(field)
