"""MTurkDecisionsStack: wiring only; each concern lives in `infra.constructs`.

Later constructs (bulk queue + worker, EventBridge bus, schedules, reconciler) get
what they need from the stack's attributes:

    stack.audit_store      AuditStore   (tables, key, grant_audit_write/read, grant_idempotency)
    stack.secret           MTurkSecret  (secret_arn, grant_read)
    stack.layers           Layers       (powertools, pynamodb, all)
    stack.functions        LambdaFactory (create(scope, id, FunctionSpec(...)) with house defaults)
    stack.operations       Operations   (alarm_topic, monitor_function, alarm_on_queue_depth, ...)
    stack.alarm_topic      sns.Topic
    stack.api              DecisionApi
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import ServiceConfig
from infra.constructs import AuditStore, DecisionApi, LambdaFactory, Layers, MTurkSecret, Operations


class MTurkDecisionsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: ServiceConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="mturk-decisions: reject MTurk assignments and reverse rejections, audited, behind an IAM-signed API",
            **kwargs,
        )
        self.config = config

        self.audit_store = AuditStore(self, "AuditStore")
        self.secret = MTurkSecret(self, "MTurkSecret")
        self.layers = Layers(self, "Layers", powertools_layer_version=config.powertools_layer_version)
        self.functions = LambdaFactory(layers=self.layers.all, log_retention=config.log_retention)
        self.api = DecisionApi(
            self,
            "DecisionApi",
            config=config,
            factory=self.functions,
            audit_store=self.audit_store,
            secret=self.secret,
        )

        self.operations = Operations(self, "Operations", alarm_email=config.alarm_email, name_prefix=config.stack_name)
        self.alarm_topic = self.operations.alarm_topic
        self.operations.monitor_api(self.api.api, stage_name=self.api.stage_name)
        self.operations.monitor_function(self.api.function, friendly_name="ApiHandler", human_name="API handler")
        self.operations.monitor_table(self.audit_store.audit_table, friendly_name="AuditTable", human_name="Audit table")
        self.operations.monitor_service_metrics()

        self._outputs()

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": (self.api.url, "Base URL of the IAM-signed API (sign requests for service execute-api)"),
            "MTurkSecretArn": (self.secret.secret_arn, "Put the MTurk key pair here with put-secret-value"),
            "AuditTableName": (self.audit_store.audit_table.table_name, "Audit table (retained on destroy)"),
            "AlarmTopicArn": (self.alarm_topic.topic_arn, "SNS topic notified by every alarm"),
            "DashboardName": (self.operations.dashboard_name, "CloudWatch dashboard of the service"),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
