"""Bulk API 2.0 ingest jobs: the state machine, CSV in, per-row results out."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.faults import Dice
from sandbox.salesforce.ids import IdMinter, normalize_id
from sandbox.salesforce.schema import ObjectDef
from sandbox.salesforce.store import MultipleMatches, Store
from sandbox.salesforce.values import format_datetime

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = ("LF", "CRLF")
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
RESULT_KINDS = {
    "successfulresults": "successful",
    "failedresults": "failed",
    "unprocessedrecords": "unprocessed",
}
NULL_CELL = "#N/A"
ROWS_PER_BATCH = 10_000


@dataclass
class IngestJob:
    id: str
    object: str
    operation: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    created_by: str
    created_date: str
    state: str = "Open"
    modstamp: str = ""
    uploads: list[str] = field(default_factory=list)
    polls: int = 0
    fail_when_done: bool = False
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None


class BulkIngest:
    """Jobs advance one step per status poll after `UploadComplete`, so tests see every state in order.

    Rows are written when the job completes (the poll that reports `JobComplete`), not at upload,
    which matches what a client can observe of the asynchronous original.
    """

    def __init__(
        self,
        store: Store,
        ids: IdMinter,
        clock: Callable[[], datetime],
        dice: Callable[[], Dice],
        polls_to_complete: int,
    ) -> None:
        if polls_to_complete < 1:
            raise ValueError("polls_to_complete must be at least 1")
        self._store = store
        self._ids = ids
        self._clock = clock
        self._dice = dice
        self.polls_to_complete = polls_to_complete
        self._jobs: dict[str, IngestJob] = {}
        self.batches_used = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any], user_id: str, version: str) -> dict[str, Any]:
        obj = self._store.schema.get(str(body.get("object", "")))
        if obj is None:
            raise ApiError(
                400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "InvalidJob : Only CSV content is supported")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            ext_field = obj.field(str(ext or ""))
            if not ext:
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank for {obj.name}. "
                    "An External ID must be specified for upsert.",
                )
            if ext_field is None or not ext_field.id_lookup:
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field "
                    f"for {obj.name}",
                )
            ext = ext_field.name
        now = format_datetime(self._clock())
        job = IngestJob(
            id=self._ids.mint("750"),
            object=obj.name,
            operation=operation,
            external_id_field=ext,
            column_delimiter=delimiter,
            line_ending=line_ending,
            created_by=user_id,
            created_date=now,
            modstamp=now,
        )
        self._jobs[job.id] = job
        return self._info(job, version, full=False)

    def upload(self, job_id: str, data: bytes) -> None:
        job = self._job(job_id)
        if job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload")
        try:
            job.uploads.append(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ApiError(400, "INVALIDBATCH", "InvalidBatch : CSV data must be UTF-8") from exc
        job.modstamp = format_datetime(self._clock())

    def set_state(self, job_id: str, state: Any, version: str) -> dict[str, Any]:
        job = self._job(job_id)
        if state == "UploadComplete":
            if job.state != "Open":
                raise ApiError(400, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}, not Open")
            job.state = "UploadComplete"
            job.fail_when_done = self._dice().bulk_fails()
        elif state == "Aborted":
            if job.state in TERMINAL:
                raise ApiError(400, "INVALIDJOBSTATE", f"Aborting already {job.state} Job not allowed")
            job.state = "Aborted"
            job.header, rows = self._rows(job) if job.uploads else ([], [])
            job.unprocessed = rows
        else:
            raise ApiError(400, "INVALIDJOBSTATE", f"Cannot change job state to {state}")
        job.modstamp = format_datetime(self._clock())
        return self._info(job, version, full=False)

    def poll(self, job_id: str, version: str) -> dict[str, Any]:
        job = self._job(job_id)
        if job.state in ("UploadComplete", "InProgress"):
            job.polls += 1
            if job.polls >= self.polls_to_complete:
                self._process(job)
            else:
                job.state = "InProgress"
            job.modstamp = format_datetime(self._clock())
        return self._info(job, version, full=True)

    def delete(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.state not in TERMINAL:
            raise ApiError(400, "INVALIDJOBSTATE", "Only a completed, failed or aborted job can be deleted")
        del self._jobs[job_id]

    def jobs(self, version: str) -> dict[str, Any]:
        records = [self._info(j, version, full=False) for j in self._jobs.values()]
        return {"done": True, "records": records, "nextRecordsUrl": None}

    def results(self, job_id: str, kind: str) -> str:
        job = self._job(job_id)
        if job.state not in TERMINAL:
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}; results come once it ends")
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind == "successful":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            writer.writerows(job.successful)
        elif kind == "failed":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            writer.writerows(job.failed)
        else:
            writer.writerow(job.header)
            writer.writerows(job.unprocessed)
        return buf.getvalue()

    def info(self, job_id: str, version: str) -> dict[str, Any]:
        return self._info(self._job(job_id), version, full=True)

    # -- processing ------------------------------------------------------------------------------

    def object_of(self, job_id: str) -> str:
        """The object a job loads ("?" for an unknown job)."""
        job = self._jobs.get(normalize_id(job_id) or job_id)
        return job.object if job else "?"

    def _job(self, job_id: str) -> IngestJob:
        job = self._jobs.get(normalize_id(job_id) or job_id)
        if job is None:
            raise not_found()
        return job

    def _rows(self, job: IngestJob) -> tuple[list[str], list[list[str]]]:
        header: list[str] = []
        rows: list[list[str]] = []
        for chunk in job.uploads:
            reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=DELIMITERS[job.column_delimiter])
            chunk_rows = [r for r in reader if r]
            if not chunk_rows:
                continue
            if header and chunk_rows[0] != header:
                raise _JobFailure("InvalidBatch : All uploads to one job must share the same header")
            header = chunk_rows[0]
            rows.extend(chunk_rows[1:])
        return header, rows

    def _process(self, job: IngestJob) -> None:
        try:
            job.header, rows = self._rows(job)
        except _JobFailure as failure:
            job.state, job.error_message = "Failed", failure.message
            return
        if job.fail_when_done:
            job.state, job.unprocessed = "Failed", rows
            job.error_message = "InternalServerError : the sandbox failed this job (fault injection)"
            return
        obj = self._store.schema.get(job.object)
        assert obj is not None
        try:
            self._check_header(job, obj)
        except _JobFailure as failure:
            job.state, job.error_message, job.unprocessed = "Failed", failure.message, rows
            return
        self.batches_used += max(1, math.ceil(len(rows) / ROWS_PER_BATCH))
        duplicates = self._duplicate_keys(job, obj, rows)
        dice = self._dice()
        for row in rows:
            cells = dict(zip(job.header, row, strict=False))
            known_id = normalize_id(cells.get("Id", "")) or ""
            try:
                if dice.locked():
                    raise RecordError(
                        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
                    )
                record_id, created = self._apply(job, obj, cells, duplicates)
            except RecordError as err:
                job.failed.append([known_id, err.as_bulk(), *row])
                continue
            job.successful.append([record_id, "true" if created else "false", *row])
        job.state = "JobComplete"

    def _check_header(self, job: IngestJob, obj: ObjectDef) -> None:
        for column in job.header:
            name, _, key = column.partition(".")
            f = obj.relationship(name) if key else obj.field(name)
            if f is None:
                raise _JobFailure(f"InvalidBatch : Field name not found : {column}")
            if key:
                target = self._store.schema.get(f.reference_to[0])
                if target is None or target.field(key) is None:
                    raise _JobFailure(f"InvalidBatch : Field name not found : {column}")
        if job.operation in ("update", "delete", "hardDelete") and "Id" not in job.header:
            raise _JobFailure("InvalidBatch : Field name not found : Id")
        if job.operation in ("delete", "hardDelete") and job.header != ["Id"]:
            raise _JobFailure("InvalidBatch : The 'delete' batch must contain only the 'Id' field")
        if job.operation == "upsert" and job.external_id_field not in job.header:
            raise _JobFailure(f"InvalidBatch : Field name not found : {job.external_id_field}")

    def _duplicate_keys(self, job: IngestJob, obj: ObjectDef, rows: list[list[str]]) -> set[str]:
        if job.operation != "upsert" or job.external_id_field is None:
            return set()
        ext = obj.field(job.external_id_field)
        assert ext is not None
        column = job.header.index(job.external_id_field)
        keys = Counter(
            _key(row[column], ext.case_sensitive) for row in rows if len(row) > column and row[column]
        )
        return {k for k, n in keys.items() if n > 1}

    def _apply(
        self, job: IngestJob, obj: ObjectDef, cells: dict[str, str], duplicates: set[str]
    ) -> tuple[str, bool]:
        if job.operation in ("delete", "hardDelete"):
            record_id = cells["Id"]
            if normalize_id(record_id) is None:
                raise RecordError("MALFORMED_ID", f"malformed id {record_id}")
            self._store.delete(record_id)
            return normalize_id(record_id) or record_id, False
        values: dict[str, Any] = {}
        for column, cell in cells.items():
            if cell == "":
                continue  # empty means "leave unchanged" in Bulk CSV
            value: Any = None if cell == NULL_CELL else cell
            name, _, key = column.partition(".")
            if key:
                if value is not None:
                    values[name] = {key: value}
                else:
                    rel = obj.relationship(name)
                    assert rel is not None
                    values[rel.name] = None
            else:
                values[name] = value
        if job.operation == "insert":
            return self._store.create(obj, values), True
        if job.operation == "update":
            target = normalize_id(values.pop("Id", "") or "")
            if target is None:
                raise RecordError("MALFORMED_ID", f"malformed id {cells.get('Id')}")
            self._store.update(obj, target, values)
            return target, False
        ext_name = job.external_id_field
        assert ext_name is not None
        ext = obj.field(ext_name)
        assert ext is not None
        key = values.pop(ext.name, None)
        if not key:
            raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
        if _key(key, ext.case_sensitive) in duplicates:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [ext.name])
        try:
            return self._store.upsert(obj, ext, str(key), values)
        except MultipleMatches as err:
            raise RecordError(err.code, err.message, err.fields) from err

    # -- rendering -------------------------------------------------------------------------------

    def _info(self, job: IngestJob, version: str, *, full: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.object,
            "createdById": job.created_by,
            "createdDate": job.created_date,
            "systemModstamp": job.modstamp,
            "state": job.state,
        }
        if job.external_id_field:
            info["externalIdFieldName"] = job.external_id_field
        info.update(
            concurrencyMode="Parallel",
            contentType="CSV",
            apiVersion=float(version),
            contentUrl=f"services/data/v{version}/jobs/ingest/{job.id}/batches",
            lineEnding=job.line_ending,
            columnDelimiter=job.column_delimiter,
        )
        if full:
            info.update(
                jobType="V2Ingest",
                numberRecordsProcessed=len(job.successful) + len(job.failed),
                numberRecordsFailed=len(job.failed),
                retries=0,
                totalProcessingTime=0,
                apiActiveProcessingTime=0,
                apexProcessingTime=0,
            )
            if job.error_message:
                info["errorMessage"] = job.error_message
        return info


class _JobFailure(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _key(value: str, case_sensitive: bool) -> str:
    return value if case_sensitive else value.lower()
