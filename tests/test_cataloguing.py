"""Cooperative cataloguing rules, without a protocol: access, validation, union rules, history."""
from __future__ import annotations

import multiprocessing

import pytest

from conftest import DATA, make_catalog
from unishelf.auth import ANONYMOUS, User
from unishelf.marc.cataloguing import Cataloguing, SuppliedRecord, iso2709_problem
from unishelf.marc.marcxml import record_xml
from unishelf.marc.reading import read_file
from unishelf.marc.record import Field, parse_iso2709, write_iso2709
from unishelf.search.tree import Term

NORTH = User("north", frozenset({"cataloguer"}), "NORTH")
SOUTH = User("south", frozenset({"cataloguer"}), "SOUTH")


def sample(n=0):
    return list(read_file(DATA / "marc21-utf8-sample.mrc"))[n].record


def iso(record) -> SuppliedRecord:
    return SuppliedRecord(write_iso2709(record), "iso2709")


def retitled(record, title):
    record.fields = [f if f.tag != "245" else Field("245", indicators="10", subfields=[("a", title)])
                     for f in record.fields]
    return record


def hits(catalog, index, text):
    return set(catalog.engine.search(Term(index, text)).bitmap)


@pytest.fixture
def cataloguing(tmp_path):
    catalog = make_catalog(tmp_path)
    yield catalog, Cataloguing(catalog)
    catalog.close()


def test_insert_is_searchable_at_once_and_in_the_change_log_and_history(cataloguing):
    catalog, service = cataloguing
    result = service.insert(NORTH, "unicat", iso(retitled(sample(), "Zyxwvut cooperative")))
    assert result.ok and result.outcome == "created"
    assert hits(catalog, "title", "zyxwvut") == {result.record_id}
    assert hits(catalog, "library", "NORTH") == {result.record_id}
    with catalog.store.reading() as reader:
        [change] = reader.changes()
        [entry] = reader.history(result.record_id)
    assert change.record_id == result.record_id
    assert (entry["user"], entry["action"], entry["before"]) == ("north", "insert", None)


def test_marcxml_records_are_accepted(cataloguing):
    catalog, service = cataloguing
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n' + record_xml(retitled(sample(1), "Qwertyuiop xml"))).encode()
    result = service.insert(NORTH, "NORTH", SuppliedRecord(xml, "marcxml"))
    assert result.ok and hits(catalog, "title", "qwertyuiop") == {result.record_id}


def test_a_matching_insert_attaches_holdings_or_is_refused_as_config_says(cataloguing, tmp_path):
    catalog, service = cataloguing
    first = service.insert(NORTH, "unicat", iso(sample()))
    second = service.insert(SOUTH, "unicat", iso(sample()))
    assert second.ok and second.record_id == first.record_id and second.outcome == "attached"
    assert hits(catalog, "library", "SOUTH") == {first.record_id}
    strict = make_catalog(tmp_path / "strict", **{"cataloguing.on_duplicate": "refuse"})
    try:
        strict_service = Cataloguing(strict)
        created = strict_service.insert(NORTH, "unicat", iso(sample()))
        duplicate = strict_service.insert(SOUTH, "unicat", iso(sample()))
        assert not duplicate.ok and duplicate.diagnostic == 224 and str(created.record_id) in duplicate.message
    finally:
        strict.close()


@pytest.mark.parametrize("mangle, problem", [
    (lambda raw: raw[:-10], "the leader gives a length"),
    (lambda raw: raw[:10] + b"33" + raw[12:], "leader/10-11"),
    (lambda raw: raw[:12] + b"00031" + raw[17:], "base address"),
    (lambda raw: raw[:20] + b"9999" + raw[24:], "leader/20-23"),
    (lambda raw: raw[:-1] + b"x", "terminator"),
    (lambda raw: b"nonsense", "shorter than"),
])
def test_malformed_records_are_refused_and_nothing_is_written(cataloguing, mangle, problem):
    catalog, service = cataloguing
    result = service.insert(NORTH, "unicat", SuppliedRecord(mangle(write_iso2709(sample())), "iso2709"))
    assert not result.ok and result.diagnostic == 224 and problem in result.message
    with catalog.store.reading() as reader:
        assert reader.counter("seq") == 0


def test_required_fields_record_type_and_xml_are_checked(cataloguing):
    catalog, service = cataloguing
    record = sample()
    record.fields = [f for f in record.fields if f.tag != "245"]
    assert "field 245 is required" in service.insert(NORTH, "unicat", iso(record)).message
    assert "not well-formed" in service.insert(NORTH, "unicat", SuppliedRecord(b"<record><leader>", "marcxml")).message
    record = sample()
    record.leader = record.leader[:6] + "z" + record.leader[7:]
    assert "authority record cannot go into unicat" in service.insert(NORTH, "unicat", iso(record)).message
    assert service.insert(NORTH, "unicat", SuppliedRecord()).diagnostic == 1008
    assert iso2709_problem(write_iso2709(sample())) is None


@pytest.mark.parametrize("user, database, diagnostic", [
    (None, "unicat", 222),
    (ANONYMOUS, "unicat", 222),
    (User("reader", frozenset({"searcher"}), "NORTH"), "unicat", 222),
    (NORTH, "SOUTH", 222),
    (User("nolib", frozenset({"cataloguer"})), "unicat", 222),
    (NORTH, "nowhere", 235),
])
def test_only_cataloguers_change_their_databases(cataloguing, user, database, diagnostic):
    _, service = cataloguing
    result = service.insert(user, database, iso(sample()))
    assert not result.ok and result.diagnostic == diagnostic


def test_admins_may_change_any_library_view(cataloguing):
    _, service = cataloguing
    admin = User("root", frozenset({"admin"}), "CENTRAL")
    assert service.insert(admin, "SOUTH", iso(sample())).ok


def test_replace_keeps_other_libraries_holdings_and_refuses_stale_versions(cataloguing):
    catalog, service = cataloguing
    created = service.insert(NORTH, "unicat", iso(sample()))
    service.insert(SOUTH, "unicat", iso(sample()))
    with catalog.store.reading() as reader:
        version = str(reader.record(created.record_id).seq)
    new = SuppliedRecord(write_iso2709(retitled(sample(), "Plmokn revised")), record_id=str(created.record_id),
                         version=version)
    assert service.replace(NORTH, "unicat", new).ok
    assert hits(catalog, "title", "plmokn") == {created.record_id}
    assert created.record_id in hits(catalog, "library", "SOUTH")
    stale = service.replace(SOUTH, "unicat", new)            # based on the version before NORTH's
    assert not stale.ok and "changed" in stale.message
    with catalog.store.reading() as reader:
        history = reader.history(created.record_id)
    assert [h["action"] for h in history] == ["insert", "insert", "replace"]
    assert history[-1]["before"] != history[-1]["after"] and history[-1]["user"] == "north"
    missing = service.replace(NORTH, "unicat", SuppliedRecord(new.data, record_id="99999"))
    assert not missing.ok and "no record 99999" in missing.message
    by_control_number = service.replace(NORTH, "unicat", SuppliedRecord(new.data))   # found by its 001/003
    assert by_control_number.ok and by_control_number.record_id == created.record_id
    assert service.delete(NORTH, "unicat", SuppliedRecord()).diagnostic == 1008


def test_libraries_delete_their_holdings_and_records_nobody_else_holds(cataloguing):
    catalog, service = cataloguing
    shared = service.insert(NORTH, "unicat", iso(sample())).record_id
    service.insert(SOUTH, "unicat", iso(sample()))
    only_south = service.insert(SOUTH, "unicat", iso(sample(2))).record_id
    refused = service.delete(NORTH, "unicat", SuppliedRecord(record_id=str(only_south)))
    assert not refused.ok and refused.diagnostic == 223 and "SOUTH" in refused.message
    removed = service.delete(NORTH, "unicat", SuppliedRecord(record_id=str(shared)))
    assert removed.ok and removed.outcome == "holdings-removed"
    assert shared not in hits(catalog, "library", "NORTH") and shared in hits(catalog, "library", "SOUTH")
    deleted = service.delete(SOUTH, "unicat", SuppliedRecord(record_id=str(shared)))
    assert deleted.ok and deleted.outcome == "deleted"
    with catalog.store.reading() as reader:
        assert reader.record(shared).deleted
        assert [c.deleted for c in reader.changes() if c.record_id == shared] == [True]
    again = service.delete(SOUTH, "unicat", SuppliedRecord(record_id=str(shared)))
    assert not again.ok and again.diagnostic == 1028


def test_special_update_replaces_a_named_record_or_inserts(cataloguing):
    catalog, service = cataloguing
    created = service.upsert(NORTH, "unicat", iso(sample()))
    assert created.ok and created.outcome == "created"
    replaced = service.upsert(NORTH, "unicat", SuppliedRecord(write_iso2709(retitled(sample(), "Asdfgh")),
                                                              record_id=str(created.record_id)))
    assert replaced.ok and replaced.outcome == "replaced" and replaced.record_id == created.record_id


def _replace_many(data_dir, record_id, worker):
    catalog = make_catalog(data_dir)
    service = Cataloguing(catalog)
    results = []
    for round_ in range(10):
        record = retitled(sample(), f"Concurrent c{worker}x{round_}")
        results.append(service.replace(NORTH, "unicat", SuppliedRecord(write_iso2709(record),
                                                                       record_id=str(record_id))).ok)
        results.append(service.upsert(NORTH, "unicat", iso(retitled(sample(3 + worker), f"Fresh f{worker}x{round_}"))).ok)
    catalog.close()
    return results


def test_concurrent_updates_from_several_processes_lose_nothing(cataloguing, tmp_path):
    catalog, service = cataloguing
    record_id = service.insert(NORTH, "unicat", iso(sample())).record_id
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        outcomes = pool.starmap(_replace_many, [(tmp_path, record_id, w) for w in range(4)])
    assert all(all(o) for o in outcomes)
    with catalog.store.reading() as reader:
        history = reader.history(record_id)
        final = reader.record(record_id)
    assert len([h for h in history if h["action"] == "replace"]) == 40
    assert history[-1]["after"] == final.raw
    title_words = hits(catalog, "title", "concurrent")
    assert title_words == {record_id}                 # the index follows the last version only
    last = parse_iso2709(final.raw).first("245").get("a")
    assert hits(catalog, "title", last.split()[1].lower()) == {record_id}


def test_history_command_lists_who_changed_what(cataloguing, tmp_path):
    import subprocess
    import sys

    from conftest import REPO
    catalog, service = cataloguing
    record_id = service.insert(NORTH, "unicat", iso(sample())).record_id
    service.replace(SOUTH, "unicat", SuppliedRecord(write_iso2709(retitled(sample(), "Changed")), record_id=str(record_id)))
    service.delete(NORTH, "unicat", SuppliedRecord(record_id=str(record_id)))
    result = subprocess.run([sys.executable, "-m", "unishelf.cli", "--data-dir", str(tmp_path), "history",
                             str(record_id)], capture_output=True, text=True, cwd=REPO)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and "deleted since" in lines[0]
    assert "north (NORTH)" in lines[1] and "insert" in lines[1] and "+245" in lines[1]
    assert "south (SOUTH)" in lines[2] and "replace" in lines[2] and "~245" in lines[2]
    assert "record deleted" in lines[3]


def test_an_insert_never_overwrites_a_record_with_the_same_control_number(cataloguing):
    catalog, service = cataloguing
    record_id = service.insert(NORTH, "unicat", iso(sample())).record_id
    edited = write_iso2709(retitled(sample(), "Edited elsewhere"))
    assert service.replace(SOUTH, "unicat", SuppliedRecord(edited, record_id=str(record_id))).ok
    again = service.insert(NORTH, "unicat", iso(retitled(sample(), "An old copy")))
    assert not again.ok and "change it with replace" in again.message
    with catalog.store.reading() as reader:
        assert reader.record(record_id).raw == edited
        assert [entry["action"] for entry in reader.history(record_id)] == ["insert", "replace"]


def test_an_unchanged_insert_keeps_the_history_as_it_was(cataloguing):
    catalog, service = cataloguing
    record_id = service.insert(NORTH, "unicat", iso(sample())).record_id
    assert service.insert(NORTH, "unicat", iso(sample())).outcome == "unchanged"
    with catalog.store.reading() as reader:
        assert [entry["action"] for entry in reader.history(record_id)] == ["insert"]


def test_a_record_number_out_of_range_is_refused_not_a_crash(cataloguing):
    _, service = cataloguing
    result = service.replace(NORTH, "unicat", SuppliedRecord(iso(sample()).data, record_id="4294967296"))
    assert not result.ok


def test_a_datestamp_that_names_more_than_one_version_is_refused(cataloguing):
    catalog, service = cataloguing
    record_id = service.insert(NORTH, "unicat", iso(sample())).record_id
    with catalog.store.reading() as reader:
        seen = reader.record(record_id).datestamp    # what both cataloguers fetched
    first = service.replace(NORTH, "unicat", SuppliedRecord(write_iso2709(retitled(sample(), "First edit")),
                                                             record_id=str(record_id), version=seen))
    with catalog.store.reading() as reader:
        same_second = reader.record(record_id).datestamp == seen
    second = service.replace(SOUTH, "unicat", SuppliedRecord(write_iso2709(retitled(sample(), "Second edit")),
                                                              record_id=str(record_id), version=seen))
    assert first.ok and not second.ok
    assert ("changed more than once" if same_second else "changed") in second.message
