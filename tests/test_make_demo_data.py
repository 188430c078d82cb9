"""The demo catalogue (data/demo) and the record fixtures (tests/data) are what bin/make-demo-data
makes from the shared corpus (../shared/corpus, present in CI), byte for byte: the records shipped
are the licensed ones its PROVENANCE.md names, and the script can make them again."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not (CORPUS / "sources.tsv").exists(),
                                reason=f"the shared corpus is not at {CORPUS}")
# Written by hand after the script's part: the fixtures it does not make (schemas, SRU, Z39.50, ILL).
PROVENANCE = Path("tests", "data", "PROVENANCE.md")


def test_the_shipped_demo_and_fixtures_are_what_the_script_makes(tmp_path):
    subprocess.run([sys.executable, str(REPO / "bin" / "make-demo-data"), str(CORPUS), "--out", str(tmp_path)],
                   capture_output=True, check=True)
    made = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    assert Path("data", "demo", "CENTRAL.mrc") in made and Path("tests", "data", "marc8-sample.mrc") in made
    for path in made:
        if path == PROVENANCE:
            assert (REPO / path).read_text().startswith((tmp_path / path).read_text())
        else:
            assert (REPO / path).read_bytes() == (tmp_path / path).read_bytes(), path
