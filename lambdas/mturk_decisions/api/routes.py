"""The API's routes (Powertools APIGatewayRestResolver with validation and OpenAPI): parse the request,
call the service, map the result. Domain errors become HTTP answers in `error_response` (their statuses: api/http_errors.py)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from mturk_decisions import wiring
from mturk_decisions.api import body_guard, idempotency
from mturk_decisions.api.calls import CurrentCall, json_answer
from mturk_decisions.api.http_errors import http_status
from mturk_decisions.api.models import (
    AssignmentDetails,
    BatchPlanAnswer,
    BatchRequest,
    BatchStatusAnswer,
    BatchSubmission,
    DecisionAnswer,
    DecisionPage,
    DecisionPlanAnswer,
    NotificationSettingsAnswer,
    ScheduledReversalAccepted,
    ScheduledReversalAnswer,
)
from mturk_decisions.api.openapi import MTURK, DocumentedResolver, document_settings, operation
from mturk_decisions.api.responses import (
    batch_plan_json,
    batch_status_json,
    decision_json,
    details_json,
    outcome_json,
    plan_json,
    record_outcome_json,
    submission_json,
)
from mturk_decisions.api.schemas import (
    ASSIGNMENT_ID_PATTERN,
    BATCH_ID_PATTERN,
    WORKER_ID_PATTERN,
    DecisionBody,
    HitReversalBody,
    NotificationsBody,
    NotifyWorkerBody,
    RejectBody,
    ReverseBody,
    line_cursor,
    pattern_in_words,
)
from mturk_decisions.domain import rules
from mturk_decisions.domain.batch import (
    BatchNotFound,
    InvalidBatch,
    ItemStatus,
    parse_item_list,
    parse_results_csv,
)
from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    DecisionError,
    DecisionInProgress,
    HitDisposed,
    HitNotFound,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidCursor,
    InvalidFeedback,
    InvalidNotification,
    InvalidRequest,
    MalformedJson,
    NotConfigured,
    QueueUnavailable,
    RequestInProgress,
    ReversalAlreadyScheduled,
    ReversalWindowClosed,
    ReversalWindowClosing,
    RouteNotFound,
    ScheduleNotFound,
    ScheduleNotPending,
    UnsupportedMediaType,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, DecisionRequest, Source
from mturk_decisions.domain.notice import WorkerNotice, validate_notice
from mturk_decisions.domain.schedule import parse_duration
from mturk_decisions.observability import logger
from mturk_decisions.service.notifications import EVENT_ACTIONS as NOTIFIED_EVENTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

    from mturk_decisions.domain.batch import ParsedBatch
    from mturk_decisions.domain.model import DecisionRecord
    from mturk_decisions.wiring import Dependencies


F = TypeVar("F", bound=Callable[..., Any])


class _LazilyDocumentedResolver(DocumentedResolver):
    """The document's settings (Powertools' OpenAPI models, whose import costs more than the rest of a cold
    request) are made when a document is first asked for, not for every cold start; so is the Swagger UI."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True)
        self._settings: dict[str, Any] | None = None
        self._swagger_ui: Callable[[], Response[str]] | None = None
        self._made: list[Callable[[], Response[str]]] | None = None

    def document_settings(self) -> dict[str, Any]:
        if self._settings is None:
            self._settings = document_settings()
            self.configure_openapi(**self._settings)
        return self._settings

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        self.document_settings()
        return super().get_openapi_schema(**kwargs)

    def swagger_ui(self) -> Callable[[], Response[str]]:
        """Powertools' Swagger UI handler, made by its `enable_swagger` and kept (the route is `swagger`)."""
        if self._swagger_ui is None:
            self._made = []
            try:
                self.enable_swagger(path="/swagger", **self.document_settings())
                self._swagger_ui = self._made[0]
            finally:
                self._made = None
        return self._swagger_ui

    def get(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        made = self._made
        if made is None:
            return super().get(*args, **kwargs)

        def keep(handler: F) -> F:  # `enable_swagger` registering its handler: keep it instead
            made.append(handler)
            return handler

        return keep


app = _LazilyDocumentedResolver()
call = CurrentCall(app)


@app.get("/swagger", include_in_schema=False)  # as `enable_swagger` registers it
def swagger() -> Response[str]:
    """Powertools' Swagger UI (`?format=json`: the document), made by its `enable_swagger` on the first call."""
    return app.swagger_ui()()


from mturk_decisions.api.upload_routes import router as upload_router  # noqa: E402

app.include_router(upload_router)  # uploaded batches: POST /batches/uploads, GET .../plan, POST .../apply
from mturk_decisions.api.schedule_routes import router as schedule_router  # noqa: E402

app.include_router(schedule_router)  # GET /scheduled-reversals

#: What the routes can refuse, beyond what every operation can (api.openapi.EVERY_OPERATION).
DECIDING = (*MTURK, AssignmentNotFound, InvalidFeedback, WrongAssignmentState, DecisionInProgress,
            RequestInProgress, IdempotencyKeyReused)
NOTIFYING = (InvalidNotification,)
REVERSING = (ReversalWindowClosed, HitDisposed, InsufficientFunds)
SCHEDULING = (NotConfigured, ReversalAlreadyScheduled, ReversalWindowClosing)
SCHEDULES = (NotConfigured, ScheduleNotFound, ScheduleNotPending)
BATCHING = (*MTURK, InvalidBatch, InvalidFeedback, IdempotencyKeyReused, RequestInProgress, QueueUnavailable,
            NotConfigured)
_ON_THE_ASSIGNMENT = {"assignmentId": "$request.path.assignmentId"}
#: After a decision: its assignment, and what may follow it.
_AFTER_A_DECISION = {
    "GetAssignment": {"operationId": "getAssignment", "parameters": _ON_THE_ASSIGNMENT,
                      "description": "The assignment's status and decision history."},
}
_AFTER_A_SCHEDULE = {
    **_AFTER_A_DECISION,
    "CancelScheduledReversal": {"operationId": "cancelScheduledReversal", "parameters": _ON_THE_ASSIGNMENT},
}
_TO_THE_BATCH = {"GetBatch": {"operationId": "getBatch", "parameters": {"batchId": "$response.body#/batchId"},
                              "description": "The batch's progress."}}
_DECIDED = "The decision, or with `dryRun=true` its plan (nothing sent or written)."

AssignmentId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk assignment id.")]
HitId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk HIT id.")]
HitTypeId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk HIT type id.")]
DryRun = Annotated[bool, Query(description="Run every pre-check and return the plan; write nothing.")]


@app.post("/assignments/<assignmentId>/reject", **operation(
    "Reject an assignment with feedback the worker sees", "rejectAssignment",
    ok={200: (DecisionAnswer | DecisionPlanAnswer, _DECIDED)}, errors=(*DECIDING, *SCHEDULING, *NOTIFYING),
    body=True, idempotent=True, links={200: _AFTER_A_DECISION}))
def reject(assignmentId: AssignmentId, body: RejectBody, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    return _decide(Action.REJECT, assignmentId, body.feedback, body.reason, dryRun, provisional_for=body.provisionalFor,
                   notify=body.notifyWorker)


@app.post("/assignments/<assignmentId>/reverse", **operation(
    "Reverse a rejection now, or at a given time (`at`)", "reverseAssignment",
    ok={200: (DecisionAnswer | DecisionPlanAnswer, _DECIDED),
        202: (ScheduledReversalAccepted, "With `at`: the reversal is scheduled (cancellable).")},
    errors=(*DECIDING, *REVERSING, *SCHEDULING, *NOTIFYING), body=True, idempotent=True,
    links={200: _AFTER_A_DECISION, 202: _AFTER_A_SCHEDULE}))
def reverse(assignmentId: AssignmentId, body: Optional[ReverseBody] = None, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    body = body or ReverseBody()
    if body.at is not None and body.notifyWorker is not None:
        raise InvalidRequest("notifyWorker is sent after a reversal made now; it cannot be combined with at.",
                             field="notifyWorker")
    if body.at is not None and not dryRun:
        return _schedule_reversal(assignmentId, body, body.at)
    return _decide(Action.REVERSE, assignmentId, body.feedback, body.reason, dryRun, notify=body.notifyWorker)


def _schedule_reversal(assignment_id: str, body: ReverseBody, at: datetime) -> Response[dict[str, Any]]:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    request = _request(Action.REVERSE, assignment_id, body.feedback, body.reason)

    def schedule() -> dict[str, Any]:
        scheduled = wiring.current().reversal_scheduler().schedule_reversal(request, at)
        return {"scheduledReversal": scheduled.to_json(),
                "message": "The reversal will run at dueAt; cancel it with DELETE "
                           f"/assignments/{assignment_id}/scheduled-reversal."}

    fields = {"feedback": body.feedback, "reason": body.reason, "at": at.isoformat()}
    return call.answer(202, call.scope("reverse-at", assignment_id), fields, schedule)


@app.post("/assignments/<assignmentId>/confirm", **operation(
    "Confirm a provisional rejection: it will not be reversed", "confirmProvisionalRejection",
    ok={200: (ScheduledReversalAnswer, "The automatic reversal, now CONFIRMED.")}, errors=SCHEDULES))
def confirm(assignmentId: AssignmentId) -> dict[str, Any]:
    return {"scheduledReversal": wiring.current().reversal_scheduler().confirm(assignmentId).to_json()}


@app.delete("/assignments/<assignmentId>/scheduled-reversal", **operation(
    "Cancel a pending automatic reversal", "cancelScheduledReversal",
    ok={200: (ScheduledReversalAnswer, "The automatic reversal, now CANCELLED.")}, errors=SCHEDULES))
def cancel_scheduled_reversal(assignmentId: AssignmentId) -> dict[str, Any]:
    return {"scheduledReversal": wiring.current().reversal_scheduler().cancel(assignmentId).to_json()}


@app.put("/hit-types/<hitTypeId>/notifications", **operation(
    "Have MTurk notify this service of rejections and approvals made anywhere (e.g. the website)",
    "setHitTypeNotifications", ok={200: (NotificationSettingsAnswer, "MTurk's notification settings, as set.")},
    errors=(*MTURK, HitNotFound, NotConfigured), body=True))
def notifications(hitTypeId: HitTypeId, body: Optional[NotificationsBody] = None) -> dict[str, Any]:
    body = body or NotificationsBody()
    deps = wiring.current()
    queue = deps.settings.notifications_queue_url
    if not queue:
        raise NotConfigured("MTurk notifications need NOTIFICATIONS_QUEUE_URL in the function's environment.")
    deps.mturk.update_notification_settings(hitTypeId, queue, list(NOTIFIED_EVENTS), body.active)
    return {"hitTypeId": hitTypeId, "active": body.active, "destination": queue, "eventTypes": list(NOTIFIED_EVENTS)}


@app.post("/assignments/<assignmentId>/approve", **operation(
    "Approve a submitted assignment", "approveAssignment",
    ok={200: (DecisionAnswer | DecisionPlanAnswer, _DECIDED)}, errors=(*DECIDING, InsufficientFunds, HitDisposed),
    body=True, idempotent=True, links={200: _AFTER_A_DECISION}))
def approve(assignmentId: AssignmentId, body: Optional[DecisionBody] = None, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    body = body or DecisionBody()
    return _decide(Action.APPROVE, assignmentId, body.feedback, body.reason, dryRun)


@app.get("/assignments/<assignmentId>", **operation(
    "MTurk's current view of an assignment and its decision history", "getAssignment",
    ok={200: (AssignmentDetails, "The assignment, its decisions (newest first) and any automatic reversal.")},
    errors=(*MTURK, AssignmentNotFound)))
def get_assignment(assignmentId: AssignmentId) -> dict[str, Any]:
    deps = wiring.current()
    body = details_json(deps.service.describe(assignmentId), deps.service.now())
    if deps.scheduler is not None:
        schedule = deps.scheduler.get(assignmentId)
        if schedule is not None:
            body["scheduledReversal"] = schedule.to_json()
    return body


@app.get("/decisions", **operation(
    "The audit for one worker or one HIT, or every decision in a time range, newest first", "listDecisions",
    ok={200: (DecisionPage, "One page of decisions.")}, errors=(InvalidCursor,),
    description="Give exactly one of `workerId` or `hitId` (with optional `since`, `until`), or neither and both "
                "`since` and `until`: every decision in that range (at most 31 days), from the audit's `by-day` "
                "index (decisions recorded before that index existed are not listed)."))
def list_decisions(
    workerId: Annotated[Optional[str], Query(max_length=64, pattern=WORKER_ID_PATTERN)] = None,
    hitId: Annotated[Optional[str], Query(max_length=64, pattern=ASSIGNMENT_ID_PATTERN)] = None,
    since: Annotated[Optional[str], Query(description="ISO 8601 date or time (UTC if no offset)")] = None,
    until: Annotated[Optional[str], Query(description="ISO 8601 date or time (UTC if no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[Optional[str], Query(max_length=2048)] = None,
) -> dict[str, Any]:
    in_range = not workerId and not hitId and bool(since) and bool(until)
    if bool(workerId) == bool(hitId) and not in_range:
        raise InvalidRequest("Give exactly one of the query parameters workerId or hitId, or neither and both since "
                             "and until (every decision in that range).", field="workerId|hitId")
    low, high = _moment("since", since), _moment("until", until, end_of_day=True)
    if low and high and low > high:
        raise InvalidRequest("since must not be later than until.", field="since")
    service = wiring.current().service
    if workerId:
        page = service.decisions_for_worker(workerId, low, high, limit, cursor)
    elif hitId:
        page = service.decisions_for_hit(hitId, low, high, limit, cursor)
    elif low is not None and high is not None:  # in range: neither id, both times
        page = service.decisions_in_range(low, high, limit, cursor)
    else:
        raise AssertionError("refused above: neither an id nor a range")
    return {"decisions": [decision_json(r) for r in page.records], "nextCursor": page.cursor}


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


@app.post("/batches", **operation(
    "Queue many decisions: a JSON item list, or the requester website's batch-results CSV", "submitBatch",
    ok={200: (BatchPlanAnswer, "With `dryRun=true`: the plan, its cost and the balance (nothing queued)."),
        202: (BatchSubmission, "The batch is stored and queued.")},
    errors=BATCHING, idempotent=True, request_body={"application/json": BatchRequest, "text/csv": _CSV_BODY},
    links={202: _TO_THE_BATCH}))
def submit_batch(
    dryRun: DryRun = False,
    reason: Annotated[Optional[str], Query(max_length=1000, description="Audit reason for every CSV row")] = None,
) -> Response[dict[str, Any]]:
    event = app.current_event
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
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedJson("The request body is marked base64 but is not valid base64.") from None


@app.post("/hits/<hitId>/reversals", **operation(
    "Reverse every rejected assignment of a HIT, optionally for some workers", "reverseHit",
    ok={200: (BatchPlanAnswer, "With `dryRun=true`: the plan (nothing queued)."),
        202: (BatchSubmission, "The reversals are queued as a batch.")},
    errors=(*BATCHING, HitNotFound, *NOTIFYING), body=True, idempotent=True, links={202: _TO_THE_BATCH}))
def reverse_hit(hitId: HitId, body: Optional[HitReversalBody] = None, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    body = body or HitReversalBody()
    notice = _notice(body.notifyWorker)
    batches = wiring.current().batch_service()
    parsed = batches.hit_reversals(hitId, body.feedback, body.reason, body.workerIds)
    return _run_batch(parsed, "hit-reversal", dryRun, call.scope("hit-reversals", hitId), body.model_dump(),
                      hit_id=hitId, notice=notice)


@app.get("/batches/<batchId>", **operation(
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


def _request(action: Action, assignment_id: str, feedback: str | None, reason: str | None,
             idempotency_key: str | None = None) -> DecisionRequest:
    return DecisionRequest(
        assignment_id=assignment_id,
        action=action,
        feedback=feedback,
        reason=reason,
        actor=call.actor(),
        source=Source.API,
        request_id=call.event.request_context.request_id,
        idempotency_key=idempotency_key,
    )


def _decide(action: Action, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
            provisional_for: str | None = None, notify: NotifyWorkerBody | None = None) -> Response[dict[str, Any]]:
    grace = parse_duration(provisional_for) if provisional_for else None
    notice = _notice(notify)  # checked before anything is decided
    scope, key = call.scope(action.value, assignment_id), call.idempotency_key()
    request = _request(action, assignment_id, feedback, reason, scope.fingerprint(key) if key else None)
    deps = wiring.current()
    if dry_run:
        return json_answer(200, plan_json(deps.service.plan(request)))  # a dry run sends nothing

    def decide() -> dict[str, Any]:
        try:
            if grace is None:
                outcome = deps.service.decide(request)
                body = outcome_json(outcome)
            else:
                outcome, schedule = deps.reversal_scheduler().reject_provisionally(request, grace)
                body = {**outcome_json(outcome), "scheduledReversal": schedule.to_json()}
        except WrongAssignmentState:
            earlier = deps.service.decided_with_key(request) if key else None
            if earlier is None:
                raise
            return _recovered_json(earlier, deps)  # this key's decision landed; its answer was lost (sent nothing)
        if notice is not None:  # after the decision succeeded; a failure is reported, the decision stands
            sent = deps.service.notify_workers([outcome.record], notice)[outcome.record.decision_id]
            body["decision"] = decision_json(outcome.record)
            body["notification"] = sent.answer_json()
        return body

    fields = {"feedback": feedback, "reason": reason, "provisionalFor": provisional_for,
              "notifyWorker": notice.to_json() if notice else None}
    return call.answer(200, scope, fields, decide)


def _notice(notify: NotifyWorkerBody | None) -> WorkerNotice | None:
    return None if notify is None else validate_notice(notify.subject, notify.message)


def _recovered_json(record: DecisionRecord, deps: Dependencies) -> dict[str, Any]:
    body = record_outcome_json(record)
    if record.notification:
        body["notification"] = {k: record.notification[k] for k in ("status", "failures") if k in record.notification}
    if record.action is Action.REJECT and deps.scheduler is not None:
        schedule = deps.scheduler.get(record.assignment_id)
        if schedule is not None and schedule.rejection_decision_id == record.decision_id:
            body["scheduledReversal"] = schedule.to_json()
    return body


def _moment(name: str, value: str | None, end_of_day: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.",
                             field=name) from None
    if end_of_day and len(value) == 10:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999000)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def error_response(error: DecisionError) -> Response[str]:
    headers = {"Retry-After": str(error.details["retryAfterSeconds"])} if "retryAfterSeconds" in error.details else None
    body = error.to_body()
    body.setdefault("requestId", _request_id())
    return Response(status_code=http_status(error), content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body), headers=headers)


def _request_id() -> str | None:
    try:
        return call.event.request_context.request_id
    except Exception:
        return None


def on_decision_error(error: DecisionError) -> Response[str]:
    status = http_status(error)
    log = logger.warning if status < 500 else logger.error
    log("request refused", extra={"code": error.code, "status": status})
    return error_response(error)


def on_validation_error(error: RequestValidationError) -> Response[str]:
    return error_response(refusal_of(error.errors()))


def refusal_of(problems: Sequence[dict[str, Any]]) -> DecisionError:
    """Powertools' validation problems as the API's documented errors, in words (no regular expressions)."""
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return MalformedJson("The request body is not valid JSON.")
    if _is_reject() and problems and all(_is_missing_feedback(problem) for problem in problems):
        try:
            rules.validate_feedback(None, required=True)
        except InvalidFeedback as missing:
            return missing
    fields = [{"field": _field_of(problem), "message": _message_of(problem), "type": problem.get("type")}
              for problem in problems]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return InvalidRequest(f"The request is not valid: {summary}", field=fields[0]["field"] if fields else None,
                          errors=fields)


_LOCATIONS = ("body", "path", "query", "header")


def _field_of(problem: dict[str, Any]) -> str:
    parts = [str(part) for part in problem.get("loc", ())]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message_of(problem: dict[str, Any]) -> str:
    pattern = (problem.get("ctx") or {}).get("pattern")
    if problem.get("type") == "string_pattern_mismatch" and pattern:
        return f"must be {pattern_in_words(pattern)}"
    return str(problem.get("msg", "invalid"))


def _is_reject() -> bool:
    event = app.current_event
    return event.http_method == "POST" and event.path.rstrip("/").endswith("/reject")


def _is_missing_feedback(problem: dict[str, Any]) -> bool:
    """No body, `{}`, or `"feedback": null` on a reject: the feedback rule REQUIRED, not a schema error."""
    location = tuple(problem.get("loc", ()))
    if location == ("body",):
        return problem.get("type") == "missing"
    return location == ("body", "feedback") and (problem.get("type") == "missing" or problem.get("input") is None)


def on_unsupported_content_type(_error: RequestUnsupportedContentType) -> Response[str]:
    return error_response(UnsupportedMediaType(body_guard.SEND_JSON))


def on_unparsable_body(error: ValueError) -> Response[str]:
    """Powertools' multipart parser raises a bare ValueError ("Missing boundary in multipart/form-data")."""
    if "multipart" in str(error).lower() or "boundary" in str(error).lower():
        return error_response(UnsupportedMediaType(body_guard.SEND_JSON))
    return on_unexpected(error)


@app.not_found
def on_not_found(_error: Exception) -> Response[str]:
    event = app.current_event
    return error_response(RouteNotFound(f"No route {event.http_method} {event.path}. See GET /swagger for the API."))


def on_unexpected(error: Exception) -> Response[str]:
    logger.exception("unexpected error")
    body = {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred; it has been logged with this requestId.",
            "requestId": _request_id()}
    return Response(status_code=500, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


#: Exceptions answered by the resolver, whatever route raised them (Powertools' `exception_handler`, called
#: rather than used as a decorator: it is not annotated, and would leave the handlers untyped).
app.exception_handler(DecisionError)(on_decision_error)
app.exception_handler(RequestValidationError)(on_validation_error)
app.exception_handler(RequestUnsupportedContentType)(on_unsupported_content_type)
app.exception_handler(ValueError)(on_unparsable_body)
app.exception_handler(Exception)(on_unexpected)
