"""The SRU Explain record (ZeeRex 2.0) of a database, made from the configuration on each request.

It names the server as the client reached it, the database with its live record count, every
CQL context set and index (with the access point titles of config/cql.yaml, and whether each
sorts), the record schemas, and the defaults and limits of the `sru` configuration. SRU 2.0's
Explain schema (OASIS explain.xsd) requires a <searchInfo> that the classic ZeeRex schema of
SRU 1.x does not have, so it is written for 2.0 only.
"""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import unishelf

from unishelf.search.record_schemas import SCHEMAS

from .record_schemas import record_schema
from .settings import SRUSettings

ZEEREX_NS = "http://explain.z3950.org/dtd/2.0/"


def _text(value) -> str:
    return escape(str(value))


def database_title(catalog, name: str) -> str:
    database = catalog.engine.database(name)
    if database.library:
        library = next((lib.name for lib in catalog.config.libraries if lib.code == database.library and lib.name),
                       database.library)
        return f"Holdings of member library {library}"
    return "Union catalogue" if database.kind == "bib" else "Authority records"


def _scannable(catalog, info) -> bool:
    """Scan lists the terms of one access point (not of a union, nor of the special indexes)."""
    return len(info.points) == 1 and info.points[0] in catalog.points


def zeerex(catalog, mapping, settings: SRUSettings, database: str, host: str, port: int, version: str) -> str:
    """The <explain> record of `database` (which must exist) as the server at host:port serves it."""
    records = catalog.engine.count(database)
    server = (f'<serverInfo protocol="SRU" version="{version}" transport="http">'
              f"<host>{_text(host)}</host><port>{port}</port>"
              f'<database numRecs="{records}">{_text(database)}</database></serverInfo>')
    title = database_title(catalog, database)
    about = (f'<databaseInfo><title lang="en" primary="true">{_text(title)}</title>'
             f'<description lang="en" primary="true">{_text(title)} of the consortium, '
             f"{records} records, with the holdings of each member library</description>"
             f'<implementation identifier="unishelf" version="{unishelf.__version__}">'
             "<title>unishelf</title></implementation></databaseInfo>")
    indexes = mapping.indexes()
    sets = "".join(f"<set name={quoteattr(prefix)} identifier={quoteattr(uri)}/>"
                   for prefix, uri in mapping.context_sets().items())
    listed = "".join(f'<index search="true" scan="{str(_scannable(catalog, info)).lower()}" '
                     f'sort="{str(info.sortable).lower()}"><title>{_text(info.title)}</title>'
                     f"<map><name set={quoteattr(info.prefix)}>{_text(info.name)}</name></map></index>"
                     for info in indexes)
    sort_keywords = "".join(f"<sortKeyword>{_text(info.prefix)}.{_text(info.name)}</sortKeyword>"
                            for info in indexes if info.sortable)
    schemas = "".join(f"<schema identifier={quoteattr(s.identifier)} name={quoteattr(s.name)} "
                      f'location={quoteattr(s.location)} sort="false" retrieve="true">'
                      f"<title>{_text(s.title)}</title></schema>" for s in SCHEMAS)
    config = (f'<configInfo><default type="numberOfRecords">{settings.default_records}</default>'
              f'<default type="retrieveSchema">{_text(record_schema(settings.default_schema).identifier)}</default>'
              f'<setting type="maximumRecords">{settings.max_records}</setting>'
              f'<setting type="maximumTerms">{settings.max_terms}</setting>'
              f'<setting type="resultSetTTL">{settings.max_result_set_ttl}</setting>'
              '<supports type="resultSets"/><supports type="sort"/><supports type="scan"/>'
              '<supports type="proximity"/><supports type="stylesheet"/></configInfo>')
    search_info = "<searchInfo/>" if version == "2.0" else ""
    return (f'<explain xmlns="{ZEEREX_NS}" authoritative="true">{server}{about}'
            f"<indexInfo>{sets}{listed}{sort_keywords}</indexInfo>{search_info}"
            f"<schemaInfo>{schemas}</schemaInfo>{config}</explain>")
