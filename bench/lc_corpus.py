"""The benchmark corpus: 250,000 Library of Congress MARC21 records.

The records are ``BooksAll.2016.part01.utf8`` (ISO 2709, UTF-8, leader/09
= 'a'), shipped at the top of pymarc 5.4.0's source distribution. PyPI is
the only place this workplace can fetch real bibliographic data from, so
the file is obtained with ``pip download`` and cached in ``bench/.cache/``
(gitignored) rather than committed (it is 241 MB).

Usage as a CLI::

    python bench/lc_corpus.py          # path of the full 250k-record file
    python bench/lc_corpus.py 10000    # path of a file with the first 10k

Standard library only, so it runs before any project dependency exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PYMARC_VERSION = "5.4.0"
MEMBER_NAME = "BooksAll.2016.part01.utf8"
# Known shape of the member: a cheap integrity check that catches truncated
# downloads/extractions without hashing 241 MB on every call.
MEMBER_SIZE = 241_731_867
TOTAL_RECORDS = 250_000

RECORD_TERMINATOR = b"\x1d"
_CHUNK = 8 << 20


def cache_dir() -> Path:
    """Where downloads and subsets live; ``UNISHELF_BENCH_CACHE`` overrides
    ``bench/.cache`` so CI or several work trees can share one copy."""
    env = os.environ.get("UNISHELF_BENCH_CACHE")
    d = Path(env) if env else Path(__file__).resolve().parent / ".cache"
    d.mkdir(parents=True, exist_ok=True)
    return d


def atomic_target(dest: Path):
    """A temp file beside ``dest``: written fully, then renamed, so an
    interrupted run never leaves a truncated file that looks cached."""
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the data from other users
    return os.fdopen(fd, "wb"), Path(tmp)


def _download_sdist(dest_dir: Path) -> Path:
    """Fetch pymarc's sdist through pip (the only allowed network path)."""
    sdist = dest_dir / f"pymarc-{PYMARC_VERSION}.tar.gz"
    if sdist.exists():
        return sdist
    # --no-binary: the wheel does not carry the data file, only the sdist does.
    args = ["download", "--quiet", "--no-deps", "--no-binary", ":all:",
            f"pymarc=={PYMARC_VERSION}", "-d", str(dest_dir)]
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"],
                             capture_output=True).returncode == 0
    pip = [sys.executable, "-m", "pip"] if has_pip else [shutil.which("pip3") or "pip"]
    subprocess.run(pip + args, check=True)
    if not sdist.exists():
        raise RuntimeError(f"pip download did not produce {sdist}")
    return sdist


def lc_records_path() -> Path:
    """Path of the full LC file, downloading and extracting it on first use.

    Only the one member is extracted (streamed), and the sdist is deleted
    afterwards: keeping it would double the cache for no use.
    """
    d = cache_dir()
    dest = d / MEMBER_NAME
    if dest.exists() and dest.stat().st_size == MEMBER_SIZE:
        return dest
    sdist = _download_sdist(d)
    out, tmp = atomic_target(dest)
    try:
        with out, tarfile.open(sdist, mode="r|gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("/" + MEMBER_NAME):
                    src = tar.extractfile(member)
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                    break
            else:
                raise RuntimeError(f"{MEMBER_NAME} not found in {sdist}")
        size = tmp.stat().st_size
        if size != MEMBER_SIZE:
            raise RuntimeError(f"{MEMBER_NAME}: {size} bytes, expected {MEMBER_SIZE}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    sdist.unlink(missing_ok=True)
    return dest


def subset(n: int) -> Path:
    """Path of a file holding the first ``n`` LC records, byte for byte.

    Records are split on the ISO 2709 record terminator (0x1D), which is
    all a prefix needs; no MARC parsing, so nothing is re-encoded. The file
    is written once and cached; ``n == 250000`` returns the full file.
    """
    if not 0 < n <= TOTAL_RECORDS:
        raise ValueError(f"n must be in 1..{TOTAL_RECORDS}, got {n}")
    full = lc_records_path()
    if n == TOTAL_RECORDS:
        return full
    dest = cache_dir() / f"lc-first-{n}.mrc"
    if dest.exists():
        return dest
    remaining = n
    out, tmp = atomic_target(dest)
    try:
        with out, open(full, "rb") as src:
            while remaining:
                chunk = src.read(_CHUNK)
                if not chunk:
                    raise RuntimeError(f"{full} has fewer than {n} records")
                c = chunk.count(RECORD_TERMINATOR)
                if c < remaining:
                    out.write(chunk)
                    remaining -= c
                    continue
                pos = -1
                for _ in range(remaining):
                    pos = chunk.index(RECORD_TERMINATOR, pos + 1)
                out.write(chunk[: pos + 1])
                remaining = 0
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def count_records(path: str | os.PathLike) -> int:
    """Number of ISO 2709 records in a file (count of 0x1D terminators)."""
    total = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            total += chunk.count(RECORD_TERMINATOR)
    return total


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(f"usage: {Path(sys.argv[0]).name} [N]   (1 <= N <= {TOTAL_RECORDS})", file=sys.stderr)
        return 2
    print(subset(int(args[0])) if args else lc_records_path())
    return 0


if __name__ == "__main__":
    sys.exit(main())
