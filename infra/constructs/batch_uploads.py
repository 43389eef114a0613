"""Uploaded batches: a batch-results CSV of any size goes to S3, not through API Gateway (10 MB, 6 MB to Lambda).

    POST /batches/uploads             the batch (AWAITING_UPLOAD) and a presigned PUT URL (15 minutes, text/csv)
    GET  /batches/{batchId}/plan      its state; its plan once PLANNED; its errors once INVALID
    POST /batches/{batchId}/apply     queue it: the work queue and batch worker of `BulkDecisions`

The requester PUTs the CSV to the bucket; S3 announces each object created under `uploads/` to the uploads
queue (S3 event notification), whose consumer, the parser, reads the CSV as a stream, validates and plans
it and writes its rows to the batch table (`lambdas/mturk_decisions/service/uploads.py`).

Choices:
- The bucket: encrypted with the stack's data key (SSE-KMS, S3 Bucket Key on: one KMS call per bucket key,
  not per object), TLS only, public access blocked, ACLs disabled, no versioning, no CORS (the CLI PUTs from
  Python, no browser does), objects expire after 7 days (incomplete multipart uploads after 1). Destroyed
  with the stack; CloudFormation deletes it only when empty, which it is 7 days after the last upload
  (`aws s3 rm s3://BUCKET --recursive` before a destroy otherwise).
- Its name is fixed (`<stack>-uploads-<account>-<region>`): the queue policy names the bucket
  (`aws:SourceArn`) and the bucket's notification needs that policy in place when it is created, so the
  policy cannot `Ref` the bucket without a cycle (or CDK's notification custom resource, a Lambda function
  of its own with `s3:PutBucketNotification` on `*`).
- The queue admits `s3.amazonaws.com` only from this bucket and this account (`aws:SourceArn`,
  `aws:SourceAccount`), to SendMessage only; like every queue of the stack it has a DLQ after 5 receives.
- No server access logs (acknowledged below): who may upload is the API's IAM-authorized
  POST /batches/uploads (its access log names the caller and the batch), an object is only ever written
  through the URL it returns, and the parser logs every object it reads.
- Exact grants: the API `s3:PutObject` on `uploads/*` (it presigns: S3 authorizes the PUT as the API's
  role) and `kms:GenerateDataKey` through S3; the parser `s3:GetObject` on `uploads/*`, `kms:Decrypt`
  through S3, the batch table through `BulkDecisions.grant_plan`, the MTurk secret (it reads assignments to
  plan), its queue.
  It never queues: applying is the API's (the work queue's SendMessage it already has).
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Aws, CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.bulk_decisions import BulkDecisions
from infra.constructs.decision_api import DecisionApi, object_schema, string_field
from infra.constructs.functions import FunctionSpec, invoke_target
from infra.constructs.queues import QueueWithDeadLetters, visibility_timeout_for
from infra.constructs.service_context import ServiceContext
from infra.nag import acknowledge

PARSER_HANDLER = "mturk_decisions.handlers.upload_parser.handler"
# Contract with service/uploads.py (KEY_PREFIX) and the offline stack (local/stack.py).
UPLOAD_PREFIX = "uploads/"
UPLOAD_EXPIRY = Duration.days(7)
UPLOAD_EVENT = "s3:ObjectCreated:*"
# The longest AWS region name (ap-southeast-3) and an account id: what the name keeps of the stack's name.
_NAME_BUDGET = 63 - len("-uploads-") - 12 - 1 - 14

# 100,000 rows: two streamed reads of the CSV, 1,000 MTurk pages, 4,000 BatchWriteItem calls.
PARSER_TIMEOUT = Duration.minutes(15)
# The parser's peak memory is 135 MB for a 100,000-row, 121 MB CSV (bench/upload.py: VmHWM, the interpreter
# included), whatever the file's size: 512 MB leaves room. Lambda gives 512 MB about a third of a vCPU, and
# planning 100,000 rows takes 20-30 s of CPU (half of it botocore: 4,000 BatchWriteItem, 1,000 MTurk pages),
# so deployed it should plan in about a minute and a half (estimated, not measured in AWS); 1,769 MB (one
# vCPU) would cut the CPU-bound part by about 3x for about the same GB-seconds.
PARSER_MEMORY_MB = 512
VISIBILITY_TIMEOUT = visibility_timeout_for(PARSER_TIMEOUT)
# One upload per invocation; two parsers at most at once (SQS's minimum for an event source).
EVENT_SOURCE_BATCH_SIZE = 1
EVENT_SOURCE_MAX_CONCURRENCY = 2


def upload_bucket_name(stack_name: str, account: str = Aws.ACCOUNT_ID, region: str = Aws.REGION) -> str:
    """`<stack>-uploads-<account>-<region>`, lower case, within S3's 63 characters."""
    prefix = stack_name.lower()[:_NAME_BUDGET].rstrip("-")
    return f"{prefix}-uploads-{account}-{region}"


class BatchUploads(Construct):
    """The upload bucket, its notification queue (+ DLQ), the parser; the API's upload routes and grants."""

    def __init__(self, scope: Construct, construct_id: str, services: ServiceContext, *, api: DecisionApi,
                 bulk: BulkDecisions) -> None:
        super().__init__(scope, construct_id)
        self.audit_store = services.audit_store
        self._add_queues()
        self._add_bucket(services)
        self._add_notification()
        self._add_parser(services, bulk)
        self._wire_api(api)

    def _add_queues(self) -> None:
        # BatchUploads/UploadsQueue and BatchUploads/UploadsDeadLetterQueue.
        self.queues = QueueWithDeadLetters(self, "Uploads", visibility_timeout=VISIBILITY_TIMEOUT)
        self.queue = self.queues.queue
        self.dead_letter_queue = self.queues.dead_letter_queue

    def _add_bucket(self, services: ServiceContext) -> None:
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=upload_bucket_name(services.config.stack_name),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.audit_store.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(id="expire-uploads", expiration=UPLOAD_EXPIRY,
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The functions name the bucket by its Ref; the queue policy by its fixed name (a Ref there is a cycle).
        self.bucket_name = self.bucket.bucket_name
        self.bucket_arn = f"arn:{Aws.PARTITION}:s3:::{upload_bucket_name(services.config.stack_name)}"
        acknowledge(
            self.bucket,
            "S1",
            "No server access logs for the upload bucket: every object in it is written through a presigned URL "
            "that only the IAM-authorized POST /batches/uploads hands out (the API's access log names the caller "
            "and the batch), under a key naming that batch, and read only by the parser, which logs each one; "
            "objects expire after 7 days.",
        )

    def _add_notification(self) -> None:
        """Objects created under `uploads/` → the uploads queue; only this bucket of this account may send."""
        self.queue.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowUploadBucketNotifications",
            principals=[iam.ServicePrincipal("s3.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[self.queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": self.bucket_arn},
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))
        cfn_bucket = cast(s3.CfnBucket, self.bucket.node.default_child)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=[s3.CfnBucket.QueueConfigurationProperty(
                event=UPLOAD_EVENT,
                queue=self.queue.queue_arn,
                filter=s3.CfnBucket.NotificationFilterProperty(s3_key=s3.CfnBucket.S3KeyFilterProperty(
                    rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=UPLOAD_PREFIX)])),
            )])
        # S3 checks that it may send when the notification is set: the queue policy must exist first.
        self.bucket.node.add_dependency(self.queue)

    def _add_parser(self, services: ServiceContext, bulk: BulkDecisions) -> None:
        config = services.config
        self.parser = services.factory.create(
            self,
            "Parser",
            FunctionSpec(
                handler=PARSER_HANDLER,
                description="mturk-decisions upload parser: streams an uploaded batch-results CSV, plans it",
                timeout=PARSER_TIMEOUT,
                memory_size=PARSER_MEMORY_MB,
                environment={
                    **services.service_environment(),
                    **bulk.environment_for_planners(),
                    "UPLOAD_BUCKET_NAME": self.bucket_name,
                    "MTURK_INITIAL_RATE": f"{config.mturk_initial_rate:g}",
                    "MTURK_MAX_RATE": f"{config.mturk_max_rate:g}",
                    # On this delivery a failing upload makes its batch INVALID (then the DLQ).
                    "UPLOAD_QUEUE_MAX_RECEIVES": str(self.queues.max_receive_count),
                },
                snap_start=True,  # the requester waits for the plan: restore a snapshot, not a cold start
            ),
        )
        self.queues.add_consumer(invoke_target(self.parser), batch_size=EVENT_SOURCE_BATCH_SIZE,
                                 max_concurrency=EVENT_SOURCE_MAX_CONCURRENCY)
        self._grant_objects(self.parser, "s3:GetObject", "kms:Decrypt")
        bulk.grant_plan(self.parser)
        services.secret.grant_read(self.parser)

    # ---- the API function and its routes ------------------------------------------------------
    def _wire_api(self, api: DecisionApi) -> None:
        api.function.add_environment("UPLOAD_BUCKET_NAME", self.bucket_name)
        # It presigns the PUT: S3 authorizes the requester's upload as the API's role.
        self._grant_objects(api.function, "s3:PutObject", "kms:GenerateDataKey")
        upload_model = api.add_json_model("UploadRequest", object_schema(
            "UploadRequest", "Start an upload: an optional audit reason and the CSV's size in bytes.",
            properties={
                "reason": string_field(nullable=True),
                "contentLength": apigw.JsonSchema(type=[apigw.JsonSchemaType.INTEGER, apigw.JsonSchemaType.NULL]),
            },
        ))
        api.add_route("POST", "/batches/uploads", body_model=upload_model)
        api.add_route("GET", "/batches/{batchId}/plan")
        api.add_route("POST", "/batches/{batchId}/apply")

    def _grant_objects(self, function: lambda_.Function, action: str, key_action: str) -> None:
        """`action` on the uploads only, and `key_action` on the data key only through S3."""
        function.add_to_role_policy(iam.PolicyStatement(actions=[action],
                                                        resources=[self.bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")]))
        function.add_to_role_policy(iam.PolicyStatement(
            actions=[key_action],
            resources=[self.audit_store.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        ))
        bucket_id = Stack.of(self).get_logical_id(cast(CfnElement, self.bucket.node.default_child))
        if function.role is None:  # never: the factory gives every function a role of its own
            raise ValueError(f"{function.node.path} has no role to grant upload access to")
        acknowledge(
            function.role.node.find_child("DefaultPolicy"),
            "IAM5",
            f"{action} on the upload keys only ({UPLOAD_PREFIX}*): each upload's key names its batch "
            f"({UPLOAD_PREFIX}<batchId>.csv), created per request, so the keys cannot be listed in advance; "
            "nothing else is ever written to or read from the bucket.",
            finding=f"Resource::<{bucket_id}.Arn>/{UPLOAD_PREFIX}*",
        )
