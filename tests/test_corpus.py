"""Every file of the shared corpus (../shared/corpus, present in CI) loads: every record pymarc can
parse is stored (or merged into the record it matches) and every other one is reported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import make_catalog
from unishelf.marc.loader import Loader

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not (CORPUS / "expected.json").exists(),
                                reason=f"the shared corpus is not at {CORPUS}")


def corpus_files():
    expected = json.loads((CORPUS / "expected.json").read_text()) if CORPUS.exists() else {}
    return sorted(expected.items())


def test_every_corpus_file_loads_and_accounts_for_every_record(tmp_path):
    catalog = make_catalog(tmp_path)
    loader = Loader(catalog.store, catalog.catalogue, batch_size=5000, workers=2)
    try:
        for name, expected in corpus_files():
            fmt = "unimarc" if name.startswith("unimarc") else "auto"
            report = loader.load([CORPUS / name], fmt, Path(name).stem.upper().replace("-", "_"))
            # a holdings record whose bibliographic record is in no file loaded so far is parsable
            # but has nothing to attach to: it is reported and kept in the rejects file instead
            orphans = sum(1 for _, _, reason in report.rejects if reason.startswith("holdings record"))
            kept = report.read - report.counts["rejected"]
            assert kept + orphans >= expected["records"], name
            assert report.counts["rejected"] - orphans <= expected["parse_errors"] + 1, name  # +1: junk at the end
            assert len(report.rejects) == report.counts["rejected"], name
            assert all(reason for _, _, reason in report.rejects), name
        assert catalog.engine.count("unicat") > 25000  # fewer than read: libraries share records
        assert catalog.engine.count("authorities") == 6066 + 1804
    finally:
        catalog.close()
