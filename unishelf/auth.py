"""Users and their passwords: who may search, catalogue, handle ILL or administer.

Passwords are kept only as salted PBKDF2-SHA256 hashes ("pbkdf2_sha256$ITERATIONS$SALT$HASH",
base64), so a leaked config or store gives no passwords away; checks take constant time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "$".join([ALGORITHM, str(iterations), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    try:
        algorithm, iterations, salt, digest = stored.split("$")
        if algorithm != ALGORITHM:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str]
    library: str | None = None  # the member library a cataloguer or ILL staff member works for

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


ANONYMOUS = User("anonymous", frozenset({"searcher"}))


class Users:
    """The users of config and of the store (`unishelf user add`); the store's are read at each
    login, so accounts added or removed take effect without a restart. A name in both is the
    store's."""

    def __init__(self, entries: list[dict], anonymous: bool, store=None):
        self.entries = {e["name"]: e for e in entries}
        self.anonymous = anonymous
        self.store = store

    @classmethod
    def from_config(cls, config, store=None) -> "Users":
        return cls(config["users"], bool(config["access"]["anonymous"]), store)

    def entry(self, name: str) -> dict | None:
        if self.store is not None:
            with self.store.reading() as reader:
                stored = reader.user(name)
            if stored is not None:
                return stored
        return self.entries.get(name)

    def authenticate(self, name: str | None, password: str | None) -> User | None:
        """The user these credentials name; anonymous (no name) only where config allows it."""
        if not name:
            return ANONYMOUS if self.anonymous else None
        entry = self.entry(name)
        if entry is None or not verify_password(password or "", entry.get("password_hash", "")):
            return None
        return User(name, frozenset(entry.get("roles", ["searcher"])), entry.get("library"))


if __name__ == "__main__":
    import getpass
    import sys

    print(hash_password(sys.argv[1] if len(sys.argv) > 1 else getpass.getpass("password: ")))
