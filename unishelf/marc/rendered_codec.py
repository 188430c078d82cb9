"""How the store compresses the renderings it keeps (MARCXML, oai_dc): Zstandard with a dictionary.

A rendering is a few kilobytes of XML whose tags repeat from record to record, too little for a
compressor to learn them within one record. A dictionary trained on real renderings
(`unishelf/marc/dictionaries/FORMAT.zdict`, made from the demo catalogue by
`bin/make-rendering-dictionaries`) carries them instead: on MARCXML of the 250,000 LC records it
gives smaller records than zlib level 6 (ratio about 6.7 against 4.0) while compressing about
six times and decompressing about three times faster, which is what loading and harvesting
spend their time on. A format without a dictionary is compressed without one.

The dictionaries are part of the store's format (`store.FORMAT`): a new dictionary means stores
are loaded again.
"""
from __future__ import annotations

from pathlib import Path

import zstandard

DICTIONARIES = Path(__file__).with_name("dictionaries")
LEVEL = 3
SHIPPED = ("marc21", "oai_dc", "mods")   # formats whose dictionary is part of the package


class RenderedCodec:
    """Compressors and decompressors per format, made once per process (they are not cheap)."""

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

    def compress(self, name: str, data: bytes) -> bytes:
        if name not in self._compressors:
            self._compressors[name] = zstandard.ZstdCompressor(level=LEVEL, dict_data=self._dictionary(name))
        return self._compressors[name].compress(data)

    def decompress(self, name: str, data: bytes) -> bytes | None:
        """The rendering, or None when the frame cannot be read (the caller renders it again)."""
        try:
            return self._decompressor(name).decompress(data)
        except zstandard.ZstdError:
            return None

    def decompress_many(self, name: str, frames: list[bytes]) -> list:
        """Many renderings in one call (a harvest page): a third of the cost of one call each.
        The results are buffers (bytes-like); one bad frame fails the call, so then each frame
        is read on its own and a bad one is None."""
        if not frames:
            return []
        try:
            return list(self._decompressor(name).multi_decompress_to_buffer(frames))
        except (zstandard.ZstdError, ValueError):
            return [self.decompress(name, frame) for frame in frames]

    def _decompressor(self, name: str) -> zstandard.ZstdDecompressor:
        if name not in self._decompressors:
            self._decompressors[name] = zstandard.ZstdDecompressor(dict_data=self._dictionary(name))
        return self._decompressors[name]


CODEC = RenderedCodec()
