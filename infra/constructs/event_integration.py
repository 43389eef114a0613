"""Event integration: the service's EventBridge bus, `Reversal Requested` events and MTurk notifications.

    PUT /hit-types/{hitTypeId}/notifications   {"active"?: bool} (body optional)

- The bus (`<stackName>-events`) carries the service's own events (`Assignment Rejected`,
  `Rejection Reversed`, `Reversal Failed`, `Batch Completed`; source `mturk-decisions`), put by the
  functions given to `add_publisher`, and the `Reversal Requested` events of the requester's own
  systems. Everything on it is archived (`eventArchiveRetentionDays`, default 30) for replay.
- Only `eventPublishers` (default: `allowedPrincipals`) may put `Reversal Requested` events on the bus
  (a Deny in the bus policy), a rule accepts them only from the `eventSources` allow-list, and the
  reversal-requests queue denies every sender but that rule. The audit records the event's source
  as verified and its `requester` as claimed.
- A rule sends `Reversal Requested` events to the reversal-requests queue; its consumer
  (`handlers/events.py`) reverses one assignment through the decision service, or turns a HIT into
  a batch (batch table + work queue). A malformed event is moved by the consumer to the queue's DLQ
  with its reason (`EVENTS_DLQ_URL`); an event that keeps failing gets there after 5 receives; an
  event EventBridge itself cannot deliver to the queue goes there too (the target's DLQ).
- MTurk sends its notifications (AssignmentRejected / AssignmentApproved, set up per HIT type with
  the route above) to the notifications queue, whose policy lets the MTurk service principal
  `mturk-requester.amazonaws.com` SendMessage over TLS for the requester's account only
  (`aws:SourceAccount`, `mturkRequesterAccountId`; MTurk's "Notification Handling Using Amazon SQS"). Its consumer (`handlers/notifications.py`) audits decisions made on the requester website
  and, with `websiteRejectionGrace`, makes those rejections provisional.

Choices:
- Queues use SQS-managed SSE, like the work queue: messages carry ids only, and MTurk delivers to
  SQS-managed SSE queues, not to queues encrypted with a customer-managed key it cannot use. TLS is
  enforced by every queue policy.
- Each queue is a `QueueWithDeadLetters` (`queues.py`): visibility timeout 6 x the consumer timeout
  (AWS guidance for SQS event sources); DLQs keep messages 14 days, longer than their source queues'
  4 (a moved message keeps its enqueue time).
- Each consumer runs at most 2 at a time (SQS's minimum event-source concurrency): both call MTurk
  with the requester's rate limit, which the batch worker's pacer also relies on.
- Grants are the calls the code makes: the notifications consumer has no bus, batch table or work
  queue; the consumers may only SendMessage to their DLQs (an operator drains or redrives them).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.automatic_reversals import AutomaticReversals
from infra.constructs.bulk_decisions import BulkDecisions
from infra.constructs.decision_api import DecisionApi, object_schema
from infra.constructs.functions import FunctionSpec, invoke_target
from infra.constructs.queues import QueueWithDeadLetters, visibility_timeout_for
from infra.constructs.service_context import ServiceContext

EVENTS_HANDLER = "mturk_decisions.handlers.events.handler"
NOTIFICATIONS_HANDLER = "mturk_decisions.handlers.notifications.handler"

# Contract with the Lambda code (adapters/event_bus.py, service/reversal_requests.py).
REVERSAL_REQUESTED = "Reversal Requested"
# MTurk's service principal for notifications ("Notification Handling Using Amazon SQS").
MTURK_SERVICE_PRINCIPAL = "mturk-requester.amazonaws.com"

PUT_EVENTS_ACTIONS = ("events:PutEvents",)

# Ten messages per invocation, each about one reversal (a few MTurk calls with retries).
CONSUMER_TIMEOUT = Duration.minutes(3)
CONSUMER_MEMORY_MB = 512
VISIBILITY_TIMEOUT = visibility_timeout_for(CONSUMER_TIMEOUT)
EVENT_SOURCE_BATCH_SIZE = 10
EVENT_SOURCE_MAX_CONCURRENCY = 2


def consumed_queues(scope: Construct, construct_id: str) -> QueueWithDeadLetters:
    """A consumer's queue and DLQ, as `<construct_id>/Queue` and `<construct_id>/DeadLetterQueue`."""
    return QueueWithDeadLetters(Construct(scope, construct_id), visibility_timeout=VISIBILITY_TIMEOUT)


class EventIntegration(Construct):
    """Event bus + archive; Reversal Requested rule -> queue -> consumer; MTurk notifications queue -> consumer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        services: ServiceContext,
        *,
        api: DecisionApi,
        bulk: BulkDecisions,
        reversals: AutomaticReversals,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = services.config
        self._add_bus()
        self._add_reversal_requests()
        self._add_events_consumer(services, bulk, reversals)
        self._add_notifications()
        self._add_notifications_consumer(services, reversals)
        self._wire_api(api)

    # ---- the bus, its archive and who may put Reversal Requested events ------------------------
    def _add_bus(self) -> None:
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=f"{self.config.stack_name}-events",
            description="mturk-decisions: the service's events and Reversal Requested events",
        )
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            description="mturk-decisions: every event of the bus, for replay",
            # Every event put on this bus (all of them carry the bus owner's account).
            event_pattern=events.EventPattern(account=[Aws.ACCOUNT_ID]),
            retention=Duration.days(self.config.event_archive_retention_days),
        )
        self._restrict_reversal_requests()

    def _restrict_reversal_requests(self) -> None:
        """A Reversal Requested event spends money: only `eventPublishers` may put one on the bus (default:
        `allowedPrincipals`). The Deny shuts out every other principal of this account, whose own IAM
        policies would otherwise suffice; the service's own events (other detail types) are not affected."""
        publishers = self.config.event_publishers
        if not publishers:
            return
        accounts = [p for p in publishers if p.isdigit()]
        arns = [p for p in publishers if not p.isdigit()]
        not_listed: dict[str, dict[str, object]] = {"StringEquals": {"events:detail-type": REVERSAL_REQUESTED}}
        if arns:
            not_listed["ArnNotLike"] = {"aws:PrincipalArn": arns}
        if accounts:
            not_listed["StringNotEquals"] = {"aws:PrincipalAccount": accounts}
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyListedPublishersRequestReversals",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(PUT_EVENTS_ACTIONS),
                resources=[self.bus.event_bus_arn],
                conditions=not_listed,
            )
        )

    # ---- Reversal Requested events -> queue -> consumer -------------------------------------------
    def _add_reversal_requests(self) -> None:
        self.reversal_requests = consumed_queues(self, "ReversalRequests")
        self.reversal_requested_rule = events.Rule(
            self,
            "ReversalRequestedRule",
            event_bus=self.bus,
            description="mturk-decisions: Reversal Requested events of the allowed sources to their queue",
            event_pattern=events.EventPattern(detail_type=[REVERSAL_REQUESTED], source=list(self.config.event_sources)),
            # Adds the queue policy letting events.amazonaws.com SendMessage from this rule only, and
            # the same on the DLQ, where an event goes when EventBridge cannot deliver it to the queue
            # (after its default retries: 185 attempts over 24 hours).
            targets=[
                targets.SqsQueue(
                    self.reversal_requests.queue,
                    dead_letter_queue=self.reversal_requests.dead_letter_queue,
                )
            ],
        )
        self._only_the_rule_sends_requests()

    def _only_the_rule_sends_requests(self) -> None:
        """Nobody may bypass the bus's policy by sending to the queue directly: every sender but the rule
        is denied (a principal's own IAM permission for sqs:SendMessage is not enough)."""
        self.reversal_requests.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheReversalRequestedRuleSends",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sqs:SendMessage"],
                resources=[self.reversal_requests.queue.queue_arn],
                conditions={"ArnNotEquals": {"aws:SourceArn": self.reversal_requested_rule.rule_arn}},
            )
        )

    def _add_events_consumer(self, services: ServiceContext, bulk: BulkDecisions,
                             reversals: AutomaticReversals) -> None:
        """Reverses through the decision service (audit, secret, schedules when MTurk refuses for funds), turns a
        HIT into a batch of `bulk`, and announces its decisions on the bus."""
        self.events_consumer = services.factory.create(
            self,
            "EventsConsumer",
            FunctionSpec(
                handler=EVENTS_HANDLER,
                description="mturk-decisions: reverses on Reversal Requested events (a HIT becomes a batch)",
                timeout=CONSUMER_TIMEOUT,
                memory_size=CONSUMER_MEMORY_MB,
                snap_start=True,  # rare events: nearly every one meets a cold environment
                environment={
                    **services.service_environment(),
                    **self.environment_for_publishers(),
                    "EVENTS_DLQ_URL": self.reversal_requests.dead_letter_queue.queue_url,
                    **reversals.schedule_environment(),
                    # A HIT event becomes a batch of the bulk decisions.
                    **bulk.environment_for_producers(),
                },
            ),
        )
        self._consume(self.events_consumer, self.reversal_requests)
        services.audit_store.grant_audit_write(self.events_consumer)
        services.secret.grant_read(self.events_consumer)
        reversals.grant_schedule_write(self.events_consumer)
        bulk.grant_submit(self.events_consumer)
        self._grant_put_events(self.events_consumer)

    # ---- MTurk notifications -> queue -> consumer ----------------------------------------------------
    def _add_notifications(self) -> None:
        self.notifications = consumed_queues(self, "Notifications")
        requester_account = self.config.mturk_requester_account_id or Aws.ACCOUNT_ID
        self.notifications.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MTurkSendsNotifications",
                principals=[iam.ServicePrincipal(MTURK_SERVICE_PRINCIPAL)],
                actions=["sqs:SendMessage"],
                resources=[self.notifications.queue.queue_arn],
                # Confused-deputy guard: only MTurk acting for this requester's account.
                conditions={"Bool": {"aws:SecureTransport": "true"},
                            "StringEquals": {"aws:SourceAccount": requester_account}},
            )
        )

    def _add_notifications_consumer(self, services: ServiceContext, reversals: AutomaticReversals) -> None:
        """Audits the website's decisions; with `websiteRejectionGrace`, schedules the provisional rejections'
        reversals."""
        environment = {
            **services.service_environment(),
            "NOTIFICATIONS_DLQ_URL": self.notifications.dead_letter_queue.queue_url,
        }
        grace = self.config.website_rejection_grace
        if grace:  # only then are website rejections provisional: a schedule per rejection
            environment.update({**reversals.schedule_environment(), "WEBSITE_REJECTION_GRACE": grace})
        self.notifications_consumer = services.factory.create(
            self,
            "NotificationsConsumer",
            FunctionSpec(
                handler=NOTIFICATIONS_HANDLER,
                description="mturk-decisions: audits decisions made on the requester website (MTurk notifications)",
                timeout=CONSUMER_TIMEOUT,
                memory_size=CONSUMER_MEMORY_MB,
                snap_start=True,  # rare events: nearly every one meets a cold environment
                environment=environment,
            ),
        )
        self._consume(self.notifications_consumer, self.notifications)
        # Reads an assignment's history and records the website's decision once (conditional put).
        services.audit_store.grant_audit_record(self.notifications_consumer)
        services.secret.grant_read(self.notifications_consumer)
        if grace:
            reversals.grant_schedule_write(self.notifications_consumer)

    # ---- seams for the functions of other constructs -------------------------------------------------
    def environment_for_publishers(self) -> dict[str, str]:
        """What a function putting the service's events reads (`adapters/event_bus.py`)."""
        return {"EVENT_BUS_NAME": self.bus.event_bus_name}

    def add_publisher(self, function: lambda_.Function) -> None:
        """Let `function` put the service's events on the bus (EVENT_BUS_NAME + events:PutEvents on it)."""
        for name, value in self.environment_for_publishers().items():
            function.add_environment(name, value)
        self._grant_put_events(function)

    # ---- the API function and its route ---------------------------------------------------------
    def _wire_api(self, api: DecisionApi) -> None:
        self.add_publisher(api.function)
        # MTurk is told this URL (UpdateNotificationSettings); the API itself never sends to the queue.
        api.function.add_environment("NOTIFICATIONS_QUEUE_URL", self.notifications.queue.queue_url)

        # Optional body: an object model without `required` (an empty body passes), for any content type.
        model = api.add_json_model(
            "NotificationsRequest",
            object_schema(
                "NotificationsRequest",
                "Turn MTurk notifications of a HIT type to the service's queue on (default) or off.",
                properties={"active": apigw.JsonSchema(type=apigw.JsonSchemaType.BOOLEAN)},
            ),
        )
        api.add_route("PUT", "/hit-types/{hitTypeId}/notifications", body_model=model)

    # ---- helpers --------------------------------------------------------------------------------
    def _consume(self, function: lambda_.Function, queues: QueueWithDeadLetters) -> None:
        # Also grants what polling needs on this queue only; the consumer may send to its DLQ only
        # (malformed messages, with their reason), never read or delete there.
        queues.add_consumer(  # the `live` alias of the SnapStart function
            invoke_target(function), batch_size=EVENT_SOURCE_BATCH_SIZE, max_concurrency=EVENT_SOURCE_MAX_CONCURRENCY
        )
        queues.grant_send_to_dead_letter_queue(function)

    def _grant_put_events(self, function: lambda_.IFunction) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(PUT_EVENTS_ACTIONS), resources=[self.bus.event_bus_arn])
        )
