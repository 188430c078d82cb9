"""The SRU server, sans-I/O: a database name and request parameters in, a response document out.

searchRetrieve, scan and explain run on the same engine, CQL mapping and store as everything
else: a CQL query becomes the query tree Z39.50's RPN also becomes, so both protocols find the
same records. Whatever goes wrong, from a bad parameter to a record a crosswalk cannot take,
comes back as an SRU diagnostic in a valid response of the operation and version asked for.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from pyroaring import BitMap

from unishelf.search.engine import ResultSet
from unishelf.search.tree import Node, QueryError, ResultSetRef, Term
from unishelf.z3950.pqf import PQFError, parse_pqf
from unishelf.z3950.rpn import AttributesPlusTerm

from . import cql, responses
from .cql import CQLError
from .cql_query import CQLMapping
from .diagnostics import SRUDiagnostic
from .explain import zeerex
from .parameters import Request, parse_request
from .record_schemas import schema_record
from .result_sets import ResultSetStore
from .settings import SRUSettings
from .sort_keys import parse_sort_keys

log = logging.getLogger("unishelf.sru")
DEFAULT_DATABASE = "unicat"


class SRUService:
    def __init__(self, catalog, settings: SRUSettings | None = None, mapping: CQLMapping | None = None,
                 result_sets: ResultSetStore | None = None):
        self.catalog = catalog
        self.engine = catalog.engine
        self.settings = settings or SRUSettings.from_config(catalog.config)
        self.mapping = mapping or CQLMapping.from_file(catalog.config.path("cql"), catalog.points)
        self.result_sets = result_sets or ResultSetStore(catalog.config.data_dir / "sru-result-sets",
                                                         self.settings.result_sets)

    def respond(self, database: str, arguments: dict[str, list[str]], host: str, port: int) -> str:
        """The response document to one request for `database`, reached at host:port."""
        request = parse_request(arguments, self.settings)
        try:
            if request.error is None and self.engine.database(database) is None:
                request = replace(request, error=SRUDiagnostic(235, database))
            if request.operation == "explain":
                return self._explain(request, database, host, port)
            if request.error is not None:
                return self._failed(request, request.error)
            if request.operation == "scan":
                return self._scan(request, database)
            return self._search_retrieve(request, database)
        except Exception:   # a bug must still leave the client a valid response
            log.exception("SRU %s on %s failed: %r", request.operation, database, arguments)
            return self._failed(request, SRUDiagnostic(1, request.operation))

    def _failed(self, request: Request, diagnostic: SRUDiagnostic) -> str:
        if request.operation == "scan":
            return responses.scan_response(request.version, [], [diagnostic], request.stylesheet)
        return responses.search_retrieve_response(request.version, 0, [], [diagnostic],
                                                  stylesheet=request.stylesheet)

    # -- explain ------------------------------------------------------------------------------
    def _explain(self, request: Request, database: str, host: str, port: int) -> str:
        """An explainResponse always carries a record: with a diagnostic, the server's default
        database's, so the client still learns what there is."""
        described = database if self.engine.database(database) is not None else DEFAULT_DATABASE
        record = zeerex(self.catalog, self.mapping, self.settings, described, host, port, request.version)
        errors = [request.error] if request.error else []
        return responses.explain_response(request.version, record, request.escaping, errors, request.stylesheet)

    # -- searchRetrieve -----------------------------------------------------------------------
    def _search_retrieve(self, request: Request, database: str) -> str:
        try:
            if request.query_type == "pqf":
                tree, sort_by = self.catalog.bib1.to_tree(parse_pqf(request.query)), ()
            else:
                query = cql.parse(request.query)
                tree, sort_by = self.mapping.to_tree(query.root), query.sort
            if sort_by and request.sort_keys:
                raise SRUDiagnostic(6, "sortKeys", "sort with sortKeys or with a CQL sortBy, not both")
            sort = self.mapping.sort_keys(sort_by or parse_sort_keys(request.sort_keys or ""))
            result, kept = self._search(tree, database, bool(sort))
            if sort:
                result = self.engine.sort(result, sort)
        except CQLError as error:
            return self._failed(request, SRUDiagnostic.from_cql_error(error))
        except QueryError as error:
            return self._failed(request, SRUDiagnostic.from_query_error(error))
        except PQFError as error:
            return self._failed(request, SRUDiagnostic(10, request.query, str(error)))
        except SRUDiagnostic as diagnostic:
            return self._failed(request, diagnostic)
        if request.result_set_ttl:
            kept = (self.result_sets.keep(result, request.result_set_ttl), request.result_set_ttl)
        hits = len(result)
        start, records, diagnostics = request.start_record, [], []
        if request.maximum_records and start > hits and start > 1:
            diagnostics.append(SRUDiagnostic(61, str(start)))
        elif request.maximum_records:
            records = self._records(request, result.ids(start - 1, request.maximum_records))
        following = start + len(records)
        return responses.search_retrieve_response(
            request.version, hits, records, diagnostics, kept,
            following if records and following <= hits else None, request.stylesheet)

    def _search(self, tree: Node, database: str, sorting: bool) -> tuple[ResultSet, tuple[str, int] | None]:
        """The result, and (name, seconds to live) when it is a kept result set used as it is:
        paging through one keeps its order (sorted or ranked) and its name."""
        if isinstance(tree, ResultSetRef) and not sorting:
            kept = self.result_sets.get(tree.name)
            if kept is None:
                raise SRUDiagnostic(51, tree.name)
            result, ttl = kept
            scope = self.engine.scope(database)
            if not result.bitmap.issubset(scope):
                ids = [record_id for record_id in result.ids() if record_id in scope]
                result = ResultSet(BitMap(ids), ids)
            return result, (tree.name, ttl)
        return self.engine.search(tree, [database], self.result_sets.by_name()), None

    def _records(self, request: Request, ids: list[int]) -> list[str]:
        """<record> elements for the ids, each in the asked schema or a surrogate diagnostic."""
        schema, version, escaping = request.schema, request.version, request.escaping
        out = []
        with self.catalog.store.reading() as reader:
            for position, record_id in enumerate(ids, request.start_record):
                stored = reader.record(record_id)
                try:
                    if stored is None or stored.deleted:
                        raise SRUDiagnostic(65, str(record_id))
                    data = schema_record(schema, stored, reader)
                    out.append(responses.record_element(version, schema.identifier, data, escaping, position))
                except SRUDiagnostic as diagnostic:
                    out.append(responses.surrogate_element(version, diagnostic, escaping, position))
                except Exception:   # one record a crosswalk cannot take must not cost the others
                    log.exception("record %s in schema %s failed", record_id, schema.name)
                    failed = SRUDiagnostic(63, str(record_id))
                    out.append(responses.surrogate_element(version, failed, escaping, position))
        return out

    # -- scan -----------------------------------------------------------------------------------
    def _scan(self, request: Request, database: str) -> str:
        """Terms from the scan term on; responsePosition N puts N-1 terms before it (0 is read as 1:
        the engine lists from the first term at or after the scan term)."""
        try:
            term = self._scan_term(request)
            entries = self.engine.scan(term.index, term.text, [database], count=request.maximum_terms,
                                       position=max(request.response_position, 1),
                                       whole_field=term.structure == "field")
        except CQLError as error:
            return self._failed(request, SRUDiagnostic.from_cql_error(error))
        except QueryError as error:
            return self._failed(request, SRUDiagnostic.from_query_error(error))
        except PQFError as error:
            return self._failed(request, SRUDiagnostic(10, request.scan_clause, str(error)))
        except SRUDiagnostic as diagnostic:
            return self._failed(request, diagnostic)
        return responses.scan_response(request.version, entries, [], request.stylesheet)

    def _scan_term(self, request: Request) -> Term:
        """The access point and start term of a scan clause: one CQL search clause, or one PQF term."""
        if request.query_type == "pqf":
            start = parse_pqf(request.scan_clause).root
            if not isinstance(start, AttributesPlusTerm):
                raise SRUDiagnostic(10, request.scan_clause, "a PQF scan clause is one term with its attributes")
            return replace(self.catalog.bib1.term(start), text=start.term)
        clause = cql.parse(request.scan_clause)
        if not isinstance(clause.root, cql.SearchClause) or clause.sort:
            raise SRUDiagnostic(10, request.scan_clause, "a scan clause is one index, relation and term")
        term = self.mapping.to_tree(clause.root)
        if not isinstance(term, Term):
            index = clause.root.index or "cql.serverChoice"
            raise SRUDiagnostic(16, str(index), f"{index} is not one access point, so it cannot be scanned")
        return term
