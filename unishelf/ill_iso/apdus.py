"""The ISO 10161-1 ILL APDUs: BER bytes to and from plain Python values (sans-I/O).

`decode_apdu(data)` returns `(apdu_type, value)`: the APDU's ASN.1 type name (one of
`APDU_TYPES`) and a dict keyed by the module's component names, shaped as `asn1.py` describes
(CHOICE as `(alternative, value)`, ENUMERATED by name, ILL-String as str). `encode_apdu` takes
the same pair back; it raises `asn1.EncodeError` for a value that does not fit, and writes every
DEFAULT component out, as YAZ-based peers require. Every malformed input to `decode_apdu`
raises `ILLDecodeError`, which carries the APDU type and transaction id when they could be read,
so the caller can still answer with a Status-Or-Error-Report.

Over TCP the APDUs follow each other with no framing beyond BER itself, and yaz-illclient sends
the outer levels with indefinite lengths; `unishelf.ber.Framer` cuts such a stream once it
accepts APPLICATION-class APDUs (every ILL APDU is `[APPLICATION n]`, first octet 0x61..0x74).
"""
from __future__ import annotations

from datetime import datetime, timezone

from unishelf.ber import APPLICATION, CONTEXT, BERError, Node, decode
from unishelf.ill_iso.asn1 import DecodeError, EncodeError, describe_tag
from unishelf.ill_iso.ill_module import ILL_APDU, ILL_APDU_TYPE

PROTOCOL_VERSION = 2  # ISO 10161-1:1997 with Amendment 1

# The 20 APDU type names in tag order: APDU_TYPES[n - 1] is [APPLICATION n].
APDU_TYPES = tuple(ILL_APDU.alternatives)

# APDU type name -> its ILL-APDU-Type enumeration name, as error and history reports spell it.
APDU_TYPE_ENUMERATION = {
    name: ILL_APDU_TYPE.names[number] for number, name in enumerate(APDU_TYPES, 1)
}


class ILLDecodeError(DecodeError):
    """An APDU that cannot be read.

    `apdu_type` and `transaction_id` are set when they could be read despite the fault;
    `problem` is the General-Problem to report back (unrecognized-APDU or badly-structured-APDU).
    """

    def __init__(self, reason: str, path: list[str] | None = None, *, apdu_type: str | None = None,
                 transaction_id: dict | None = None, problem: str = "badly-structured-APDU"):
        super().__init__(reason, path)
        self.apdu_type = apdu_type
        self.transaction_id = transaction_id
        self.problem = problem

    def __str__(self) -> str:
        where = ".".join(filter(None, [self.apdu_type, *self.path]))
        return f"{where}: {self.reason}" if where else self.reason


def decode_apdu(data: bytes) -> tuple[str, dict]:
    """One whole APDU (as the framer cuts it) to `(apdu_type, value)`."""
    try:
        node = decode(data)
    except BERError as error:
        raise ILLDecodeError(str(error), apdu_type=_apdu_type_from_first_octet(data)) from None
    entry = ILL_APDU.by_tag.get((node.cls, node.number))
    if entry is None:
        raise ILLDecodeError(f"no ILL APDU has the tag {describe_tag(node)}",
                             problem="unrecognized-APDU")
    apdu_type, schema = entry
    try:
        return apdu_type, schema.decode(node)
    except BERError as error:
        path = error.path if isinstance(error, DecodeError) else []
        reason = error.reason if isinstance(error, DecodeError) else str(error)
        raise ILLDecodeError(reason, path, apdu_type=apdu_type,
                             transaction_id=_salvaged_transaction_id(schema, node)) from None


def encode_apdu(apdu_type: str, value: dict) -> bytes:
    """`(apdu_type, value)` to BER with definite lengths and every DEFAULT written out."""
    schema = ILL_APDU.alternatives.get(apdu_type)
    if schema is None:
        raise EncodeError(f"{apdu_type!r} is not one of {', '.join(APDU_TYPES)}")
    try:
        return schema.encode(value)
    except EncodeError as error:
        error.path.insert(0, apdu_type)
        raise


def _apdu_type_from_first_octet(data: bytes) -> str | None:
    if data and data[0] >> 5 == (APPLICATION << 1 | 1) and 1 <= data[0] & 0x1F <= len(APDU_TYPES):
        return APDU_TYPES[(data[0] & 0x1F) - 1]
    return None


def _salvaged_transaction_id(schema, node: Node) -> dict | None:
    """The transaction-id of an APDU that failed elsewhere, so the error report can name it."""
    component = schema.inner.by_tag[(CONTEXT, 1)]
    body = node.children[0] if len(node.children) == 1 else node  # explicit or implicit APDU tag
    for child in body.children:
        if (child.cls, child.number) == (CONTEXT, 1):
            try:
                return component.type.decode(child)
            except BERError:
                return None
    return None


# -- building the common pieces -------------------------------------------------------------
def system_id(symbol: str | None = None, name: str | None = None, *, person: bool = False) -> dict:
    """A System-Id: an institution's (or, with `person`, a person's) symbol and/or name."""
    value = {}
    if symbol is not None:
        alternative = "person-symbol" if person else "institution-symbol"
        value["person-or-institution-symbol"] = (alternative, symbol)
    if name is not None:
        alternative = "name-of-person" if person else "name-of-institution"
        value["name-of-person-or-institution"] = (alternative, name)
    return value


def transaction_id(initial_requester: str, qualifier: str, group_qualifier: str = "",
                   sub_qualifier: str | None = None) -> dict:
    """A Transaction-Id whose initial-requester-id is an institution symbol.

    The whole tuple identifies the transaction; the symbol keeps two requesters' qualifiers apart.
    """
    value = {
        "initial-requester-id": system_id(initial_requester),
        "transaction-group-qualifier": group_qualifier,
        "transaction-qualifier": qualifier,
    }
    if sub_qualifier is not None:
        value["sub-transaction-qualifier"] = sub_qualifier
    return value


def service_date_time(now: datetime | None = None) -> dict:
    """Service-Date-Time for this service, in UTC, always with the time.

    The time is mandatory from the second service of a transaction on one day, so it is never
    left out.
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    this_service = {"date": now.strftime("%Y%m%d"), "time": now.strftime("%H%M%S")}
    return {"date-time-of-this-service": this_service}


def header(transaction: dict, requester_id: dict | None = None, responder_id: dict | None = None,
           now: datetime | None = None) -> dict:
    """The components every APDU begins with, for protocol version 2."""
    value = {
        "protocol-version-num": PROTOCOL_VERSION,
        "transaction-id": transaction,
        "service-date-time": service_date_time(now),
    }
    if requester_id is not None:
        value["requester-id"] = requester_id
    if responder_id is not None:
        value["responder-id"] = responder_id
    return value
