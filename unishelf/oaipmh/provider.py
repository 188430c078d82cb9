"""The OAI-PMH 2.0 data provider, sans-I/O: request arguments in, response text out.

`Provider.respond` checks the request and does everything that can fail before the first byte
(so an error is a proper OAI-PMH error response), then returns a `Response` whose `chunks()`
yields the document piece by piece. Records are read and rendered a few at a time, each group in
its own short read transaction, so memory stays flat and writers are never held up by a harvest.

Lists walk the store's change log, where each record's latest change sits in sequence order with
its datestamp (which never goes back): from/until become a range of the log found by bisection,
and a resumption token is the last sequence sent (see tokens.py). Once a list page has gone
out, `prepare` renders the next one while the harvester reads (see read_ahead.py).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator
from xml.sax.saxutils import escape

from unishelf.marc.reading import xml_escaped, xml_safe
from unishelf.marc.record import parse_iso2709
from unishelf.marc.store import (ROW_DATESTAMP, ROW_DELETED, ROW_KIND, ROW_LIBRARIES, ROW_MATERIAL_TYPE,
                                 ROW_RECORD_ID, ROW_SYNTAX, Reader)

from .arguments import OAIError, OAIErrors, OAIRequest, datestamp_bounds, parse_arguments
from .formats import FORMATS, MetadataFormat
from .read_ahead import PAGE_BYTES, KeptPage, NextPage, ReadAhead, gathered
from .sets import SetCatalogue, SetMembers
from .tokens import BadToken, ResumptionToken

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
RENDER_GROUP = 100   # records rendered per read transaction
SPEC_COMBINATIONS = 4096   # combinations of holding libraries and material type whose setSpecs are kept
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n')


def _attribute(value: str) -> str:
    return escape(xml_safe(value), {'"': "&quot;"})


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Response:
    """A response document: `chunks()` yields its UTF-8 bytes; `error` says if it is an error;
    `next_page` is the page its resumption token asks for, worth preparing once it has gone."""

    head: str
    body: Iterator[bytes]
    error: bool = False
    next_page: NextPage | None = None

    def chunks(self) -> Iterator[bytes]:
        yield self.head.encode("utf-8")
        yield from self.body
        yield b"</OAI-PMH>\n"


def _encoded(*texts: str) -> Iterator[bytes]:
    return iter([text.encode("utf-8") for text in texts])


@dataclass
class _Listing:
    """What a list request selects: format, set, and the log after a sequence up to a date."""

    metadata_format: MetadataFormat
    members: SetMembers | None
    after_seq: int
    high: str                      # the latest datestamp selected


class Provider:
    def __init__(self, catalog):
        self.catalog = catalog
        self.store = catalog.store
        self.config = catalog.config["oai"]
        self.sets = SetCatalogue(catalog)
        self.prefix = f"oai:{self.config['repository_identifier']}:"
        # member library code -> its setSpec element (codes are letters, digits, - and _)
        self.library_specs = {code: f"<setSpec>library:{code}</setSpec>" for code in self.sets.libraries}
        self.read_ahead = ReadAhead(self.config["read_ahead"])
        self.prerendered = set(self.config["prerender"])
        self._built_in_specs: dict[tuple, str] = {}   # see _library_and_type_specs

    # -- the request ------------------------------------------------------------------------
    def respond(self, arguments: dict[str, list[str]], base_url: str, now: datetime | None = None,
                kept: bool = True) -> Response:
        """The response to one request; `base_url` is the address the harvester used; `kept`
        False leaves a page kept for the request where it is (a HEAD request's does)."""
        now = now or datetime.now(timezone.utc)
        head = HEAD + f"<responseDate>{_stamp(now)}</responseDate>\n"
        try:
            request = parse_arguments(arguments)
        except OAIErrors as errors:
            return self._errors(head + f"<request>{xml_escaped(base_url)}</request>\n", errors)
        attributes = "".join(f' {name}="{_attribute(value)}"'
                             for name, value in [("verb", request.verb), *request.arguments.items()])
        head += f"<request{attributes}>{xml_escaped(base_url)}</request>\n"
        try:
            if request.verb in ("ListRecords", "ListIdentifiers"):
                body, next_page = self._list(request, now, kept)
            else:
                body, next_page = getattr(self, "_" + request.verb)(request, base_url, now), None
        except OAIError as error:
            return self._errors(head, OAIErrors([error]))
        return Response(head, body, next_page=next_page)

    def prepare(self, page: NextPage, now: datetime | None = None):
        """Render `page` ahead of its request and keep it, unless the store has changed since
        the page before it (a changing store would make the work wasted)."""
        if not self.read_ahead.pages:
            return
        now = now or datetime.now(timezone.utc)
        with self.store.reading() as reader:
            if reader.counter("seq") != page.seq:
                return
        request = parse_arguments({"verb": [page.verb], "resumptionToken": [page.token]})
        try:
            body, next_page = self._list(request, now, kept=False)
        except OAIError:   # an expired token, or the rest of the list changed away: nothing to keep
            return
        pieces, whole = gathered(body, PAGE_BYTES)
        if not whole:
            body.close()
            return
        self.read_ahead.keep(page.verb, page.token, KeptPage(pieces, next_page, page.seq, now.timestamp()))

    @staticmethod
    def _errors(head: str, errors: OAIErrors) -> Response:
        body = [f'<error code="{e.code}">{xml_escaped(e.message)}</error>\n' for e in errors.errors]
        return Response(head, _encoded(*body), error=True)

    # -- the verbs ---------------------------------------------------------------------------
    def _Identify(self, request: OAIRequest, base_url: str, now: datetime) -> Iterator[bytes]:
        with self.store.reading() as reader:
            first = next(reader.changes(), None)
            some_id = first.record_id if first else 1
        earliest = first.datestamp if first else _stamp(now)
        emails = "".join(f"<adminEmail>{xml_escaped(str(e))}</adminEmail>" for e in self.config["admin_email"])
        identifier = self.config["repository_identifier"]
        return _encoded(
            f"<Identify><repositoryName>{xml_escaped(self.config['repository_name'])}</repositoryName>"
            f"<baseURL>{xml_escaped(base_url)}</baseURL><protocolVersion>2.0</protocolVersion>{emails}"
            f"<earliestDatestamp>{earliest}</earliestDatestamp><deletedRecord>persistent</deletedRecord>"
            "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>"
            "<compression>gzip</compression><compression>deflate</compression>"
            '<description><oai-identifier xmlns="http://www.openarchives.org/OAI/2.0/oai-identifier" '
            'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai-identifier '
            'http://www.openarchives.org/OAI/2.0/oai-identifier.xsd">'
            f"<scheme>oai</scheme><repositoryIdentifier>{identifier}</repositoryIdentifier>"
            f"<delimiter>:</delimiter><sampleIdentifier>{self.prefix}{some_id}</sampleIdentifier>"
            "</oai-identifier></description></Identify>\n")

    def _ListMetadataFormats(self, request: OAIRequest, base_url: str, now: datetime) -> Iterator[bytes]:
        formats = list(FORMATS.values())
        if request.get("identifier"):
            with self.store.reading() as reader:
                record = self._record(reader, request.get("identifier"))
            formats = [f for f in formats if f.carries(record.syntax)]
            if not formats:
                raise OAIError("noMetadataFormats", "this item is not available in any metadata format")
        listed = "".join(f"<metadataFormat><metadataPrefix>{f.prefix}</metadataPrefix><schema>{f.schema}</schema>"
                         f"<metadataNamespace>{f.namespace}</metadataNamespace></metadataFormat>"
                         for f in formats)
        return _encoded(f"<ListMetadataFormats>{listed}</ListMetadataFormats>\n")

    def _ListSets(self, request: OAIRequest, base_url: str, now: datetime) -> Iterator[bytes]:
        if request.get("resumptionToken") is not None:
            raise OAIError("badResumptionToken", "ListSets fits in one response; this repository issued no token for it")
        listed = "".join(f"<set><setSpec>{xml_escaped(d.spec)}</setSpec><setName>{xml_escaped(d.name)}</setName></set>"
                         for d in self.sets.definitions())
        return _encoded(f"<ListSets>{listed}</ListSets>\n")

    def _GetRecord(self, request: OAIRequest, base_url: str, now: datetime) -> Iterator[bytes]:
        metadata_format = self._format(request.get("metadataPrefix"))
        with self.store.reading() as reader:
            record = self._record(reader, request.get("identifier"))
            if not metadata_format.carries(record.syntax):
                raise OAIError("cannotDisseminateFormat",
                               f"this item is not available as {metadata_format.prefix}")
            latest = next(reader.change_rows(record.seq - 1))   # the record's latest change
            rendered = self._render(reader, [latest], metadata_format, self.sets.configured_bitmaps(), True)
        return iter([b"<GetRecord>", rendered, b"</GetRecord>\n"])

    # -- lists -------------------------------------------------------------------------------
    def _list(self, request: OAIRequest, now: datetime, kept: bool) -> tuple[Iterator[bytes], NextPage | None]:
        """ListRecords or ListIdentifiers: the page's body and the page after it (None when
        there is none, or when its records are not prerendered); `kept`: a kept page may be served."""
        page_size, records = self.config["page_size"], request.verb == "ListRecords"
        token_text = request.get("resumptionToken")
        if token_text is not None:
            try:
                token = ResumptionToken.decode(token_text, request.verb, int(now.timestamp()))
            except BadToken as error:
                raise OAIError("badResumptionToken", str(error)) from None
            if kept:
                with self.store.reading() as reader:
                    ready = self.read_ahead.take(request.verb, token_text, reader.counter("seq"), now.timestamp())
                if ready:
                    return iter(ready.pieces), ready.next_page
            prefix, set_spec, start, end = token.metadata_prefix, token.set_spec, token.start, token.end
            listing = self._listing(prefix, set_spec, start, end, token.after_seq)
            cursor, complete_size = token.cursor, token.complete_size
        else:
            prefix, set_spec = request.get("metadataPrefix"), request.get("set")
            start, end = request.get("from"), request.get("until")
            listing = self._listing(prefix, set_spec, start, end, None)
            cursor, complete_size = 0, None
        with self.store.reading() as reader:
            seq = reader.counter("seq")
            if complete_size is None:
                listing.after_seq = self._seq_before(reader, datestamp_bounds(start, end)[0])
                if set_spec or start or end:
                    complete_size = sum(1 for _ in self._selected(reader, listing))
                else:   # the whole repository in this format: the store keeps that count
                    complete_size = sum(reader.change_count("bib", syntax)
                                        for syntax in listing.metadata_format.syntaxes)
            page = list(itertools.islice(self._selected(reader, listing), page_size + 1))
        if not page:   # also when the rest of a list changed away from it since the last page
            raise OAIError("noRecordsMatch", "no records match the arguments")
        next_token = token_text = next_page = None
        if len(page) > page_size:
            page = page[:page_size]
            last_seq, _ = page[-1]
            next_token = ResumptionToken(request.verb, prefix, set_spec, start, end, last_seq,
                                         cursor + page_size, max(complete_size, cursor + page_size + 1),
                                         int(now.timestamp()) + self.config["token_ttl"])
            token_text = next_token.encode()   # once: encoding costs enough to matter a page
            next_page = NextPage(request.verb, token_text, seq)
        body = self._list_body(request.verb, page, listing.metadata_format, records, next_token, token_text, cursor)
        if records and listing.metadata_format.rendering not in self.prerendered:
            next_page = None   # not worth rendering ahead
        return body, next_page

    def _list_body(self, verb: str, page: list[tuple[int, tuple]], metadata_format: MetadataFormat, records: bool,
                   token: ResumptionToken | None, token_text: str | None, cursor: int) -> Iterator[bytes]:
        """The list element of a page; `token_text` is `token` encoded."""
        yield f"<{verb}>".encode()
        configured = self.sets.configured_bitmaps()
        for i in range(0, len(page), RENDER_GROUP):
            with self.store.reading() as reader:   # closed before the piece goes: a slow harvester holds no snapshot
                piece = self._render(reader, page[i:i + RENDER_GROUP], metadata_format, configured, records)
            yield piece
        if token:
            expiry = _stamp(datetime.fromtimestamp(token.expires, timezone.utc))
            yield (f'<resumptionToken expirationDate="{expiry}" completeListSize="{token.complete_size}" '
                   f'cursor="{cursor}">{token_text}</resumptionToken>').encode()
        elif cursor:   # the last page of a list that took several: the empty token ends it
            yield f'<resumptionToken completeListSize="{cursor + len(page)}" cursor="{cursor}"/>'.encode()
        yield f"</{verb}>\n".encode()

    def _listing(self, prefix: str, set_spec: str | None, start, end, after_seq: int | None) -> _Listing:
        metadata_format = self._format(prefix)
        members = None
        if set_spec:
            if not self.sets.exists(set_spec):
                raise OAIError("noRecordsMatch", f"there is no set {set_spec!r}")
            members = self.sets.members(set_spec)
        return _Listing(metadata_format, members, after_seq or 0, datestamp_bounds(start, end)[1])

    def _selected(self, reader: Reader, listing: _Listing) -> Iterator[tuple[int, tuple]]:
        """The change log entries a list selects, as (sequence, row) pairs (Reader.change_rows),
        in log order, after `listing.after_seq`."""
        members, high, syntaxes = listing.members, listing.high, listing.metadata_format.syntaxes
        for seq, row in reader.change_rows(listing.after_seq):
            if row[ROW_DATESTAMP] > high:
                return
            if row[ROW_KIND] == "bib" and row[ROW_SYNTAX] in syntaxes and (members is None or members.holds(row)):
                yield seq, row

    @staticmethod
    def _seq_before(reader: Reader, low: str) -> int:
        """The sequence after which every change is dated `low` or later.

        Bisection over sequence numbers, which works because datestamps never go back: "the
        first change at or after s is dated >= low" is false and then true as s grows.
        """
        if not low:
            return 0
        lo, hi = 1, reader.counter("seq") + 1
        while lo < hi:
            middle = (lo + hi) // 2
            change = next(reader.changes(middle - 1), None)
            if change is None or change.datestamp >= low:
                hi = middle
            else:
                lo = middle + 1
        return lo - 1

    # -- records -----------------------------------------------------------------------------
    def _record(self, reader: Reader, identifier: str):
        local = identifier[len(self.prefix):] if identifier.startswith(self.prefix) else ""
        record = reader.record(int(local)) if local.isascii() and local.isdigit() and len(local) < 10 \
            and int(local) < 1 << 32 else None
        if record is None or record.kind != "bib":
            raise OAIError("idDoesNotExist", f"{identifier!r} is not an item of this repository")
        return record

    def _format(self, prefix: str) -> MetadataFormat:
        if prefix not in FORMATS:
            raise OAIError("cannotDisseminateFormat", f"{prefix!r} is not a metadata format of this repository")
        return FORMATS[prefix]

    def _render(self, reader: Reader, rows: list[tuple[int, tuple]], metadata_format: MetadataFormat,
                configured: list, records: bool) -> bytes:
        """Headers (and records) for these (sequence, change log row) pairs: headers from the
        change log alone, metadata as stored when the format is prerendered, else rendered now.

        A harvest runs this for every record it lists, hence the locals and the inline cache."""
        out = []
        add, built_in_specs, prefix = out.append, self._built_in_specs, self.prefix
        if records:
            rendered = iter(reader.rendered_many([row[ROW_RECORD_ID] for _, row in rows if not row[ROW_DELETED]],
                                                 metadata_format.rendering))
        for _, row in rows:
            record_id, deleted = row[ROW_RECORD_ID], row[ROW_DELETED]
            specs = built_in_specs.get((row[ROW_LIBRARIES], row[ROW_MATERIAL_TYPE]))
            if specs is None:
                specs = self._library_and_type_specs(row[ROW_LIBRARIES], row[ROW_MATERIAL_TYPE])
            if configured and not deleted:
                specs += "".join(f"<setSpec>{xml_escaped(spec)}</setSpec>" for spec, bitmap in configured
                                 if record_id in bitmap)
            about = f"<identifier>{prefix}{record_id}</identifier><datestamp>{row[ROW_DATESTAMP]}</datestamp>{specs}"
            if deleted:
                header = f'<header status="deleted">{about}</header>'
                add((f"<record>{header}</record>" if records else header).encode())
            elif not records:
                add(f"<header>{about}</header>".encode())
            else:
                metadata = next(rendered)
                if metadata is None:
                    stored = reader.record(record_id)
                    metadata = metadata_format.render(parse_iso2709(stored.raw), stored.syntax).encode()
                add(f"<record><header>{about}</header><metadata>".encode())
                add(metadata)
                add(b"</metadata></record>")
        return b"".join(out)

    def _library_and_type_specs(self, libraries: tuple[str, ...], material_type: str) -> str:
        """The setSpecs of a record's holding libraries and material type, kept in
        `_built_in_specs`: few combinations recur, and the cache is emptied when it holds
        `SPEC_COMBINATIONS` (a consortium of hundreds of libraries could hold many)."""
        specs = ("".join([self.library_specs[code] for code in libraries if code in self.library_specs])
                 + f"<setSpec>type:{material_type}</setSpec>")
        if len(self._built_in_specs) >= SPEC_COMBINATIONS:
            self._built_in_specs.clear()
        self._built_in_specs[libraries, material_type] = specs
        return specs
