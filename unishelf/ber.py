"""A small, sans-I/O BER codec (ITU-T X.690) shared by the Z39.50 and ISO 10161 ILL APDUs.

Decoding yields a light tree of `Node`s whose primitive contents stay raw bytes until a field is
read, so a decoder pays only for what the APDU layer asks for. Encoding is a handful of functions
that return bytes and always use definite lengths; YAZ and every other peer accept those, while
decoding also takes the (nested) indefinite lengths that YAZ sends. `Framer` cuts a TCP byte
stream into whole top-level APDUs. Every malformed input raises `BERError` and nothing else, so
the server can answer any peer error with one `except`.
"""
from __future__ import annotations

from dataclasses import dataclass

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3

# Universal tag numbers used by Z39.50 and ILL.
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OBJECT_IDENTIFIER = 1, 2, 3, 4, 5, 6
EXTERNAL, ENUMERATED, SEQUENCE = 8, 10, 16
VISIBLE_STRING, GENERALIZED_TIME, GENERAL_STRING = 26, 24, 27

MAX_DEPTH = 256  # a query ORing 250 terms (an ILS checking a batch of ISBNs) nests that deep; stops hostile nesting well before Python's recursion limit


class BERError(ValueError):
    """Malformed, truncated or oversized BER input."""


class TruncatedError(BERError):
    """The input ends inside an element: fatal for a whole APDU, "wait for more" for a stream."""


class Node:
    """One decoded TLV: primitive nodes keep `value` bytes, constructed ones keep `children`."""

    __slots__ = ("cls", "constructed", "number", "value", "children")

    def __init__(self, cls: int, constructed: bool, number: int,
                 value: bytes = b"", children: list[Node] | None = None):
        self.cls = cls
        self.constructed = constructed
        self.number = number
        self.value = value
        self.children = children if children is not None else []

    @property
    def tag(self) -> tuple[int, int]:
        return (self.cls, self.number)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return (self.cls, self.constructed, self.number, self.value, self.children) == (
            other.cls, other.constructed, other.number, other.value, other.children)

    def __repr__(self) -> str:
        body = repr(self.children) if self.constructed else self.value.hex()
        return f"Node({'UACP'[self.cls]}{self.number}{'*' if self.constructed else ''} {body})"

    # -- reading fields -------------------------------------------------------------------
    def fields(self) -> dict[tuple[int, int], Node]:
        """Children by tag: how a SEQUENCE with OPTIONAL components is read (their tags differ)."""
        return {(child.cls, child.number): child for child in self._constructed().children}

    def only_child(self) -> Node:
        """The content of an EXPLICIT tag or the chosen alternative of a tagged CHOICE."""
        children = self._constructed().children
        if len(children) != 1:
            raise BERError(f"expected one element inside {self!r}, found {len(children)}")
        return children[0]

    def octets(self) -> bytes:
        """String content; BER lets a sender split a string into constructed segments."""
        if not self.constructed:
            return self.value
        return b"".join(child.octets() for child in self.children)

    def text(self) -> str:
        """InternationalString content: UTF-8, or Latin-1 from peers that never negotiated."""
        data = self.octets()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")

    def integer(self) -> int:
        value = self._primitive()
        if not value:
            raise BERError("empty INTEGER")
        if len(value) > 8:   # no protocol field needs more, and a 5,000-digit one breaks str()
            raise BERError(f"INTEGER of {len(value)} octets")
        return int.from_bytes(value, "big", signed=True)

    def boolean(self) -> bool:
        value = self._primitive()
        if len(value) != 1:
            raise BERError("BOOLEAN must be one octet")
        return value != b"\x00"

    def null(self) -> None:
        if self._primitive():
            raise BERError("NULL with content")

    def oid(self) -> str:
        return decode_oid(self._primitive())

    def bits(self) -> tuple[bool, ...]:
        """BIT STRING content as one flag per bit, bit 0 first (the Z39.50 Options order)."""
        value = self._primitive()
        if not value or value[0] > 7 or (len(value) == 1 and value[0]):
            raise BERError("bad BIT STRING")
        total = (len(value) - 1) * 8 - value[0]
        return tuple(bool(value[1 + i // 8] & (0x80 >> (i % 8))) for i in range(total))

    def _primitive(self) -> bytes:
        if self.constructed:
            raise BERError(f"expected a primitive element, got {self!r}")
        return self.value

    def _constructed(self) -> Node:
        if not self.constructed:
            raise BERError(f"expected a constructed element, got {self!r}")
        return self


# -- decoding -------------------------------------------------------------------------------
def _read_header(data: bytes, pos: int, end: int) -> tuple[int, bool, int, int, int]:
    """(class, constructed, number, length or -1 for indefinite, content start)."""
    if pos >= end:
        raise TruncatedError("truncated: missing tag")
    first = data[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        for _ in range(5):
            if pos >= end:
                raise TruncatedError("truncated: high tag number")
            byte = data[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise BERError("tag number too large")
    if pos >= end:
        raise TruncatedError("truncated: missing length")
    length = data[pos]
    pos += 1
    if length == 0x80:
        if not first & 0x20:
            raise BERError("indefinite length on a primitive element")
        length = -1
    elif length & 0x80:
        size = length & 0x7F
        if size > 4:
            raise BERError("length field too long")
        if pos + size > end:
            raise TruncatedError("truncated: length field")
        length = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    return first >> 6, bool(first & 0x20), number, length, pos


def _decode_at(data: bytes, pos: int, end: int, depth: int) -> tuple[Node, int]:
    cls, constructed, number, length, pos = _read_header(data, pos, end)
    if length >= 0:
        stop = pos + length
        if stop > end:
            raise TruncatedError("truncated: content shorter than its length")
        if not constructed:
            return Node(cls, False, number, data[pos:stop]), stop
    if depth >= MAX_DEPTH:
        raise BERError("elements nested too deeply")
    children = []
    if length >= 0:
        while pos < stop:
            child, pos = _decode_at(data, pos, stop, depth + 1)
            children.append(child)
        return Node(cls, True, number, b"", children), stop
    while True:
        if pos + 1 < end and data[pos] == 0 and data[pos + 1] == 0:
            return Node(cls, True, number, b"", children), pos + 2
        if pos >= end:
            raise TruncatedError("truncated: indefinite length without end-of-contents")
        child, pos = _decode_at(data, pos, end, depth + 1)
        children.append(child)


def decode(data: bytes) -> Node:
    """Decode exactly one element; trailing bytes are an error."""
    node, pos = _decode_at(data, 0, len(data), 0)
    if pos != len(data):
        raise BERError(f"{len(data) - pos} bytes after the element")
    return node


def decode_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise BERError("bad OBJECT IDENTIFIER")
    arcs, arc = [], 0
    for byte in value:
        arc = (arc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


# -- encoding -------------------------------------------------------------------------------
_IDENTIFIERS: dict[tuple[int, bool, int], bytes] = {}


def identifier(cls: int, constructed: bool, number: int) -> bytes:
    """The identifier octets of a tag (cached: APDUs reuse a few dozen tags)."""
    key = (cls, constructed, number)
    cached = _IDENTIFIERS.get(key)
    if cached is None:
        first = (cls << 6) | (0x20 if constructed else 0)
        if number < 0x1F:
            cached = bytes([first | number])
        else:
            groups = [number & 0x7F]
            number >>= 7
            while number:
                groups.append(0x80 | (number & 0x7F))
                number >>= 7
            cached = bytes([first | 0x1F, *reversed(groups)])
        _IDENTIFIERS[key] = cached
    return cached


def tlv(ident: bytes, content: bytes) -> bytes:
    """Identifier, definite length and content."""
    length = len(content)
    if length < 0x80:
        return ident + bytes((length,)) + content
    size = (length.bit_length() + 7) // 8
    return ident + bytes((0x80 | size,)) + length.to_bytes(size, "big") + content


def integer_content(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def boolean_content(value: bool) -> bytes:
    """TRUE as 0x01, as YAZ writes it: YAZ reads the byte as a signed char, so 0xFF shows as -1."""
    return b"\x01" if value else b"\x00"


def string_content(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


_OID_CONTENT: dict[str, bytes] = {}


def oid_content(dotted: str) -> bytes:
    cached = _OID_CONTENT.get(dotted)
    if cached is None:
        try:
            arcs = [int(arc) for arc in dotted.split(".")]
        except ValueError:
            raise BERError(f"bad OBJECT IDENTIFIER {dotted!r}") from None
        if len(arcs) < 2 or arcs[0] > 2 or min(arcs) < 0:
            raise BERError(f"bad OBJECT IDENTIFIER {dotted!r}")
        out = bytearray()
        for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
            groups = [arc & 0x7F]
            arc >>= 7
            while arc:
                groups.append(0x80 | (arc & 0x7F))
                arc >>= 7
            out.extend(reversed(groups))
        cached = _OID_CONTENT[dotted] = bytes(out)
    return cached


def bits_content(bits: tuple[bool, ...] | list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 0x80 >> (i % 8)
    return bytes(((-len(bits)) % 8,)) + bytes(out)


def encode(node: Node) -> bytes:
    """Re-encode a decoded tree (raw fields such as otherInfo travel back this way)."""
    content = b"".join(map(encode, node.children)) if node.constructed else node.value
    return tlv(identifier(node.cls, node.constructed, node.number), content)


def context_primitive(number: int, content: bytes) -> bytes:
    """A context-tagged primitive (an IMPLICIT [n] of a simple type)."""
    return tlv(identifier(CONTEXT, False, number), content)


def context_constructed(number: int, content: bytes) -> bytes:
    return tlv(identifier(CONTEXT, True, number), content)


def context_integer(number: int, value: int) -> bytes:
    return context_primitive(number, integer_content(value))


def context_boolean(number: int, value: bool) -> bytes:
    return context_primitive(number, boolean_content(value))


def context_string(number: int, value: str | bytes) -> bytes:
    return context_primitive(number, string_content(value))


# -- EXTERNAL -------------------------------------------------------------------------------
SINGLE_ASN1_TYPE, OCTET_ALIGNED, ARBITRARY = 0, 1, 2


@dataclass(frozen=True)
class External:
    """An ASN.1 EXTERNAL as Z39.50 uses it: an OID saying what the data is, and the data.

    `value` is a `Node` for single-ASN1-type, bytes for octet-aligned, and a tuple of bits for
    arbitrary.
    """

    direct_reference: str | None
    encoding: int
    value: Node | bytes | tuple[bool, ...]
    indirect_reference: int | None = None


def decode_external(node: Node) -> External:
    """Read EXTERNAL content from `node`, whatever its (possibly IMPLICIT) tag."""
    direct = indirect = None
    encoding = None
    for child in node._constructed().children:
        if child.tag == (UNIVERSAL, OBJECT_IDENTIFIER):
            direct = child.oid()
        elif child.tag == (UNIVERSAL, INTEGER):
            indirect = child.integer()
        elif child.cls == CONTEXT and child.number == SINGLE_ASN1_TYPE:
            encoding = External(direct, SINGLE_ASN1_TYPE, child.only_child(), indirect)
        elif child.cls == CONTEXT and child.number == OCTET_ALIGNED:
            encoding = External(direct, OCTET_ALIGNED, child.octets(), indirect)
        elif child.cls == CONTEXT and child.number == ARBITRARY:
            encoding = External(direct, ARBITRARY, child.bits(), indirect)
        elif child.tag != (UNIVERSAL, 7):  # data-value-descriptor: nothing reads it
            raise BERError(f"unexpected {child!r} in EXTERNAL")
    if encoding is None:
        raise BERError("EXTERNAL without encoding")
    return encoding


def external_content(external: External) -> bytes:
    """EXTERNAL content, to be wrapped by the caller in [UNIVERSAL 8] or an IMPLICIT tag."""
    parts = []
    if external.direct_reference is not None:
        parts.append(tlv(b"\x06", oid_content(external.direct_reference)))
    if external.indirect_reference is not None:
        parts.append(tlv(b"\x02", integer_content(external.indirect_reference)))
    if external.encoding == SINGLE_ASN1_TYPE:
        parts.append(tlv(b"\xa0", encode(external.value)))
    elif external.encoding == OCTET_ALIGNED:
        parts.append(tlv(b"\x81", external.value))
    else:
        parts.append(tlv(b"\x82", bits_content(external.value)))
    return b"".join(parts)


def encode_external(external: External) -> bytes:
    return tlv(b"\x28", external_content(external))


# -- framing --------------------------------------------------------------------------------
class Framer:
    """Cuts a byte stream into complete top-level APDUs.

    Every APDU of a protocol is a constructed element of one tag class (context for Z39.50,
    application for ISO ILL), so anything else at an APDU boundary (an HTTP request, line
    noise) fails on its first byte instead of waiting for a length that will never arrive.
    `max_size` bounds what one APDU may buffer.
    """

    def __init__(self, max_size: int, apdu_class: int = CONTEXT):
        self.max_size = max_size
        self.apdu_class = apdu_class
        self._buffer = bytearray()
        self._pos = 0    # how far the buffered APDU has been scanned
        self._open = 0   # indefinite-length elements open there

    def _scan(self) -> int | None:
        """Where the buffered APDU ends, or None while more input is needed to tell.

        Resumes where the last call stopped, reading headers only (definite contents are
        skipped, indefinite ones entered), so an APDU that arrives in many pieces is scanned
        once in all, not once per piece."""
        data = self._buffer
        while True:
            if self._open and self._pos + 1 < len(data) and data[self._pos] == 0 and data[self._pos + 1] == 0:
                self._pos += 2
                self._open -= 1
                if not self._open:
                    return self._pos
                continue
            if self._pos + (2 if self._open else 1) > len(data):
                return None
            try:
                _, _, _, length, content = _read_header(data, self._pos, len(data))
            except TruncatedError:
                return None
            if length >= 0:
                if not self._open:
                    return content + length      # a definite-length APDU: its end is known now
                self._pos = content + length     # skipped, whether or not it has arrived yet
            else:
                self._open += 1
                if self._open > MAX_DEPTH:
                    raise BERError("elements nested too deeply")
                self._pos = content

    def feed(self, data: bytes) -> list[bytes]:
        """Buffer `data`; return the APDUs it completes, in order."""
        self._buffer += data
        apdus = []
        while self._buffer:
            first = self._buffer[0]
            if first >> 6 != self.apdu_class or not first & 0x20:
                raise BERError(f"not an APDU: starts with byte {first:#04x}")
            end = self._scan()
            if end is None:
                if len(self._buffer) > self.max_size:
                    raise BERError(f"APDU larger than {self.max_size} bytes")
                break
            if end > self.max_size:
                raise BERError(f"APDU of {end} bytes is larger than {self.max_size}")
            if end > len(self._buffer):
                break
            apdus.append(bytes(self._buffer[:end]))
            del self._buffer[:end]
            self._pos = self._open = 0
        return apdus

    @property
    def pending(self) -> int:
        """Bytes of an incomplete APDU held back (non-zero at end of stream = truncated)."""
        return len(self._buffer)
