"""Bulk decisions: the batch table, the work queue (+ DLQ), the batch worker and the batch routes.

    POST /batches                      {"items": [...]} (application/json) or the requester
                                       website's batch-results CSV (text/csv)
    GET  /batches/{batchId}
    POST /hits/{hitId}/reversals       {"feedback"?, "reason"?, "workerIds"?} (body optional)

The API function stores an accepted batch in the batch table (one META item + one item per
row, `adapters/batch_store.py`) and then sends one message per chunk (the items of one HIT,
up to 500; `adapters/work_queue.py`) to the work queue. The worker
(`handlers/batch_worker.py`) takes one chunk per invocation, paces its MTurk calls itself and
records each item's outcome in the batch table and the audit.

Choices:
- The batch table is operational state (progress of a batch; items expire after 90 days by
  TTL on `expires_at`); the decisions themselves are in the retained audit table. So it is
  DESTROYED with the stack, with PITR on while it lives, encrypted with the audit store's key.
- Queues use SQS-managed SSE: a message holds only a batch id, a HIT id and line numbers (the
  feedback and reasons stay in the table), so a customer-managed key would add KMS grants and
  cost without protecting anything more; TLS is enforced by the queue policies.
- One worker (reserved concurrency 1, context `workerReservedConcurrency`) is what keeps the
  adaptive pacer in charge of the requester's MTurk rate limit. The event source's maximum
  concurrency is SQS's minimum (2), or the reserved concurrency when that is higher, so the
  poller never holds more than one chunk the capped function cannot take yet; Lambda retries
  that throttled chunk within the visibility timeout (6 x the function timeout, AWS guidance).
- A chunk that keeps failing goes to the DLQ after 5 receives; the worker is idempotent per
  item (final items are left alone on redelivery), so a DLQ message can simply be redriven.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.decision_api import DecisionApi, object_schema, string_field
from infra.constructs.functions import FunctionSpec, invoke_target
from infra.constructs.queues import QueueWithDeadLetters, visibility_timeout_for
from infra.constructs.service_context import ServiceContext

WORKER_HANDLER = "mturk_decisions.handlers.batch_worker.handler"

# Contract with the PynamoDB model in lambdas/ (adapters/batch_store.py: batch_model).
BATCH_PARTITION_KEY = "batch_id"
BATCH_SORT_KEY = "item_key"
BATCH_TTL_ATTRIBUTE = "expires_at"
BATCH_INDEXES: dict[str, tuple[str, str]] = {
    # sparse: only a batch stored but not yet (fully) queued carries `unqueued`; the reconciler re-queues it
    "by-unqueued": ("unqueued", "batch_id"),
}

# What the code calls (PynamoDB 6 never calls DescribeTable; batch_write only puts).
#   API:    create -> batch_write (BatchWriteItem) + META save(condition) (PutItem); exists -> get
#           (GetItem); mark_queued -> update (UpdateItem); status -> get (GetItem) + query (Query)
#   worker: info -> get (GetItem); items -> batch_get (BatchGetItem); mark, mark_completed ->
#           update (UpdateItem); after each chunk, status -> get + query (Query) to tell whether
#           the batch is complete
#   reconciler: unqueued -> by-unqueued (Query); all_items -> query (Query); mark_queued (UpdateItem)
#   planners (the upload parser; `service/uploads.py`): begin_parse, finish_plan, mark_invalid -> update
#           (UpdateItem, conditional); upload -> get (GetItem, META); writing_plan -> batch_write
#           (BatchWriteItem, 25 a request); the shared MTurk pacer (its item in this table) -> GetItem + UpdateItem
#   producers (the reversal-requests consumer, when a HIT event becomes a batch): `submit` ->
#           batch_write (BatchWriteItem) + META save(condition) (PutItem) + mark_queued (UpdateItem); the
#           shared MTurk pacer, whose state is an item of this table (adapters/shared_pacer.py: GetItem +
#           UpdateItem), paces `hit_reversals`' pages
API_BATCH_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query",
                     "dynamodb:UpdateItem")
WORKER_BATCH_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem")
REQUEUE_BATCH_ACTIONS = ("dynamodb:Query", "dynamodb:UpdateItem")
PLAN_BATCH_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:UpdateItem")
SUBMIT_BATCH_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem")

# A chunk is up to 500 items, each about one paced MTurk call (plus the audit writes).
WORKER_TIMEOUT = Duration.minutes(15)
WORKER_MEMORY_MB = 512
# AWS guidance for SQS event sources: visibility timeout >= 6 x the function timeout, which
# leaves Lambda time to retry a batch while the function is throttled. The queues keep the
# house retention (work queue 4 days, DLQ 14) and redrive after 5 receives (`queues.py`).
VISIBILITY_TIMEOUT = visibility_timeout_for(WORKER_TIMEOUT)
# A message is one chunk: one chunk per invocation.
EVENT_SOURCE_BATCH_SIZE = 1
# SQS event sources cannot be capped below 2 concurrent invocations.
MIN_EVENT_SOURCE_CONCURRENCY = 2


def event_source_max_concurrency(reserved_concurrency: int | None) -> int:
    """The event source never invokes more workers than may run: with a reservation, exactly it (a
    throttled receive would count toward the DLQ's maxReceiveCount); without one, SQS's minimum, 2."""
    return reserved_concurrency or MIN_EVENT_SOURCE_CONCURRENCY


class BulkDecisions(Construct):
    """Batch table + work queue/DLQ + batch worker; wires the API function and its routes.

    Seams for other constructs: `environment_for_producers()` + `grant_submit(function)` (a function that
    submits batches: the reversal-requests consumer), `environment_for_planners()` + `grant_plan(function)`
    (a function that writes an uploaded batch's plan: the upload parser) and `wire_requeue(function)`
    (the reconciler).
    """

    def __init__(self, scope: Construct, construct_id: str, services: ServiceContext, *, api: DecisionApi) -> None:
        super().__init__(scope, construct_id)
        self.audit_store = services.audit_store
        self._add_table_and_queues()
        self._add_worker(services)
        self._wire_api(api)

    def _add_table_and_queues(self) -> None:
        self.table = self.audit_store.create_table(
            self,
            "BatchTable",
            partition_key=BATCH_PARTITION_KEY,
            sort_key=BATCH_SORT_KEY,
            time_to_live_attribute=BATCH_TTL_ATTRIBUTE,
            indexes=BATCH_INDEXES,
            # Operational state of batches; the decisions are recorded in the retained audit table.
            retain=False,
        )
        # BulkDecisions/WorkQueue and BulkDecisions/WorkDeadLetterQueue.
        self.work_queues = QueueWithDeadLetters(self, "Work", visibility_timeout=VISIBILITY_TIMEOUT)
        self.queue = self.work_queues.queue
        self.dead_letter_queue = self.work_queues.dead_letter_queue

    def _add_worker(self, services: ServiceContext) -> None:
        config = services.config
        self.worker = services.factory.create(
            self,
            "Worker",
            FunctionSpec(
                handler=WORKER_HANDLER,
                description="mturk-decisions batch worker: applies one queued chunk of a batch, paced",
                timeout=WORKER_TIMEOUT,
                memory_size=WORKER_MEMORY_MB,
                # Optional (none by default: any account can deploy); the event source's maximum concurrency
                # follows it, so receives are never throttled.
                reserved_concurrency=config.worker_reserved_concurrency,
                environment={
                    **services.service_environment(),
                    **self.environment_for_producers(),
                    "MTURK_INITIAL_RATE": f"{config.mturk_initial_rate:g}",
                    "MTURK_MAX_RATE": f"{config.mturk_max_rate:g}",
                    # On this delivery a failing chunk goes to the DLQ: its items are marked DEAD_LETTERED.
                    "WORK_QUEUE_MAX_RECEIVES": str(self.work_queues.max_receive_count),
                },
                # A batch's first chunk waits for a cold environment: restore a snapshot instead.
                snap_start=True,
            ),
        )
        self.event_source_max_concurrency = event_source_max_concurrency(config.worker_reserved_concurrency)
        # Also grants the worker what polling needs on the work queue only; nothing on the DLQ.
        self.work_queues.add_consumer(
            invoke_target(self.worker), batch_size=EVENT_SOURCE_BATCH_SIZE, max_concurrency=self.event_source_max_concurrency
        )
        # An invocation running out of time sends the chunk's unstarted items back as a new message.
        self.work_queues.grant_send(self.worker)
        self.audit_store.grant_audit_write(self.worker)
        services.secret.grant_read(self.worker)
        self._grant_table(self.worker, WORKER_BATCH_ACTIONS)

    # ---- the API function and its routes ------------------------------------------------------
    def _wire_api(self, api: DecisionApi) -> None:
        for name, value in self.environment_for_producers().items():
            api.function.add_environment(name, value)
        self._grant_table(api.function, API_BATCH_ACTIONS)
        # One message per chunk of an accepted batch (SendMessage[Batch]); nothing on the DLQ.
        self.work_queues.grant_send(api.function)

        # JSON bodies must be an object; anything else (text/csv: the batch-results CSV) has no
        # model, so API Gateway passes it to the handler unvalidated, which parses and checks
        # every row and reports bad rows by line number.
        batch_model = api.add_json_model(
            "BatchRequest",
            object_schema(
                "BatchRequest", '{"items": [...]}; or send the batch-results CSV with Content-Type: text/csv.'
            ),
        )
        api.add_route("POST", "/batches", body_model=batch_model, body_model_content_types=("application/json",))
        api.add_route("GET", "/batches/{batchId}")

        # Optional body, like reverse/approve: an object model without `required` (an empty body
        # passes), applied to every content type; shapes only, the handler checks the values.
        reversal_model = api.add_json_model(
            "HitReversalRequest",
            object_schema(
                "HitReversalRequest",
                "Reverse every rejected assignment of a HIT, optionally only some workers'.",
                properties={
                    "feedback": string_field(nullable=True),
                    "reason": string_field(nullable=True),
                    "workerIds": apigw.JsonSchema(
                        type=[apigw.JsonSchemaType.ARRAY, apigw.JsonSchemaType.NULL],
                        items=apigw.JsonSchema(type=apigw.JsonSchemaType.STRING),
                    ),
                },
            ),
        )
        api.add_route("POST", "/hits/{hitId}/reversals", body_model=reversal_model)

    # ---- seams for the functions of other constructs ------------------------------------------------
    def environment_for_producers(self) -> dict[str, str]:
        """What a function that stores batches and queues their chunks reads (`mturk_decisions.config`)."""
        return {"BATCH_TABLE_NAME": self.table.table_name, "WORK_QUEUE_URL": self.queue.queue_url}

    def environment_for_planners(self) -> dict[str, str]:
        """What a function that plans uploaded batches into the batch table reads; it never queues."""
        return {"BATCH_TABLE_NAME": self.table.table_name}

    def grant_plan(self, function: lambda_.IFunction) -> None:
        """Plan uploaded batches: mark them, write their rows (batch table); nothing on the work queue."""
        self._grant_table(function, PLAN_BATCH_ACTIONS)

    def grant_submit(self, function: lambda_.IFunction) -> None:
        """Submit batches: store one (batch table) and send its chunks to the work queue; nothing on the DLQ."""
        self._grant_table(function, SUBMIT_BATCH_ACTIONS)
        self.work_queues.grant_send(function)

    def wire_requeue(self, function: lambda_.Function) -> None:
        """The reconciler re-queues batches whose send failed: read them, mark them queued, send chunks."""
        for name, value in self.environment_for_producers().items():
            function.add_environment(name, value)
        self.audit_store.grant_table_actions(
            function, REQUEUE_BATCH_ACTIONS,
            [self.table.table_arn, *(f"{self.table.table_arn}/index/{name}" for name in BATCH_INDEXES)])
        self.work_queues.grant_send(function)

    def _grant_table(self, function: lambda_.IFunction, actions: tuple[str, ...]) -> None:
        """Exactly `actions` on the batch table (it has no index), and its key through DynamoDB."""
        self.audit_store.grant_table_actions(function, actions, [self.table.table_arn])
