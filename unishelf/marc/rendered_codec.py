"""How the store keeps the renderings (MARCXML, oai_dc, MODS): Zstandard with a dictionary, or as they are.

A rendering is a few kilobytes of XML whose tags repeat from record to record, too little for a
compressor to learn them within one record. A dictionary trained on real renderings
(`unishelf/marc/dictionaries/FORMAT.zdict`, made from the demo catalogue by
`bin/make-rendering-dictionaries`) carries them instead: on MARCXML of the 250,000 LC records it
gives smaller records than zlib level 6 (ratio about 6.7 against 4.0) while compressing about
six times and decompressing about three times faster, which is what loading and harvesting
spend their time on. A format without a dictionary is compressed without one.

The dictionaries are part of the store's format (`store.FORMAT`): a new dictionary means stores
are loaded again.

oai_dc is kept as it is (`KEPT_AS_IS`). Its renderings are short (about 1.1 KB on the LC
records, 1% over LMDB's 2 KB inline limit), so uncompressed they cost 0.85 KB a record more, and
decompressing them was a fifth of the server's work in an oai_dc harvest (1.5 µs a record of
8). A value is told by its first bytes: a Zstandard frame starts with `ZSTD_MAGIC`, a rendering
with "<", so a store holds either form of any format and either reads.
"""
from __future__ import annotations

from pathlib import Path

import zstandard

DICTIONARIES = Path(__file__).with_name("dictionaries")
LEVEL = 3
SHIPPED = ("marc21", "oai_dc", "mods")   # formats whose dictionary is part of the package
KEPT_AS_IS = ("oai_dc",)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class RenderedCodec:
    """A rendering's stored value and back, with compressors and decompressors per format made
    once per process (they are not cheap)."""

    def __init__(self, directory: Path = DICTIONARIES):
        self.directory = directory
        self._compressors: dict[str, zstandard.ZstdCompressor] = {}
        self._decompressors: dict[str, zstandard.ZstdDecompressor] = {}

    def _dictionary(self, name: str) -> zstandard.ZstdCompressionDict | None:
        """The format's dictionary; a prerendered format ships one, and a missing file is an
        installation fault that would make stored renderings unreadable, so it is not ignored."""
        path = self.directory / f"{name}.zdict"
        if path.exists():
            return zstandard.ZstdCompressionDict(path.read_bytes())
        if name in SHIPPED:
            raise FileNotFoundError(f"{path}: the {name} dictionary is missing from this installation")
        return None

    def encode(self, name: str, rendering: bytes) -> bytes:
        """The value the store keeps for a rendering in format `name`."""
        if name in KEPT_AS_IS:
            return rendering
        if name not in self._compressors:
            self._compressors[name] = zstandard.ZstdCompressor(level=LEVEL, dict_data=self._dictionary(name))
        return self._compressors[name].compress(rendering)

    def decode(self, name: str, value: bytes) -> bytes | None:
        """The rendering, or None when the frame cannot be read (the caller renders it again)."""
        if not value.startswith(ZSTD_MAGIC):
            return value
        try:
            return self._decompressor(name).decompress(value)
        except zstandard.ZstdError:
            return None

    def decode_many(self, name: str, values: list[bytes]) -> list:
        """Many renderings in one call (a harvest page): for frames, a third of the cost of one
        call each. The results are bytes-like; one bad frame fails the call, so then each value
        is read on its own and a bad one is None."""
        if not values:
            return []
        if values[0].startswith(ZSTD_MAGIC):   # a compressed format: frames throughout, as a rule
            try:
                return list(self._decompressor(name).multi_decompress_to_buffer(values))
            except (zstandard.ZstdError, ValueError):   # a bad frame, or some values kept as they are
                return [self.decode(name, value) for value in values]
        if any(value.startswith(ZSTD_MAGIC) for value in values):
            return [self.decode(name, value) for value in values]
        return values

    def _decompressor(self, name: str) -> zstandard.ZstdDecompressor:
        if name not in self._decompressors:
            self._decompressors[name] = zstandard.ZstdDecompressor(dict_data=self._dictionary(name))
        return self._decompressors[name]


CODEC = RenderedCodec()
