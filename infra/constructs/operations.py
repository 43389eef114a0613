"""Alarms, the alarm topic and the dashboard (cdk-monitoring-constructs).

Every alarm created through `self.monitoring` notifies `alarm_topic` (an SNS topic
encrypted with its own CMK, TLS enforced, optional e-mail subscription). The
service's own metrics are the ones the Lambda code emits with Powertools Metrics
(EMF) in namespace `MTurkDecisions`, dimension `service=mturk-decisions`.

Seams for later constructs: `monitor_function`, `monitor_table`,
`alarm_on_queue_depth(queue)` (e.g. the bulk queue's DLQ) and
`alarm_on_queue_age(queue, max_age)` (a work queue that stops draining);
`monitor_automatic_reversal_metrics()` for the metrics of the sweeper, the reconciler and the
event publishers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_monitoring_constructs import (
    AlarmFactoryDefaults,
    CustomMetricGroup,
    CustomMetricWithAlarm,
    CustomThreshold,
    DefaultDashboardFactory,
    ErrorCountThreshold,
    ErrorRateThreshold,
    MaxMessageAgeThreshold,
    MaxMessageCountThreshold,
    MonitoringFacade,
    SnsAlarmActionStrategy,
    ThrottledEventsThreshold,
)
from constructs import Construct

from infra.constructs.functions import METRICS_NAMESPACE, SERVICE_NAME

PERIOD = Duration.minutes(5)
CRITICAL = "Critical"


def critical(threshold_type: Callable[..., Any], **threshold: Any) -> dict[str, Any]:
    """One Critical alarm at `threshold_type(**threshold)`; missing data (no traffic) is not breaching.

    Every alarm of the service is built this way, e.g. `critical(ErrorCountThreshold, max_error_count=0)`.
    """
    return {
        CRITICAL: threshold_type(
            **threshold, treat_missing_data_override=cloudwatch.TreatMissingData.NOT_BREACHING
        )
    }


@dataclass(frozen=True)
class ServiceMetric:
    name: str
    description: str
    threshold: float  # alarm when the 5-minute statistic is greater than this
    statistic: str = "Sum"
    # Dimensions beyond `service` (the metric's other dimensions, e.g. action/outcome of `Decisions`).
    dimensions: tuple[tuple[str, str], ...] = ()
    # The alarm's friendly name when it is not the metric name (one metric, several dimension sets).
    friendly_name: str | None = None

    @property
    def alarm_name(self) -> str:
        return self.friendly_name or self.name


SERVICE_METRICS = (
    ServiceMetric("DecisionsFailed", "Decisions that failed at MTurk or in the service", 0),
    ServiceMetric("AuditFinalizeFailed", "Audit records left PENDING for the reconciler", 0),
    ServiceMetric("InsufficientFunds", "MTurk refused an approval: prepaid balance too low", 0),
    # A few throttled calls are retried by the client; sustained throttling is not.
    ServiceMetric("MTurkThrottled", "Calls throttled by the MTurk API", 10),
)

AUTOMATIC_REVERSAL_METRICS = (
    # The sweeper puts the current count every minute: any pending reversal that close to its
    # deadline needs a person now (Maximum, so one minute's count is enough).
    ServiceMetric(
        "ReversalsNearDeadline",
        "Pending automatic reversals whose 30-day window closes within 48 hours",
        0,
        statistic="Maximum",
    ),
    ServiceMetric("ScheduledReversalsFailed", "Automatic reversals that failed or expired", 0),
    ServiceMetric(
        "Decisions",
        "Reversals that failed (any source: API, batch, event, schedule)",
        0,
        dimensions=(("action", "reverse"), ("outcome", "failed")),
        friendly_name="ReversalsFailed",
    ),
    ServiceMetric("ReconcilerFindings", "Decisions left PENDING by a crash, settled by the reconciler", 0),
    ServiceMetric("EventPublishFailed", "Service events that could not be put on the event bus", 0),
    ServiceMetric("ReconcilerErrors", "Audit records the reconciler could not settle (it retries each run)", 0),
    ServiceMetric("BatchesStranded", "Stored batches that could not be queued, even by the reconciler", 0),
)


class Operations(Construct):
    """Alarm topic + MonitoringFacade (alarms to the topic, one dashboard)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_email: str | None,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name_prefix = name_prefix
        self._add_topic_key()
        self._add_alarm_topic(alarm_email)
        self._add_monitoring()

    # ---- the alarm topic ------------------------------------------------------------------------
    @property
    def alarm_arn_pattern(self) -> str:
        """Every alarm of this stack: their names all start with the stack's prefix."""
        return f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{self.name_prefix}-*"

    def _from_this_stacks_alarms(self) -> dict:
        """Confused-deputy guard on CloudWatch's service principal: only alarms of this account and stack."""
        return {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern}}

    def _add_topic_key(self) -> None:
        self.topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description="mturk-decisions: encrypts the alarm notification topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=self._from_this_stacks_alarms(),
            )
        )

    def _add_alarm_topic(self, alarm_email: str | None) -> None:
        """`enforce_ssl` adds a topic policy, which replaces SNS's default one: it must itself allow the
        alarms to publish (without this statement, no alarm notification is ever delivered)."""
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="mturk-decisions alarms",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions=self._from_this_stacks_alarms(),
            )
        )
        if alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

    def _add_monitoring(self) -> None:
        self.dashboard_name = f"{self.name_prefix}-operations"
        self.dashboard_factory = DefaultDashboardFactory(
            self,
            "Dashboards",
            dashboard_name_prefix=self.dashboard_name,
            create_dashboard=True,
            create_summary_dashboard=False,
            create_alarm_dashboard=False,
        )
        self.monitoring = MonitoringFacade(
            self,
            "Monitoring",
            alarm_factory_defaults=AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=self.name_prefix,
                action=SnsAlarmActionStrategy(on_alarm_topic=self.alarm_topic, on_ok_topic=self.alarm_topic),
                datapoints_to_alarm=1,
                evaluation_periods=1,
            ),
            dashboard_factory=self.dashboard_factory,
        )

    # ---- what the stack wires ------------------------------------------------------------------
    def monitor_api(self, api: apigw.RestApi, *, stage_name: str, max_5xx_rate: float = 0.05) -> None:
        """API Gateway 5XX rate (fraction of requests) + the standard API widgets."""
        self.monitoring.monitor_api_gateway(
            api=api,
            api_stage=stage_name,
            human_readable_name="Decision API",
            alarm_friendly_name="DecisionApi",
            add5_xx_fault_rate_alarm=critical(ErrorRateThreshold, max_error_rate=max_5xx_rate),
        )

    def monitor_function(
        self,
        function: lambda_.IFunction,
        *,
        friendly_name: str,
        human_name: str,
        alarm_on_throttles: bool = True,
    ) -> None:
        """Errors and throttles of one Lambda function (any error/throttle alarms).

        `alarm_on_throttles=False` for a function throttled BY DESIGN (a queue worker capped
        below its event source's concurrency): throttles stay on the dashboard, and the
        queue's age/DLQ alarms tell when the backlog is really stuck.
        """
        self.monitoring.monitor_lambda_function(
            lambda_function=function,
            human_readable_name=human_name,
            alarm_friendly_name=friendly_name,
            add_fault_count_alarm=critical(ErrorCountThreshold, max_error_count=0),
            add_throttles_count_alarm=critical(ErrorCountThreshold, max_error_count=0) if alarm_on_throttles else None,
        )

    def monitor_table(self, table: dynamodb.ITable, *, friendly_name: str, human_name: str) -> None:
        """System errors and throttled requests of an on-demand table."""
        self.monitoring.monitor_dynamo_table(
            table=table,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            human_readable_name=human_name,
            alarm_friendly_name=friendly_name,
            add_system_error_count_alarm=critical(ErrorCountThreshold, max_error_count=0),
            add_read_throttled_events_count_alarm=critical(ThrottledEventsThreshold, max_throttled_events_threshold=0),
            add_write_throttled_events_count_alarm=critical(ThrottledEventsThreshold, max_throttled_events_threshold=0),
        )

    def monitor_service_metrics(self) -> None:
        """Alarms on the Powertools metrics the Lambda code emits (namespace MTurkDecisions)."""
        metrics = [self._metric_with_alarm(m) for m in SERVICE_METRICS]
        self.monitoring.monitor_custom(
            human_readable_name="MTurk decisions",
            alarm_friendly_name="ServiceMetrics",
            description=(
                f"Metrics emitted by the Lambda code (namespace `{METRICS_NAMESPACE}`, "
                f"dimension `service={SERVICE_NAME}`)."
            ),
            metric_groups=[
                CustomMetricGroup(title="Failures", metrics=metrics[:3]),
                CustomMetricGroup(title="MTurk throttling", metrics=metrics[3:]),
            ],
        )

    def monitor_automatic_reversal_metrics(self) -> None:
        """Alarms on the metrics of automatic reversals, events and the reconciler (same namespace).

        The deadline guard (`ReversalsNearDeadline`, the sweeper's count each minute of pending
        reversals whose window closes within 48 h), failed scheduled reversals, failed reversals of
        any source (`Decisions` with action=reverse, outcome=failed), reconciler findings and events
        that could not be put on the bus.
        """
        metrics = {m.alarm_name: self._metric_with_alarm(m) for m in AUTOMATIC_REVERSAL_METRICS}
        self.monitoring.monitor_custom(
            human_readable_name="Automatic reversals",
            alarm_friendly_name="AutomaticReversals",
            description=(
                "Scheduled and provisional reversals, Reversal Requested events, the reconciler and the "
                f"event bus (namespace `{METRICS_NAMESPACE}`, dimension `service={SERVICE_NAME}`)."
            ),
            metric_groups=[
                CustomMetricGroup(
                    title="Reversals",
                    metrics=[metrics["ReversalsNearDeadline"], metrics["ScheduledReversalsFailed"],
                             metrics["ReversalsFailed"]],
                ),
                CustomMetricGroup(
                    title="Reconciler and events",
                    metrics=[metrics["ReconcilerFindings"], metrics["ReconcilerErrors"], metrics["BatchesStranded"],
                             metrics["EventPublishFailed"]],
                ),
            ],
        )

    def _metric_with_alarm(self, m: ServiceMetric) -> CustomMetricWithAlarm:
        period = "5-minute " + m.statistic.lower()
        return CustomMetricWithAlarm(
            alarm_friendly_name=m.alarm_name,
            metric=self.service_metric(
                m.name, label=m.description, statistic=m.statistic, dimensions=dict(m.dimensions)
            ),
            add_alarm=critical(
                CustomThreshold,
                threshold=m.threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                alarm_description_override=f"{m.description}: {period} > {m.threshold:g}",
            ),
        )

    @staticmethod
    def service_metric(
        name: str,
        *,
        label: str | None = None,
        statistic: str = "Sum",
        dimensions: Mapping[str, str] | None = None,
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE_NAME, **(dimensions or {})},
            statistic=statistic,
            period=PERIOD,
            label=label,
        )

    # ---- seams for later constructs ------------------------------------------------------------
    def alarm_on_queue_depth(
        self,
        queue: sqs.IQueue,
        *,
        friendly_name: str,
        human_name: str | None = None,
        max_visible_messages: int = 0,
    ) -> None:
        """Alarm (to the topic) when `queue` holds more than `max_visible_messages` (DLQs: 0)."""
        self._monitor_queue(
            queue,
            friendly_name,
            human_name,
            add_queue_max_size_alarm=critical(MaxMessageCountThreshold, max_message_count=max_visible_messages),
        )

    def alarm_on_queue_age(
        self,
        queue: sqs.IQueue,
        *,
        friendly_name: str,
        max_age: Duration,
        human_name: str | None = None,
    ) -> None:
        """Alarm (to the topic) when the oldest message of `queue` is older than `max_age`.

        The signal that a work queue is not draining (worker failing, throttled or disabled)
        long before its messages reach the DLQ or expire.
        """
        self._monitor_queue(
            queue,
            friendly_name,
            human_name,
            add_queue_max_message_age_alarm=critical(MaxMessageAgeThreshold, max_age_in_seconds=max_age.to_seconds()),
        )

    def _monitor_queue(self, queue: sqs.IQueue, friendly_name: str, human_name: str | None, **alarms: Any) -> None:
        self.monitoring.monitor_sqs_queue(
            queue=queue,
            alarm_friendly_name=friendly_name,
            human_readable_name=human_name or friendly_name,
            **alarms,
        )
