"""Z39.50 Extended Services: the ES APDUs, the Update and ItemOrder packages, and task packages.

ANSI/NISO Z39.50-2003: ExtendedServicesRequest and ExtendedServicesResponse (module
Z39-50-APDU-1995), the task package record syntax (RecordSyntax-ESTaskPackage), ESFormat-Update0
(Update 1.0), ESFormat-Update revision 1 (Update 1.1) and ESFormat-ItemOrder. One decoder reads
both Update versions, since 1.1 only adds fields; an encoder writes the version its package type
names and refuses 1.1-only fields in a 1.0 package. The ILL request an item order carries stays
an EXTERNAL for `unishelf.ill_iso` to read, as do packages of other types (which a server then
refuses by diagnostic). Malformed input raises `BERError` and nothing else, as in `apdu`.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import ClassVar, Union

from unishelf.ber import (
    CONTEXT, SINGLE_ASN1_TYPE, BERError, External, Node, decode, decode_external,
    encode, external_content, integer_content, tlv,
)
from unishelf.ber import context_constructed as _cons
from unishelf.ber import context_integer as _int
from unishelf.ber import context_primitive as _prim
from unishelf.ber import context_string as _text
from unishelf.z3950.apdu import (
    _OTHER_INFO, DiagRec, _diag_rec, _diag_rec_bytes, _oid, _opt, _opt_int, _opt_text, _raw,
    _reference_id, _required, _seq, _universal_oid,
)

UPDATE_OID = "1.2.840.10003.9.5.1.1"  # ESFormat-Update revision 1 ("Update-ES 1.1")
UPDATE0_OID = "1.2.840.10003.9.5"  # ESFormat-Update0, the Z39.50-1995 first version
# The bare "revisions" arc: ZOOM sends it for updateVersion=2 and YAZ reads it as Update0.
UPDATE0_ALIAS_OID = "1.2.840.10003.9.5.1"
UPDATE_OIDS = frozenset({UPDATE_OID, UPDATE0_OID, UPDATE0_ALIAS_OID})
ITEM_ORDER_OID = "1.2.840.10003.9.4"
# ISO 10161 ILL APDUs (abstract syntax ill-apdus): an item order's itemRequest when it is an
# ILL-Request, and the task package's statusOrErrorReport when it is a Status-Or-Error-Report
ILL_APDU_OID = "1.0.10161.2.1"
TASK_PACKAGE_OID = "1.2.840.10003.5.106"  # the record syntax of task packages


class Function(IntEnum):
    CREATE = 1
    DELETE = 2
    MODIFY = 3


class WaitAction(IntEnum):
    WAIT = 1
    WAIT_IF_POSSIBLE = 2
    DONT_WAIT = 3
    DONT_RETURN_PACKAGE = 4


class OperationStatus(IntEnum):
    DONE = 1
    ACCEPTED = 2
    FAILURE = 3


class TaskStatus(IntEnum):
    PENDING = 0
    ACTIVE = 1
    COMPLETE = 2
    ABORTED = 3


class UpdateAction(IntEnum):
    RECORD_INSERT = 1
    RECORD_REPLACE = 2
    RECORD_DELETE = 3
    ELEMENT_UPDATE = 4
    SPECIAL_UPDATE = 5  # Update 1.1 only


class UpdateStatus(IntEnum):
    SUCCESS = 1
    PARTIAL = 2
    FAILURE = 3


class RecordStatus(IntEnum):
    SUCCESS = 1
    QUEUED = 2
    IN_PROCESS = 3
    FAILURE = 4


class AuxiliaryStatus(IntEnum):
    NOT_RECEIVED = 1
    LOAN_QUEUE = 2
    FORWARDED = 3
    UNFILLED_COPYRIGHT = 4
    FILLED_COPYRIGHT = 5


# ---------------------------------------------------------------------------------------------
# Shared types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    """One Permissions entry: functions are delete 1, modifyContents 2, modifyPermissions 3,
    present 4, invoke 5."""

    user_id: str | None = None
    allowable_functions: tuple[int, ...] = ()


@dataclass(frozen=True)
class CorrelationInfo:
    """What lets an origin match a task package record to the record it supplied."""

    note: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class IntUnit:
    """A retention time: `value` units, the Unit (system, type, unit, scale) kept as its raw
    [2] element."""

    value: int
    unit: Node


# recordId: number, string or opaque. supplementalId: timeStamp, versionNumber, previousVersion.
RecordId = Union[int, str, bytes]
SupplementalId = Union[datetime, str, External]


@dataclass(frozen=True, kw_only=True)
class SuppliedRecord:
    record_id: RecordId | None = None
    supplemental_id: SupplementalId | None = None
    correlation: CorrelationInfo | None = None
    record: External


@dataclass(frozen=True, kw_only=True)
class TaskPackageRecord:
    """TaskPackageRecordStructure: the outcome for one supplied record.

    `record` and `diagnostics` are the two alternatives of recordOrSurDiag (at most one is set);
    Update 1.0 carries exactly one surrogate diagnostic and no supplemental ones.
    """

    record: External | None = None
    diagnostics: tuple[DiagRec, ...] = ()
    correlation: CorrelationInfo | None = None
    status: int = RecordStatus.SUCCESS
    supplemental_diagnostics: tuple[DiagRec, ...] = ()


@dataclass(frozen=True)
class Contact:
    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ResultSetItem:
    """The item an order names by its position in a result set."""

    result_set_id: str
    item: int


# ---------------------------------------------------------------------------------------------
# Packages: esRequest (what an origin sends) and taskPackage (what a target keeps and returns)
# ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class UpdateTaskPackage:
    """Update taskPackage: the origin part kept from the request, then the target part."""

    action: int
    database: str
    schema: str | None = None
    element_set: str | None = None
    action_qualifier: External | None = None  # Update 1.1 only
    update_status: int = UpdateStatus.SUCCESS
    global_diagnostics: tuple[DiagRec, ...] = ()
    records: tuple[TaskPackageRecord, ...] = ()
    package_type: str = UPDATE_OID


@dataclass(kw_only=True)
class UpdateRequest:
    """Update esRequest, 1.0 or 1.1 as `package_type` says."""

    action: int
    database: str
    schema: str | None = None
    element_set: str | None = None
    action_qualifier: External | None = None  # Update 1.1 only
    records: tuple[SuppliedRecord, ...] = ()
    package_type: str = UPDATE_OID

    def task_package(self, update_status: int, records: tuple[TaskPackageRecord, ...] = (),
                     global_diagnostics: tuple[DiagRec, ...] = ()) -> UpdateTaskPackage:
        """The task package a target answers with: the part to keep echoed, and the outcome."""
        return UpdateTaskPackage(
            action=self.action, database=self.database, schema=self.schema,
            element_set=self.element_set, action_qualifier=self.action_qualifier,
            update_status=update_status, global_diagnostics=tuple(global_diagnostics),
            records=tuple(records), package_type=self.package_type)


@dataclass(kw_only=True)
class ItemOrderTaskPackage:
    """ItemOrder taskPackage. `additional_billing` is the raw [3] addlBilling element."""

    package_type: ClassVar[str] = ITEM_ORDER_OID
    supplemental_description: External | None = None
    contact: Contact | None = None
    additional_billing: Node | None = None
    item_request: External | None = None
    status_or_error_report: External | None = None
    auxiliary_status: int | None = None


@dataclass(kw_only=True)
class ItemOrderRequest:
    """ItemOrder esRequest; `item_request` is usually an ISO 10161 ILL-Request, kept raw."""

    package_type: ClassVar[str] = ITEM_ORDER_OID
    supplemental_description: External | None = None
    contact: Contact | None = None
    additional_billing: Node | None = None
    result_set_item: ResultSetItem | None = None
    item_request: External | None = None

    def task_package(self, item_request: External | None = None,
                     status_or_error_report: External | None = None,
                     auxiliary_status: int | None = None) -> ItemOrderTaskPackage:
        """The task package a target answers with: the part to keep echoed, and the outcome."""
        return ItemOrderTaskPackage(
            supplemental_description=self.supplemental_description, contact=self.contact,
            additional_billing=self.additional_billing, item_request=item_request,
            status_or_error_report=status_or_error_report, auxiliary_status=auxiliary_status)


# An EXTERNAL of a package this module does not model stays an External.
TaskRequest = Union[UpdateRequest, ItemOrderRequest, External]
TaskParameters = Union[UpdateTaskPackage, ItemOrderTaskPackage, External]


@dataclass(kw_only=True)
class TaskPackage:
    """A task package record (syntax ESTaskPackage), returned by ES and by Present."""

    package_type: str
    package_name: str | None = None
    user_id: str | None = None
    retention_time: IntUnit | None = None
    permissions: tuple[Permission, ...] = ()
    description: str | None = None
    target_reference: bytes | None = None
    creation_date_time: datetime | None = None
    task_status: int = TaskStatus.PENDING
    package_diagnostics: tuple[DiagRec, ...] = ()
    task_specific_parameters: TaskParameters


# ---------------------------------------------------------------------------------------------
# APDUs
# ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ExtendedServicesRequest:
    """`task_specific_parameters` is None on a delete, and otherwise usually the package."""

    reference_id: bytes | None = None
    function: int = Function.CREATE
    package_type: str
    package_name: str | None = None
    user_id: str | None = None
    retention_time: IntUnit | None = None
    permissions: tuple[Permission, ...] = ()
    description: str | None = None
    task_specific_parameters: TaskRequest | None = None
    wait_action: int = WaitAction.WAIT_IF_POSSIBLE
    elements: str | None = None
    other_info: Node | None = None


@dataclass(kw_only=True)
class ExtendedServicesResponse:
    reference_id: bytes | None = None
    operation_status: int = OperationStatus.DONE
    diagnostics: tuple[DiagRec, ...] = ()
    task_package: TaskPackage | External | None = None
    other_info: Node | None = None


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def decode_extended_services(node: Node) -> ExtendedServicesRequest | ExtendedServicesResponse:
    """Read an ES APDU: the whole [46] or [47] element, as `apdu.decode_apdu` decoded it."""
    reader = _APDU_READERS.get(node.number) if node.cls == CONTEXT else None
    if reader is None or not node.constructed:
        raise BERError(f"not an Extended Services APDU: {node!r}")
    with _malformed(f"APDU [{node.number}]"):
        return reader(node.fields())


def decode_task_package(external: External) -> TaskPackage:
    """Read a task package record, as an ES response or a Present returns it."""
    if external.direct_reference != TASK_PACKAGE_OID or external.encoding != SINGLE_ASN1_TYPE:
        raise BERError(f"not a task package record: {external.direct_reference}")
    with _malformed("task package"):
        return _task_package(external.value.fields())


@contextmanager
def _malformed(what: str):
    """Shapes the ASN.1 forbids surface as Python errors on the Node tree: report them as BER."""
    try:
        yield
    except (IndexError, KeyError, TypeError, AttributeError) as error:
        raise BERError(f"malformed {what}: {error}") from error


def _enumerated(kind: type[IntEnum], node: Node) -> int:
    """The named value, or a plain int for a value the standard does not name (to refuse)."""
    value = node.integer()
    try:
        return kind(value)
    except ValueError:
        return value


def _diag_recs(node: Node | None) -> tuple[DiagRec, ...]:
    return () if node is None else tuple(_diag_rec(child) for child in node.children)


def _int_unit(node: Node) -> IntUnit:
    fields = node.fields()
    return IntUnit(_required(fields, 1).integer(), _required(fields, 2))


def _permissions(node: Node | None) -> tuple[Permission, ...]:
    if node is None:
        return ()
    permissions = []
    for entry in node.children:
        fields = entry.fields()
        functions = _required(fields, 2).children
        permissions.append(Permission(_opt_text(fields, 1),
                                      tuple(function.integer() for function in functions)))
    return tuple(permissions)


_GENERALIZED_TIME = re.compile(
    r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)?(\d\d)?(?:[.,](\d{1,6})\d*)?(Z|[+-]\d\d(?:\d\d)?)?")


def _generalized_time(node: Node) -> datetime:
    """GeneralizedTime: naive when the sender gave local time, aware when it gave a zone."""
    text = node.text()
    match = _GENERALIZED_TIME.fullmatch(text)
    if match is None:
        raise BERError(f"bad GeneralizedTime {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if zone is None:
            tz = None
        elif zone == "Z":
            tz = timezone.utc
        else:
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
            tz = timezone(-offset if zone[0] == "-" else offset)
        return datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                        int(second or 0), int((fraction or "0").ljust(6, "0")), tz)
    except ValueError as error:
        raise BERError(f"bad GeneralizedTime {text!r}: {error}") from error


def _correlation(node: Node) -> CorrelationInfo:
    fields = node.fields()
    return CorrelationInfo(_opt_text(fields, 1), _opt_int(fields, 2))


def _optional(fields: dict, number: int, reader):
    node = fields.get((CONTEXT, number))
    return None if node is None else reader(node)


def _record_id(node: Node) -> RecordId:
    choice = node.only_child()
    if choice.tag == (CONTEXT, 1):
        return choice.integer()
    if choice.tag == (CONTEXT, 2):
        return choice.text()
    if choice.tag == (CONTEXT, 3):
        return choice.octets()
    raise BERError(f"unknown recordId {choice!r}")


def _supplemental_id(node: Node) -> SupplementalId:
    choice = node.only_child()
    if choice.tag == (CONTEXT, 1):
        return _generalized_time(choice)
    if choice.tag == (CONTEXT, 2):
        return choice.text()
    if choice.tag == (CONTEXT, 3):
        return decode_external(choice)
    raise BERError(f"unknown supplementalId {choice!r}")


def _supplied_record(node: Node) -> SuppliedRecord:
    fields = node.fields()
    return SuppliedRecord(
        record_id=_optional(fields, 1, _record_id),
        supplemental_id=_optional(fields, 2, _supplemental_id),
        correlation=_optional(fields, 3, _correlation),
        record=decode_external(_required(fields, 4)))


def _update_origin(node: Node) -> dict:
    """OriginPartToKeep of either Update version, as keyword arguments of both Update classes."""
    fields = node.only_child().fields()
    return {"action": _enumerated(UpdateAction, _required(fields, 1)),
            "database": _required(fields, 2).text(),
            "schema": _optional(fields, 3, Node.oid),
            "element_set": _opt_text(fields, 4),
            "action_qualifier": _optional(fields, 5, decode_external)}


def _update_request(fields: dict, package_type: str) -> UpdateRequest:
    records = _required(fields, 2).only_child().children
    return UpdateRequest(**_update_origin(_required(fields, 1)),
                         records=tuple(map(_supplied_record, records)), package_type=package_type)


def _task_package_record(node: Node) -> TaskPackageRecord:
    fields = node.fields()
    record, diagnostics = None, ()
    if (outcome := fields.get((CONTEXT, 1))) is not None:
        choice = outcome.only_child()
        if choice.tag == (CONTEXT, 1):
            record = decode_external(choice)
        elif choice.tag == (CONTEXT, 2):  # 1.0: one explicitly tagged DiagRec; 1.1: a list
            diagnostics = _diag_recs(choice)
        else:
            raise BERError(f"unknown recordOrSurDiag {choice!r}")
    return TaskPackageRecord(
        record=record, diagnostics=diagnostics, correlation=_optional(fields, 2, _correlation),
        status=_enumerated(RecordStatus, _required(fields, 3)),
        supplemental_diagnostics=_diag_recs(fields.get((CONTEXT, 4))))


def _update_task_package(fields: dict, package_type: str) -> UpdateTaskPackage:
    target = _required(fields, 2).only_child().fields()
    records = target.get((CONTEXT, 3))
    return UpdateTaskPackage(
        **_update_origin(_required(fields, 1)),
        update_status=_enumerated(UpdateStatus, _required(target, 1)),
        global_diagnostics=_diag_recs(target.get((CONTEXT, 2))),
        records=() if records is None else tuple(map(_task_package_record, records.children)),
        package_type=package_type)


def _contact(node: Node) -> Contact:
    fields = node.fields()
    return Contact(_opt_text(fields, 1), _opt_text(fields, 2), _opt_text(fields, 3))


def _item_order_origin(node: Node | None) -> dict:
    """OriginPartToKeep (optional) as keyword arguments of both ItemOrder classes."""
    fields = {} if node is None else node.only_child().fields()
    return {"supplemental_description": _optional(fields, 1, decode_external),
            "contact": _optional(fields, 2, _contact),
            "additional_billing": fields.get((CONTEXT, 3))}


def _result_set_item(node: Node) -> ResultSetItem:
    fields = node.fields()
    return ResultSetItem(_required(fields, 1).text(), _required(fields, 2).integer())


def _item_order_request(fields: dict, package_type: str) -> ItemOrderRequest:
    wanted = _required(fields, 2).only_child().fields()
    return ItemOrderRequest(**_item_order_origin(fields.get((CONTEXT, 1))),
                            result_set_item=_optional(wanted, 1, _result_set_item),
                            item_request=_optional(wanted, 2, decode_external))


def _item_order_task_package(fields: dict, package_type: str) -> ItemOrderTaskPackage:
    target = _required(fields, 2).only_child().fields()
    return ItemOrderTaskPackage(
        **_item_order_origin(fields.get((CONTEXT, 1))),
        item_request=_optional(target, 1, decode_external),
        status_or_error_report=_optional(target, 2, decode_external),
        auxiliary_status=_optional(target, 3, lambda node: _enumerated(AuxiliaryStatus, node)))


_ES_REQUEST, _TASK_PACKAGE = 1, 2  # the CHOICE every ES format makes: esRequest or taskPackage
_PACKAGE_READERS = {
    _ES_REQUEST: {UPDATE_OID: _update_request, ITEM_ORDER_OID: _item_order_request},
    _TASK_PACKAGE: {UPDATE_OID: _update_task_package, ITEM_ORDER_OID: _item_order_task_package},
}


def _package(external: External, package_type: str, choice: int):
    """The package inside a task-specific EXTERNAL, or the EXTERNAL itself when not modelled."""
    oid = external.direct_reference or package_type
    readers = _PACKAGE_READERS[choice]
    reader = readers.get(UPDATE_OID if oid in UPDATE_OIDS else oid)
    body = external.value
    if reader is None or external.encoding != SINGLE_ASN1_TYPE or body.tag != (CONTEXT, choice):
        return external
    return reader(body.fields(), oid)


def _task_package(fields: dict) -> TaskPackage:
    package_type = _required(fields, 1).oid()
    return TaskPackage(
        package_type=package_type, package_name=_opt_text(fields, 2),
        user_id=_opt_text(fields, 3), retention_time=_optional(fields, 4, _int_unit),
        permissions=_permissions(fields.get((CONTEXT, 5))), description=_opt_text(fields, 6),
        target_reference=_optional(fields, 7, Node.octets),
        creation_date_time=_optional(fields, 8, _generalized_time),
        task_status=_enumerated(TaskStatus, _required(fields, 9)),
        package_diagnostics=_diag_recs(fields.get((CONTEXT, 10))),
        task_specific_parameters=_package(decode_external(_required(fields, 11)), package_type,
                                          _TASK_PACKAGE))


def _read_request(fields: dict) -> ExtendedServicesRequest:
    package_type = _required(fields, 4).oid()
    parameters = fields.get((CONTEXT, 10))
    return ExtendedServicesRequest(
        reference_id=_reference_id(fields), function=_enumerated(Function, _required(fields, 3)),
        package_type=package_type, package_name=_opt_text(fields, 5),
        user_id=_opt_text(fields, 6), retention_time=_optional(fields, 7, _int_unit),
        permissions=_permissions(fields.get((CONTEXT, 8))), description=_opt_text(fields, 9),
        task_specific_parameters=None if parameters is None else _package(
            decode_external(parameters), package_type, _ES_REQUEST),
        wait_action=_enumerated(WaitAction, _required(fields, 11)),
        elements=_opt_text(fields, 103), other_info=fields.get(_OTHER_INFO))


def _read_response(fields: dict) -> ExtendedServicesResponse:
    package = _optional(fields, 5, decode_external)
    if package is not None and package.direct_reference == TASK_PACKAGE_OID \
            and package.encoding == SINGLE_ASN1_TYPE:
        package = _task_package(package.value.fields())
    return ExtendedServicesResponse(
        reference_id=_reference_id(fields),
        operation_status=_enumerated(OperationStatus, _required(fields, 3)),
        diagnostics=_diag_recs(fields.get((CONTEXT, 4))), task_package=package,
        other_info=fields.get(_OTHER_INFO))


_APDU_READERS = {46: _read_request, 47: _read_response}

# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def encode_extended_services(apdu: ExtendedServicesRequest | ExtendedServicesResponse) -> bytes:
    """BER for one ES APDU, definite lengths throughout."""
    if isinstance(apdu, ExtendedServicesRequest):
        return _cons(46, _request_content(apdu))
    if isinstance(apdu, ExtendedServicesResponse):
        return _cons(47, _response_content(apdu))
    raise TypeError(f"not an Extended Services APDU: {type(apdu).__name__}")


def encode_task_package(package: TaskPackage) -> External:
    """The task package as a retrieval record, for an ES response or a Present."""
    return External(TASK_PACKAGE_OID, SINGLE_ASN1_TYPE, decode(_task_package_bytes(package)))


def _external(number: int, external: External) -> bytes:
    """[number] IMPLICIT EXTERNAL."""
    return _cons(number, external_content(external))


def _single_asn1_external(number: int, oid: str, value: bytes) -> bytes:
    """[number] IMPLICIT EXTERNAL of single-ASN1-type `value`, written without a Node tree."""
    return _cons(number, _universal_oid(oid) + _cons(SINGLE_ASN1_TYPE, value))


def _diag_list(number: int, diagnostics: tuple[DiagRec, ...]) -> bytes:
    """[number] IMPLICIT SEQUENCE OF DiagRec, left out when empty."""
    if not diagnostics:
        return b""
    return _cons(number, b"".join(map(_diag_rec_bytes, diagnostics)))


def _int_unit_bytes(number: int, int_unit: IntUnit) -> bytes:
    return _cons(number, _int(1, int_unit.value) + encode(int_unit.unit))


def _permissions_bytes(number: int, permissions: tuple[Permission, ...]) -> bytes:
    if not permissions:
        return b""
    return _cons(number, b"".join(
        _seq(_opt(_text, 1, permission.user_id)
             + _cons(2, b"".join(tlv(b"\x02", integer_content(function))
                                 for function in permission.allowable_functions)))
        for permission in permissions))


def _generalized_time_bytes(number: int, value: datetime) -> bytes:
    """Local time for a naive datetime, UTC with "Z" for an aware one."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    text = (f"{value.year:04d}{value.month:02d}{value.day:02d}"
            f"{value.hour:02d}{value.minute:02d}{value.second:02d}")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return _text(number, text + ("Z" if value.tzinfo is not None else ""))


def _correlation_bytes(number: int, correlation: CorrelationInfo) -> bytes:
    return _cons(number, _opt(_text, 1, correlation.note) + _opt(_int, 2, correlation.id))


def _record_id_bytes(number: int, record_id: RecordId) -> bytes:
    if isinstance(record_id, int):
        choice = _int(1, record_id)
    elif isinstance(record_id, str):
        choice = _text(2, record_id)
    else:
        choice = _prim(3, record_id)
    return _cons(number, choice)


def _supplemental_id_bytes(number: int, supplemental_id: SupplementalId) -> bytes:
    if isinstance(supplemental_id, datetime):
        choice = _generalized_time_bytes(1, supplemental_id)
    elif isinstance(supplemental_id, str):
        choice = _text(2, supplemental_id)
    else:
        choice = _external(3, supplemental_id)
    return _cons(number, choice)


def _supplied_record_bytes(item: SuppliedRecord) -> bytes:
    return _seq(_opt(_record_id_bytes, 1, item.record_id)
                + _opt(_supplemental_id_bytes, 2, item.supplemental_id)
                + _opt(_correlation_bytes, 3, item.correlation) + _external(4, item.record))


def _update_origin_bytes(package: UpdateRequest | UpdateTaskPackage) -> bytes:
    """[1] OriginPartToKeep, shared by esRequest and taskPackage."""
    if package.action_qualifier is not None and package.package_type != UPDATE_OID:
        raise BERError("actionQualifier needs Update 1.1")
    return _cons(1, _seq(_int(1, package.action) + _text(2, package.database)
                         + _opt(_oid, 3, package.schema) + _opt(_text, 4, package.element_set)
                         + _opt(_external, 5, package.action_qualifier)))


def _task_package_record_bytes(item: TaskPackageRecord, revision_1: bool) -> bytes:
    if item.record is not None and item.diagnostics:
        raise BERError("a task package record holds a record or diagnostics, not both")
    if not revision_1 and (len(item.diagnostics) > 1 or item.supplemental_diagnostics):
        raise BERError("Update 1.0 has one surrogate diagnostic a record, no supplemental ones")
    if item.record is not None:
        outcome = _cons(1, _external(1, item.record))
    elif item.diagnostics:
        outcome = _cons(1, _diag_list(2, item.diagnostics))
    else:
        outcome = b""
    return _seq(outcome + _opt(_correlation_bytes, 2, item.correlation) + _int(3, item.status)
                + _diag_list(4, item.supplemental_diagnostics))


def _update_request_bytes(package: UpdateRequest) -> bytes:
    records = b"".join(map(_supplied_record_bytes, package.records))
    return _cons(_ES_REQUEST, _update_origin_bytes(package) + _cons(2, _seq(records)))


def _update_task_package_bytes(package: UpdateTaskPackage) -> bytes:
    revision_1 = package.package_type == UPDATE_OID
    records = b"".join(_task_package_record_bytes(item, revision_1) for item in package.records)
    target = (_int(1, package.update_status) + _diag_list(2, package.global_diagnostics)
              + _cons(3, records))
    return _cons(_TASK_PACKAGE, _update_origin_bytes(package) + _cons(2, _seq(target)))


def _contact_bytes(number: int, contact: Contact) -> bytes:
    return _cons(number, _opt(_text, 1, contact.name) + _opt(_text, 2, contact.phone)
                 + _opt(_text, 3, contact.email))


def _item_order_origin_bytes(package: ItemOrderRequest | ItemOrderTaskPackage) -> bytes:
    """[1] OriginPartToKeep, left out when it would be empty (it is OPTIONAL)."""
    content = (_opt(_external, 1, package.supplemental_description)
               + _opt(_contact_bytes, 2, package.contact) + _raw(package.additional_billing))
    return _cons(1, _seq(content)) if content else b""


def _item_order_request_bytes(package: ItemOrderRequest) -> bytes:
    item = package.result_set_item
    wanted = (b"" if item is None else _cons(1, _text(1, item.result_set_id) + _int(2, item.item)))
    wanted += _opt(_external, 2, package.item_request)
    return _cons(_ES_REQUEST, _item_order_origin_bytes(package) + _cons(2, _seq(wanted)))


def _item_order_task_package_bytes(package: ItemOrderTaskPackage) -> bytes:
    target = (_opt(_external, 1, package.item_request)
              + _opt(_external, 2, package.status_or_error_report)
              + _opt(_int, 3, package.auxiliary_status))
    return _cons(_TASK_PACKAGE, _item_order_origin_bytes(package) + _cons(2, _seq(target)))


_PACKAGE_WRITERS = {
    UpdateRequest: _update_request_bytes, UpdateTaskPackage: _update_task_package_bytes,
    ItemOrderRequest: _item_order_request_bytes,
    ItemOrderTaskPackage: _item_order_task_package_bytes,
}


def _package_bytes(number: int, package: TaskRequest | TaskParameters) -> bytes:
    """[number] IMPLICIT EXTERNAL holding a package under its own OID, or a raw EXTERNAL."""
    if isinstance(package, External):
        return _external(number, package)
    return _single_asn1_external(number, package.package_type,
                                 _PACKAGE_WRITERS[type(package)](package))


def _task_package_bytes(package: TaskPackage) -> bytes:
    return _seq(
        _oid(1, package.package_type) + _opt(_text, 2, package.package_name)
        + _opt(_text, 3, package.user_id) + _opt(_int_unit_bytes, 4, package.retention_time)
        + _permissions_bytes(5, package.permissions) + _opt(_text, 6, package.description)
        + _opt(_prim, 7, package.target_reference)
        + _opt(_generalized_time_bytes, 8, package.creation_date_time)
        + _int(9, package.task_status) + _diag_list(10, package.package_diagnostics)
        + _package_bytes(11, package.task_specific_parameters))


def _request_content(apdu: ExtendedServicesRequest) -> bytes:
    return (_opt(_text, 2, apdu.reference_id) + _int(3, apdu.function)
            + _oid(4, apdu.package_type) + _opt(_text, 5, apdu.package_name)
            + _opt(_text, 6, apdu.user_id) + _opt(_int_unit_bytes, 7, apdu.retention_time)
            + _permissions_bytes(8, apdu.permissions) + _opt(_text, 9, apdu.description)
            + _opt(_package_bytes, 10, apdu.task_specific_parameters)
            + _int(11, apdu.wait_action) + _opt(_text, 103, apdu.elements)
            + _raw(apdu.other_info))


def _response_content(apdu: ExtendedServicesResponse) -> bytes:
    package = apdu.task_package
    if isinstance(package, TaskPackage):
        package_bytes = _single_asn1_external(5, TASK_PACKAGE_OID, _task_package_bytes(package))
    else:
        package_bytes = _opt(_external, 5, package)
    return (_opt(_text, 2, apdu.reference_id) + _int(3, apdu.operation_status)
            + _diag_list(4, apdu.diagnostics) + package_bytes + _raw(apdu.other_info))
