"""bin/make-rendering-dictionaries, which makes the shipped unishelf/marc/dictionaries: the
dictionaries it trains read back what they wrote, and make renderings of records they were not
trained on (the bundled MARC21 sample, not the demo catalogue) smaller than no dictionary does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import zstandard

from unishelf.marc.reading import ReadRecord, read_file
from unishelf.marc.rendered_codec import LEVEL, RenderedCodec
from unishelf.oaipmh.formats import RENDERERS

REPO = Path(__file__).resolve().parent.parent
RECORDS = REPO / "tests" / "data" / "marc21-utf8-sample.mrc"


def test_trained_dictionaries_read_back_and_beat_none(tmp_path):
    subprocess.run([sys.executable, str(REPO / "bin" / "make-rendering-dictionaries"), "--out", str(tmp_path)],
                   capture_output=True, check=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{name}.zdict" for name in RENDERERS)
    trained = RenderedCodec(tmp_path)
    plain = zstandard.ZstdCompressor(level=LEVEL)
    records = [item for item in read_file(RECORDS) if isinstance(item, ReadRecord) and item.kind == "bib"]
    assert len(records) > 100
    for name, renderer in RENDERERS.items():
        renderings = [renderer(item.record, item.syntax).encode("utf-8") for item in records]
        assert [trained.decode(name, trained.encode(name, text)) for text in renderings] == renderings
        dictionary = zstandard.ZstdCompressionDict((tmp_path / f"{name}.zdict").read_bytes())
        with_dictionary = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        assert (sum(len(with_dictionary.compress(text)) for text in renderings)
                < 0.7 * sum(len(plain.compress(text)) for text in renderings)), name
