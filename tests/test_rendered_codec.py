"""Stored renderings: MARCXML compressed, oai_dc kept as it is, and either form read back."""
import zstandard

from conftest import DATA, load, make_catalog
from unishelf.marc.rendered_codec import DICTIONARIES, ZSTD_MAGIC


def test_oai_dc_is_kept_as_it_is_and_marcxml_compressed(tmp_path):
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    key = (1).to_bytes(4, "big")
    with catalog.store.reading() as reader:
        oai_dc = reader.txn.get(key + b"oai_dc", db=reader.db["rendered"])
        marc21 = reader.txn.get(key + b"marc21", db=reader.db["rendered"])
        assert oai_dc.startswith(b"<oai_dc:dc ") and reader.rendered(1, "oai_dc") == oai_dc
        assert marc21.startswith(ZSTD_MAGIC) and reader.rendered(1, "marc21").startswith(b"<record")
    catalog.close()


def test_a_store_holding_both_forms_reads_both(tmp_path):
    """Stores written before oai_dc was kept as it is hold it compressed; new records add it as is."""
    catalog = make_catalog(tmp_path)
    load(catalog, [DATA / "marc21-utf8-sample.mrc"], "NORTH")
    with catalog.store.reading() as reader:
        expected = [bytes(r) for r in reader.rendered_many([1, 2, 3], "oai_dc")]
    dictionary = zstandard.ZstdCompressionDict((DICTIONARIES / "oai_dc.zdict").read_bytes())
    with catalog.store.writing() as writer:
        writer.put_rendered(2, {"oai_dc": zstandard.ZstdCompressor(dict_data=dictionary).compress(expected[1])})
    with catalog.store.reading() as reader:
        assert reader.txn.get((2).to_bytes(4, "big") + b"oai_dc", db=reader.db["rendered"]).startswith(ZSTD_MAGIC)
        assert [bytes(r) for r in reader.rendered_many([1, 2, 3], "oai_dc")] == expected
        assert [bytes(r) for r in reader.rendered_many([2, 1, 3], "oai_dc")] == [expected[i] for i in (1, 0, 2)]
        assert reader.rendered(2, "oai_dc") == expected[1]
    catalog.close()
