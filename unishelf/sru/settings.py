"""SRU's limits and defaults, from the `sru` section of the configuration."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SRUSettings:
    """See config/defaults.yaml `sru` for what each means."""

    default_schema: str = "marcxml"
    default_records: int = 10
    max_records: int = 1000
    default_terms: int = 20
    max_terms: int = 1000
    max_result_set_ttl: int = 3600
    result_sets: int = 1000

    @classmethod
    def from_config(cls, config) -> "SRUSettings":
        return cls(**config["sru"])
