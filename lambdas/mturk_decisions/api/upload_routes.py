"""Uploaded batches (service/uploads.py): a CSV of any size, PUT to S3 instead of sent through the API.

    POST /batches/uploads          → 201: the batch (AWAITING_UPLOAD) and a presigned PUT URL for its CSV
    GET  /batches/{batchId}/plan   → its state; once PLANNED, the plan (totals against the balance now, and
                                     one page of items); once INVALID, its errors
    POST /batches/{batchId}/apply  → 202: queued, like POST /batches (Idempotency-Key honoured)

A Powertools `Router`, included into the API's resolver (`api/routes.py`); domain errors are answered by the
resolver's handlers. Answers are documented with `api.openapi.operation`, as the other routes are.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from mturk_decisions import wiring
from mturk_decisions.api.calls import CurrentCall
from mturk_decisions.api.models import BatchPlan, PlannedOutcome, ProblemItem
from mturk_decisions.api.openapi import MTURK, operation
from mturk_decisions.api.schemas import BATCH_ID_PATTERN, line_cursor
from mturk_decisions.domain.batch import BatchNotFound, BatchNotReady, InvalidBatch
from mturk_decisions.domain.errors import (
    IdempotencyKeyReused,
    InvalidCursor,
    NotConfigured,
    QueueUnavailable,
    RequestInProgress,
)
from mturk_decisions.domain.rules import iso
from mturk_decisions.service.uploads import CSV_CONTENT_TYPE, Applied, UploadPlan, UploadTicket, totals_json

if TYPE_CHECKING:
    from mturk_decisions.domain.batch_records import PlannedEntry

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated
call = CurrentCall(router)

BatchId = Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="The batchId of an uploaded batch.")]
_TO_THE_PLAN = {"GetUploadPlan": {"operationId": "getUploadPlan", "parameters": {"batchId": "$response.body#/batchId"},
                                  "description": "The batch's state, then its plan."}}
_TO_THE_BATCH = {"GetBatch": {"operationId": "getBatch", "parameters": {"batchId": "$response.body#/batchId"},
                              "description": "The batch's progress."}}


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Optional[str] = Field(default=None, description="An internal note kept in the audit of every row; "
                                  "never sent to MTurk. At most 1000 characters.")
    contentLength: Optional[int] = Field(default=None, ge=0, description="The CSV's size in bytes, if known: "
                                         "an upload over `maxBytes` is refused now rather than after the PUT.")


class UploadTarget(BaseModel):
    method: Literal["PUT"]
    url: str = Field(description="Presigned S3 URL: PUT the CSV there, with the headers below, before expiresAt.")
    headers: dict[str, str] = Field(description="Headers the PUT must carry (the Content-Type is signed).")
    expiresAt: datetime


class UploadCreated(BaseModel):
    """An upload awaited (201): PUT the CSV, then follow GET /batches/{batchId}/plan."""

    batchId: str
    status: Literal["AWAITING_UPLOAD"]
    upload: UploadTarget
    maxBytes: int = Field(description="The largest CSV accepted; a larger one makes the batch INVALID.")
    message: str


class UploadState(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    AWAITING_UPLOAD = "AWAITING_UPLOAD"
    PARSING = "PARSING"
    INVALID = "INVALID"
    PLANNED = "PLANNED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"


class UploadPlanAnswer(BaseModel):
    """An uploaded batch: its state; its plan once PLANNED (and after it is applied); its errors if INVALID."""

    batchId: str
    status: UploadState
    createdAt: datetime
    actor: str
    total: int = Field(description="Rows stored (decisions and skipped rows); 0 before the batch is PLANNED.")
    size: Optional[int] = Field(default=None, description="The CSV's size in bytes, once it arrived.")
    maxBytes: int
    uploadExpiresAt: datetime = Field(description="When the presigned URL stops accepting the PUT.")
    plannedAt: Optional[datetime] = None
    plan: Optional[BatchPlan] = Field(default=None, description="Totals (cost against the balance now) and one "
                                      "page of items, in line order; `outcome` filters the items.")
    nextCursor: Optional[str] = None
    code: Optional[Literal["INVALID_BATCH"]] = Field(default=None, description="INVALID: why, as the error "
                                                     "POST /batches answers for the same CSV (400 INVALID_BATCH).")
    errors: Optional[list[ProblemItem]] = Field(default=None, description="INVALID: the first 200 problems, each "
                                                "`{line, assignmentId, field, message}` (`field`: the column).")
    errorCount: Optional[int] = None
    message: str


class UploadApplied(BaseModel):
    """An uploaded batch applied (202): its chunks are queued; follow it with GET /batches/{batchId}."""

    batchId: str
    status: Literal["QUEUED", "RUNNING", "COMPLETED"]
    total: int
    queued: int
    skipped: int
    message: str


@router.post("/batches/uploads", **operation(
    "Start an upload of a batch-results CSV of any size (PUT to S3), to plan and apply as a batch", "createUpload",
    ok={201: (UploadCreated, "The batch, AWAITING_UPLOAD, and the URL its CSV is PUT to.")},
    errors=(IdempotencyKeyReused, RequestInProgress, NotConfigured), body=True, idempotent=True,
    links={201: _TO_THE_PLAN}))
def create_upload(body: Optional[UploadRequest] = None) -> Response[dict[str, Any]]:
    body = body or UploadRequest()
    uploads = wiring.current().upload_service()
    key = call.idempotency_key()
    scope = call.scope("batch-uploads", "-")
    batch_id = scope.fingerprint(key) if key else None
    return call.answer(201, scope, body.model_dump(),
                       lambda: _created_json(uploads.create(call.actor(), body.reason, body.contentLength, batch_id)))


@router.get("/batches/<batchId>/plan", **operation(
    "An uploaded batch's state, then its plan: what each row would do, totals and cost against the balance",
    "getUploadPlan", ok={200: (UploadPlanAnswer, "The batch's state; its plan (one page) once PLANNED.")},
    errors=(*MTURK, BatchNotFound, InvalidCursor, NotConfigured)))
def get_upload_plan(
    batchId: BatchId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[Optional[str], Query(max_length=64)] = None,
    outcome: Annotated[Optional[PlannedOutcome], Query(description="Only the items with this outcome.")] = None,
) -> dict[str, Any]:
    plan = wiring.current().upload_service().plan(batchId, line_cursor(cursor), limit,
                                                  outcome.value if outcome else None)
    return _plan_json(plan)


@router.post("/batches/<batchId>/apply", **operation(
    "Apply a PLANNED uploaded batch: queue it, as POST /batches does", "applyUpload",
    ok={202: (UploadApplied, "The batch is queued (or was already).")},
    errors=(BatchNotFound, BatchNotReady, InvalidBatch, QueueUnavailable, IdempotencyKeyReused, RequestInProgress,
            NotConfigured), idempotent=True, links={202: _TO_THE_BATCH}))
def apply_upload(batchId: BatchId) -> Response[dict[str, Any]]:
    uploads = wiring.current().upload_service()
    return call.answer(202, call.scope("batch-apply", batchId), {}, lambda: _applied_json(uploads.apply(batchId)))


# ---- answers ------------------------------------------------------------------------------------------------
def _created_json(ticket: UploadTicket) -> dict[str, Any]:
    return {
        "batchId": ticket.batch_id,
        "status": "AWAITING_UPLOAD",
        "upload": {"method": "PUT", "url": ticket.url, "headers": {"Content-Type": CSV_CONTENT_TYPE},
                   "expiresAt": iso(ticket.expires_at)},
        "maxBytes": ticket.max_bytes,
        "message": f"PUT the CSV to upload.url with Content-Type: {CSV_CONTENT_TYPE} before upload.expiresAt (at most "
                   f"{ticket.max_bytes // 1_048_576} MB), then follow GET /batches/{ticket.batch_id}/plan.",
    }


_MESSAGES = {
    "AWAITING_UPLOAD": "Waiting for the CSV to be PUT to the upload URL.",
    "PARSING": "The CSV arrived and is being parsed and planned; ask again in a few seconds.",
    "INVALID": "The CSV was refused; nothing was stored or queued. Fix it and upload it again.",
    "PLANNED": "Dry run: nothing was queued, sent to MTurk or written. Apply it with POST /batches/{id}/apply.",
}


def _plan_json(plan: UploadPlan) -> dict[str, Any]:
    info, upload = plan.info, plan.upload
    state = plan.state
    body: dict[str, Any] = {"batchId": info.batch_id, "status": state, "createdAt": iso(info.created_at), "actor": info.actor,
            "total": info.total, "size": upload.size, "maxBytes": upload.max_bytes,
            "uploadExpiresAt": iso(upload.expires_at), "plannedAt": iso(upload.planned_at),
            "message": _MESSAGES.get(state, "Applied: follow it with GET /batches/{id}.").replace("{id}", info.batch_id)}
    if state == "INVALID":
        problems = upload.problems
        body.update(code=InvalidBatch.code, message=problems.get("message", body["message"]),
                    errors=problems.get("errors", []), errorCount=problems.get("errorCount", 0))
    elif plan.balance is not None:
        body["plan"] = {"items": [_entry_json(entry) for entry in plan.entries],
                        "totals": totals_json(upload.totals, plan.balance)}
        body["nextCursor"] = None if plan.next_line is None else str(plan.next_line)
    return {k: v for k, v in body.items() if v is not None}


def _entry_json(entry: PlannedEntry) -> dict[str, Any]:
    cost = None
    if entry.reward is not None and entry.fee is not None:
        from decimal import Decimal

        cost = {"reward": entry.reward, "fee": entry.fee, "total": str(Decimal(entry.reward) + Decimal(entry.fee))}
    body = {"line": entry.line, "assignmentId": entry.assignment_id or None, "hitId": entry.hit_id,
            "workerId": entry.worker_id, "action": entry.action, "outcome": entry.outcome, "code": entry.code,
            "message": entry.message, "cost": cost}
    return {k: v for k, v in body.items() if v is not None}


def _applied_json(applied: Applied) -> dict[str, Any]:
    info = applied.info
    return {"batchId": info.batch_id, "status": applied.state, "total": info.total, "queued": applied.queued,
            "skipped": applied.skipped,
            "message": f"Queued: follow it with GET /batches/{info.batch_id} (the worker applies it in chunks)."}
