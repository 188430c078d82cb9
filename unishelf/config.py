"""Configuration: `config/defaults.yaml` overlaid with the chosen file, checked before anything starts.

A wrong key, type or value stops the start with one message naming the file, the key and what is
wrong; nothing half-configured runs.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(os.environ.get("UNISHELF_CONFIG_DIR", Path(__file__).resolve().parent.parent / "config"))
DEFAULTS_FILE = CONFIG_DIR / "defaults.yaml"
DEFAULT_CONFIG_FILE = CONFIG_DIR / "unishelf.yaml"
ROLES = {"searcher", "cataloguer", "ill-staff", "admin"}
ROUTING_KEYS = {"region", "tier", "available", "load", "fee"}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?)?\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class ConfigError(Exception):
    def __init__(self, file: Path | str, key: str, problem: str):
        super().__init__(f"{file}: {key}: {problem}")


def parse_size(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        return None
    return int(match[1]) * _UNITS[(match[2] or "")[:1].lower()]


@dataclass(frozen=True)
class Library:
    code: str
    name: str = ""
    ill_symbol: str = ""
    ill_address: str = ""
    region: str = ""
    tier: int = 3                    # 1 national centre, 2 regional centre, 3 member library
    days_to_respond: int | None = None
    fees: dict = field(default_factory=dict)   # service (loan, copy) -> "CNY 10.00"


class Config:
    def __init__(self, data: dict, source: Path | str, directory: Path):
        self.data = data
        self.source = source
        self.directory = directory

    def __getitem__(self, key: str):
        return self.data[key]

    @property
    def data_dir(self) -> Path:
        return Path(self.data["data_dir"])

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store"

    @property
    def map_size(self) -> int:
        return parse_size(self.data["store"]["map_size"])

    def options(self) -> list[str]:
        """The command-line options that make another unishelf process (a serving worker, the
        background renderer) use this store and, if it came from a file, this config."""
        options = ["--data-dir", str(self.data_dir.resolve())]
        if isinstance(self.source, Path):
            options += ["--config", str(self.source.resolve())]
        return options

    def path(self, key: str) -> Path:
        """A file named in the config, relative to the config file's directory or CONFIG_DIR."""
        name = Path(self.data[key])
        for base in (self.directory, CONFIG_DIR):
            if (base / name).exists():
                return base / name
        return CONFIG_DIR / name

    @property
    def libraries(self) -> list[Library]:
        text = ("code", "name", "ill_symbol", "ill_address", "region")
        return [Library(**{key: str(value) if key in text else value for key, value in entry.items()})
                for entry in self.data["libraries"]]

    def limit(self, name: str) -> int:
        return parse_size(self.data["limits"][name])


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Defaults, then the file (the default file where it exists), then command-line overrides."""
    with open(DEFAULTS_FILE, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if path is None and DEFAULT_CONFIG_FILE.exists():
        path = DEFAULT_CONFIG_FILE
    source: Path | str = "(defaults)"
    directory = CONFIG_DIR
    if path is not None:
        source = Path(path)
        directory = source.resolve().parent
        try:
            with open(source, encoding="utf-8") as handle:
                overlay = yaml.safe_load(handle) or {}
        except OSError as error:
            raise ConfigError(source, "(file)", f"cannot be read: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise ConfigError(source, "(file)", f"is not valid YAML: {error}") from None
        if not isinstance(overlay, dict):
            raise ConfigError(source, "(file)", "must be a mapping of keys to values")
        _merge(data, overlay, source, "")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        target = data
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    _validate(data, source)
    return Config(data, source, directory)


def _merge(base: dict, overlay: dict, source, prefix: str):
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(source, dotted, f"unknown key (known: {', '.join(map(str, base))})")
        default = base[key]
        if isinstance(default, dict) and key not in ("databases", "fields"):
            if not isinstance(value, dict):
                raise ConfigError(source, dotted, "must be a mapping")
            _merge(default, value, source, dotted + ".")
        elif default is not None and not _same_type(default, value):
            raise ConfigError(source, dotted, f"must be {type(default).__name__}, not {type(value).__name__}")
        else:
            base[key] = value


def _same_type(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, str)) and isinstance(value, (int, str)):
        return True
    return isinstance(value, type(default))


def _validate(data: dict, source):
    listen = data["listen"]
    for key in ("z3950_port", "http_port", "ill_port", "ftp_port"):
        port = listen[key]
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(source, f"listen.{key}", f"{port!r} is not a port number (0-65535)")
    if parse_size(data["store"]["map_size"]) is None:
        raise ConfigError(source, "store.map_size", f"{data['store']['map_size']!r} is not a size like 16GiB")
    for key, value in data["limits"].items():
        size = parse_size(value)
        if size is None or size <= 0:
            raise ConfigError(source, f"limits.{key}", f"{value!r} is not a positive number or size")
    codes = set()
    for i, library in enumerate(data["libraries"]):
        where = f"libraries[{i}]"
        if not isinstance(library, dict) or not library.get("code"):
            raise ConfigError(source, where, "needs at least a code")
        unknown = set(library) - set(Library.__dataclass_fields__)
        if unknown:
            raise ConfigError(source, f"{where}.{sorted(unknown)[0]}", "unknown key")
        code = str(library["code"])
        if not re.fullmatch(r"[A-Za-z0-9_-]+", code):
            raise ConfigError(source, f"{where}.code", f"{code!r} may hold only letters, digits, - and _")
        if code in codes:
            raise ConfigError(source, f"{where}.code", f"{code!r} is used twice")
        codes.add(code)
    for i, user in enumerate(data["users"]):
        where = f"users[{i}]"
        if not isinstance(user, dict) or not user.get("name"):
            raise ConfigError(source, where, "needs a name")
        unknown = set(user) - {"name", "password_hash", "roles", "library"}
        if unknown:
            raise ConfigError(source, f"{where}.{sorted(unknown)[0]}", "unknown key")
        if not str(user.get("password_hash", "")).startswith("pbkdf2_sha256$"):
            raise ConfigError(source, f"{where}.password_hash",
                              "must be a pbkdf2_sha256 hash (python -m unishelf.auth PASSWORD prints one)")
        bad = set(user.get("roles", [])) - ROLES
        if bad:
            raise ConfigError(source, f"{where}.roles", f"unknown role {sorted(bad)[0]!r} (known: {', '.join(sorted(ROLES))})")
    for name, database in data["databases"].items():
        if not isinstance(database, dict) or database.get("kind") not in ("bib", "authority"):
            raise ConfigError(source, f"databases.{name}.kind", "must be bib or authority")
    _validate_oai(data["oai"], source)
    for section, keys in (("sru", [key for key in data["sru"] if key != "default_schema"]),
                          ("load", ["batch_size", "max_batch_size"])):
        for key in keys:
            value = data[section][key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(source, f"{section}.{key}", f"{value!r} is not a positive whole number")
    if not isinstance(data["load"]["render_later"], bool):
        raise ConfigError(source, "load.render_later", f"{data['load']['render_later']!r} is not true or false")
    _validate_ill(data, codes, source)
    if data["cataloguing"]["on_duplicate"] not in ("attach", "refuse"):
        raise ConfigError(source, "cataloguing.on_duplicate", "must be attach or refuse")
    for syntax, tags in data["cataloguing"]["required_fields"].items():
        if not isinstance(tags, list) or not all(re.fullmatch(r"\d{3}", str(t)) for t in tags):
            raise ConfigError(source, f"cataloguing.required_fields.{syntax}", "must be a list of tags like \"245\"")
    from .marc.catalogue import MATCH_RULES
    for rule in data["matching"]["rules"]:
        if rule not in MATCH_RULES:
            raise ConfigError(source, "matching.rules", f"{rule!r} is not one of {', '.join(MATCH_RULES)}")


def _validate_oai(oai: dict, source):
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z][a-zA-Z0-9-]*)+", oai["repository_identifier"]):
        raise ConfigError(source, "oai.repository_identifier", "must be a domain name such as catalogue.example.org")
    if not oai["admin_email"] or not all(re.fullmatch(r"\S+@(\S+\.)+\S+", str(e)) for e in oai["admin_email"]):
        raise ConfigError(source, "oai.admin_email", "must list e-mail addresses (user@domain.tld)")
    for key in ("page_size", "token_ttl"):
        if not isinstance(oai[key], int) or oai[key] < 1:
            raise ConfigError(source, f"oai.{key}", f"{oai[key]!r} is not a positive number")
    if type(oai["read_ahead"]) is not int or oai["read_ahead"] < 0:
        raise ConfigError(source, "oai.read_ahead", f"{oai['read_ahead']!r} is not a number of pages (0 or more)")
    for i, spec in enumerate(oai["sets"]):
        where = f"oai.sets[{i}]"
        if not isinstance(spec, dict) or set(spec) != {"spec", "name", "query"}:
            raise ConfigError(source, where, "needs exactly spec, name and query")
        if not re.fullmatch(r"[A-Za-z0-9_.!~*'()-]+(:[A-Za-z0-9_.!~*'()-]+)*", str(spec["spec"])):
            raise ConfigError(source, f"{where}.spec", f"{spec['spec']!r} is not a setSpec")
        if str(spec["spec"]).split(":")[0] in ("library", "type"):
            raise ConfigError(source, f"{where}.spec", "library: and type: are the built-in sets")


def _validate_ill_library(library: dict, where: str, source):
    """A member library's routing and fee settings."""
    tier = library.get("tier", 3)
    if tier not in (1, 2, 3):
        raise ConfigError(source, f"{where}.tier", f"{tier!r} is not 1 (national centre), 2 (regional) or 3 (member)")
    days = library.get("days_to_respond")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise ConfigError(source, f"{where}.days_to_respond", f"{days!r} is not a whole number of days")
    fees = library.get("fees", {})
    if not isinstance(fees, dict) or set(fees) - {"loan", "copy"}:
        raise ConfigError(source, f"{where}.fees", "must map loan and/or copy to an amount like 'CNY 10.00'")
    for service, text in fees.items():
        if not re.fullmatch(r"[A-Za-z]{3} \d{1,7}(\.\d{1,2})?", str(text)):
            raise ConfigError(source, f"{where}.fees.{service}", f"{text!r} is not an amount like 'CNY 10.00'")


def _validate_ill(data: dict, codes: set, source):
    """The ILL section, and the member libraries' ILL addresses (host:port)."""
    ill = data["ill"]
    for code in ill["serves"]:
        if str(code) not in codes:
            raise ConfigError(source, "ill.serves", f"{code!r} is not a member library ({', '.join(sorted(codes))})")
    for i, library in enumerate(data["libraries"]):
        address = str(library.get("ill_address") or "")
        host, _, port = address.rpartition(":")
        if address and not (host.strip("[]") and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(source, f"libraries[{i}].ill_address", f"{address!r} is not host:port")
    for i, library in enumerate(data["libraries"]):
        _validate_ill_library(library, f"libraries[{i}]", source)
    order = ill["routing"]["order"]
    if not isinstance(order, list) or set(order) - ROUTING_KEYS:
        raise ConfigError(source, "ill.routing.order", f"must be a list of {', '.join(sorted(ROUTING_KEYS))}")
    numbers = [("loan_period", ill["loan_period"]), ("routing.max_rota", ill["routing"]["max_rota"]),
               ("routing.max_title_matches", ill["routing"]["max_title_matches"])]
    numbers += [(f"delivery.{key}", ill["delivery"][key]) for key in ("link_days", "keep_days")]
    numbers += [(f"timers.{key}", ill["timers"][key]) for key in ("interval", "renew_answer_days")]
    numbers += [(f"send.{key}", value) for key, value in ill["send"].items()]
    numbers += [(f"limits.{key}", ill["limits"][key]) for key in ("connections", "idle_timeout")]
    for key, value in numbers:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(source, f"ill.{key}", f"{value!r} is not a positive whole number")
    for key in ("expiry", "overdue"):
        if not isinstance(ill["timers"][key], bool):
            raise ConfigError(source, f"ill.timers.{key}", "must be true or false")
    if not isinstance(ill["routing"]["days_to_respond"], int) or ill["routing"]["days_to_respond"] < 0:
        raise ConfigError(source, "ill.routing.days_to_respond", "must be a whole number of days (0 or more)")
    size = parse_size(ill["delivery"]["max_size"])
    if size is None or size < 1:
        raise ConfigError(source, "ill.delivery.max_size", f"{ill['delivery']['max_size']!r} is not a size like 500MiB")
    size = parse_size(ill["limits"]["apdu_size"])
    if size is None or size < 1024:
        raise ConfigError(source, "ill.limits.apdu_size", f"{ill['limits']['apdu_size']!r} is not a size of 1KiB or more")
