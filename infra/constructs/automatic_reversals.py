"""Automatic reversals: the reversal schedule table, the sweeper, the reconciler and their routes.

    POST   /assignments/{assignmentId}/confirm               (no body) confirm a provisional rejection
    DELETE /assignments/{assignmentId}/scheduled-reversal     cancel a pending automatic reversal
    GET    /scheduled-reversals                               list them by due time (by-due, by-state)

A reversal that waits for its time (a provisional rejection, a reversal scheduled with `at`, a
reversal refused for funds and retried) is one item of the schedule table
(`adapters/schedule_store.py`). The sweeper (`handlers/scheduler.py`) runs every minute: it queries
the sparse `by-due` index for what is due, reverses it through the decision service (same checks,
same audit, source `schedule`) and counts, on the sparse `by-deadline` index, the pending reversals
whose 30-day window closes within 48 hours (`ReversalsNearDeadline`, the deadline guard). The
reconciler (`handlers/reconciler.py`) runs every 5 minutes and settles audit records left PENDING
by a crash, from MTurk's state; it never writes to MTurk.

Choices:
- The schedule table is RETAINED with the stack, with deletion protection and PITR: a pending
  reversal is a promise made to a worker, which must outlive a redeploy or a mistaken delete. It is
  encrypted with the audit store's key, like every table of the service.
- One sweeper at a time (reserved concurrency 1, context `sweeperReservedConcurrency`): two sweeps
  would read the same due items. A sweep that is throttled (the previous one still runs) or fails
  is not retried: Lambda drops the event after a minute, and the next minute's sweep takes over.
  The same holds for the reconciler every 5 minutes.
- The reconciler only settles records older than `reconcileAfterSeconds` (default 900 s, never
  below the longest function timeout): a younger PENDING record may still be finalized by the
  function that wrote it.
- Grants are the calls the code makes (see the action lists below), on this table and its two
  indexes by name; the reconciler can update audit records but touches neither the schedule table
  nor MTurk writes.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.decision_api import DecisionApi
from infra.constructs.functions import FunctionSpec
from infra.constructs.service_context import ServiceContext

SWEEPER_HANDLER = "mturk_decisions.handlers.scheduler.handler"
RECONCILER_HANDLER = "mturk_decisions.handlers.reconciler.handler"

# Contract with the PynamoDB model in lambdas/ (adapters/schedule_store.py: schedule_model).
SCHEDULE_PARTITION_KEY = "assignment_id"
SCHEDULE_INDEXES: dict[str, tuple[str, str]] = {
    # index name -> (partition key, sort key); both sparse (`pending` is set only while PENDING),
    # both project ALL (the sweeper builds whole schedules from the index items).
    "by-due": ("pending", "due_key"),
    "by-deadline": ("pending", "deadline_key"),
    # every item by its state, then due time: GET /scheduled-reversals lists the settled ones from it
    "by-state": ("state", "due_key"),
}
#: The indexes the sweeper reads (what is due; the deadline guard), and those the API lists from.
SWEEPER_INDEXES = ("by-due", "by-deadline")
API_INDEXES = ("by-due", "by-state")

# What the code calls (PynamoDB 6; `save(condition=...)` is a conditional PutItem):
#   API:       confirm / cancel -> get (GetItem) + transition (PutItem); reverse with `at` and
#              provisional rejections -> create (PutItem, GetItem after a conflict); GET assignment -> get;
#              GET /scheduled-reversals -> listing (Query on by-due or by-state)
#   sweeper:   due -> by-due (Query); closing_before -> by-deadline (Query); claim, transition (PutItem)
#   consumers: the reversal-requests consumer (funds retries) and the notifications consumer
#              (provisional website rejections, only with websiteRejectionGrace) only create schedules:
#              a conditional put (PutItem), and a get (GetItem) to tell a retried creation from a conflict
# No UpdateItem: every schedule write is a conditional PutItem (tests/least_privilege proves the rest).
SCHEDULE_OWNER_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
# A sweep reads schedules through the indexes only, and claims and settles them by conditional PutItem.
SWEEPER_TABLE_ACTIONS = ("dynamodb:PutItem",)
SWEEPER_INDEX_ACTIONS = ("dynamodb:Query",)
SCHEDULE_WRITER_ACTIONS = ("dynamodb:PutItem", "dynamodb:GetItem")
# The reconciler finalizes PENDING audit records (`finalize`: a conditional UpdateItem).
RECONCILER_AUDIT_ACTIONS = ("dynamodb:UpdateItem",)

SWEEP_RATE = Duration.minutes(1)
RECONCILE_RATE = Duration.minutes(5)
# A sweep reverses at most 100 due items (each about one MTurk call + audit writes).
SWEEPER_TIMEOUT = Duration.minutes(5)
# At most 200 PENDING records per run, each a GetAssignment and one audit update.
RECONCILER_TIMEOUT = Duration.minutes(5)
# Lambda's minimum event age: a sweep that could not start within a minute is superseded by the
# next one, so it is dropped rather than queued behind it.
SCHEDULED_EVENT_MAX_AGE = Duration.minutes(1)


class AutomaticReversals(Construct):
    """Schedule table + sweeper (every minute) + reconciler (every 5 minutes); wires the API."""

    def __init__(self, scope: Construct, construct_id: str, services: ServiceContext, *, api: DecisionApi) -> None:
        super().__init__(scope, construct_id)
        self.audit_store = services.audit_store
        self._add_table(services)
        self._add_sweeper(services)
        self._add_reconciler(services)
        self._wire_api(api)

    def _add_table(self, services: ServiceContext) -> None:
        existing = services.config.existing_schedule_table_name
        if existing:  # a retained table of an earlier deployment: its pending reversals go on
            self.table = self.audit_store.adopt_table(self, "ScheduleTable", existing, SCHEDULE_INDEXES)
            return
        self.table = self.audit_store.create_table(
            self,
            "ScheduleTable",
            partition_key=SCHEDULE_PARTITION_KEY,
            indexes=SCHEDULE_INDEXES,
            # Pending reversals are promises to workers: they outlive the stack (and a mistaken delete).
            retain=True,
        )

    def _add_sweeper(self, services: ServiceContext) -> None:
        self.sweeper_reserved_concurrency = services.config.sweeper_reserved_concurrency
        self.sweeper = services.factory.create(
            self,
            "Sweeper",
            FunctionSpec(
                handler=SWEEPER_HANDLER,
                description="mturk-decisions sweeper: runs the automatic reversals that are due (every minute)",
                timeout=SWEEPER_TIMEOUT,
                memory_size=512,
                reserved_concurrency=services.config.sweeper_reserved_concurrency,
                environment={**services.service_environment(), **self.schedule_environment()},
            ),
        )
        self._run_every(self.sweeper, "SweepSchedule", SWEEP_RATE, "every minute: run the automatic reversals due")
        self.audit_store.grant_audit_write(self.sweeper)
        services.secret.grant_read(self.sweeper)
        self._grant_table(self.sweeper, SWEEPER_TABLE_ACTIONS)
        self._grant_indexes(self.sweeper, SWEEPER_INDEX_ACTIONS, SWEEPER_INDEXES)

    def _add_reconciler(self, services: ServiceContext) -> None:
        """Runs never overlap without a reservation: each takes a run lock in the audit table (UpdateItem)."""
        self.reconciler = services.factory.create(
            self,
            "Reconciler",
            FunctionSpec(
                handler=RECONCILER_HANDLER,
                description="mturk-decisions reconciler: settles audit records left PENDING by a crash",
                timeout=RECONCILER_TIMEOUT,
                memory_size=512,
                environment={
                    **services.service_environment(),
                    "RECONCILE_AFTER_SECONDS": str(services.config.reconcile_after_seconds),
                },
            ),
        )
        self._run_every(
            self.reconciler, "ReconcileSchedule", RECONCILE_RATE, "every 5 minutes: settle PENDING audit records"
        )
        # Reads PENDING records by the `by-pending` index and finalizes them: no Put, no schedule table.
        self.audit_store.grant_audit_read(self.reconciler, indexes=("by-pending",))
        self.reconciler.add_to_role_policy(
            iam.PolicyStatement(actions=list(RECONCILER_AUDIT_ACTIONS), resources=[self.audit_store.audit_table_arn])
        )
        services.secret.grant_read(self.reconciler)

    # ---- seams for the event consumers -----------------------------------------------------------
    def schedule_environment(self) -> dict[str, str]:
        return {"SCHEDULE_TABLE_NAME": self.table.table_name}

    def grant_schedule_write(self, function: lambda_.IFunction) -> None:
        """Create schedules (PutItem) on this table only: what the event and notification consumers do."""
        self._grant_table(function, SCHEDULE_WRITER_ACTIONS)

    @property
    def index_arns(self) -> list[str]:
        return [f"{self.table.table_arn}/index/{name}" for name in SCHEDULE_INDEXES]

    # ---- the API function and its routes ------------------------------------------------------
    def _wire_api(self, api: DecisionApi) -> None:
        for name, value in self.schedule_environment().items():
            api.function.add_environment(name, value)
        self._grant_table(api.function, SCHEDULE_OWNER_ACTIONS)
        self._grant_indexes(api.function, ("dynamodb:Query",), API_INDEXES)
        api.add_route("POST", "/assignments/{assignmentId}/confirm")
        api.add_route("DELETE", "/assignments/{assignmentId}/scheduled-reversal")
        api.add_route("GET", "/scheduled-reversals")

    # ---- helpers ------------------------------------------------------------------------------
    def _run_every(self, function: lambda_.Function, rule_id: str, rate: Duration, what: str) -> None:
        # Neither Lambda nor EventBridge retries a missed or failed run: the next one takes over.
        function.configure_async_invoke(max_event_age=SCHEDULED_EVENT_MAX_AGE, retry_attempts=0)
        events.Rule(
            self,
            rule_id,
            description=f"mturk-decisions: {what}",
            schedule=events.Schedule.rate(rate),
            targets=[targets.LambdaFunction(function, max_event_age=SCHEDULED_EVENT_MAX_AGE, retry_attempts=0)],
        )

    def _grant_table(self, function: lambda_.IFunction, actions: tuple[str, ...]) -> None:
        """Exactly `actions` on the table itself, and its key through DynamoDB."""
        self.audit_store.grant_table_actions(function, actions, [self.table.table_arn])

    def _grant_indexes(self, function: lambda_.IFunction, actions: tuple[str, ...], names: tuple[str, ...]) -> None:
        """Exactly `actions` on the named indexes (no `/index/*`)."""
        arns = [f"{self.table.table_arn}/index/{name}" for name in names]
        self.audit_store.grant_table_actions(function, actions, arns)
