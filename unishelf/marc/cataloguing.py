"""Cooperative cataloguing: member libraries insert, replace and delete records in the union
catalogue, under the consortium's rules. Protocol front ends (Z39.50 Extended Services Update)
turn their requests into these calls and the results into their own diagnostics.

The rules:
  - only users with the cataloguer role may change records, in the union catalogue or their own
    library's view (admins anywhere);
  - a record is checked before anything is written: well-formed ISO 2709 or MARCXML, a leader
    that fits the record, the fields config requires;
  - an inserted record that matches one already in the catalogue attaches the library's holdings
    to it, or is refused as a duplicate (config `cataloguing.on_duplicate`);
  - a library deletes only its own holdings; a record no other library holds is deleted (a
    tombstone for OAI-PMH), one that other libraries still hold is refused;
  - a replace that names the version it was based on (change sequence or datestamp) is refused
    if the record changed since, so concurrent cataloguers never silently overwrite each other.
Each change is one write transaction, committed (durable) before the result is returned, and
is recorded with who made it and the versions before and after (`unishelf history`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from unishelf.auth import User

from .catalogue import Catalogue, Outcome
from .reading import RawRecord, ReadRecord, Rejected, decode, guess_file_syntax
from .store import Store, StoredRecord

# Bib-1 diagnostics (Z39.50-2003, Appendix 3) the results carry.
NOT_AUTHORISED = 222        # ES: permission denied on ES - id not authorized
CANNOT_MODIFY = 223         # ES: permission denied on ES - cannot modify or delete
EXECUTION_FAILED = 224      # ES: immediate execution failed (with what failed in addinfo)
NO_SUCH_DATABASE = 235      # Database does not exist
RECORD_DELETED = 1028       # Record deleted
MISSING_PARAMETER = 1008    # ES: missing mandatory parameter for specified function

MARC21_BIB_TYPES = set("acdefgijkmoprt")
_XML_DECLARATION = re.compile(rb"^\s*(?:\xef\xbb\xbf)?<\?xml[^>]*\?>\s*")


@dataclass(frozen=True)
class SuppliedRecord:
    """A record as a client sent it: ISO 2709 or MARCXML bytes, and the ids it named."""

    data: bytes = b""
    form: str = "iso2709"            # iso2709 | marcxml
    syntax: str | None = None        # marc21 | unimarc, as the record syntax said; else guessed
    record_id: str | None = None     # which record a replace or delete is about
    version: str | None = None       # the version a replace was based on: its change sequence or datestamp


@dataclass(frozen=True)
class UpdateResult:
    ok: bool
    record_id: int | None = None
    outcome: str = ""                # created, attached, replaced, holdings-removed, deleted
    diagnostic: int | None = None
    message: str = ""


def refused(diagnostic: int, message: str, record_id: int | None = None) -> UpdateResult:
    return UpdateResult(False, record_id, "", diagnostic, message)


class Cataloguing:
    def __init__(self, catalog):
        self.store: Store = catalog.store
        self.catalogue: Catalogue = catalog.catalogue
        self.engine = catalog.engine
        self.required = catalog.config["cataloguing"]["required_fields"]
        self.refuse_duplicates = catalog.config["cataloguing"]["on_duplicate"] == "refuse"

    # -- the operations -----------------------------------------------------------------------
    def insert(self, user: User, database: str, supplied: SuppliedRecord) -> UpdateResult:
        item = self.admitted(user, database, supplied)
        if isinstance(item, UpdateResult):
            return item
        prepared = self.catalogue.prepare(item, user.library)
        with self.store.writing() as writer:
            found = self.catalogue.match(writer, prepared)
            match = found[1].id if found else None
            if found is not None and found[0] == "replace":
                # loading a library's file again replaces its records; an insert never overwrites
                return refused(EXECUTION_FAILED, f"record {match} already has this control number: "
                                                 "change it with replace (its number)", match)
            if match is not None and self.refuse_duplicates:
                return refused(EXECUTION_FAILED, f"duplicate of record {match}", match)
            before = self._raw_of(writer, match)
            outcome = self.catalogue.add(writer, prepared)
            if outcome.action == "rejected":
                return refused(EXECUTION_FAILED, outcome.reason)
            writer.flush()
            if outcome.action != "unchanged":   # nothing changed: no new version to record
                self._record(writer, outcome, user, "insert", before)
        return UpdateResult(True, outcome.record_id, outcome.action)

    def replace(self, user: User, database: str, supplied: SuppliedRecord) -> UpdateResult:
        item = self.admitted(user, database, supplied)
        if isinstance(item, UpdateResult):
            return item
        with self.store.writing() as writer:
            stored = self._target(writer, supplied, item, user)
            if isinstance(stored, UpdateResult):
                return stored
            if supplied.version and supplied.version not in (str(stored.seq), stored.datestamp):
                return refused(EXECUTION_FAILED, f"record {stored.id} changed (version {stored.seq}, "
                                                 f"{stored.datestamp}) after the version {supplied.version} "
                                                 "this replace was based on", stored.id)
            if supplied.version == stored.datestamp and self._changes_within(writer, stored) > 1:
                # datestamps are to the second: this one names more than one version
                return refused(EXECUTION_FAILED, f"record {stored.id} changed more than once at "
                                                 f"{stored.datestamp}: name the version by its change "
                                                 f"sequence ({stored.seq})", stored.id)
            if stored.syntax != item.syntax or stored.kind != item.kind:
                return refused(EXECUTION_FAILED, f"record {stored.id} is {stored.kind} {stored.syntax}; "
                                                 f"the new version is {item.kind} {item.syntax}", stored.id)
            before = stored.raw
            outcome = self.catalogue.replace(writer, stored, item, user.library)
            writer.flush()
            self._record(writer, outcome, user, "replace", before)
        return UpdateResult(True, stored.id, "replaced")

    def delete(self, user: User, database: str, supplied: SuppliedRecord) -> UpdateResult:
        problem = self.access(user, database)
        if problem:
            return problem
        item = None
        if record_number(supplied.record_id) is None and supplied.data:   # the record says which one it is
            item = self.checked(supplied, database)
            if isinstance(item, UpdateResult):
                return item
        with self.store.writing() as writer:
            stored = self._target(writer, supplied, item, user)
            if isinstance(stored, UpdateResult):
                return stored
            holders = set(writer.holdings(stored.id))
            others = sorted(holders - {user.library})
            if user.library in holders and others:
                outcome = self.catalogue.remove_holdings(writer, stored.id, user.library)
                action = "holdings-removed"
            elif others:
                return refused(CANNOT_MODIFY, f"record {stored.id} is still held by {', '.join(others)}; "
                                              "a library may delete only its own holdings", stored.id)
            else:
                outcome = self.catalogue.delete(writer, stored.id)
                action = "deleted"
            writer.flush()
            self._record(writer, outcome, user, "delete", stored.raw)
        return UpdateResult(True, stored.id, action)

    def upsert(self, user: User, database: str, supplied: SuppliedRecord) -> UpdateResult:
        """specialUpdate, as Zebra reads it: replace the record named, or insert a new one."""
        item = self.checked(supplied, database)
        if isinstance(item, UpdateResult):
            return item
        with self.store.reading() as reader:
            exists = self._target(reader, supplied, item, user)
        if not isinstance(exists, UpdateResult):
            return self.replace(user, database, supplied)
        return self.insert(user, database, supplied)

    # -- the rules ----------------------------------------------------------------------------
    def admitted(self, user: User | None, database: str, supplied: SuppliedRecord) -> ReadRecord | UpdateResult:
        """The supplied record, decoded, if this user may write it to this database."""
        return self.access(user, database) or self.checked(supplied, database)

    def access(self, user: User | None, database: str) -> UpdateResult | None:
        """A refusal if this user may not change this database, else None."""
        if self.engine.database(database) is None:
            return refused(NO_SUCH_DATABASE, f"no database {database!r}")
        if user is None or not user.has("cataloguer"):
            return refused(NOT_AUTHORISED, "updates need a user with the cataloguer role")
        view = self.engine.database(database).library
        if view and view != user.library and not user.has("admin"):
            return refused(NOT_AUTHORISED, f"{user.name} catalogues for {user.library or 'no library'}, not {view}")
        if not user.library and not user.has("admin"):
            return refused(NOT_AUTHORISED, f"{user.name} has no member library to hold the records")
        return None

    def checked(self, supplied: SuppliedRecord, database: str) -> ReadRecord | UpdateResult:
        """The decoded record, or a refusal saying what is wrong with it."""
        if not supplied.data:
            return refused(MISSING_PARAMETER, "no record was supplied")
        if supplied.form == "iso2709":
            problem = iso2709_problem(supplied.data)
            if problem:
                return refused(EXECUTION_FAILED, f"invalid record: {problem}")
            syntax = supplied.syntax or guess_file_syntax([supplied.data])
            item = decode(RawRecord("supplied record", supplied.data, "iso2709", syntax))
        else:
            item = decode(RawRecord("supplied record", _XML_DECLARATION.sub(b"", supplied.data), "marcxml"))
        if isinstance(item, Rejected):
            return refused(EXECUTION_FAILED, f"invalid record: {item.reason}")
        record = item.record
        if item.syntax == "marc21" and item.kind == "bib" and record.leader[6] not in MARC21_BIB_TYPES:
            return refused(EXECUTION_FAILED, f"invalid record: leader/06 {record.leader[6]!r} is not a record type")
        wanted = self.engine.database(database).kind
        if item.kind != wanted:
            return refused(EXECUTION_FAILED, f"invalid record: a {item.kind} record cannot go into {database} "
                                             f"(a {wanted} database)")
        missing = [tag for tag in self.required.get(item.syntax, []) if not record.get_fields(str(tag))]
        if missing:
            return refused(EXECUTION_FAILED, f"invalid record: field {', '.join(map(str, missing))} is required")
        return item

    def _target(self, reader, supplied: SuppliedRecord, item: ReadRecord | None,
                user: User) -> StoredRecord | UpdateResult:
        """The stored record a replace or delete is about: the one its recordId names (a record
        number), else the one the supplied record matches (its 001/003, OCLC number, LCCN, ...
        as loading matches), since clients such as yaz-client send any string as the id."""
        number = record_number(supplied.record_id)
        if number is None:
            if item is None:
                return refused(MISSING_PARAMETER, "recordId: the record to change must be named by its number")
            matched = self.catalogue.find_match(reader, self.catalogue.contribution(item, user.library))
            if matched is None:
                return refused(EXECUTION_FAILED, "no stored record matches the one supplied; name it by record number")
            return reader.record(matched)
        stored = reader.record(number)
        if stored is None:
            return refused(EXECUTION_FAILED, f"there is no record {supplied.record_id}")
        if stored.deleted:
            return refused(RECORD_DELETED, f"record {stored.id} was deleted at {stored.datestamp}", stored.id)
        return stored

    @staticmethod
    def _changes_within(reader, stored) -> int:
        """How many recorded changes of the record carry its current datestamp."""
        return sum(entry["datestamp"] == stored.datestamp for entry in reader.history(stored.id))

    @staticmethod
    def _raw_of(reader, record_id: int | None) -> bytes | None:
        stored = reader.record(record_id) if record_id else None
        return stored.raw if stored else None

    @staticmethod
    def _record(writer, outcome: Outcome, user: User, action: str, before: bytes | None):
        stored = writer.record(outcome.record_id)
        writer.add_history(stored.id, {
            "seq": stored.seq, "datestamp": stored.datestamp, "user": user.name, "library": user.library,
            "action": action, "outcome": outcome.action, "before": before,
            "after": None if stored.deleted else stored.raw})


def record_number(record_id) -> int | None:
    """A supplied record id that is a record number (ASCII digits, within the store's ids)."""
    text = str(record_id or "")
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 1 << 32:
        return int(text)
    return None


def iso2709_problem(data: bytes) -> str | None:
    """What makes these bytes not a well-formed ISO 2709 record whose leader fits it, or None."""
    if len(data) < 26:
        return "shorter than a leader and a directory"
    leader = data[:24]
    if not leader[:5].isdigit():
        return f"leader/00-04 {leader[:5]!r} is not a record length"
    if int(leader[:5]) != len(data):
        return f"the leader gives a length of {int(leader[:5])} bytes; the record has {len(data)}"
    if not data.endswith(b"\x1d"):
        return "no record terminator at the end"
    if leader[10:12] != b"22":
        return f"leader/10-11 must be 22 (indicator and subfield code counts), not {leader[10:12]!r}"
    if not leader[12:17].isdigit():
        return f"leader/12-16 {leader[12:17]!r} is not a base address"
    base = int(leader[12:17])
    if base > len(data) or (base - 25) % 12 or data[base - 1:base] != b"\x1e":
        return f"the base address {base} does not end the directory"
    if leader[20:24] != b"4500":
        return f"leader/20-23 must be 4500, not {leader[20:24]!r}"
    return None
