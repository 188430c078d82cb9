"""Reading MARC files: ISO 2709 (MARC21 in UTF-8 or MARC-8, UNIMARC) and MARCXML.

Every record comes out as a `ReadRecord` carrying its position in the file, or as a `Rejected`
saying why it could not be read, so one bad record never stops a load. Records are converted to
UTF-8; an unchanged UTF-8 ISO 2709 record keeps its original bytes so export gives them back.
"""
from __future__ import annotations

import hashlib
import itertools
import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from xml.sax.saxutils import escape

from lxml import etree
from pymarc.marc8 import MARC8ToUnicode

from .record import Field, MarcRecord, RecordError, parse_iso2709, split_records, write_iso2709

FORMATS = ("auto", "marc21", "marcxml", "unimarc")
# UNIMARC 100$a/26-27: the G0 character set; where the bytes are not UTF-8 these decode them.
UNIMARC_CHARSETS = {"01": "latin-1", "02": "koi8_r", "03": "latin-1", "06": "latin-1", "50": "utf-8"}
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_C0_FORBIDDEN = bytes(range(0x20)).translate(None, b"\t\n\r")   # what XML_FORBIDDEN finds in ASCII
HOLDINGS_TYPES = set("uvxy")
AUTHORITY_TYPES = {"z"}


@dataclass
class ReadRecord:
    position: str            # "record 12 at byte 10240" - for reports
    record: MarcRecord | None  # None once indexed by a loader worker: `raw` has it all
    raw: bytes               # UTF-8 ISO 2709, byte-identical to the input where it was UTF-8
    syntax: str              # marc21 | unimarc
    digest: str              # of the input bytes: loading the same record again is recognised
    warnings: list[str] = field(default_factory=list)
    kind: str = field(init=False)  # bib, holdings or authority (MARC21 leader/06; UNIMARC: bib)

    def __post_init__(self):
        record_type = self.record.leader[6:7]
        if self.syntax == "marc21" and record_type in HOLDINGS_TYPES:
            self.kind = "holdings"
        elif self.syntax == "marc21" and record_type in AUTHORITY_TYPES:
            self.kind = "authority"
        else:
            self.kind = "bib"


@dataclass
class Rejected:
    position: str
    reason: str
    raw: bytes


@dataclass(frozen=True)
class RawRecord:
    """One record's bytes as cut from its file, not yet decoded (cheap to send to a worker)."""

    position: str
    data: bytes
    form: str                # iso2709 | marcxml
    syntax: str = "marc21"   # iso2709: the file's syntax; marcxml: namespace declarations in `context`
    context: bytes = b""


def xml_safe(text: str) -> str:
    """`text` with each character XML 1.0 forbids (lone surrogates too) replaced by a space: lxml
    refuses them, and a harvester's parser rejects the whole response for one.

    ASCII text (CPython knows it is without looking) can hold only C0 controls of those, and
    bytes.translate finds them in a fifth of the pattern's time: 2.3 against 12.3 µs for a
    record's MARCXML, which every stored record is checked as."""
    if text.isascii():
        data = text.encode("ascii")
        if len(data.translate(None, _C0_FORBIDDEN)) == len(data):
            return text
    return XML_FORBIDDEN.sub(" ", text)


def escape_markup(text: str) -> str:
    """`text` with & < > escaped. Few values hold any: looking for them first costs less than
    escape's three replacements and a pattern's search (MARCXML of a record 10% faster)."""
    return escape(text) if "&" in text or "<" in text or ">" in text else text


def xml_escaped(text: str) -> str:
    """`text` as character data of an XML document written as text: safe, and & < > escaped."""
    return escape_markup(xml_safe(text))


def is_marcxml(path: Path, fmt: str = "auto") -> bool:
    if fmt != "auto":
        return fmt == "marcxml"
    with open(path, "rb") as handle:
        return handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def raw_records(path: str | Path, fmt: str = "auto") -> Iterator[RawRecord]:
    """Cut a file into records without decoding them; `decode` finishes the job.

    The file is mapped, not read, so a large file costs no more memory than the records in flight.
    """
    path = Path(path)
    if is_marcxml(path, fmt):
        yield from _marcxml_chunks(path)
        return
    if path.stat().st_size == 0:
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        syntax = fmt if fmt in ("marc21", "unimarc") else guess_file_syntax(
            chunk for _, chunk in itertools.islice(split_records(data), 50))
        for number, (offset, chunk) in enumerate(split_records(data), 1):
            yield RawRecord(f"record {number} at byte {offset}", chunk, "iso2709", syntax)


def _blocks(data, size: int = 1 << 24):
    """Slices of a mapped file, small enough to copy and count in."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def count_records(path: str | Path, fmt: str = "auto") -> int:
    """How many records a file holds at most (record terminators or <record> elements), quickly."""
    path = Path(path)
    if path.stat().st_size == 0:
        return 0
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if is_marcxml(path, fmt):
            return sum(1 for _ in _RECORD_END.finditer(data))
        return sum(block.count(b"\x1d") for block in _blocks(data)) + 1


def decode(raw: RawRecord) -> ReadRecord | Rejected:
    try:
        if raw.form == "marcxml":
            return _parse_marcxml_record(raw.data, raw.context, raw.position)
        return _decode_iso2709(raw.data, raw.syntax, raw.position)
    except RecordError as error:   # also a record too long to store as ISO 2709
        return Rejected(raw.position, str(error), raw.data)


def read_file(path: str | Path, fmt: str = "auto") -> Iterator[ReadRecord | Rejected]:
    return map(decode, raw_records(path, fmt))


def _decode_iso2709(chunk: bytes, syntax: str, position: str) -> ReadRecord:
    warnings: list[str] = []
    leader_encoding = chunk[9:10]
    try:
        chunk.decode("utf-8")
        valid_utf8 = True
    except UnicodeDecodeError:
        valid_utf8 = False
    if syntax == "unimarc":
        if valid_utf8:
            record = parse_iso2709(chunk)
        else:  # 100$a, ASCII either way, names the set the rest of the record is in
            charset = _unimarc_charset(parse_iso2709(chunk))
            encoding = UNIMARC_CHARSETS.get(charset, "latin-1")
            warnings.append(f"not UTF-8; read as {encoding} (100$a character set {charset!r})")
            record = parse_iso2709(chunk, lambda raw: raw.decode(encoding, "replace"))
    elif leader_encoding == b"a" or chunk.isascii():
        if not valid_utf8:
            warnings.append("leader says UTF-8 but bytes are not valid UTF-8; replaced")
        record = parse_iso2709(chunk)
    elif valid_utf8 and b"\x1b" not in chunk:
        warnings.append("leader/09 says MARC-8 but the bytes are UTF-8; read as UTF-8")
        record = parse_iso2709(chunk)
    else:
        record = parse_iso2709(chunk, _decode_marc8)
    unchanged = valid_utf8 and (leader_encoding == b"a" or chunk.isascii()) and syntax == "marc21"
    raw = chunk if unchanged else write_iso2709(record, utf8_flag=syntax == "marc21")
    record.leader = raw[:24].decode("ascii")
    return ReadRecord(position, record, raw, syntax, hashlib.sha1(chunk).hexdigest(), warnings)


def _decode_marc8(raw: bytes) -> str:
    # A fresh converter per field: MARC-8 escape state does not carry across fields.
    return MARC8ToUnicode(quiet=True).translate(raw)


def _guess_syntax(record: MarcRecord) -> str:
    tags = {f.tag for f in record.fields}
    if "245" not in tags and "200" in tags:
        return "unimarc"
    return "marc21"


def guess_file_syntax(chunks) -> str:
    votes = {"marc21": 0, "unimarc": 0}
    for chunk in chunks:
        try:
            votes[_guess_syntax(parse_iso2709(chunk))] += 1
        except RecordError:
            continue
    return "unimarc" if votes["unimarc"] > votes["marc21"] else "marc21"


def _unimarc_charset(record: MarcRecord) -> str:
    """The 8-bit set named in 100$a/26-29 (G0 then G1): the G1 set when one is given."""
    general = record.first("100")
    data = general.get("a") if general is not None else None
    if not data or len(data) < 28:
        return ""
    g0, g1 = data[26:28], data[28:30].strip()
    return g1 if g1 and g1 != "01" else g0


_RECORD_START = re.compile(rb"<(?:[\w.-]+:)?record[\s>]")
_RECORD_END = re.compile(rb"</(?:[\w.-]+:)?record\s*>")
_NAMESPACE_DECLARATION = re.compile(rb"""xmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')""")
MARCXML_NS = "http://www.loc.gov/MARC21/slim"


def _marcxml_chunks(path: Path, block_size: int = 1 << 20) -> Iterator[RawRecord]:
    """Stream a MARCXML file record by record.

    Each <record> is parsed on its own (with the namespace declarations of the enclosing
    elements), so a record that is not well-formed XML is rejected alone, not the whole file.
    """
    namespaces = b""
    buffer = b""
    consumed = 0
    number = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(block_size)
            buffer += block
            while True:
                start = _RECORD_START.search(buffer)
                if not start:
                    break
                if not namespaces:
                    namespaces = b" ".join(set(_NAMESPACE_DECLARATION.findall(buffer[:start.start()])))
                end = _RECORD_END.search(buffer, start.end())
                if not end:
                    break
                number += 1
                chunk = buffer[start.start():end.end()]
                yield RawRecord(f"record {number} at byte {consumed + start.start()}", chunk,
                                "marcxml", context=namespaces)
                consumed += end.end()
                buffer = buffer[end.end():]
            if not block:
                return


def _parse_marcxml_record(chunk: bytes, namespaces: bytes, position: str) -> ReadRecord | Rejected:
    warnings = []
    text = chunk.decode("utf-8", "replace")
    safe = xml_safe(text)
    if safe != text:
        text = safe
        warnings.append("characters XML 1.0 forbids were replaced by spaces")
    wrapped = f"<wrapper {namespaces.decode('utf-8', 'replace')}>{text}</wrapper>"
    try:
        root = etree.fromstring(wrapped.encode("utf-8"))
    except etree.XMLSyntaxError as error:
        return Rejected(position, f"not well-formed XML: {error}", chunk)
    element = root[0]
    leader = "".join(element.xpath("*[local-name()='leader']/text()")).ljust(24)[:24]
    fields = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        tag = child.get("tag", "")
        if name == "controlfield":
            fields.append(Field(tag, value=child.text or ""))
        elif name == "datafield":
            indicators = ((child.get("ind1") or " ")[:1] + (child.get("ind2") or " ")[:1])
            subfields = [(sub.get("code", " ")[:1], sub.text or "") for sub in child
                         if isinstance(sub.tag, str) and etree.QName(sub).localname == "subfield"]
            fields.append(Field(tag, indicators=indicators, subfields=subfields))
    if not fields:
        return Rejected(position, "record has no fields", chunk)
    record = MarcRecord(leader, fields)
    syntax = _guess_syntax(record)
    raw = write_iso2709(record, utf8_flag=syntax == "marc21")
    record.leader = raw[:24].decode("ascii")
    return ReadRecord(position, record, raw, syntax, hashlib.sha1(chunk).hexdigest(), warnings)
