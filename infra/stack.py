"""MTurkDecisionsStack: wiring only; each concern lives in `infra.constructs`.

Constructs get what they need from the stack's attributes, and use one another only through
the seams listed here (a construct exposes the environment and the grants of what it owns;
no other construct spells out its variable names, actions or resources):

    stack.audit_store      AuditStore   (tables, key, grant_audit_write/read, grant_idempotency, grant_table_key)
    stack.secret           MTurkSecret  (secret_arn, grant_read)
    stack.layers           Layers       (powertools, pynamodb, all)
    stack.functions        LambdaFactory (create(scope, id, FunctionSpec(...)) with house defaults)
    stack.services         ServiceContext (config, functions, audit_store, secret; service_environment()):
                           what DecisionApi, BulkDecisions, AutomaticReversals and EventIntegration take
    stack.operations       Operations   (alarm_topic, monitor_function, alarm_on_queue_depth/age, ...)
    stack.alarm_topic      sns.Topic
    stack.api              DecisionApi   (function, add_route, add_json_model)
    stack.bulk             BulkDecisions (table, work_queues = QueueWithDeadLetters(queue, dead_letter_queue),
                           queue, dead_letter_queue, worker; seams: environment_for_producers,
                           grant_submit, wire_requeue)
    stack.uploads          BatchUploads  (bucket, bucket_name, queues, queue, dead_letter_queue, parser)
    stack.reversals        AutomaticReversals (table, sweeper, reconciler; seams: schedule_environment,
                           grant_schedule_write)
    stack.events           EventIntegration (bus, archive, reversal_requests / notifications:
                           QueueWithDeadLetters(queue, dead_letter_queue), events_consumer,
                           notifications_consumer; seams: environment_for_publishers, add_publisher)
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from infra.config import ServiceConfig
from infra.constructs import (
    AuditStore,
    AutomaticReversals,
    BatchUploads,
    BulkDecisions,
    DecisionApi,
    EventIntegration,
    LambdaFactory,
    Layers,
    MTurkSecret,
    Operations,
    ServiceContext,
)


class MTurkDecisionsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="mturk-decisions: reject MTurk assignments and reverse rejections, audited, behind an IAM-signed API",
            **kwargs,
        )
        self.config = config
        self._add_shared_resources(config)
        self._add_features()
        self._wire_features()
        self.operations = Operations(self, "Operations", alarm_email=config.alarm_email, name_prefix=config.stack_name)
        self.alarm_topic = self.operations.alarm_topic
        self._monitor_decisions()
        self._monitor_bulk_decisions(config)
        self.operations.monitor_service_metrics()
        self._monitor_automatic_reversals(config)
        self._outputs()

    def _add_shared_resources(self, config: ServiceConfig) -> None:
        """What every feature is built from: the audit store, the MTurk secret, the layers, the function factory."""
        self.audit_store = AuditStore(self, "AuditStore", existing_key_arn=config.existing_data_key_arn,
                                      existing_audit_table_name=config.existing_audit_table_name)
        self.secret = MTurkSecret(self, "MTurkSecret")
        self.layers = Layers(self, "Layers")
        self.functions = LambdaFactory(layers=self.layers.all, log_retention=config.log_retention)
        self.services = ServiceContext(
            config=config, factory=self.functions, audit_store=self.audit_store, secret=self.secret
        )

    def _add_features(self) -> None:
        """One construct per feature; each wires the API function and its own routes."""
        self.api = DecisionApi(self, "DecisionApi", self.services)
        self.bulk = BulkDecisions(self, "BulkDecisions", self.services, api=self.api)
        self.uploads = BatchUploads(self, "BatchUploads", self.services, api=self.api, bulk=self.bulk)
        self.reversals = AutomaticReversals(self, "AutomaticReversals", self.services, api=self.api)
        self.events = EventIntegration(
            self, "EventIntegration", self.services, api=self.api, bulk=self.bulk, reversals=self.reversals
        )

    def _wire_features(self) -> None:
        """Functions of one feature that use another's resources, through that feature's seams."""
        # The functions that decide put the service's events on the bus (the API function and the
        # events consumer are wired by EventIntegration itself); the batch worker also announces
        # "Batch Completed".
        for publisher in (self.bulk.worker, self.reversals.sweeper):
            self.events.add_publisher(publisher)
        self.bulk.wire_requeue(self.reversals.reconciler)

    def _monitor_decisions(self) -> None:
        self.operations.monitor_api(self.api.api, stage_name=self.api.stage_name)
        self.operations.monitor_function(self.api.function, friendly_name="ApiHandler", human_name="API handler")
        self.operations.monitor_table(self.audit_store.audit_table, friendly_name="AuditTable", human_name="Audit table")

    def _monitor_bulk_decisions(self, config: ServiceConfig) -> None:
        """The batch worker and its queues; the upload parser and its DLQ."""
        operations = self.operations
        # The event source never invokes more workers than may run (bulk_decisions): a throttle is a fault.
        operations.monitor_function(self.bulk.worker, friendly_name="BatchWorker", human_name="Batch worker")
        operations.alarm_on_queue_age(
            self.bulk.queue,
            friendly_name="WorkQueue",
            human_name="Bulk work queue",
            max_age=Duration.minutes(config.work_queue_max_age_minutes),
        )
        operations.alarm_on_queue_depth(
            self.bulk.dead_letter_queue, friendly_name="WorkDeadLetterQueue", human_name="Bulk work DLQ"
        )
        operations.monitor_function(self.uploads.parser, friendly_name="UploadParser", human_name="Upload parser")
        operations.alarm_on_queue_depth(
            self.uploads.dead_letter_queue, friendly_name="UploadsDeadLetterQueue", human_name="Uploads DLQ"
        )

    def _monitor_automatic_reversals(self, config: ServiceConfig) -> None:
        operations, reversals, events = self.operations, self.reversals, self.events
        operations.monitor_function(
            reversals.sweeper,
            friendly_name="Sweeper",
            human_name="Reversal sweeper",
            # When capped on purpose (sweeperReservedConcurrency), a throttle is a sweep skipped while the
            # previous one runs (harmless: sweeps claim items, so overlapping ones never act twice).
            alarm_on_throttles=config.sweeper_reserved_concurrency is None,
        )
        operations.monitor_function(reversals.reconciler, friendly_name="Reconciler", human_name="Reconciler")
        operations.monitor_function(
            events.events_consumer, friendly_name="EventsConsumer", human_name="Reversal Requested consumer"
        )
        operations.monitor_function(
            events.notifications_consumer,
            friendly_name="NotificationsConsumer",
            human_name="MTurk notifications consumer",
        )
        operations.alarm_on_queue_depth(
            events.reversal_requests.dead_letter_queue,
            friendly_name="ReversalRequestsDeadLetterQueue",
            human_name="Reversal requests DLQ",
        )
        operations.alarm_on_queue_depth(
            events.notifications.dead_letter_queue,
            friendly_name="NotificationsDeadLetterQueue",
            human_name="MTurk notifications DLQ",
        )
        operations.monitor_automatic_reversal_metrics()

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": (self.api.url, "Base URL of the IAM-signed API (sign requests for service execute-api)"),
            "MTurkSecretArn": (self.secret.secret_arn, "Put the MTurk key pair here with put-secret-value"),
            "AuditTableName": (self.audit_store.audit_table.table_name,
                               "Audit table (retained on destroy; after a destroy, adopt it with -c "
                               "existingAuditTableName=... and existingDataKeyArn=...)"),
            "DataKeyArn": (self.audit_store.key.key_arn, "KMS key of the tables (retained on destroy; "
                                                        "existingDataKeyArn when adopting the retained tables)"),
            "AlarmTopicArn": (self.alarm_topic.topic_arn, "SNS topic notified by every alarm"),
            "DashboardName": (self.operations.dashboard_name, "CloudWatch dashboard of the service"),
            "WorkQueueUrl": (self.bulk.queue.queue_url, "Bulk work queue (one message per chunk of a batch)"),
            "WorkDeadLetterQueueUrl": (
                self.bulk.dead_letter_queue.queue_url,
                "Chunks that failed 5 times; redrive them to the work queue once the cause is fixed",
            ),
            "BatchTableName": (self.bulk.table.table_name, "Bulk batches and their items (90-day TTL)"),
            "UploadBucketName": (self.uploads.bucket_name,
                                 "Uploaded batch-results CSVs (PUT through POST /batches/uploads; expire after 7 days)"),
            "UploadsDeadLetterQueueUrl": (
                self.uploads.dead_letter_queue.queue_url,
                "Upload notifications the parser failed on 5 times (their batches are INVALID, saying why)",
            ),
            "EventBusName": (
                self.events.bus.event_bus_name,
                "Service events; put Reversal Requested events here (archived for replay)",
            ),
            "ReversalRequestsQueueUrl": (
                self.events.reversal_requests.queue.queue_url,
                "Reversal Requested events waiting for the consumer",
            ),
            "ReversalRequestsDeadLetterQueueUrl": (
                self.events.reversal_requests.dead_letter_queue.queue_url,
                "Malformed Reversal Requested events (attribute `reason`), events that failed 5 times or "
                "that EventBridge could not deliver",
            ),
            "NotificationsQueueUrl": (
                self.events.notifications.queue.queue_url,
                "MTurk notifications queue (set per HIT type with PUT /hit-types/{id}/notifications)",
            ),
            "NotificationsDeadLetterQueueUrl": (
                self.events.notifications.dead_letter_queue.queue_url,
                "Malformed MTurk notifications (message attribute `reason`) and ones that failed 5 times",
            ),
            "ScheduleTableName": (
                self.reversals.table.table_name,
                "Pending automatic reversals (retained on destroy; adopt it with -c existingScheduleTableName=...)",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
