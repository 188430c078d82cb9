"""A client's named result sets over the one engine: the backend that Z39.50 associations (and
SRU's reusable result sets) stand on, as YAZ's generic frontend stands on its backend.

Protocol front ends translate their requests into these calls and the QueryError codes into
their own diagnostics (see `bib1.DIAGNOSTICS`).
"""
from __future__ import annotations

from .engine import Engine, ResultSet
from .tree import Node, QueryError


class Session:
    def __init__(self, engine: Engine, max_result_sets: int = 20):
        self.engine = engine
        self.max_result_sets = max_result_sets
        self.result_sets: dict[str, ResultSet] = {}

    def search(self, tree: Node, databases, name: str = "default", replace: bool = True) -> ResultSet:
        """Evaluate and keep the result under `name` (other sets may be used by the query)."""
        if name in self.result_sets and not replace:
            raise QueryError("result-set-exists", f"result set {name!r} exists", name)
        if name not in self.result_sets and len(self.result_sets) >= self.max_result_sets:
            raise QueryError("too-many-result-sets", f"at most {self.max_result_sets} result sets",
                             str(self.max_result_sets))
        result = self.engine.search(tree, databases, self.result_sets)
        self.result_sets[name] = result
        return result

    def result_set(self, name: str) -> ResultSet:
        if name not in self.result_sets:
            raise QueryError("no-result-set", f"result set {name!r} does not exist", name)
        return self.result_sets[name]

    def present(self, name: str, start: int, count: int) -> list[int]:
        """Record ids at 1-based positions start .. start+count-1 of a result set."""
        result = self.result_set(name)
        if start < 1 or count < 0 or (count and start > len(result)):
            raise QueryError("present-out-of-range", f"records {start}+{count} of {len(result)}",
                             str(start))
        return result.ids(start - 1, count)

    def sort(self, inputs: list[str], output: str, keys: list[tuple[str, bool]]) -> ResultSet:
        """Sort one result set by (access point, ascending) keys into `output` (may be the input)."""
        if len(inputs) != 1:
            raise QueryError("unsupported-sort", "one input result set can be sorted", ",".join(inputs))
        result = self.engine.sort(self.result_set(inputs[0]), keys)
        if output not in self.result_sets and len(self.result_sets) >= self.max_result_sets:
            raise QueryError("too-many-result-sets", f"at most {self.max_result_sets} result sets",
                             str(self.max_result_sets))
        self.result_sets[output] = result
        return result

    def delete(self, names: list[str] | None = None) -> dict[str, bool]:
        """Delete the named result sets (all with None); name -> whether it existed."""
        if names is None:
            names = list(self.result_sets)
        return {name: self.result_sets.pop(name, None) is not None for name in names}
