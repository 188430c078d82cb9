"""The server side of one Z39.50 association, sans-I/O: APDU bytes in, APDU bytes out.

The Twisted protocol (`server.py`) only moves bytes; everything a client can ask is answered
here, and anything wrong gets the Bib-1 diagnostic a Z39.50 client expects, never a dropped
connection. Searches run on the shared engine through a `Session` of named result sets;
IR-Explain-1 and IR-Extend-1 (the task packages of item orders) are databases whose records the
server makes itself when they are searched or presented.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Callable

from unishelf.auth import User, Users
from unishelf.marc.catalogue import Catalogue
from unishelf.marc.marcxml import record_xml
from unishelf.marc.record import write_iso2709
from unishelf.marc.render import brief, sutrs
from unishelf.search.bib1 import DIAGNOSTICS, Bib1Mapping
from unishelf.search.record_schemas import RecordSchema, find_record_schema
from unishelf.search.session import Session
from unishelf.search.tree import QueryError
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es
from unishelf.ber import (
    CONTEXT, SINGLE_ASN1_TYPE, BERError, External, Framer, Node, context_boolean, context_constructed,
    context_primitive, decode, decode_external, encode, external_content, oid_content, tlv,
)
from unishelf.z3950.explain import EXPLAIN_OID, explain_external
from unishelf.z3950.explain_db import EXPLAIN_DATABASE, ExplainQueryError, explain_entries, search_explain
from unishelf.z3950.item_order import RECORD_DELETED, TASK_DATABASE, ItemOrderService
from unishelf.z3950.opac import OPAC_OID, opac_record
from unishelf.z3950.updates import UpdateService

import unishelf

USMARC_OID = "1.2.840.10003.5.10"
UNIMARC_OID = "1.2.840.10003.5.1"
XML_OIDS = ("1.2.840.10003.5.109.10", "1.2.840.10003.5.109.9")  # text-XML, application-XML
SYNTAX_NAMES = {USMARC_OID: "marc21", UNIMARC_OID: "unimarc"}
SERVER_OPTIONS = frozenset({"search", "present", "delSet", "scan", "sort", "namedResultSets", "extendedServices"})
IMPLEMENTATION_ID = "unishelf"
# Bib-1 diagnostics used here beyond the query ones (Z39.50-2003 Appendix 3, bib-1 set).
DIAG_ELEMENT_SET = 25
DIAG_QUERY_TYPE = 107
DIAG_RECORD_TOO_LARGE = 16
DIAG_NOT_IN_SYNTAX = 238
SORT_RELATIONS = {0: True, 1: False}
NEGOTIATION_OID = "1.2.840.10003.15.3"  # character set and language negotiation, version 3
UTF8_OID = "1.0.10646.1.0.8"
UTF8_ENCODING = oid_content(UTF8_OID)


class ProtocolViolation(Exception):
    """The peer broke the protocol: the association closes with a Close APDU."""


log = logging.getLogger("unishelf.z3950")
MAX_SCAN_TERMS = 1000    # terms one Scan lists at most (the response says partial beyond)
DIAG_STEP_SIZE = 205     # Bib-1: only zero step size supported (here: 0 to MAX_SCAN_TERMS)


@dataclass
class Limits:
    max_apdu: int = 1 << 20
    max_result_sets: int = 20


@dataclass
class ServerSet:
    """A result set of a database whose records the server makes itself, in one record syntax:
    `record(entry)` makes the record of one entry, or says None when it is gone."""

    database: str
    syntax: str
    entries: list
    record: Callable[[object], External | None]


class Association:
    def __init__(self, catalog, users: Users, limits: Limits, bib1: Bib1Mapping | None = None,
                 updates: UpdateService | None = None, item_orders: ItemOrderService | None = None,
                 defer_writes: bool = False):
        """Without `item_orders` (an association outside `unishelf serve`), item orders are
        refused as a service not supported, and IR-Extend-1 is empty.

        With `defer_writes`, `receive` stops at a request that writes to the store (Extended
        Services: record updates, item orders) and leaves it in `write_waiting` for the caller
        to answer with `answer_write` where writes run (see unishelf.writes), and the APDUs
        after it for the next `receive`."""
        self.catalog = catalog
        self.users = users
        self.limits = limits
        self.bib1 = bib1 or catalog.bib1
        self.framer = Framer(limits.max_apdu)
        self.defer_writes = defer_writes
        self.write_waiting: es.ExtendedServicesRequest | None = None
        self._waiting: deque[bytes | BERError] = deque()   # APDUs framed, not yet answered, in order
        self.session = Session(catalog.engine, limits.max_result_sets)
        self.updates = updates or UpdateService(catalog)
        self.item_orders = item_orders
        self.user: User | None = None
        self.initialised = False
        self.closed = False
        self.message_size = limits.max_apdu
        self.record_size = limits.max_apdu
        self.set_databases: dict[str, str] = {}  # result set -> the database its records are named by
        self.server_sets: dict[str, ServerSet] = {}  # result sets of IR-Explain-1 and IR-Extend-1

    # -- bytes in, bytes out --------------------------------------------------------------------
    def receive(self, data: bytes) -> list[bytes]:
        """Answer every complete APDU in `data` (and any left waiting), up to a request that
        writes when writes are deferred; after a Close (either way) nothing more is read."""
        if self.closed:
            return []
        try:
            self._waiting.extend(self.framer.feed(data))
        except BERError as error:   # answered with a Close in its turn, after what came before it
            self._waiting.append(error)
        out = []
        while self._waiting and self.write_waiting is None and not self.closed:
            reply = self._reply(self._take, self._waiting.popleft())
            if reply is not None:
                out.append(reply)
        return out

    def answer_write(self) -> list[bytes]:
        """The answer to `write_waiting`; `receive(b"")` then goes on with the APDUs after it."""
        request = self.write_waiting
        reply = self._reply(self.handle, request)
        self.write_waiting = None
        return [reply]

    def _take(self, apdu: bytes | BERError):
        """The response to a framed APDU, or None when it is a write left for `answer_write`."""
        if isinstance(apdu, BERError):
            raise apdu
        request = z.decode_apdu(apdu)
        if self.defer_writes and isinstance(request, es.ExtendedServicesRequest):
            self.write_waiting = request
            return None
        return self.handle(request)

    def _reply(self, respond: Callable, request) -> bytes | None:
        """`respond(request)` encoded; a Close, ending the association, for a request that breaks
        the protocol or that the server fails on."""
        try:
            response = respond(request)
            return None if response is None else z.encode_apdu(response)
        except (BERError, ProtocolViolation) as error:
            self.closed = True
            return z.encode_apdu(z.Close(close_reason=6, diagnostic_information=str(error)[:200]))
        except Exception:   # a bug must still end the association with a Close, not a dropped socket
            log.exception("Z39.50 request failed")
            self.closed = True
            return z.encode_apdu(z.Close(close_reason=6, diagnostic_information="the server could not "
                                         "handle the request"))

    def handle(self, request):
        if isinstance(request, z.InitializeRequest):
            return self.init(request)
        if isinstance(request, z.Close):
            self.closed = True
            return z.Close(reference_id=request.reference_id, close_reason=0)
        if not self.initialised:
            raise ProtocolViolation("the first APDU must be an InitializeRequest")
        handlers = {z.SearchRequest: self.search, z.PresentRequest: self.present, z.ScanRequest: self.scan,
                    z.SortRequest: self.sort, z.DeleteResultSetRequest: self.delete,
                    es.ExtendedServicesRequest: self.extended_services}
        handler = handlers.get(type(request))
        if handler is None:
            raise ProtocolViolation(f"{type(request).__name__} is not supported")
        return handler(request)

    def extended_services(self, request: es.ExtendedServicesRequest) -> es.ExtendedServicesResponse:
        if request.package_type == es.ITEM_ORDER_OID and self.item_orders is not None:
            return self.item_orders.handle(request, self.user, self.session)
        return self.updates.handle(request, self.user)

    def close_for_inactivity(self) -> bytes:
        self.closed = True
        return z.encode_apdu(z.Close(close_reason=7, diagnostic_information="idle timeout"))

    # -- Init -----------------------------------------------------------------------------------
    def init(self, request: z.InitializeRequest) -> z.InitializeResponse:
        if self.initialised:
            raise ProtocolViolation("a second InitializeRequest")
        name, password = _credentials(request.id_authentication)
        self.user = self.users.authenticate(name, password)
        accepted = self.user is not None and bool(request.protocol_version & {2, 3})
        self.initialised = accepted
        # a size of 0 or less is no size asked for (yaz-client sends positive ones)
        self.message_size = min(max(request.preferred_message_size or 0, 0) or self.limits.max_apdu,
                                self.limits.max_apdu)
        self.record_size = min(max(request.exceptional_record_size or 0, 0) or self.limits.max_apdu,
                               self.limits.max_apdu)
        utf8 = "negotiationModel" in request.options and _proposes_utf8(request.other_info)
        response = z.InitializeResponse(
            reference_id=request.reference_id,
            protocol_version=frozenset(v for v in request.protocol_version if v <= 3) or frozenset({3}),
            options=request.options & (SERVER_OPTIONS | ({"negotiationModel"} if utf8 else set())),
            other_info=UTF8_SELECTED if utf8 else None,
            preferred_message_size=self.message_size,
            exceptional_record_size=self.record_size,
            result=accepted,
            implementation_id=IMPLEMENTATION_ID,
            implementation_name="unishelf union catalogue server",
            implementation_version=unishelf.__version__)
        if not accepted:
            self.closed = True  # a refused Init ends the association (Z39.50-2003 3.2.1.1)
        return response

    # -- Search ---------------------------------------------------------------------------------
    def search(self, request: z.SearchRequest) -> z.SearchResponse:
        response = z.SearchResponse(reference_id=request.reference_id, next_result_set_position=1)
        if not isinstance(request.query, z.RPNQuery):
            query_type = getattr(request.query, "query_type", 0)
            return self._failed_search(response, DIAG_QUERY_TYPE, str(query_type))
        databases = list(request.database_names) or ["unicat"]
        name = request.result_set_name or "default"
        searched = [database.lower() for database in databases]
        if searched == [EXPLAIN_DATABASE.lower()]:
            return self._explain_search(request, response, name)
        if searched == [TASK_DATABASE.lower()]:
            return self._task_package_search(request, response, name)
        if name in self.server_sets and not request.replace_indicator:
            return self._failed_search(response, DIAGNOSTICS["result-set-exists"], name)
        try:
            tree = self.bib1.to_tree(request.query)
            result = self.session.search(tree, databases, name, request.replace_indicator)
            self.server_sets.pop(name, None)
            self.set_databases[name] = databases[0]
        except QueryError as error:
            return self._failed_search(response, DIAGNOSTICS.get(error.code, 100), error.subject)
        hits = len(result)
        response.result_count = hits
        if hits <= request.small_set_upper_bound:
            count, elements = hits, request.small_set_element_set_names
        elif hits < request.large_set_lower_bound:
            count, elements = min(request.medium_set_present_number, hits), request.medium_set_element_set_names
        else:
            count, elements = 0, None
        if count:
            records, status = self._records(result.ids(0, count), elements, request.preferred_record_syntax,
                                            databases[0])
            response.records = records
            response.number_of_records_returned = len(records) if isinstance(records, tuple) else 0
            response.present_status = status
        response.next_result_set_position = response.number_of_records_returned + 1
        return response

    def _explain_search(self, request: z.SearchRequest, response: z.SearchResponse, name: str):
        try:
            found = search_explain(request.query, explain_entries(self.catalog))
        except ExplainQueryError as error:
            return self._failed_search(response, error.condition, error.addinfo)
        return self._keep_server_set(request, response, name, ServerSet(
            EXPLAIN_DATABASE, EXPLAIN_OID, [entry.record for entry in found], explain_external))

    def _task_package_search(self, request: z.SearchRequest, response: z.SearchResponse, name: str):
        """Task packages are records of the item orders this server placed (none without them)."""
        try:
            references = self.item_orders.search(request.query, self.user) if self.item_orders else []
        except QueryError as error:
            return self._failed_search(response, DIAGNOSTICS.get(error.code, 100), error.subject)
        return self._keep_server_set(request, response, name, ServerSet(
            TASK_DATABASE, es.TASK_PACKAGE_OID, references,
            lambda reference: self.item_orders.task_package(reference, self.user)))

    def _keep_server_set(self, request: z.SearchRequest, response: z.SearchResponse, name: str,
                         server_set: ServerSet) -> z.SearchResponse:
        exists = name in self.server_sets or name in self.session.result_sets
        if exists and not request.replace_indicator:
            return self._failed_search(response, DIAGNOSTICS["result-set-exists"], name)
        if not exists and len(self.server_sets) + len(self.session.result_sets) >= self.limits.max_result_sets:
            return self._failed_search(response, DIAGNOSTICS["too-many-result-sets"], str(self.limits.max_result_sets))
        self.session.delete([name])
        self.server_sets[name] = server_set
        response.result_count = len(server_set.entries)
        return response

    def _server_set_present(self, request: z.PresentRequest, server_set: ServerSet) -> z.PresentResponse:
        response = z.PresentResponse(reference_id=request.reference_id)
        entries = server_set.entries
        start, count = request.result_set_start_point, request.number_of_records_requested
        if start < 1 or count < 0 or (count and start > len(entries)):
            response.present_status = 5
            response.records = z.DefaultDiagnostic(DIAGNOSTICS["present-out-of-range"], str(start))
            return response
        syntax = request.preferred_record_syntax or server_set.syntax
        chosen = entries[start - 1:start - 1 + count]
        response.records = tuple(z.NamePlusRecord(server_set.database, self._server_record(server_set, entry, syntax))
                                 for entry in chosen)
        response.number_of_records_returned = len(chosen)
        response.next_result_set_position = start + len(chosen)
        return response

    @staticmethod
    def _server_record(server_set: ServerSet, entry, syntax: str) -> External | z.DefaultDiagnostic:
        if syntax != server_set.syntax:
            return z.DefaultDiagnostic(DIAG_NOT_IN_SYNTAX, syntax)
        return server_set.record(entry) or z.DefaultDiagnostic(RECORD_DELETED, str(entry))

    def _failed_search(self, response, condition: int, addinfo: str) -> z.SearchResponse:
        response.search_status = False
        response.result_set_status = 3  # none: no result set was created
        response.present_status = 5
        response.records = z.DefaultDiagnostic(condition, addinfo or "")
        return response

    # -- Present --------------------------------------------------------------------------------
    def present(self, request: z.PresentRequest) -> z.PresentResponse:
        server_set = self.server_sets.get(request.result_set_id or "default")
        if server_set is not None:
            return self._server_set_present(request, server_set)
        response = z.PresentResponse(reference_id=request.reference_id)
        try:
            ids = self.session.present(request.result_set_id or "default", request.result_set_start_point,
                                       request.number_of_records_requested)
        except QueryError as error:
            response.present_status = 5
            response.records = z.DefaultDiagnostic(DIAGNOSTICS.get(error.code, 100), error.subject or "")
            return response
        elements = request.record_composition
        if isinstance(elements, Node):
            elements = z.comp_spec_element_set(elements)
        records, status = self._records(ids, elements, request.preferred_record_syntax,
                                        self.set_databases.get(request.result_set_id or "default", "unicat"))
        response.records = records
        response.present_status = status
        response.number_of_records_returned = len(records) if isinstance(records, tuple) else 0
        response.next_result_set_position = request.result_set_start_point + response.number_of_records_returned
        return response

    def _records(self, ids: list[int], elements, syntax: str | None, database: str):
        """Records in the asked syntax and element set, as many as the message size allows."""
        element_set = _element_set_name(elements, database)
        if element_set is None:
            return z.DefaultDiagnostic(DIAG_ELEMENT_SET, database), 5
        schema = None
        if element_set.upper() not in ("F", "B"):
            schema = find_record_schema(element_set) if syntax in (None, *XML_OIDS) else None
            if schema is None:
                return z.DefaultDiagnostic(DIAG_ELEMENT_SET, element_set), 5
        records = []
        size = 0
        with self.catalog.store.reading() as reader:
            for record_id in ids:
                stored = reader.record(record_id)
                entry = (self._schema_record(stored, reader, schema, syntax, database) if schema
                         else self._record(stored, reader, element_set.upper(), syntax, database))
                payload = entry.record.value if isinstance(entry.record, z.External) else b""
                length = len(payload) if isinstance(payload, bytes) else 0
                if records and size + length > self.message_size:
                    return tuple(records), 3  # partial-3: the message size stopped it
                if length > self.record_size:
                    entry = z.NamePlusRecord(entry.name, z.DefaultDiagnostic(DIAG_RECORD_TOO_LARGE, str(length)))
                size += length
                records.append(entry)
        return tuple(records), 0

    @staticmethod
    def _schema_record(stored, reader, schema: RecordSchema, syntax: str | None,
                       database: str) -> z.NamePlusRecord:
        """The record in an XML schema that the element set name names (marcxml, dc, mods, opac)."""
        if reason := schema.unavailable(stored):
            return z.NamePlusRecord(database, z.DefaultDiagnostic(DIAG_NOT_IN_SYNTAX, reason))
        return z.NamePlusRecord(database, z.octet_record(syntax or XML_OIDS[0],
                                                         schema.render(stored, reader).encode("utf-8")))

    def _record(self, stored, reader, element_set: str, syntax: str | None, database: str) -> z.NamePlusRecord:
        syntax = syntax or (USMARC_OID if stored.syntax == "marc21" else UNIMARC_OID)

        def parsed():  # only what needs fields pays for parsing: a full MARC record is its bytes
            record = Catalogue.parse_stored(stored)
            return brief(record, stored.syntax) if element_set == "B" else record

        def marc() -> bytes:
            return stored.raw if element_set == "F" else write_iso2709(parsed(), stored.syntax == "marc21")

        if syntax in SYNTAX_NAMES:
            if SYNTAX_NAMES[syntax] != stored.syntax:
                return z.NamePlusRecord(database, z.DefaultDiagnostic(DIAG_NOT_IN_SYNTAX, syntax))
            return z.NamePlusRecord(database, z.octet_record(syntax, marc()))
        if syntax in XML_OIDS:
            if stored.syntax != "marc21":
                return z.NamePlusRecord(database, z.DefaultDiagnostic(DIAG_NOT_IN_SYNTAX, syntax))
            return z.NamePlusRecord(database, z.octet_record(syntax, record_xml(parsed()).encode("utf-8")))
        if syntax == OPAC_OID:
            marc_syntax = USMARC_OID if stored.syntax == "marc21" else UNIMARC_OID
            opac = opac_record(z.octet_record(marc_syntax, marc()), reader.holdings(stored.id))
            return z.NamePlusRecord(database, External(OPAC_OID, SINGLE_ASN1_TYPE, decode(opac)))
        if syntax == z.SUTRS_OID:
            return z.NamePlusRecord(database, z.sutrs_record(sutrs(parsed(), stored.syntax,
                                                                   reader.holdings(stored.id))))
        return z.NamePlusRecord(database, z.DefaultDiagnostic(DIAG_NOT_IN_SYNTAX, syntax))

    # -- Scan, Sort, Delete ---------------------------------------------------------------------
    def scan(self, request: z.ScanRequest) -> z.ScanResponse:
        response = z.ScanResponse(reference_id=request.reference_id, step_size=request.step_size or 0)
        start = request.term_list_and_start_point
        count = max(0, min(request.number_of_terms_requested, MAX_SCAN_TERMS))
        position = max(1, min(request.preferred_position_in_response or 1, count + 1))
        step = request.step_size or 0
        if not 0 <= step <= MAX_SCAN_TERMS:
            response.scan_status = 6
            response.nonsurrogate_diagnostics = (z.DefaultDiagnostic(DIAG_STEP_SIZE, str(step)),)
            return response
        try:
            term = self.bib1.term(start)
            entries = self.catalog.engine.scan(
                term.index, start.term, list(request.database_names) or ["unicat"],
                count=count, position=position, whole_field=term.structure == "field", step=step)
        except QueryError as error:
            response.scan_status = 6
            response.nonsurrogate_diagnostics = (z.DefaultDiagnostic(DIAGNOSTICS.get(error.code, 100),
                                                                     error.subject or ""),)
            return response
        response.entries = tuple(z.TermInfo(text, global_occurrences=n) for text, n in entries)
        response.number_of_entries_returned = len(entries)
        # where the start term stands, or would stand (past the end when no term follows it)
        response.position_of_term = entries.start_position if entries else None
        response.scan_status = 0 if len(entries) == request.number_of_terms_requested else 1   # partial
        return response

    def sort(self, request: z.SortRequest) -> z.SortResponse:
        response = z.SortResponse(reference_id=request.reference_id)
        try:
            keys = [self._sort_key(spec) for spec in request.sort_sequence]
            result = self.session.sort(list(request.input_result_set_names), request.sorted_result_set_name, keys)
            self.server_sets.pop(request.sorted_result_set_name, None)   # the sorted set replaces it
        except QueryError as error:
            response.sort_status = 2
            response.result_set_status = 4
            response.diagnostics = (z.DefaultDiagnostic(DIAGNOSTICS.get(error.code, 100), error.subject or ""),)
            return response
        response.result_count = len(result)
        return response

    def _sort_key(self, spec: z.SortKeySpec) -> tuple[str, bool]:
        element = spec.sort_element
        if isinstance(element, z.SortAttributes):
            use = next((a.value for a in element.attributes if a.type == 1), None)
            index = self.bib1.use.get(str(use), use if isinstance(use, str) else None)
        elif isinstance(element, z.SortField):
            index = element.name
        else:
            index = None
        if index not in self.catalog.points.sortable or spec.sort_relation not in SORT_RELATIONS:
            raise QueryError("unsupported-sort", f"cannot sort by {index or element!r}", str(index or ""))
        return index, SORT_RELATIONS[spec.sort_relation]

    def delete(self, request: z.DeleteResultSetRequest) -> z.DeleteResultSetResponse:
        names = None if request.delete_function == 1 else list(request.result_set_list or ())
        existed = self.session.delete(names)
        for name in list(self.server_sets) if names is None else names:
            if self.server_sets.pop(name, None) is not None:
                existed[name] = True
        statuses = tuple((name, 0 if found else 1) for name, found in existed.items())
        all_found = all(existed.values())
        return z.DeleteResultSetResponse(
            reference_id=request.reference_id, delete_operation_status=0 if all_found else 1,
            delete_list_statuses=statuses if request.delete_function == 0 else None,
            number_not_deleted=None if all_found else sum(1 for found in existed.values() if not found))


def _element_set_name(elements: z.ElementSetNames | None, database: str) -> str | None:
    """The element set name asked for a database's records: the generic one; the one a
    databaseSpecific list pairs with the database (database names ignore case, as in Search);
    F (full) when none is asked. None: a databaseSpecific list without the database."""
    if elements is None:
        return "F"
    if isinstance(elements, str):
        return elements
    return next((name for listed, name in elements if listed.lower() == database.lower()), None)


def _proposes_utf8(other_info: Node | None) -> bool:
    """Whether Init's otherInfo carries a character-set proposal (negotiation-3) naming UTF-8."""
    if other_info is None:
        return False
    for unit in other_info.children or ():
        for information in unit.children or ():
            if information.tag != (CONTEXT, 4):
                continue
            try:
                negotiation = decode_external(information)
            except BERError:
                continue
            if negotiation.direct_reference == NEGOTIATION_OID and UTF8_ENCODING in encode(negotiation.value):
                return True
    return False


def _utf8_selected() -> Node:
    """otherInfo answering a negotiation: UTF-8 (ISO 10646 encoding level 1.0.10646.1.0.8) chosen,
    records in it. Z39.50-2003 Appendix 14, CharSetandLanguageNegotiation-3, TargetResponse."""
    iso10646 = context_constructed(2, context_primitive(2, oid_content(UTF8_OID)))
    target_response = context_constructed(2, context_constructed(1, iso10646) + context_boolean(3, True))
    external = External(NEGOTIATION_OID, SINGLE_ASN1_TYPE, decode(target_response))
    unit = tlv(b"\x30", context_constructed(4, external_content(external)))
    return decode(context_constructed(201, unit))


def _credentials(authentication) -> tuple[str | None, str | None]:
    """(user, password) from idPass or the open form "user/password"; (None, None) if anonymous."""
    if isinstance(authentication, z.IdPass):
        return authentication.user_id, authentication.password
    if isinstance(authentication, z.OpenAuth):
        name, _, password = authentication.text.partition("/")
        return name or None, password
    return None, None


UTF8_SELECTED = _utf8_selected()  # the same answer for every association that proposes UTF-8
