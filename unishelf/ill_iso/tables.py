"""The ISO 10161-1 state tables, read from `state_tables.yaml` and checked before anything runs.

The tables are data so that a transition can be corrected without touching code; this module
only parses them into lookups and refuses a file that names an unknown state, APDU or guard.
An event is an APDU type, refined for the APDUs whose content decides the transition:
`ILL-Answer/will-supply`, `Cancel-Reply/yes` (see `event_name`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from unishelf.ill_iso.apdus import APDU_TYPES
from unishelf.ill_iso.ill_module import CURRENT_STATE, TRANSACTION_RESULTS

TABLES_FILE = Path(__file__).with_name("state_tables.yaml")
REQUESTER, RESPONDER = "requester", "responder"
ROLES = (REQUESTER, RESPONDER)
SEND, RECEIVE = "send", "receive"
IDLE = "IDLE"
# IDLE plus the Current-State names as the standard writes them (the module's are camel-cased)
STATES = (IDLE, *(name.upper() for name in CURRENT_STATE.numbers))
YES_NO = ("yes", "no")
# APDU type -> the refinements its events carry
VARIANTS = {
    "ILL-Answer": tuple(TRANSACTION_RESULTS.numbers),
    "Conditional-Reply": YES_NO,
    "Cancel-Reply": YES_NO,
    "Renew-Answer": YES_NO,
}


class TableError(ValueError):
    """The state tables file is not usable; the message names the place."""


def event_name(apdu_type: str, value: dict) -> str:
    """The table event an APDU is: its type, with the answer or result where that matters."""
    if apdu_type == "ILL-Answer":
        return f"{apdu_type}/{value.get('transaction-results')}"
    if apdu_type in VARIANTS:
        return f"{apdu_type}/{'yes' if value.get('answer') else 'no'}"
    return apdu_type


def apdu_of(event: str) -> str:
    return event.split("/", 1)[0]


@dataclass(frozen=True)
class Target:
    state: str
    guard: str | None = None


@dataclass(frozen=True)
class RoleTable:
    """One role's table: (state, direction, event) -> Target, plus the every-state events."""

    role: str
    transitions: dict[tuple[str, str, str], Target]
    every_state: dict[str, frozenset[str]]
    terminal: frozenset[str]
    terminal_for_copies: frozenset[str]
    timers: dict[str, str]

    def target(self, state: str, direction: str, event: str) -> Target | None:
        if state != IDLE and apdu_of(event) in self.every_state[direction] and "/" not in event:
            return Target(state)
        return self.transitions.get((state, direction, event))

    def events(self, state: str, direction: str) -> list[str]:
        """Every event the table lists for a state and direction, every-state ones last."""
        listed = [event for (at, way, event) in self.transitions if at == state and way == direction]
        if state != IDLE:
            listed += sorted(self.every_state[direction])
        return listed

    def receivable(self, apdu_type: str) -> bool:
        """Whether this role ever accepts the APDU type from a peer."""
        return apdu_type in self.every_state[RECEIVE] or any(
            way == RECEIVE and apdu_of(event) == apdu_type for (_, way, event) in self.transitions)


def load_tables(path: Path = TABLES_FILE) -> dict[str, RoleTable]:
    """Both roles' tables from the YAML file, checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TableError(f"{path}: cannot be read: {error}") from None
    if not isinstance(data, dict) or set(data) != set(ROLES):
        raise TableError(f"{path}: needs exactly the roles {', '.join(ROLES)}")
    return {role: _role_table(path, role, data[role]) for role in ROLES}


def _role_table(path: Path, role: str, data) -> RoleTable:
    def fail(where: str, problem: str):
        raise TableError(f"{path}: {role}.{where}: {problem}")

    if not isinstance(data, dict):
        fail("", "must be a mapping")
    unknown = set(data) - {"terminal", "terminal_for_copies", "every_state", "timers", "states"}
    if unknown:
        fail(sorted(unknown)[0], "unknown key")
    states = data.get("states") or {}
    for state in states:
        if state not in STATES:
            fail(f"states.{state}", f"is not a state ({', '.join(STATES)})")
    transitions = {}
    for state, directions in states.items():
        for direction, events in (directions or {}).items():
            if direction not in (SEND, RECEIVE):
                fail(f"states.{state}.{direction}", "must be send or receive")
            for event, target in (events or {}).items():
                where = f"states.{state}.{direction}.{event}"
                _check_event(event, fail, where)
                if isinstance(target, dict):
                    if set(target) != {"to", "if"}:
                        fail(where, "a guarded target is {to: STATE, if: GUARD}")
                    target = Target(target["to"], target["if"])
                else:
                    target = Target(target)
                if target.state not in states:
                    fail(where, f"goes to {target.state!r}, which has no entry under states")
                transitions[(state, direction, event)] = target
    every = data.get("every_state") or {}
    every_state = {direction: frozenset(every.get(direction) or ()) for direction in (SEND, RECEIVE)}
    for direction, apdus in every_state.items():
        for apdu in apdus:
            _check_event(apdu, fail, f"every_state.{direction}")
    timers = dict(data.get("timers") or {})
    for timer, apdu in timers.items():
        _check_event(apdu, fail, f"timers.{timer}")
    terminal = frozenset(data.get("terminal") or ())
    terminal_for_copies = frozenset(data.get("terminal_for_copies") or ())
    for state in terminal | terminal_for_copies:
        if state not in states:
            fail("terminal", f"{state!r} has no entry under states")
    if IDLE not in states:
        fail("states", "needs IDLE")
    return RoleTable(role, transitions, every_state, terminal, terminal_for_copies, timers)


def _check_event(event, fail, where: str):
    apdu, _, variant = str(event).partition("/")
    if apdu not in APDU_TYPES:
        fail(where, f"{apdu!r} is not an ILL APDU ({', '.join(APDU_TYPES)})")
    if variant and variant not in VARIANTS.get(apdu, ()):
        fail(where, f"{variant!r} is not a variant of {apdu} ({', '.join(VARIANTS.get(apdu, ())) or 'none'})")
    if apdu in VARIANTS and not variant:
        fail(where, f"{apdu} needs its variant ({'|'.join(VARIANTS[apdu])})")
