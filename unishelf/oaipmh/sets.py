"""The OAI-PMH sets: one per holding library, one per material type, and sets defined by a query.

    library            records some member library holds
    library:CODE       records that library holds
    type               every record, by material type
    type:TYPE          records of that material type (from the leader; config/indexes.yaml)
    SPEC               a set from config `oai.sets`, whose members a PQF query finds

Live members come from the search indexes as bitmaps. A tombstone is in the sets its record
was in when deleted (the change log keeps its libraries and material type), so a
harvester of a set learns of the deletion; query sets cannot be evaluated for tombstones and
list them not.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyroaring import BitMap

from unishelf.marc.store import ROW_DELETED, ROW_LIBRARIES, ROW_MATERIAL_TYPE, ROW_RECORD_ID
from unishelf.search.tree import Node, Term
from unishelf.z3950.pqf import parse_pqf


@dataclass(frozen=True)
class SetDefinition:
    spec: str
    name: str
    query: Node | None = None      # for config sets


class SetCatalogue:
    def __init__(self, catalog):
        self.engine = catalog.engine
        self.points = catalog.points
        self.libraries = {library.code: library.name or library.code for library in catalog.config.libraries}
        self.types = sorted({t for by_syntax in self.points.material_types.values()
                             for by_type in by_syntax.values() for t in by_type.values()} | {"other"})
        self.configured = [SetDefinition(str(s["spec"]), str(s["name"]), catalog.bib1.to_tree(parse_pqf(s["query"])))
                           for s in catalog.config["oai"]["sets"]]

    def definitions(self) -> list[SetDefinition]:
        """Every set, each ancestor before its children (ListSets lists them all)."""
        sets = [SetDefinition("library", "Held by member libraries")]
        sets += [SetDefinition(f"library:{code}", f"Held by {name}") for code, name in self.libraries.items()]
        sets.append(SetDefinition("type", "By material type"))
        sets += [SetDefinition(f"type:{t}", f"Material type: {t}") for t in self.types]
        return sets + self.configured

    def exists(self, spec: str) -> bool:
        return any(d.spec == spec for d in self.definitions())

    def members(self, spec: str) -> "SetMembers":
        """What decides membership in a set, evaluated once per page."""
        family, _, value = spec.partition(":")
        if family == "library":
            codes = [value] if value else list(self.libraries)
            live = BitMap()
            for code in codes:
                live |= self.engine.search(Term("library", code)).bitmap
            return SetMembers(live, libraries=set(codes))
        if family == "type":
            if not value:
                return SetMembers(None)
            return SetMembers(self.engine.search(Term("material-type", value)).bitmap, material_type=value)
        live = BitMap()   # a configured set and its descendants
        for definition in self.configured:
            if definition.spec == spec or definition.spec.startswith(spec + ":"):
                live |= self.engine.search(definition.query).bitmap
        return SetMembers(live)

    def configured_bitmaps(self) -> list[tuple[str, BitMap]]:
        return [(d.spec, self.engine.search(d.query).bitmap) for d in self.configured]


@dataclass
class SetMembers:
    """Membership in one set; `live` None means every record belongs."""

    live: BitMap | None
    libraries: set[str] | None = None     # a tombstone belongs if it was held by one of these
    material_type: str | None = None      # ... or if it is of this type

    def holds(self, row: tuple) -> bool:
        """Whether the record of this change log row (Reader.change_rows) is in the set."""
        if self.live is None:
            return True
        if not row[ROW_DELETED]:
            return row[ROW_RECORD_ID] in self.live
        if self.libraries is not None:
            return bool(self.libraries.intersection(row[ROW_LIBRARIES]))
        return row[ROW_MATERIAL_TYPE] == self.material_type
