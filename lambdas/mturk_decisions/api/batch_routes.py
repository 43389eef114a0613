"""Batches sent through the API: a JSON item list or the requester website's batch-results CSV (POST /batches),
every rejected assignment of a HIT (POST /hits/{hitId}/reversals), and a batch's progress (GET /batches/{id}).
A Powertools `Router` included into the API's resolver (`api/routes.py`); uploaded CSVs: `upload_routes.py`."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from mturk_decisions import wiring
from mturk_decisions.api import body_guard, idempotency
from mturk_decisions.api.calls import CurrentCall, json_answer
from mturk_decisions.api.models import BatchPlanAnswer, BatchRequest, BatchStatusAnswer, BatchSubmission
from mturk_decisions.api.openapi import MTURK, NOTIFYING, operation
from mturk_decisions.api.responses import batch_plan_json, batch_status_json, submission_json
from mturk_decisions.api.schemas import (
    ASSIGNMENT_ID_PATTERN,
    BATCH_ID_PATTERN,
    DryRun,
    HitReversalBody,
    line_cursor,
    notice_of,
)
from mturk_decisions.domain.batch import BatchNotFound, InvalidBatch, ItemStatus, parse_item_list, parse_results_csv
from mturk_decisions.domain.errors import (
    HitNotFound,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidFeedback,
    InvalidRequest,
    MalformedJson,
    NotConfigured,
    QueueUnavailable,
    RequestInProgress,
)

if TYPE_CHECKING:
    from mturk_decisions.domain.batch import ParsedBatch
    from mturk_decisions.domain.notice import WorkerNotice

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated
call = CurrentCall(router)

#: What these routes can refuse, beyond what every operation can (api.openapi.EVERY_OPERATION).
BATCHING = (*MTURK, InvalidBatch, InvalidFeedback, IdempotencyKeyReused, RequestInProgress, QueueUnavailable,
            NotConfigured)
_TO_THE_BATCH = {"GetBatch": {"operationId": "getBatch", "parameters": {"batchId": "$response.body#/batchId"},
                              "description": "The batch's progress."}}
HitId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk HIT id.")]


_CSV_BODY = {
    "schema": {"type": "string", "format": "binary",
               "description": "The requester website's batch-results CSV (UTF-8): an `x` in Approve approves (or "
               "reverses a rejection), text in Reject rejects with it as feedback; the other columns are ignored. "
               "`application/csv` and `text/plain` are read the same way."},
    "example": "HITId,AssignmentId,WorkerId,Approve,Reject\r\n"
               "3DP71HIT0000000000000000000001,3YM12ASSIGNMENT00000000000001,A1DEMOWORKERALICE,x,\r\n"
               "3DP71HIT0000000000000000000001,3YM12ASSIGNMENT00000000000002,A1DEMOWORKERBOB,,"
               "The labels do not match the signs.\r\n",
}


@router.post("/batches", **operation(
    "Queue many decisions: a JSON item list, or the requester website's batch-results CSV", "submitBatch",
    ok={200: (BatchPlanAnswer, "With `dryRun=true`: the plan, its cost and the balance (nothing queued)."),
        202: (BatchSubmission, "The batch is stored and queued.")},
    errors=BATCHING, idempotent=True, request_body={"application/json": BatchRequest, "text/csv": _CSV_BODY},
    links={202: _TO_THE_BATCH}))
def submit_batch(
    dryRun: DryRun = False,
    reason: Annotated[Optional[str], Query(max_length=1000, description="Audit reason for every CSV row")] = None,
) -> Response[dict[str, Any]]:
    event = call.event
    content_type = (event.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    raw = _raw_body()
    if content_type in body_guard.CSV_TYPES:
        parsed = parse_results_csv(raw, reason=reason, strict_utf8=True)
        origin = "csv"
    else:
        text = body_guard.text_of(raw)
        try:
            document = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            raise MalformedJson("The request body is not valid JSON (send a CSV with Content-Type: text/csv).") from None
        if not isinstance(document, dict) or set(document) - {"items"}:
            raise InvalidRequest('The body must be {"items": [...]} or a batch-results CSV with Content-Type: text/csv.')
        parsed = parse_item_list(document.get("items"))
        origin = "json"
    fingerprint = hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")).hexdigest()
    return _run_batch(parsed, origin, dryRun, call.scope("batches", "-"),
                      {"contentType": content_type, "sha256": fingerprint, "reason": reason})


def _raw_body() -> str | bytes:
    """The body as API Gateway passed it: text, or the bytes of a base64 body (a binary media type)."""
    event = call.event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedJson("The request body is marked base64 but is not valid base64.") from None


@router.post("/hits/<hitId>/reversals", **operation(
    "Reverse every rejected assignment of a HIT, optionally for some workers", "reverseHit",
    ok={200: (BatchPlanAnswer, "With `dryRun=true`: the plan (nothing queued)."),
        202: (BatchSubmission, "The reversals are queued as a batch.")},
    errors=(*BATCHING, HitNotFound, *NOTIFYING), body=True, idempotent=True, links={202: _TO_THE_BATCH}))
def reverse_hit(hitId: HitId, body: Optional[HitReversalBody] = None, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    body = body or HitReversalBody()
    notice = notice_of(body.notifyWorker)
    batches = wiring.current().batch_service()
    parsed = batches.hit_reversals(hitId, body.feedback, body.reason, body.workerIds)
    return _run_batch(parsed, "hit-reversal", dryRun, call.scope("hit-reversals", hitId), body.model_dump(),
                      hit_id=hitId, notice=notice)


@router.get("/batches/<batchId>", **operation(
    "A batch's progress, counts by outcome, and its items (paginated)", "getBatch",
    ok={200: (BatchStatusAnswer, "The batch and one page of its items.")},
    errors=(BatchNotFound, InvalidCursor, NotConfigured)))
def get_batch(
    batchId: Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="The batchId of a submitted batch.")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[Optional[str], Query(max_length=64)] = None,
    status: Annotated[Optional[ItemStatus], Query()] = None,
) -> dict[str, Any]:
    # A fixed number of reads whatever the batch's size: its counters, then one page of items.
    batches = wiring.current().batch_service()
    summary = batches.summary(batchId)
    page, next_line = batches.items_page(batchId, line_cursor(cursor), limit, status)
    return batch_status_json(summary, page, None if next_line is None else str(next_line))


def _run_batch(parsed: ParsedBatch, origin: str, dry_run: bool, scope: idempotency.Scope, fields: dict[str, Any],
               hit_id: str | None = None, notice: WorkerNotice | None = None) -> Response[dict[str, Any]]:
    batches = wiring.current().batch_service()
    if dry_run:
        return json_answer(200, batch_plan_json(batches.plan(parsed, call.actor())))
    key = call.idempotency_key()
    # A keyed submit names its batch after the key: a retry after any failure finds the same batch.
    batch_id = scope.fingerprint(key) if key else None
    return call.answer(202, scope, fields, lambda: submission_json(
        batches.submit(parsed, call.actor(), origin, hit_id, batch_id=batch_id, notice=notice)))


