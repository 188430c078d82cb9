"""HTTP response compression for OAI-PMH and SRU: only when the client asks (OAI-PMH 2.0 3.1.3)."""
from __future__ import annotations

import zlib

# Content-Encoding -> zlib wbits (OAI-PMH 2.0 section 3.1.3: only when the harvester asks)
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def chosen_encoding(accept_encoding: str) -> str | None:
    """The first of gzip, deflate that Accept-Encoding allows (q=0 refuses), or None."""
    offered = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        offered[name.strip()] = quality
    for name in ENCODINGS:
        if offered.get(name, 0) > 0:
            return name
    return None
