"""Shared fixtures: the shipped test data and catalogues loaded into temporary stores."""
from __future__ import annotations

from pathlib import Path

import pytest

from unishelf.app import open_catalog
from unishelf.config import load_config
from unishelf.marc.loader import Loader

DATA = Path(__file__).parent / "data"


def make_catalog(tmp_path: Path, **overrides):
    config = load_config(None, {"data_dir": str(tmp_path), **overrides})
    return open_catalog(config)


def load(catalog, files, library=None, fmt="auto"):
    loader = Loader(catalog.store, catalog.catalogue, batch_size=100, workers=0)
    return loader.load([Path(f) for f in files], fmt, library)


@pytest.fixture
def catalog(tmp_path):
    catalog = make_catalog(tmp_path)
    yield catalog
    catalog.close()


@pytest.fixture(scope="session")
def loaded(tmp_path_factory):
    """One catalogue with the MARC21, CJK, MARC-8, MARCXML and UNIMARC samples, each its own library."""
    catalog = make_catalog(tmp_path_factory.mktemp("loaded"))
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    load(catalog, [DATA / "cjk-sample.mrc"], "EAST")
    load(catalog, [DATA / "marc8-sample.mrc"], "SOUTH")
    load(catalog, [DATA / "marcxml-sample.xml"], "WEST")
    load(catalog, [DATA / "unimarc-sample.mrc"], "CENTRAL", fmt="unimarc")
    yield catalog
    catalog.close()
