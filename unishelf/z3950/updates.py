"""Z39.50 Extended Services Update (Update-ES 1.1 and 1.0) in front of the cataloguing rules.

Each supplied record becomes one call of `unishelf.marc.cataloguing.Cataloguing`; its result
becomes a task package record (the record as stored, or the diagnostics of its failure), and the
task package says done, partial or failure. Every change is committed before the response, so
waitAction wait and waitIfPossible are answered "done" at once; dontWait is done the same way,
and dontReturnPackage only leaves the task package out.
"""
from __future__ import annotations

import itertools
import os
from datetime import datetime, timezone

from unishelf.auth import User
from unishelf.ber import OCTET_ALIGNED, External
from unishelf.marc.cataloguing import Cataloguing, SuppliedRecord, UpdateResult
from unishelf.z3950 import apdu as z
from unishelf.z3950 import extended as es

MARC_SYNTAXES = {"1.2.840.10003.5.10": "marc21", "1.2.840.10003.5.1": "unimarc"}
UPDATE_PACKAGES = (es.UPDATE_OID, es.UPDATE0_OID, es.UPDATE0_ALIAS_OID)
# Bib-1 diagnostics (Z39.50-2003 Appendix 3)
SERVICE_NOT_SUPPORTED = 221      # ES: extended service type not supported
INVALID_FUNCTION = 1040          # ES: Invalid function
INVALID_ACTION = 1044            # ES: Invalid action
MISSING_PARAMETER = 1008         # ES: missing mandatory parameter for specified function


class UpdateService:
    def __init__(self, catalog):
        self.cataloguing = Cataloguing(catalog)
        self.actions = {es.UpdateAction.RECORD_INSERT: self.cataloguing.insert,
                        es.UpdateAction.RECORD_REPLACE: self.cataloguing.replace,
                        es.UpdateAction.RECORD_DELETE: self.cataloguing.delete,
                        es.UpdateAction.SPECIAL_UPDATE: self.cataloguing.upsert}
        self.references = itertools.count(1)
        self.process = os.getpid()

    def handle(self, request: es.ExtendedServicesRequest, user: User | None) -> es.ExtendedServicesResponse:
        if request.function != es.Function.CREATE:
            return failure(request, INVALID_FUNCTION, "only create is supported")
        update = request.task_specific_parameters
        if request.package_type not in UPDATE_PACKAGES or not isinstance(update, es.UpdateRequest):
            return failure(request, SERVICE_NOT_SUPPORTED, request.package_type)
        operation = self.actions.get(update.action)
        if operation is None:
            return failure(request, INVALID_ACTION, f"action {update.action} is not supported")
        refusal = self.cataloguing.access(user, update.database)
        if refusal:
            return failure(request, refusal.diagnostic, refusal.message)
        if not update.records:
            return failure(request, MISSING_PARAMETER, "suppliedRecords")
        outcomes = [(supplied, operation(user, update.database, _supplied(supplied))) for supplied in update.records]
        records = tuple(self._task_record(supplied, result) for supplied, result in outcomes)
        succeeded = sum(result.ok for _, result in outcomes)
        status = (es.UpdateStatus.SUCCESS if succeeded == len(outcomes)
                  else es.UpdateStatus.FAILURE if not succeeded else es.UpdateStatus.PARTIAL)
        package = self._package(request, user, update.task_package(status, records),
                                es.TaskStatus.COMPLETE if succeeded else es.TaskStatus.ABORTED)
        if succeeded:
            return es.ExtendedServicesResponse(reference_id=request.reference_id,
                                               operation_status=es.OperationStatus.DONE, task_package=package)
        first_failure = next(result for _, result in outcomes if not result.ok)
        return es.ExtendedServicesResponse(
            reference_id=request.reference_id, operation_status=es.OperationStatus.FAILURE,
            diagnostics=(z.DefaultDiagnostic(first_failure.diagnostic, first_failure.message),), task_package=package)

    def _task_record(self, supplied: es.SuppliedRecord, result: UpdateResult) -> es.TaskPackageRecord:
        correlation = supplied.correlation or (es.CorrelationInfo(note="unishelf record id", id=result.record_id)
                                               if result.record_id else None)
        if not result.ok:
            return es.TaskPackageRecord(diagnostics=(z.DefaultDiagnostic(result.diagnostic, result.message),),
                                        correlation=correlation, status=es.RecordStatus.FAILURE)
        stored = None
        if result.outcome != "deleted":
            with self.cataloguing.store.reading() as reader:
                found = reader.record(result.record_id)
                stored = found and z.octet_record(
                    next(oid for oid, name in MARC_SYNTAXES.items() if name == found.syntax), found.raw)
        return es.TaskPackageRecord(record=stored, correlation=correlation, status=es.RecordStatus.SUCCESS)

    def _package(self, request: es.ExtendedServicesRequest, user: User | None, parameters,
                 task_status: int) -> es.TaskPackage | None:
        if request.wait_action == es.WaitAction.DONT_RETURN_PACKAGE:
            return None
        return es.TaskPackage(
            package_type=request.package_type, package_name=request.package_name,
            user_id=request.user_id or (user.name if user else None), description=request.description,
            target_reference=f"unishelf-{self.process}-{next(self.references)}".encode(),
            creation_date_time=datetime.now(timezone.utc).replace(microsecond=0), task_status=task_status,
            task_specific_parameters=parameters)


def failure(request: es.ExtendedServicesRequest, diagnostic: int, message: str) -> es.ExtendedServicesResponse:
    """An ES request refused, with the Bib-1 diagnostic that says why (and no task package)."""
    return es.ExtendedServicesResponse(reference_id=request.reference_id,
                                       operation_status=es.OperationStatus.FAILURE,
                                       diagnostics=(z.DefaultDiagnostic(diagnostic, message[:200]),))


def _supplied(supplied: es.SuppliedRecord) -> SuppliedRecord:
    """The record bytes and ids of an ES supplied record, in the cataloguing core's terms.

    The record syntax OID cannot be trusted to say MARCXML or ISO 2709 (yaz-client labels every
    record XML), so the bytes decide; a MARC OID still says MARC 21 or UNIMARC.
    """
    record = supplied.record
    data = record.value if isinstance(record, External) and record.encoding == OCTET_ALIGNED else b""
    form = "marcxml" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "iso2709"
    record_id = supplied.record_id
    if isinstance(record_id, bytes):
        record_id = record_id.decode("utf-8", "replace")
    version = supplied.supplemental_id
    if isinstance(version, datetime):
        version = version.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif not isinstance(version, str):
        version = None
    return SuppliedRecord(data, form, MARC_SYNTAXES.get(record.direct_reference) if record else None,
                          None if record_id is None else str(record_id).strip(), version)
