"""The shapes of the API's answers, for its OpenAPI document (`api.openapi`).

`api.responses` builds the answers as plain JSON; these models describe them, field by field, so that the
document can be checked against real answers (schemathesis' response-schema conformance) and clients can be
generated from it. A field the answer leaves out when it has no value is optional here; a field that is always
present, possibly `null`, is required and nullable.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from mturk_decisions.domain.batch import ItemStatus
from mturk_decisions.domain.model import Action, DecisionState, Source


class _Documented(BaseModel):
    """An answer's shape: built when the OpenAPI document is (`defer_build`), not at import, so a cold request
    does not pay for the models of every route (these models document answers; they validate none)."""

    model_config = ConfigDict(defer_build=True)


_MONEY = "US dollars, as a decimal string (e.g. \"0.60\")."


class Cost(_Documented):
    """What a decision costs: the reward and MTurk's fee."""

    reward: str = Field(description=_MONEY)
    fee: str = Field(description=_MONEY)
    total: str = Field(description=_MONEY)


class NotifyFailureItem(_Documented):
    """A worker MTurk did not notify: MTurk's NotifyWorkersFailureCode (SoftFailure: may work later; HardFailure:
    will not), or the error code of a NotifyWorkers call that failed after its retries."""

    workerId: str
    code: str
    message: str


class NotificationOutcome(_Documented):
    """The message to the worker after a decision (`notifyWorker`): SENT, or FAILED with MTurk's reason. A
    failure never undoes the decision."""

    status: Literal["SENT", "FAILED"]
    failures: list[NotifyFailureItem]


class DecisionNotification(NotificationOutcome):
    """The message as the audit keeps it, with MTurk's answer."""

    subject: str
    message: str
    sentAt: Optional[datetime] = None


class Decision(_Documented):
    """One audited decision."""

    decisionId: str
    assignmentId: str
    hitId: str
    workerId: str
    action: Action
    state: DecisionState = Field(description="PENDING until MTurk's outcome is known (the reconciler settles it).")
    previousStatus: str = Field(description="The assignment's MTurk status before the decision.")
    feedback: Optional[str] = None
    reason: Optional[str] = None
    actor: str = Field(description="The IAM principal ARN that asked (or `event:...`, `schedule`, ...).")
    source: Source
    requestId: Optional[str] = None
    batchId: Optional[str] = None
    reward: Optional[str] = Field(default=None, description=_MONEY)
    fee: Optional[str] = Field(default=None, description=_MONEY)
    createdAt: datetime
    finalizedAt: Optional[datetime] = None
    errorCode: Optional[str] = None
    errorMessage: Optional[str] = None
    notification: Optional[DecisionNotification] = Field(default=None, description="The message sent to the "
                                                          "worker after the decision (`notifyWorker`), if any.")


class AssignmentChange(_Documented):
    assignmentId: str
    previousStatus: str
    status: str = Field(description="The status the decision leaves the assignment in.")


class ScheduledReversal(_Documented):
    """An automatic reversal: provisional rejection, scheduled reversal or funds retry."""

    assignmentId: str
    kind: Literal["provisional", "scheduled", "funds-retry"]
    state: str = Field(description="PENDING, RUNNING (being reversed now), DONE, CANCELLED, CONFIRMED, FAILED or "
                       "EXPIRED.")
    dueAt: datetime
    deadline: datetime = Field(description="When MTurk's 30-day reversal window closes.")
    createdAt: Optional[datetime] = None
    actor: str
    reason: Optional[str] = None
    attempts: int
    lastError: Optional[str] = None
    decisionId: Optional[str] = None
    rejectionDecisionId: Optional[str] = None
    hitId: Optional[str] = Field(default=None, description="null for a reversal scheduled before it was stored.")
    workerId: Optional[str] = Field(default=None, description="null for a reversal scheduled before it was stored.")


class ScheduledReversalPage(_Documented):
    """GET /scheduled-reversals: one page, by due time (earliest first)."""

    scheduledReversals: list[ScheduledReversal]
    nextCursor: Optional[str] = Field(description="Pass as `cursor` for the next page; null on the last page.")


class DecisionAnswer(_Documented):
    """A decision made (200)."""

    decision: Decision
    assignment: AssignmentChange
    cost: Optional[Cost] = None
    warning: Optional[str] = Field(default=None, description="Set when MTurk applied the decision but its audit "
                                   "record stays PENDING until the reconciler confirms it.")
    scheduledReversal: Optional[ScheduledReversal] = Field(default=None, description="A provisional rejection's "
                                                           "automatic reversal.")
    notification: Optional[NotificationOutcome] = Field(default=None, description="With `notifyWorker`: whether "
                                                        "MTurk sent the message (the decision stands either way).")


class DecisionPlan(_Documented):
    action: Action
    assignmentId: str
    hitId: str
    workerId: str
    currentStatus: str
    resultingStatus: str
    feedback: Optional[str]
    reason: Optional[str]
    checksPassed: list[str]
    cost: Optional[Cost] = None
    balance: Optional[str] = Field(default=None, description=_MONEY)
    balanceAfter: Optional[str] = Field(default=None, description=_MONEY)
    reversalDeadline: Optional[datetime] = None


class DecisionPlanAnswer(_Documented):
    """A dry run (`?dryRun=true`): every pre-check passed; nothing was sent or written."""

    dryRun: Literal[True]
    plan: DecisionPlan
    message: str


class ScheduledReversalAccepted(_Documented):
    """A reversal scheduled for later (202)."""

    scheduledReversal: ScheduledReversal
    message: str


class ScheduledReversalAnswer(_Documented):
    scheduledReversal: ScheduledReversal


class NotificationSettingsAnswer(_Documented):
    hitTypeId: str
    active: bool
    destination: str = Field(description="The service's notifications queue.")
    eventTypes: list[str]


class AssignmentView(_Documented):
    """MTurk's current view of an assignment."""

    assignmentId: str
    hitId: str
    workerId: str
    status: str
    submittedAt: Optional[datetime] = None
    approvedAt: Optional[datetime] = None
    rejectedAt: Optional[datetime] = None
    requesterFeedback: Optional[str] = None
    reward: str = Field(description=_MONEY)
    hitStatus: str
    hitTitle: Optional[str] = None
    reversalDeadline: Optional[datetime] = None
    reversible: bool


class AssignmentDetails(_Documented):
    assignment: AssignmentView
    history: list[Decision] = Field(description="This assignment's decisions, newest first.")
    scheduledReversal: Optional[ScheduledReversal] = None


class DecisionPage(_Documented):
    decisions: list[Decision]
    nextCursor: Optional[str] = Field(description="Pass as `cursor` for the next page; null on the last page.")


class PlannedOutcome(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    REJECT = "reject"
    REVERSE = "reverse"
    APPROVE = "approve"
    REFUSED = "refused"
    SKIP = "skip"


class PlannedItem(_Documented):
    line: int
    assignmentId: Optional[str] = None
    hitId: Optional[str] = None
    workerId: Optional[str] = None
    action: Optional[Action] = None
    outcome: PlannedOutcome
    code: Optional[str] = None
    message: Optional[str] = None
    cost: Optional[Cost] = None


class BatchTotals(_Documented):
    reject: int
    reverse: int
    approve: int
    refused: int
    skipped: int
    cost: Cost
    balance: str = Field(description=_MONEY)
    balanceAfter: str = Field(description=_MONEY)
    sufficientFunds: bool


class BatchPlan(_Documented):
    items: list[PlannedItem]
    totals: BatchTotals


class BatchPlanAnswer(_Documented):
    """A batch's dry run (`?dryRun=true`): nothing was queued, sent or written."""

    dryRun: Literal[True]
    plan: BatchPlan
    message: str


class SkippedRow(_Documented):
    line: int
    assignmentId: Optional[str]
    reason: str


class BatchSubmission(_Documented):
    """A batch accepted (202): follow it with GET /batches/{batchId}."""

    batchId: str
    status: Literal["QUEUED"]
    total: int
    queued: int
    skipped: int
    skippedRows: list[SkippedRow]


class BatchItemStatus(_Documented):
    line: int
    assignmentId: str
    action: Optional[Action] = None
    status: ItemStatus
    code: Optional[str] = None
    message: Optional[str] = None
    decisionId: Optional[str] = None


class BatchCounts(_Documented):
    queued: int
    succeeded: int
    failed: int
    refused: int
    skipped: int
    deadLettered: int


class BatchStatusAnswer(_Documented):
    batchId: str
    status: Literal["QUEUED", "RUNNING", "COMPLETED"]
    createdAt: Optional[datetime]
    actor: str
    source: Optional[str] = Field(description="csv, json or hit-reversal.")
    hitId: Optional[str]
    total: int
    done: int
    progress: float = Field(ge=0, le=1)
    counts: BatchCounts
    items: list[BatchItemStatus]
    nextCursor: Optional[str]


class ProblemItem(_Documented):
    """One problem of a refused request: a field (INVALID_REQUEST) or a row (INVALID_BATCH)."""

    field: Optional[str] = None
    message: Optional[str] = None
    type: Optional[str] = None
    line: Optional[int] = None
    assignmentId: Optional[str] = None


class BatchItemRequest(_Documented):
    model_config = ConfigDict(extra="forbid")

    assignmentId: str = Field(pattern=r"^[A-Z0-9]{1,64}$")
    action: Action
    feedback: Optional[str] = Field(default=None, description="Required to reject: what the worker sees.")
    reason: Optional[str] = None
    hitId: Optional[str] = Field(default=None, pattern=r"^[A-Z0-9]{1,64}$")


class BatchRequest(_Documented):
    """A batch as JSON. The other form is the requester website's batch-results CSV (`text/csv`)."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchItemRequest] = Field(min_length=1, max_length=10_000)
