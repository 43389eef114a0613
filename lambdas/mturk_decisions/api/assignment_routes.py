"""Decisions on one assignment, and its automatic reversal: a Powertools `Router` included into the API's resolver
(`api/routes.py`, whose handlers answer domain errors).

    POST   /assignments/{assignmentId}/reject | reverse | approve   (`dryRun=true`: the plan; reverse with `at`:
                                                                     scheduled)
    POST   /assignments/{assignmentId}/confirm                      a provisional rejection stands
    DELETE /assignments/{assignmentId}/scheduled-reversal           cancel the automatic reversal
    GET    /assignments/{assignmentId}                              MTurk's view, the decisions, any schedule
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from mturk_decisions import wiring
from mturk_decisions.api.calls import CurrentCall, json_answer
from mturk_decisions.api.models import (
    AssignmentDetails,
    DecisionAnswer,
    DecisionPlanAnswer,
    ScheduledReversalAccepted,
    ScheduledReversalAnswer,
)
from mturk_decisions.api.openapi import MTURK, NOTIFYING, operation
from mturk_decisions.api.responses import decision_json, details_json, outcome_json, plan_json, record_outcome_json
from mturk_decisions.api.schemas import (
    ASSIGNMENT_ID_PATTERN,
    DecisionBody,
    DryRun,
    NotifyWorkerBody,
    RejectBody,
    ReverseBody,
    notice_of,
)
from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    DecisionInProgress,
    HitDisposed,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidFeedback,
    InvalidRequest,
    NotConfigured,
    RequestInProgress,
    ReversalAlreadyScheduled,
    ReversalWindowClosed,
    ReversalWindowClosing,
    ScheduleNotFound,
    ScheduleNotPending,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import Action, DecisionRequest, Source
from mturk_decisions.domain.schedule import parse_duration

if TYPE_CHECKING:
    from mturk_decisions.domain.model import DecisionRecord
    from mturk_decisions.wiring import Dependencies

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is not annotated
call = CurrentCall(router)

#: What these routes can refuse, beyond what every operation can (api.openapi.EVERY_OPERATION).
DECIDING = (*MTURK, AssignmentNotFound, InvalidFeedback, WrongAssignmentState, DecisionInProgress,
            RequestInProgress, IdempotencyKeyReused)
REVERSING = (ReversalWindowClosed, HitDisposed, InsufficientFunds)
SCHEDULING = (NotConfigured, ReversalAlreadyScheduled, ReversalWindowClosing)
SCHEDULES = (NotConfigured, ScheduleNotFound, ScheduleNotPending)

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
_DECIDED = "The decision, or with `dryRun=true` its plan (nothing sent or written)."

AssignmentId = Annotated[str, Path(pattern=ASSIGNMENT_ID_PATTERN, description="The MTurk assignment id.")]


@router.post("/assignments/<assignmentId>/reject", **operation(
    "Reject an assignment with feedback the worker sees", "rejectAssignment",
    ok={200: (DecisionAnswer | DecisionPlanAnswer, _DECIDED)}, errors=(*DECIDING, *SCHEDULING, *NOTIFYING),
    body=True, idempotent=True, links={200: _AFTER_A_DECISION}))
def reject(assignmentId: AssignmentId, body: RejectBody, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    return _decide(Action.REJECT, assignmentId, body.feedback, body.reason, dryRun, provisional_for=body.provisionalFor,
                   notify=body.notifyWorker)


@router.post("/assignments/<assignmentId>/reverse", **operation(
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


@router.post("/assignments/<assignmentId>/confirm", **operation(
    "Confirm a provisional rejection: it will not be reversed", "confirmProvisionalRejection",
    ok={200: (ScheduledReversalAnswer, "The automatic reversal, now CONFIRMED.")}, errors=SCHEDULES))
def confirm(assignmentId: AssignmentId) -> dict[str, Any]:
    return {"scheduledReversal": wiring.current().reversal_scheduler().confirm(assignmentId).to_json()}


@router.delete("/assignments/<assignmentId>/scheduled-reversal", **operation(
    "Cancel a pending automatic reversal", "cancelScheduledReversal",
    ok={200: (ScheduledReversalAnswer, "The automatic reversal, now CANCELLED.")}, errors=SCHEDULES))
def cancel_scheduled_reversal(assignmentId: AssignmentId) -> dict[str, Any]:
    return {"scheduledReversal": wiring.current().reversal_scheduler().cancel(assignmentId).to_json()}


@router.post("/assignments/<assignmentId>/approve", **operation(
    "Approve a submitted assignment", "approveAssignment",
    ok={200: (DecisionAnswer | DecisionPlanAnswer, _DECIDED)}, errors=(*DECIDING, InsufficientFunds, HitDisposed),
    body=True, idempotent=True, links={200: _AFTER_A_DECISION}))
def approve(assignmentId: AssignmentId, body: Optional[DecisionBody] = None, dryRun: DryRun = False) -> Response[dict[str, Any]]:
    body = body or DecisionBody()
    return _decide(Action.APPROVE, assignmentId, body.feedback, body.reason, dryRun)


@router.get("/assignments/<assignmentId>", **operation(
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
    notice = notice_of(notify)  # checked before anything is decided
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


def _recovered_json(record: DecisionRecord, deps: Dependencies) -> dict[str, Any]:
    body = record_outcome_json(record)
    if record.notification:
        body["notification"] = {k: record.notification[k] for k in ("status", "failures") if k in record.notification}
    if record.action is Action.REJECT and deps.scheduler is not None:
        schedule = deps.scheduler.get(record.assignment_id)
        if schedule is not None and schedule.rejection_decision_id == record.decision_id:
            body["scheduledReversal"] = schedule.to_json()
    return body


