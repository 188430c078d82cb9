"""The Zebra side of the unishelf benchmarks: index, count, serve.

Index Data's Zebra (Debian ``idzebra-2.0``, plus ``yaz`` for yaz-client)
is the reference engine unishelf is measured against. This module drives
it with the configuration in ``bench/zebra/`` so that both engines index
the same MARC21 records with the same bib-1 access points.

Each index lives in its own work directory, a self-contained copy of
``bench/zebra/*`` plus ``register/``; ``zebrasrv -f yazgfs.xml`` can be
started from it later.

CLI::

    python bench/zebra_side.py index N [--workdir DIR] [--json]
    python bench/zebra_side.py count WORKDIR PQF...
    python bench/zebra_side.py serve WORKDIR [PORT]     # Ctrl-C stops it

Standard library only; it never installs anything (apt-get is the
caller's job: ``apt-get install -y idzebra-2.0 yaz``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lc_corpus  # noqa: E402

CONF_DIR = Path(__file__).resolve().parent / "zebra"
CONF_FILES = ("zebra.cfg", "marc21bench.abs", "cql2pqf.properties", "yazgfs.xml")
# Sub-directories named in zebra.cfg (register, keyTmpDir/setTmpDir, lockDir).
WORK_SUBDIRS = ("register", "tmp", "lock")
DEFAULT_PORT = 9910
_SRU_NS = {"zs": "http://www.loc.gov/zing/srw/",
           "diag": "http://www.loc.gov/zing/srw/diagnostic/"}


class ZebraError(RuntimeError):
    """zebraidx/zebrasrv failed, or Zebra answered a query with a diagnostic."""


def available() -> bool:
    """True if Zebra is installed, so benchmarks can skip rather than fail."""
    return shutil.which("zebraidx") is not None and shutil.which("zebrasrv") is not None


def prepare_workdir(workdir: str | os.PathLike) -> Path:
    """Create an empty work dir holding a copy of the config.

    An existing directory is wiped only if it looks like one of ours
    (has zebra.cfg and register/), so a typo cannot delete unrelated data.
    """
    w = Path(workdir).resolve()
    if w.exists() and any(w.iterdir()):
        if not ((w / "zebra.cfg").is_file() and (w / "register").is_dir()):
            raise ZebraError(f"{w} is not empty and is not a Zebra work dir; refusing to wipe it")
        shutil.rmtree(w)
    w.mkdir(parents=True, exist_ok=True)
    for name in CONF_FILES:
        shutil.copyfile(CONF_DIR / name, w / name)
    for sub in WORK_SUBDIRS:
        (w / sub).mkdir()
    return w


def _run_measured(cmd: list[str], cwd: Path) -> tuple[float, os.struct_rusage]:
    """Run ``cmd`` and return (wall seconds, its own rusage).

    os.wait4 gives the rusage of exactly this child (peak RSS included)
    without depending on /usr/bin/time, which a fresh machine may lack.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise ZebraError(f"{' '.join(cmd)} exited with {rc} (see logs in {cwd})")
    return wall, ru


def _dir_bytes(d: Path) -> tuple[int, int]:
    """(allocated bytes as du counts them, apparent bytes) under ``d``."""
    disk = apparent = 0
    for p in d.rglob("*"):
        if p.is_file():
            st = p.stat()
            disk += st.st_blocks * 512
            apparent += st.st_size
    return disk, apparent


def _records_stats(log: Path) -> tuple[int, int, int]:
    """Last "Records: N i/u/d a/b/c" line of a zebraidx log -> (i, u, d)."""
    last = None
    for m in re.finditer(r"Records: \d+ i/u/d (\d+)/(\d+)/(\d+)", log.read_text(errors="replace")):
        last = m
    if last is None:
        raise ZebraError(f"no record statistics in {log}")
    return tuple(int(x) for x in last.groups())  # type: ignore[return-value]


def index(records_file: str | os.PathLike, workdir: str | os.PathLike,
          n_records: int | None = None) -> dict:
    """Index an ISO 2709 file into a fresh work dir and measure it.

    Runs ``zebraidx init`` then ``zebraidx update FILE`` (see `update`).
    The figures are for the update alone (init only creates empty
    registers), with the register size after indexing.
    """
    w = prepare_workdir(workdir)
    init_wall, _ = _run_measured(
        ["zebraidx", "-c", "zebra.cfg", "-l", "zebraidx-init.log", "init"], w)
    figures = update(records_file, w, n_records)
    disk, apparent = _dir_bytes(w / "register")
    return {**figures, "register_bytes": disk, "register_apparent_bytes": apparent, "init_wall_s": init_wall}


def update(records_file: str | os.PathLike, workdir: str | os.PathLike,
           n_records: int | None = None) -> dict:
    """``zebraidx update FILE`` in a work dir of `index`, measured: records
    whose 001 (the recordId) is indexed already replace the old ones.

    Wall seconds, records/s, CPU seconds and zebraidx peak RSS. ``n_records``
    defaults to counting the file. Raises ZebraError unless Zebra inserted
    or updated every record, so a benchmark never compares against a
    partial index.
    """
    records_file = Path(records_file).resolve()
    n = lc_corpus.count_records(records_file) if n_records is None else n_records
    w = Path(workdir)
    log = f"zebraidx-update-{records_file.stem}.log"
    wall, ru = _run_measured(["zebraidx", "-c", "zebra.cfg", "-l", log, "update", str(records_file)], w)
    inserted, updated, deleted = _records_stats(w / log)
    if inserted + updated != n:
        raise ZebraError(f"zebraidx indexed {inserted}+{updated} of {n} records (see {w / log})")
    return {
        "engine": "zebra",
        "records": n,
        "input_bytes": records_file.stat().st_size,
        "wall_s": wall,
        "records_per_s": n / wall if wall > 0 else float("inf"),
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_rss_bytes": ru.ru_maxrss * 1024,  # Linux reports KiB
        "inserted": inserted,
        "updated": updated,
        "workdir": str(w),
    }


def _pids_with_parent(ppid: int) -> list[int]:
    """Children of ``ppid`` (zebrasrv forks one per session), from /proc."""
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            # Field 4 is the ppid; the comm field may contain spaces, so
            # split after its closing parenthesis.
            if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
                kids.append(int(d.name))
    return kids


class ZebraServer:
    """A zebrasrv serving one work dir; use as a context manager.

    ``port=None`` listens on a private Unix socket and runs with ``-S``
    (one process, no forking): the cheap, port-free way to count hits.
    With a port it serves Z39.50 and SRU on 127.0.0.1:PORT using the work
    dir's yazgfs.xml (USMARC + MARCXML), forking per session like a
    production Zebra; ``threaded=True`` adds ``-T``. Only processes this
    object started are signalled on stop.
    """

    def __init__(self, workdir: str | os.PathLike, port: int | None = None,
                 threaded: bool = False, log_level: str = "warn"):
        self.workdir = Path(workdir).resolve()
        if not (self.workdir / "register").is_dir():
            raise ZebraError(f"{self.workdir} has no register; run index() first")
        self.port = port
        self.threaded = threaded
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self._sockdir: str | None = None
        self.address = ""

    def start(self) -> "ZebraServer":
        """Start zebrasrv and wait until it accepts connections."""
        w = self.workdir
        cmd = ["zebrasrv", "-l", "zebrasrv.log", "-v", self.log_level]
        if self.port is None:
            # AF_UNIX paths are limited to ~107 bytes, so not in workdir.
            self._sockdir = tempfile.mkdtemp(prefix="zebra-")
            self.address = os.path.join(self._sockdir, "z.sock")
            cmd += ["-S", "-c", "zebra.cfg", "unix:" + self.address]
        else:
            # Fail fast if the port is taken: the readiness probe below
            # would otherwise happily talk to whatever holds it.
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError as e:
                    raise ZebraError(f"127.0.0.1:{self.port} is not free: {e}") from None
            cfg = (CONF_DIR / "yazgfs.xml").read_text()
            cfg = re.sub(r"tcp:127\.0\.0\.1:\d+", f"tcp:127.0.0.1:{self.port}", cfg)
            cfg = re.sub(r"<port>\d+</port>", f"<port>{self.port}</port>", cfg)
            (w / "yazgfs.xml").write_text(cfg)
            self.address = f"127.0.0.1:{self.port}"
            cmd += ["-f", "yazgfs.xml"] + (["-T"] if self.threaded else [])
        self.proc = subprocess.Popen(cmd, cwd=w, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                self._cleanup_sockdir()
                raise ZebraError(f"zebrasrv exited with {self.proc.returncode}; see {w / 'zebrasrv.log'}")
            try:
                self._connect().close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ZebraError(f"zebrasrv did not come up on {self.address}")
                time.sleep(0.02)

    def _connect(self) -> socket.socket:
        if self.port is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(self.address)
            return s
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def _cleanup_sockdir(self) -> None:
        if self._sockdir:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    def stop(self) -> None:
        """Stop the server and any session children it forked."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in _pids_with_parent(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._cleanup_sockdir()

    def __enter__(self) -> "ZebraServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def counts(self, pqfs: list[str], database: str = "Default") -> list[int]:
        """Hit counts for PQF queries, over one keep-alive SRU connection.

        SRU with YAZ's ``x-pquery`` parameter carries PQF unchanged to the
        same backend search as Z39.50, and its XML answer is easier to
        parse reliably than yaz-client's console output (and needs no
        yaz-client at all). maximumRecords=0 makes it count-only.
        """
        conn = HTTPConnection("localhost", timeout=120)
        conn.sock = self._connect()
        try:
            out = []
            for q in pqfs:
                qs = urllib.parse.urlencode({
                    "version": "1.1", "operation": "searchRetrieve",
                    "x-pquery": q, "maximumRecords": "0"})
                conn.request("GET", f"/{urllib.parse.quote(database)}?{qs}")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise ZebraError(f"SRU HTTP {resp.status} for {q!r}: {body[:200]!r}")
                out.append(_parse_count(body, q))
            return out
        finally:
            conn.close()


def _parse_count(body: bytes, query: str) -> int:
    root = ET.fromstring(body)
    diag = root.find(".//diag:diagnostic", _SRU_NS)
    if diag is not None:
        uri = diag.findtext("diag:uri", "", _SRU_NS)
        msg = diag.findtext("diag:message", "", _SRU_NS)
        det = diag.findtext("diag:details", "", _SRU_NS)
        raise ZebraError(f"Zebra diagnostic for {query!r}: {uri} {msg} {det}".rstrip())
    n = root.findtext("zs:numberOfRecords", None, _SRU_NS)
    if n is None:
        raise ZebraError(f"no numberOfRecords for {query!r}: {body[:200]!r}")
    return int(n)


def counts(workdir: str | os.PathLike, pqfs: list[str]) -> list[int]:
    """Hit counts for several PQF queries with one short-lived server."""
    with ZebraServer(workdir) as srv:
        return srv.counts(list(pqfs))


def count(workdir: str | os.PathLike, pqf: str) -> int:
    """Hit count of one PQF query (e.g. ``@attr 1=4 water``) on an index.

    Starts a private zebrasrv on a Unix socket and stops it afterwards
    (~0.1 s); for many queries use counts() or a ZebraServer. Zebra
    answers an access point that no record populated (e.g. ISSN in the
    first 10k LC records) with "Unsupported index" rather than 0 hits;
    that raises ZebraError here, as does any other diagnostic.
    """
    return counts(workdir, [pqf])[0]


def _fmt_bytes(n: int) -> str:
    return f"{n:,} B ({n / 2**20:.1f} MiB)"


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index", help="index the first N LC records and print the figures")
    p.add_argument("n", type=int)
    p.add_argument("--workdir", help="default: bench/.cache/zebra-N")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p = sub.add_parser("count", help="hit counts of PQF queries on an indexed work dir")
    p.add_argument("workdir")
    p.add_argument("pqf", nargs="+")
    p = sub.add_parser("serve", help="serve a work dir on 127.0.0.1:PORT until Ctrl-C")
    p.add_argument("workdir")
    p.add_argument("port", type=int, nargs="?", default=DEFAULT_PORT)
    p.add_argument("-T", "--threaded", action="store_true")
    a = ap.parse_args(argv)

    if not available():
        print("zebraidx/zebrasrv not on PATH: apt-get install -y idzebra-2.0 yaz", file=sys.stderr)
        return 2
    if a.cmd == "index":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import lc_corpus

        records = lc_corpus.subset(a.n)
        workdir = a.workdir or lc_corpus.cache_dir() / f"zebra-{a.n}"
        r = index(records, workdir, n_records=a.n)
        if a.json:
            print(json.dumps(r, indent=2))
        else:
            print(f"records        {r['records']:,} ({_fmt_bytes(r['input_bytes'])} input)")
            print(f"wall           {r['wall_s']:.2f} s (init {r['init_wall_s']:.2f} s, not included)")
            print(f"throughput     {r['records_per_s']:,.0f} records/s")
            print(f"cpu            {r['cpu_s']:.2f} s user+sys")
            print(f"peak RSS       {_fmt_bytes(r['peak_rss_bytes'])}")
            print(f"register       {_fmt_bytes(r['register_bytes'])} on disk, "
                  f"{_fmt_bytes(r['register_apparent_bytes'])} apparent")
            print(f"workdir        {r['workdir']}")
    elif a.cmd == "count":
        rc = 0
        with ZebraServer(a.workdir) as srv:
            for q in a.pqf:
                try:
                    print(f"{srv.counts([q])[0]}\t{q}")
                except ZebraError as e:
                    print(f"error\t{q}\t{e}")
                    rc = 1
        return rc
    else:
        # SIGTERM must unwind through the with-block, or zebrasrv is orphaned.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with ZebraServer(a.workdir, port=a.port, threaded=a.threaded) as srv:
            print(f"zebrasrv pid {srv.proc.pid} serving {srv.workdir} on "
                  f"tcp:{srv.address} (Z39.50 + SRU); Ctrl-C stops it", flush=True)
            try:
                srv.proc.wait()
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(_main())
