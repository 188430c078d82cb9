"""Resumption tokens that need no state on the server (OAI-PMH 2.0 section 3.5).

A token carries the original request and the change sequence of the last item sent. The next
page continues after that sequence in the change log, so any process, or a restarted server,
can answer it. A record that stays unchanged keeps its sequence and is neither skipped nor sent
twice; a record that changes during the harvest moves to the end of the log and comes again
there, with its new datestamp. A checksum catches tokens that were cut or mistyped; the
expiry time is inside the token. Tokens use only URL-safe characters.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, fields

_DIGEST_BYTES = 6
_PERSON = b"unishelf-oai-1"


class BadToken(ValueError):
    pass


@dataclass(frozen=True)
class ResumptionToken:
    verb: str
    metadata_prefix: str
    set_spec: str | None
    start: str | None          # from, as the harvester gave it
    end: str | None            # until, as the harvester gave it
    after_seq: int             # the change sequence of the last item sent
    cursor: int                # items sent before the page this token asks for
    complete_size: int
    expires: int               # Unix time

    def _well_formed(self) -> bool:
        texts = (self.verb, self.metadata_prefix)
        optional = (self.set_spec, self.start, self.end)
        numbers = (self.after_seq, self.cursor, self.complete_size, self.expires)
        return (all(isinstance(text, str) for text in texts)
                and all(text is None or isinstance(text, str) for text in optional)
                and all(type(number) is int and 0 <= number < 1 << 63 for number in numbers))

    def encode(self) -> str:
        values = [getattr(self, field.name) for field in fields(self)]   # astuple's deep copy costs more
        body = json.dumps(values, separators=(",", ":")).encode()
        digest = hashlib.blake2b(body, digest_size=_DIGEST_BYTES, person=_PERSON).digest()
        return base64.urlsafe_b64encode(digest + body).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str, verb: str, now: int) -> "ResumptionToken":
        """The token, or BadToken if it is not one of ours, is for another verb or has expired."""
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise BadToken("the resumptionToken is not one this repository issued") from None
        digest, body = data[:_DIGEST_BYTES], data[_DIGEST_BYTES:]
        if hashlib.blake2b(body, digest_size=_DIGEST_BYTES, person=_PERSON).digest() != digest:
            raise BadToken("the resumptionToken is not one this repository issued")
        try:
            token = cls(*json.loads(body))
        except (ValueError, TypeError):
            raise BadToken("the resumptionToken is not one this repository issued") from None
        if not token._well_formed():   # the checksum is public: a made-up token can pass it
            raise BadToken("the resumptionToken is not one this repository issued")
        if token.verb != verb:
            raise BadToken(f"the resumptionToken belongs to {token.verb}, not {verb}")
        if token.expires < now:
            raise BadToken("the resumptionToken has expired")
        return token
