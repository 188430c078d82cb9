"""Wiring: the store, access points, catalogue rules and search engine that one config describes."""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config, ConfigError
from .marc.access_points import AccessPoints
from .marc.catalogue import Catalogue, HoldingsFieldMap
from .marc.store import Store
from .oaipmh.formats import RENDERERS
from .search.bib1 import Bib1Mapping
from .search.engine import Database, Engine
from .writes import InlineWrites, WriteThread


@dataclass
class Catalog:
    config: Config
    store: Store
    points: AccessPoints
    catalogue: Catalogue
    engine: Engine
    bib1: Bib1Mapping
    writes: InlineWrites | WriteThread = field(default_factory=InlineWrites)   # where requests that write run

    def close(self):
        self.store.close()


def databases(config: Config) -> dict[str, Database]:
    """The configured databases plus one view per member library, named by its code."""
    result = {name: Database(name, spec["kind"]) for name, spec in config["databases"].items()}
    for library in config.libraries:
        result[library.code] = Database(library.code, "bib", library.code)
    return result


def prerenderers(config: Config) -> dict:
    unknown = set(config["oai"]["prerender"]) - set(RENDERERS)
    if unknown:
        raise ConfigError(config.source, "oai.prerender", f"{sorted(unknown)[0]!r} is not one of {', '.join(RENDERERS)}")
    return {name: RENDERERS[name] for name in config["oai"]["prerender"]}


def open_catalog(config: Config, readonly: bool = False) -> Catalog:
    store = Store(config.store_path, map_size=config.map_size, readonly=readonly)
    points = AccessPoints.from_file(config.path("indexes"), store)
    if not readonly:
        store.keep_pair_words(points.pair_words)
    holdings_fields = [HoldingsFieldMap(tag, **{k: str(v) for k, v in spec.items()})
                       for tag, spec in config["holdings"]["fields"].items()]
    catalogue = Catalogue(points, config["matching"]["rules"], holdings_fields, prerenderers(config))
    engine = Engine(store, points, databases(config))
    return Catalog(config, store, points, catalogue, engine, Bib1Mapping.from_file(config.path("bib1"), points))
