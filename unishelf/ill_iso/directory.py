"""The directory of member libraries for ILL: symbols, addresses, and which ones this node serves.

A node is the ILL protocol machine of the libraries `ill.serves` lists or, when that is empty,
of those whose `ill_address` is the node's own listening address. APDUs for a served library
are delivered inside the node; the rest are pushed to the library's address.
"""
from __future__ import annotations

from dataclasses import dataclass

from unishelf.ill_iso.apdus import system_id
from unishelf.ill_iso.transaction import symbol_of

ANY_HOST = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Member:
    code: str
    name: str
    symbol: str
    host: str | None
    port: int | None

    @property
    def system_id(self) -> dict:
        return system_id(self.symbol, self.name or None)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.host else "(no ill_address)"


def parse_address(text: str) -> tuple[str, int] | None:
    """"host:port" (or "[v6]:port") as (host, port); None if it is not one."""
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


class Directory:
    def __init__(self, members: list[Member], served: list[str]):
        self.members = {member.code: member for member in members}
        self.served = [code for code in served if code in self.members]
        self._by_symbol = {member.symbol.casefold(): member for member in members}
        self._by_name = {member.name.casefold(): member for member in members if member.name}

    @classmethod
    def from_config(cls, config, listen_port: int | None = None, stamped: list[str] | None = None):
        """The config's libraries; served as `ill.serves` says, else as the node last stamped
        into the store (for staff commands), else by address."""
        members = []
        for library in config.libraries:
            address = parse_address(library.ill_address) if library.ill_address else None
            members.append(Member(library.code, library.name, library.ill_symbol or library.code,
                                  *(address or (None, None))))
        served = list(config["ill"]["serves"])
        if not served and stamped is not None:
            served = stamped
        if not served:
            listen = config["listen"]
            port = listen_port if listen_port is not None else listen["ill_port"]
            served = [member.code for member in members if member.port == port
                      and (member.host == listen["host"] or listen["host"] in ANY_HOST)]
        return cls(members, served)

    def member(self, code: str) -> Member | None:
        return self.members.get(code)

    def find(self, system_id: dict | None) -> Member | None:
        """The member a System-Id names, by symbol first, then by name."""
        symbol = symbol_of(system_id).casefold()
        if not symbol:
            return None
        return self._by_symbol.get(symbol) or self._by_name.get(symbol)

    def is_served(self, code: str) -> bool:
        return code in self.served
