"""Bulk loading: files in, records stored, every bad record reported and kept aside.

Records are written in batches, one LMDB transaction each: a batch is durable once its commit
returns, and the progress line only counts committed records. A record that cannot be read is
reported (file, position, reason), appended to the rejects file as it was, and counted; the load
goes on. MARC21 holdings records (MFHD) attach their 852 holdings to the bibliographic record
their 004 names, even when that record comes later in the load.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .catalogue import Catalogue
from .reading import ReadRecord, Rejected, read_file
from .store import Store


@dataclass
class LoadReport:
    counts: Counter = field(default_factory=Counter)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)  # file, position, reason
    warnings: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(self.counts[k] for k in ("created", "updated", "attached", "unchanged", "rejected"))

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        parts = [f"{self.counts[k]} {k}" for k in ("created", "updated", "attached", "unchanged", "rejected")]
        lines = [f"{self.read} records read in {self.seconds:.1f} s ({rate:,.0f}/s): " + ", ".join(parts)]
        lines += [f"  warning x{n}: {w}" for w, n in self.warnings.most_common()]
        return "\n".join(lines)


class Loader:
    def __init__(self, store: Store, catalogue: Catalogue, batch_size: int = 20000,
                 rejects_path: Path | None = None, progress: Callable[[str], None] | None = None):
        self.store = store
        self.catalogue = catalogue
        self.batch_size = batch_size
        self.rejects_path = rejects_path
        self.progress = progress

    def load(self, paths, fmt: str = "auto", library: str | None = None) -> LoadReport:
        report = LoadReport()
        started = time.perf_counter()
        batch: list[tuple[str, ReadRecord]] = []
        deferred: list[tuple[str, ReadRecord]] = []
        for path in paths:
            for item in read_file(path, fmt):
                if isinstance(item, Rejected):
                    self._reject(report, str(path), item.position, item.reason, item.raw)
                    continue
                for warning in item.warnings:
                    report.warnings[warning] += 1
                batch.append((str(path), item))
                if len(batch) >= self.batch_size:
                    deferred += self._write(batch, library, report, started)
                    batch = []
        deferred = self._write(batch, library, report, started) + deferred
        unresolved = self._write(deferred, library, report, started, final=True)
        for path, item in unresolved:
            self._reject(report, path, item.position,
                         f"holdings record for 004 {item.record.control('004')!r}, not in the catalogue",
                         item.raw)
        report.seconds = time.perf_counter() - started
        return report

    def _write(self, batch, library, report, started, final=False):
        """Write one batch in one transaction; return the holdings records still unresolved."""
        unresolved = []
        if not batch:
            return unresolved
        with self.store.writing() as writer:
            for path, item in batch:
                if item.kind == "holdings":
                    if not self._attach_mfhd(writer, item, library, report):
                        unresolved.append((path, item))
                    continue
                outcome = self.catalogue.add(writer, item, library)
                report.counts[outcome.action] += 1
            writer.flush()
        if self.progress:
            elapsed = time.perf_counter() - started
            self.progress(f"{report.read:>9,} records  {report.read / elapsed:8,.0f}/s  "
                          f"{report.counts['rejected']:,} rejected")
        return unresolved

    def _attach_mfhd(self, writer, item: ReadRecord, library, report) -> bool:
        record = item.record
        bib_control = (record.control("004") or "").strip()
        scope = (record.control("003") or "").strip() or "@" + (library or "-")
        targets = writer.match(f"ctl:{scope}:{bib_control}") if bib_control else []
        if not targets:
            return False
        for code, items in self.catalogue.holdings_of(record, library).items():
            outcome = self.catalogue.attach_holdings(writer, targets[0], code, items)
            report.counts[outcome.action] += 1
        return True

    def _reject(self, report, path, position, reason, raw):
        report.counts["rejected"] += 1
        report.rejects.append((path, position, reason))
        if self.rejects_path:
            with open(self.rejects_path, "ab") as handle:
                handle.write(raw if raw.endswith(b"\x1d") else raw + b"\x1d")


def print_progress(line: str):
    sys.stderr.write("\r" + line)
    sys.stderr.flush()
