"""JSON shapes of the API's answers."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mturk_decisions.domain.model import RESULTING_STATUS, AssignmentView, DecisionRecord, Plan
from mturk_decisions.domain.rules import iso
from mturk_decisions.service.decisions import AssignmentDetails, DecisionOutcome

if TYPE_CHECKING:
    from mturk_decisions.domain.batch_records import StoredItem
    from mturk_decisions.service.batches import BatchPlan, BatchSummary, Submission


def decision_json(record: DecisionRecord) -> dict[str, Any]:
    body = {
        "decisionId": record.decision_id,
        "assignmentId": record.assignment_id,
        "hitId": record.hit_id,
        "workerId": record.worker_id,
        "action": record.action.value,
        "state": record.state.value,
        "previousStatus": record.previous_status,
        "feedback": record.feedback,
        "reason": record.reason,
        "actor": record.actor,
        "source": record.source.value,
        "requestId": record.request_id,
        "batchId": record.batch_id,
        "reward": None if record.reward is None else str(record.reward),
        "fee": None if record.fee is None else str(record.fee),
        "createdAt": iso(record.created_at),
        "finalizedAt": iso(record.finalized_at),
        "errorCode": record.error_code,
        "errorMessage": record.error_message,
        "notification": record.notification,
    }
    return {k: v for k, v in body.items() if v is not None}


def outcome_json(outcome: DecisionOutcome) -> dict[str, Any]:
    body: dict[str, Any] = {
        "decision": decision_json(outcome.record),
        "assignment": {
            "assignmentId": outcome.plan.assignment.assignment_id,
            "previousStatus": outcome.plan.assignment.status,
            "status": outcome.plan.resulting_status.value,
        },
    }
    if outcome.plan.cost:
        body["cost"] = outcome.plan.cost.to_dict()
    if not outcome.audit_finalized:
        body["warning"] = (
            "MTurk applied the decision but its audit record could not be finalized; it stays PENDING "
            "until the reconciler confirms it."
        )
    return body


def record_outcome_json(record: DecisionRecord) -> dict[str, Any]:
    """The answer of a decision rebuilt from its audit record (a retry whose first answer was lost)."""
    body = {
        "decision": decision_json(record),
        "assignment": {"assignmentId": record.assignment_id, "previousStatus": record.previous_status,
                       "status": RESULTING_STATUS[record.action].value},
    }
    if record.reward is not None and record.fee is not None:
        body["cost"] = {"reward": str(record.reward), "fee": str(record.fee), "total": str(record.reward + record.fee)}
    return body


def plan_json(plan: Plan) -> dict[str, Any]:
    request, view = plan.request, plan.assignment
    planned: dict[str, Any] = {
        "action": request.action.value,
        "assignmentId": view.assignment_id,
        "hitId": view.hit_id,
        "workerId": view.worker_id,
        "currentStatus": view.status,
        "resultingStatus": plan.resulting_status.value,
        "feedback": request.feedback,
        "reason": request.reason,
        "checksPassed": list(plan.checks),
    }
    if plan.cost and plan.balance is not None:  # a plan that costs something read the balance to check it
        planned["cost"] = plan.cost.to_dict()
        planned["balance"] = str(plan.balance)
        planned["balanceAfter"] = str(plan.balance - plan.cost.total)
    if plan.reversal_deadline:
        planned["reversalDeadline"] = iso(plan.reversal_deadline)
    return {
        "dryRun": True,
        "plan": planned,
        "message": "Dry run: every pre-check passed. Nothing was sent to MTurk and nothing was written.",
    }


def assignment_json(view: AssignmentView, deadline: datetime | None, now: datetime) -> dict[str, Any]:
    body = {
        "assignmentId": view.assignment_id,
        "hitId": view.hit_id,
        "workerId": view.worker_id,
        "status": view.status,
        "submittedAt": iso(view.submitted_at),
        "approvedAt": iso(view.approved_at),
        "rejectedAt": iso(view.rejected_at),
        "requesterFeedback": view.requester_feedback,
        "reward": str(view.reward),
        "hitStatus": view.hit_status,
        "hitTitle": view.hit_title,
        "reversalDeadline": iso(deadline),
        "reversible": view.status == "Rejected"
        and view.hit_status != "Disposed"
        and (deadline is None or now < deadline),
    }
    return {k: v for k, v in body.items() if v is not None}


def details_json(details: AssignmentDetails, now: datetime) -> dict[str, Any]:
    return {
        "assignment": assignment_json(details.assignment, details.reversal_deadline, now),
        "history": [decision_json(record) for record in details.history],
    }


def batch_plan_json(plan: BatchPlan) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for planned in plan.items:
        entry = {
            "line": planned.item.line,
            "assignmentId": planned.item.assignment_id,
            "hitId": planned.view.hit_id if planned.view else planned.item.hit_id,
            "workerId": planned.view.worker_id if planned.view else None,
            "action": planned.item.action.value if planned.item.action else None,
            "outcome": planned.outcome,
            "code": planned.code,
            "message": planned.message,
            "cost": planned.cost.to_dict() if planned.cost else None,
        }
        items.append({k: v for k, v in entry.items() if v is not None})
    items += [{"line": line, "assignmentId": aid, "outcome": "skip", "message": why} for line, aid, why in plan.skipped]
    items.sort(key=lambda entry: entry["line"])
    return {
        "dryRun": True,
        "plan": {"items": items, "totals": plan.totals},
        "message": "Dry run: nothing was queued, sent to MTurk or written.",
    }


def submission_json(submission: Submission) -> dict[str, Any]:
    return {
        "batchId": submission.batch_id,
        "status": "QUEUED",
        "total": submission.total,
        "queued": submission.queued,
        "skipped": len(submission.skipped),
        "skippedRows": [{"line": line, "assignmentId": aid, "reason": why} for line, aid, why in submission.skipped],
    }


def batch_status_json(status: BatchSummary, items: list[StoredItem], cursor: str | None) -> dict[str, Any]:
    """`status`: the batch's summary (its counters); `items`: one page of them."""
    info = status.info
    total = status.total
    return {
        "batchId": info.batch_id,
        "status": status.state,
        "createdAt": iso(info.created_at),
        "actor": info.actor,
        "source": info.origin,
        "hitId": info.hit_id,
        "total": total,
        "done": status.done,
        "progress": round(status.done / total, 4) if total else 1.0,
        "counts": status.counts,
        "items": [
            {k: v for k, v in {
                "line": s.item.line, "assignmentId": s.item.assignment_id, "action": s.item.action.value if s.item.action else None,
                "status": s.status.value, "code": s.code, "message": s.message, "decisionId": s.decision_id,
            }.items() if v is not None}
            for s in items
        ],
        "nextCursor": cursor,
    }
