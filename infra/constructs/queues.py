"""A standard SQS queue and its dead-letter queue, with the house settings, for one Lambda consumer.

Used by the bulk work queue (`infra.constructs.bulk_decisions`) and by the reversal-requests and
MTurk notifications queues (`infra.constructs.event_integration`).

House settings:
- SQS-managed SSE on both queues (messages carry ids only; MTurk delivers to such queues, not to
  queues encrypted with a customer-managed key it cannot use); TLS enforced by both queue policies.
- A message that failed `max_receive_count` (5) times moves to the DLQ, which keeps messages
  `dead_letter_retention` (14 days), longer than the source queue's `retention_period` (4 days):
  a standard queue's message keeps its original enqueue time when it is moved to the DLQ.
- The visibility timeout is the caller's: AWS guidance for SQS event sources is at least 6 x the
  consumer's function timeout (`visibility_timeout_for`), which leaves Lambda time to retry a batch
  while the function is throttled.
- Consumers (`add_consumer`) report failed records only (partial batch responses).
- Producers get SendMessage and nothing else (`grant_send`; `grant_send_to_dead_letter_queue` for
  a consumer that dead-letters malformed messages itself). Nobody gets receive/delete on a DLQ.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION = Duration.days(4)
DLQ_RETENTION = Duration.days(14)
# AWS guidance for SQS event sources: visibility timeout >= 6 x the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6
# What a producer needs (SendMessageBatch is authorized by sqs:SendMessage; the code has the queue
# URL, so no GetQueueUrl); narrower than `Queue.grant_send_messages`, which adds GetQueueAttributes.
SEND_ACTIONS = ("sqs:SendMessage",)


def visibility_timeout_for(consumer_timeout: Duration) -> Duration:
    """The visibility timeout of a queue consumed by a function with `consumer_timeout` (6 x)."""
    return Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * consumer_timeout.to_seconds())


class QueueWithDeadLetters:
    """`queue` + `dead_letter_queue`, created in `scope` as `{prefix}Queue` and `{prefix}DeadLetterQueue`.

    Not a construct of its own: the queues are children of `scope` directly, so their construct
    paths (and CloudFormation logical ids) are the caller's choice, e.g. `BulkDecisions/WorkQueue`
    (scope = the bulk construct, prefix "Work") or `EventIntegration/Notifications/Queue` (scope =
    a `Notifications` construct, no prefix).
    """

    def __init__(
        self,
        scope: Construct,
        prefix: str = "",
        *,
        visibility_timeout: Duration,
        retention_period: Duration = QUEUE_RETENTION,
        dead_letter_retention: Duration = DLQ_RETENTION,
        max_receive_count: int = MAX_RECEIVE_COUNT,
    ) -> None:
        self.max_receive_count = max_receive_count
        self.dead_letter_queue = sqs.Queue(
            scope,
            f"{prefix}DeadLetterQueue",
            retention_period=dead_letter_retention,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            scope,
            f"{prefix}Queue",
            visibility_timeout=visibility_timeout,
            retention_period=retention_period,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
        )

    def add_consumer(self, function: lambda_.IFunction, *, batch_size: int, max_concurrency: int) -> None:
        """`function` consumes `queue`, reporting failed records only.

        Also grants what polling needs on this queue only (receive, delete, change visibility,
        get attributes/URL); nothing on the DLQ.
        """
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )

    def grant_send(self, function: lambda_.IFunction) -> None:
        """`function` may SendMessage (and SendMessageBatch) to `queue`, nothing more."""
        _grant_send(function, self.queue)

    def grant_send_to_dead_letter_queue(self, function: lambda_.IFunction) -> None:
        """`function` may SendMessage to `dead_letter_queue` (a malformed message, with its reason), nothing more."""
        _grant_send(function, self.dead_letter_queue)


def _grant_send(function: lambda_.IFunction, queue: sqs.IQueue) -> None:
    function.add_to_role_policy(iam.PolicyStatement(actions=list(SEND_ACTIONS), resources=[queue.queue_arn]))
