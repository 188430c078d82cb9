"""The BER layer: primitives, tags, lengths, EXTERNAL, the stream framer, and its error paths."""
from __future__ import annotations

from pathlib import Path

import pytest

from unishelf import ber
from unishelf.ber import (
    ARBITRARY, CONTEXT, OCTET_ALIGNED, SINGLE_ASN1_TYPE, UNIVERSAL, BERError, External, Framer,
    Node, decode, decode_external, encode, encode_external, identifier, tlv,
)

CAPTURES = Path(__file__).parent / "data" / "z3950"


def capture(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text())


def to_indefinite(data: bytes) -> bytes:
    """Re-encode every constructed element with an indefinite length, as some YAZ peers send."""
    def convert(node: Node) -> bytes:
        ident = identifier(node.cls, node.constructed, node.number)
        if not node.constructed:
            return tlv(ident, node.value)
        return ident + b"\x80" + b"".join(map(convert, node.children)) + b"\x00\x00"
    return convert(decode(data))


@pytest.mark.parametrize("value", [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**31, -(2**40)])
def test_integer_round_trip(value):
    node = decode(tlv(b"\x02", ber.integer_content(value)))
    assert node.integer() == value


def test_integer_minimal_encoding():
    assert ber.integer_content(127) == b"\x7f"
    assert ber.integer_content(128) == b"\x00\x80"
    assert ber.integer_content(-1) == b"\xff"


def test_boolean_null_enumerated():
    assert decode(b"\x01\x01\xff").boolean() is True
    assert decode(b"\x01\x01\x00").boolean() is False
    assert decode(b"\x05\x00").null() is None
    assert decode(b"\x0a\x01\x03").integer() == 3


@pytest.mark.parametrize("oid", ["1.2.840.10003.5.10", "1.2.840.10003.3.1", "2.999.3", "0.0"])
def test_oid_round_trip(oid):
    assert decode(tlv(b"\x06", ber.oid_content(oid))).oid() == oid


def test_oid_known_bytes():
    assert ber.oid_content("1.2.840.10003.3.1") == bytes.fromhex("2a8648ce130301")


def test_strings_as_bytes_or_text():
    assert decode(tlv(b"\x1b", ber.string_content("Müller"))).text() == "Müller"
    assert decode(b"\x04\x03abc").octets() == b"abc"
    assert decode(b"\x1a\x02\xe9t").text() == "ét"  # not UTF-8: read as Latin-1


def test_constructed_octet_string_is_joined():
    assert decode(b"\x24\x80\x04\x02ab\x04\x01c\x00\x00").octets() == b"abc"


def test_bit_string():
    bits = (True, True, True, False, True)
    content = ber.bits_content(bits)
    assert content == b"\x03\xe8"
    assert decode(tlv(b"\x03", content)).bits() == bits
    assert decode(b"\x83\x02\x00\xe0").bits() == (True,) * 3 + (False,) * 5


def test_high_tag_numbers():
    assert identifier(CONTEXT, True, 201) == b"\xbf\x81\x49"
    assert identifier(CONTEXT, False, 31) == b"\x9f\x1f"
    node = decode(tlv(identifier(CONTEXT, False, 100000), b"\x01"))
    assert node.tag == (CONTEXT, 100000)


def test_long_definite_length():
    content = b"x" * 70000
    data = tlv(b"\x04", content)
    assert data[:5] == b"\x04\x83\x01\x11\x70"
    assert decode(data).octets() == content


def test_nested_indefinite_lengths_decode_like_definite():
    data = capture("search-request-and")
    assert decode(to_indefinite(data)) == decode(data)


def test_encode_reencodes_a_decoded_tree_with_definite_lengths():
    data = capture("scan-response")  # YAZ sent it with indefinite lengths
    assert b"\x80" in data[:8]
    again = encode(decode(data))
    assert decode(again) == decode(data)
    assert again[:3] == b"\xbf\x24\x82"  # same tag, now a two-octet definite length


@pytest.mark.parametrize("external", [
    External("1.2.840.10003.5.10", OCTET_ALIGNED, b"00024nam..."),
    External("1.2.840.10003.5.101", SINGLE_ASN1_TYPE, Node(UNIVERSAL, False, 27, b"text")),
    External("1.2.3", ARBITRARY, (True, False, True)),
    External(None, OCTET_ALIGNED, b"", indirect_reference=7),
])
def test_external_round_trip(external):
    assert decode_external(decode(encode_external(external))) == external


@pytest.mark.parametrize("data", [
    b"",                          # nothing
    b"\x02",                      # tag without length
    b"\x02\x05\x01",              # content shorter than the length
    b"\x04\x82\x01",              # length field cut short
    b"\x04\x85\x01\x02\x03\x04\x05",  # length of 5 octets
    b"\x04\x80abc\x00\x00",      # indefinite primitive
    b"\x30\x80\x02\x01\x01",      # indefinite without end-of-contents
    b"\x30\x03\x02\x05\x01",      # child longer than its parent
    b"\x1f\x81",                  # high tag number cut short
    b"\x1f\x81\x81\x81\x81\x81\x01\x00",  # high tag number too large
    b"\x02\x01\x01\x00",          # trailing bytes
    b"\x30\x80" * 300,            # hostile nesting
])
def test_malformed_input_raises_ber_error(data):
    with pytest.raises(BERError):
        decode(data)


@pytest.mark.parametrize("data, read", [
    (b"\x02\x00", Node.integer),
    (b"\x01\x02\x00\x00", Node.boolean),
    (b"\x05\x01\x00", Node.null),
    (b"\x06\x00", Node.oid),
    (b"\x06\x01\x81", Node.oid),
    (b"\x03\x00", Node.bits),
    (b"\x03\x01\x08", Node.bits),
    (b"\x30\x00", Node.integer),
    (b"\x02\x01\x01", Node.fields),
    (b"\x30\x00", Node.only_child),
])
def test_bad_primitive_contents_raise_ber_error(data, read):
    with pytest.raises(BERError):
        read(decode(data))


def test_external_errors():
    with pytest.raises(BERError):
        decode_external(decode(b"\x28\x03\x06\x01\x2a"))  # no encoding
    with pytest.raises(BERError):
        decode_external(decode(b"\x28\x03\x04\x01\x2a"))  # stray element


def test_bad_oid_text_raises_ber_error():
    for text in ["1", "x.y", "3.1", "1.-2"]:
        with pytest.raises(BERError):
            ber.oid_content(text)


# -- Framer -----------------------------------------------------------------------------------


def test_framer_splits_a_stream_fed_byte_by_byte():
    apdus = [capture("init-request"), capture("search-request"),
             to_indefinite(capture("present-request-xml")), capture("close-request")]
    framer, out = Framer(max_size=10000), []
    for byte in b"".join(apdus):
        out += framer.feed(bytes([byte]))
    assert out == apdus
    assert framer.pending == 0


def test_framer_returns_several_apdus_from_one_read_and_keeps_the_rest():
    first, second = capture("search-request"), capture("scan-response")
    framer = Framer(max_size=10000)
    assert framer.feed(first + second[:10]) == [first]
    assert framer.pending == 10
    assert framer.feed(second[10:]) == [second]


def test_framer_handles_nested_indefinite_lengths_split_anywhere():
    apdu = capture("scan-response")
    for cut in range(1, len(apdu)):
        framer = Framer(max_size=10000)
        assert framer.feed(apdu[:cut]) == []
        assert framer.feed(apdu[cut:]) == [apdu]


def test_framer_rejects_an_oversized_definite_apdu_from_its_header():
    framer = Framer(max_size=1000)
    with pytest.raises(BERError):
        framer.feed(b"\xb6\x82\x10\x00")


def test_framer_rejects_an_oversized_indefinite_apdu_once_it_has_buffered_too_much():
    framer = Framer(max_size=1000)
    framer.feed(b"\xb6\x80")
    with pytest.raises(BERError):
        for _ in range(200):
            framer.feed(b"\x04\x05hello")


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n",         # not an APDU at all
    b"\x02\x01\x01",               # universal primitive
    b"\x96\x01\x01",               # context but primitive
    b"\xb6\x85\x01\x02\x03\x04\x05",  # bad length field
    b"\xb6\x80\x04\x80",           # indefinite primitive inside
    b"\xb6\x80" + b"\x30\x80" * 300,  # hostile nesting
])
def test_framer_rejects_garbage(data):
    with pytest.raises(BERError):
        Framer(max_size=100000).feed(data)


def test_an_apdu_trickled_byte_by_byte_frames_like_one_sent_whole():
    whole = b"\xb6\x80" + b"\x04\x00" * 10 + b"\xa1\x80\x04\x01x\x00\x00" + b"\x00\x00" + b"\xb7\x03\x02\x01\x05"
    framer = Framer(1 << 20)
    pieces = [apdu for byte in whole for apdu in framer.feed(bytes([byte]))]
    assert pieces == Framer(1 << 20).feed(whole) == [whole[:-5], whole[-5:]]
    assert framer.pending == 0
