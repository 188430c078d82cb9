"""Real clients' APDUs, damaged at random: the Z39.50 association and the ILL connection answer
each with a response, a diagnostic, a Close or an ILL error report, and never fail inside.

Each server has a catch-all that turns a failure into a Close or an error report and logs it;
these tests count what it logged, so a bug that a damaged APDU reaches fails them even though
the peer was answered. The damage is seeded, so a failure reproduces.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from conftest import DATA
from test_ill_node import served

from unishelf.auth import Users, hash_password
from unishelf.ber import decode, encode
from unishelf.ill_iso.apdus import decode_apdu as decode_ill_apdu
from unishelf.ill_iso.connection import Connection
from unishelf.z3950 import apdu as z
from unishelf.z3950.association import Association, Limits

CASES = 2000
USERS = [{"name": "cat", "password_hash": hash_password("secret", iterations=1000),
          "roles": ["cataloguer", "ill-staff"]}]


def captures(directory: str, pattern: str) -> dict[str, bytes]:
    return {path.stem: bytes.fromhex(path.read_text()) for path in sorted((DATA / directory).glob(pattern))}


def damaged(data: bytes, rng: random.Random) -> bytes:
    """`data` with one to four bytes changed, bits flipped, bytes inserted, cut or repeated."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        damage = rng.randrange(5)
        if damage == 0:
            data[at] = rng.randrange(256)
        elif damage == 1:
            data[at] ^= 1 << rng.randrange(8)
        elif damage == 2:
            data[at:at] = bytes([rng.randrange(256)])
        elif damage == 3:
            del data[at:at + rng.randint(1, 4)]
        else:
            start = rng.randrange(len(data))
            data[at:at] = data[start:start + rng.randint(1, 8)]
    return bytes(data)


# Values worth trying in a primitive: empty, zero, negative, huge, one odd byte, a bad OID.
VALUES = [b"", b"\x00", b"\xff", b"\x7f\xff\xff\xff", b"\x80" + bytes(8), b"\x01" * 9, b"\x80", b"*", b"\xc3"]


def revalued(data: bytes, rng: random.Random) -> bytes:
    """`data` still well-formed BER, with one to three primitive values replaced: most damage to
    the bytes breaks the framing, so this is what reaches the decoders of fields and handlers."""
    root = decode(data)
    primitives, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.constructed:
            stack.extend(node.children)
        else:
            primitives.append(node)
    for node in rng.sample(primitives, min(len(primitives), rng.randint(1, 3))):
        node.value = rng.choice(VALUES) if rng.random() < 0.7 else bytes(
            rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return encode(root)


def harmed(data: bytes, rng: random.Random) -> bytes:
    return damaged(data, rng) if rng.random() < 0.5 else revalued(data, rng)


def failures(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def test_damaged_z3950_requests_are_answered_without_failing(loaded, caplog):
    requests = captures("z3950", "*-request*.hex")
    init, search = requests.pop("init-request"), requests["search-request"]
    names = sorted(requests)
    rng = random.Random(2100)
    answered = set()
    caplog.set_level(logging.ERROR, logger="unishelf")
    for _ in range(CASES):
        name = rng.choice(names)
        association = Association(loaded, Users(USERS, True), Limits())
        association.receive(init + search)
        replies = association.receive(harmed(requests[name], rng))
        if association.write_waiting is not None:
            replies += association.answer_write()
        replies += association.receive(search)   # still answered, unless the damage closed it
        answered.update(type(z.decode_apdu(reply)).__name__ for reply in replies)
        assert not failures(caplog), name
    assert {"Close", "SearchResponse", "PresentResponse", "ScanResponse", "SortResponse",
            "ExtendedServicesResponse"} <= answered


def test_damaged_ill_requests_get_status_or_error_reports(tmp_path, caplog):
    node = served(tmp_path, ["UNICAT", "CENTRAL"])
    requests = captures("ill", "*.hex")
    names = sorted(requests)
    rng = random.Random(4990)
    caplog.set_level(logging.ERROR, logger="unishelf")
    for _ in range(CASES):
        name = rng.choice(names)
        connection = Connection(node.receive, 1 << 20)
        replies = connection.receive(harmed(requests[name], rng)) + connection.end()
        assert replies and all(decode_ill_apdu(reply)[0] == "Status-Or-Error-Report" for reply in replies), name
        assert not failures(caplog), name
    node.store.close()
