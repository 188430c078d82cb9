"""Electronic delivery of copies: a scanned file from the FTP drop becomes an expiring, signed link.

Supplying side: staff drop the scan in their library's drop directory; shipping takes it into the
delivery area (a directory per random id), computes its size and SHA-256 and signs a link that
the HTTP listener (unishelf.ill_iso.download) honours until the link's date. Requesting side:
`fetch` downloads a link and keeps the file only if size and SHA-256 match what the Shipped APDU
said. No Twisted here: staff commands, the HTTP resource and the FTP drop all share this.

The signature is an HMAC-SHA256 over id, until and name with a per-node secret (DATA_DIR/
ill-files/secret), so links need no table and every serving process checks them alike. A file
is kept `keep_days` after it was taken; the time it was taken is in a sidecar, `ID.json`, next
to the file's directory.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from unishelf.config import parse_size

CHUNK = 1 << 20
_ID = re.compile(r"[0-9a-f]{32}")
_DAY = re.compile(r"\d{8}")
_LIBRARY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_NAME_BYTES = 200


class DeliveryError(Exception):
    """A file that cannot be delivered or a link that cannot be honoured; the message says why."""


class NothingToDeliver(DeliveryError):
    """No file, or more than one, dropped for the transaction; or the file is empty or too large."""


class MalformedLink(DeliveryError):
    """Not a link this node makes (HTTP 404)."""


class BadSignature(DeliveryError):
    """A link whose signature does not match: tampered with or made up (HTTP 403)."""


class LinkExpired(DeliveryError):
    """A genuine link past its date (HTTP 410)."""


class FileGone(DeliveryError):
    """A genuine link whose file was purged (HTTP 410)."""


class CheckFailed(DeliveryError):
    """A download whose size or SHA-256 is not what the supplier announced."""


@dataclass(frozen=True)
class DeliverySettings:
    base_url: str
    link_days: int
    keep_days: int
    max_size: int
    root: Path   # the delivery area: ID/NAME, ID.json, secret
    drop: Path   # the FTP drop: LIBRARY/...

    @classmethod
    def from_config(cls, config) -> "DeliverySettings":
        delivery = config["ill"]["delivery"]
        listen = config["listen"]
        host = listen["host"]
        base_url = delivery["base_url"] or f"http://{f'[{host}]' if ':' in host else host}:{listen['http_port']}"
        return cls(base_url.rstrip("/"), delivery["link_days"], delivery["keep_days"],
                   parse_size(delivery["max_size"]), config.data_dir / "ill-files", config.data_dir / "ill-drop")


@dataclass(frozen=True)
class Delivery:
    name: str
    size: int
    sha256: str
    url: str
    until: str   # YYYYMMDD: the first day the link no longer works

    @property
    def description(self) -> str:
        return f"name {self.name}; size {self.size}; sha256 {self.sha256}; until {self.until}"


def safe_name(name: str) -> str:
    """`name` fit for the description, a path and a URL: no ";", "/", "\\" or control or format
    characters, no leading dot, at most 200 UTF-8 bytes (the extension kept)."""
    name = "".join("_" if character in ";/\\" or unicodedata.category(character)[0] == "C" else character
                   for character in unicodedata.normalize("NFC", name))
    name = name.strip().lstrip(".").strip()
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > 16:
            stem, dot, extension = name, "", ""
        budget = _MAX_NAME_BYTES - len(f"{dot}{extension}".encode("utf-8"))
        name = stem.encode("utf-8")[:budget].decode("utf-8", "ignore") + dot + extension
    return name or "file"


def sha256_of(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in chunks (scans run to hundreds of megabytes)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class DeliveryArea:
    """The drop directories and the delivery area of one node, on disk."""

    def __init__(self, settings: DeliverySettings, clock=None):
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._secret: bytes | None = None

    # -- the drop ---------------------------------------------------------------------------
    def drop_dir(self, library_code: str) -> Path:
        if not _LIBRARY.fullmatch(library_code):
            raise DeliveryError(f"{library_code!r} is not a library code")
        directory = self.settings.drop / library_code
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def dropped(self, library_code: str, number: int | str) -> list[Path]:
        """The files staff dropped for transaction `number`: NUMBER.EXT, NUMBER-ANYTHING.EXT, or
        anything inside a directory NUMBER/ (hidden files left out)."""
        drop = self.drop_dir(library_code)
        number = str(number)
        if not number.isdigit():
            raise DeliveryError(f"{number!r} is not a transaction number")
        found = [path for path in drop.iterdir() if path.is_file() and not path.name.startswith(".")
                 and (path.name.partition(".")[0] == number or path.name.startswith(f"{number}-"))]
        folder = drop / number
        if folder.is_dir():
            found += [path for path in folder.rglob("*") if path.is_file()
                      and not any(part.startswith(".") for part in path.relative_to(folder).parts)]
        return sorted(found)

    # -- taking a file ----------------------------------------------------------------------
    def take(self, library_code: str, number: int | str, source: Path | None = None) -> Delivery:
        """Moves the dropped file (copies `source` if it is not in the drop) into the delivery
        area and signs its link."""
        if source is None:
            found = self.dropped(library_code, number)
            if len(found) != 1:
                names = f": {', '.join(p.name for p in found)}; name the one to send" if found else ""
                raise NothingToDeliver(f"{len(found) or 'no'} files dropped for #{number} in "
                                       f"{self.drop_dir(library_code)}{names}")
            source = found[0]
        source = Path(source)
        if not source.is_file():
            raise NothingToDeliver(f"{source} is not a file")
        size = source.stat().st_size
        if size == 0:
            raise NothingToDeliver(f"{source} is empty")
        if size > self.settings.max_size:
            raise NothingToDeliver(f"{source} has {size} bytes, more than ill.delivery.max_size "
                                   f"({self.settings.max_size})")
        now = self.clock()
        file_id = secrets.token_hex(16)
        name = safe_name(source.name)
        target = self.settings.root / file_id / name
        target.parent.mkdir(parents=True)
        self._write_json(self.settings.root / f"{file_id}.json",
                         {"taken": now.isoformat(), "library": library_code, "number": str(number), "name": name})
        if source.resolve().is_relative_to(self.settings.drop.resolve()):
            shutil.move(source, target)
            self._prune(source.parent)
        else:
            shutil.copyfile(source, target)
        size, sha256 = sha256_of(target)
        until = (now.date() + timedelta(days=self.settings.link_days)).strftime("%Y%m%d")
        return Delivery(name, size, sha256, self.link(file_id, until, name), until)

    def _prune(self, folder: Path):
        """Folders (NUMBER/) that taking their last file emptied go too, up to the library's drop."""
        drop = self.settings.drop.resolve()
        folder = folder.resolve()
        while folder.parent != drop and folder.is_relative_to(drop):
            try:
                folder.rmdir()
            except OSError:   # not empty
                return
            folder = folder.parent

    @staticmethod
    def _write_json(path: Path, value: dict):
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(value), encoding="utf-8")
        os.replace(temporary, path)

    # -- links ------------------------------------------------------------------------------
    def link(self, file_id: str, until: str, name: str) -> str:
        return (f"{self.settings.base_url}/ill/files/{file_id}/{until}/{self.signature(file_id, until, name)}/"
                f"{urllib.parse.quote(name, safe='')}")

    def signature(self, file_id: str, until: str, name: str) -> str:
        message = f"{file_id}\n{until}\n{name}".encode("utf-8")
        return hmac.new(self.secret(), message, hashlib.sha256).hexdigest()

    def secret(self) -> bytes:
        """The node's signing key, made at first use; every process that serves links reads it.
        Made under a temporary name and linked into place, so two processes racing to make it
        end up with the same key."""
        if self._secret is None:
            path = self.settings.root / "secret"
            if not path.exists():
                self.settings.root.mkdir(parents=True, exist_ok=True)
                descriptor, temporary = tempfile.mkstemp(dir=self.settings.root, prefix=".secret-")
                try:
                    os.write(descriptor, os.urandom(32))   # mkstemp makes it 0600
                    os.fsync(descriptor)
                    os.close(descriptor)
                    os.link(temporary, path)
                except FileExistsError:
                    pass
                finally:
                    os.unlink(temporary)
            self._secret = path.read_bytes()
        return self._secret

    def resolve(self, file_id: str, until: str, signature: str, name: str, today: date | None = None) -> Path:
        """The file a link names, if the link is genuine, not expired and the file still kept."""
        if not (_ID.fullmatch(file_id) and _DAY.fullmatch(until) and name and safe_name(name) == name):
            raise MalformedLink("not a delivery link")
        if not hmac.compare_digest(signature.encode("ascii", "replace"), self.signature(file_id, until, name).encode()):
            raise BadSignature("the link's signature does not match")
        today = today or self.clock().date()
        if today.strftime("%Y%m%d") >= until:
            raise LinkExpired(f"the link worked until {until}")
        path = self.settings.root / file_id / name
        if not path.is_file():
            raise FileGone("the file was deleted after its retention period")
        return path

    # -- retention --------------------------------------------------------------------------
    def purge(self, now: datetime | None = None) -> list[Path]:
        """Deletes what was taken `keep_days` or more ago; returns the files deleted. A directory
        without a readable sidecar (a take cut short) is aged by its modification time."""
        now = now or self.clock()
        cutoff = now - timedelta(days=self.settings.keep_days)
        removed = []
        root = self.settings.root
        if not root.is_dir():
            return removed
        for directory in root.iterdir():
            if not (directory.is_dir() and _ID.fullmatch(directory.name)):
                continue
            sidecar = root / f"{directory.name}.json"
            try:
                taken = datetime.fromisoformat(json.loads(sidecar.read_text(encoding="utf-8"))["taken"])
            except (OSError, ValueError, KeyError):
                taken = datetime.fromtimestamp(directory.stat().st_mtime, timezone.utc)
            if taken <= cutoff:
                removed += [path for path in directory.rglob("*") if path.is_file()]
                shutil.rmtree(directory)
                sidecar.unlink(missing_ok=True)
        return removed


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A peer's link is fetched as it is: a redirect (to ftp:, to an internal host) is an error."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, directory: Path, size: int, sha256: str, timeout: float = 30,
          max_size: int | None = None) -> Path:
    """Downloads a delivery link into `directory`, keeping the file only if its size and SHA-256
    are the announced ones. The download goes to a hidden temporary file that is renamed into
    place when it checks out and removed otherwise; a file of the same name is replaced.
    Redirects are not followed, and an announced size over `max_size` is refused unread."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):   # the link comes from a peer: no file: or ftp: URLs
        raise DeliveryError(f"{url}: not an HTTP link")
    if not isinstance(size, int) or size < 0 or not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
        raise DeliveryError(f"{url}: the supplier announced no usable size and SHA-256")
    if max_size is not None and size > max_size:
        raise DeliveryError(f"{url}: {size} bytes is more than ill.delivery.max_size allows")
    name = safe_name(urllib.parse.unquote(parts.path.rsplit("/", 1)[-1]))
    directory = Path(directory)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".fetch-", suffix=".part")
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(descriptor, "wb") as output, _OPENER.open(url, timeout=timeout) as response:
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > size:
                    raise CheckFailed(f"{url} sent more than the {size} bytes announced")
                digest.update(chunk)
                output.write(chunk)
        if received != size:
            raise CheckFailed(f"{url} sent {received} bytes, not the {size} announced")
        if digest.hexdigest() != sha256.lower():
            raise CheckFailed(f"{url}: SHA-256 {digest.hexdigest()}, not the {sha256.lower()} announced")
        target = directory / name
        os.replace(temporary, target)
        return target
    except urllib.error.HTTPError as error:
        said = error.read(200).decode("utf-8", "replace").strip()
        raise DeliveryError(f"{url}: {error.code} {error.reason}" + (f": {said}" if said else "")) from None
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryError(f"{url}: {getattr(error, 'reason', error)}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
