"""The whole service offline: moto (DynamoDB, Secrets Manager, SQS, EventBridge, S3), the MTurk simulator,
the local gateway, SQS triggers and schedules.

Tests run moto, the simulator and the gateway in threads of one process; the demo runs moto and the
simulator as processes. The Lambda handlers run in this process (serialized, the tests' default) or in
process execution environments, several at once as in AWS (`local.runtime`). Either way the same
provisioning runs and the same handlers answer.

`provision` creates the resources the CDK stack deploys, and each function gets the environment variables the
CDK stack gives it (`function_environment`); tests/infra/test_offline_contract.py compares both with the
synthesized template, resource by resource, and names whatever differs.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from local.gateway import LocalApiGateway, LocalPrincipal  # noqa: E402 - after the sys.path line above
from local.runtime import (  # noqa: E402
    InProcessEnvironment,
    ProcessEnvironments,
    as_runtime,
    default_function_name,
)

REGION = "us-east-1"
AUDIT_TABLE = "mturk-decisions-audit"
BATCH_TABLE = "mturk-decisions-batches"
WORK_QUEUE = "mturk-decisions-work"
SCHEDULE_TABLE = "mturk-decisions-reversal-schedule"
EVENT_BUS = "mturk-decisions"
REVERSAL_REQUESTS_QUEUE = "mturk-decisions-reversal-requests"
NOTIFICATIONS_QUEUE = "mturk-decisions-mturk-notifications"
UPLOADS_QUEUE = "mturk-decisions-uploads"
UPLOAD_BUCKET = "mturk-decisions-uploads"
IDEMPOTENCY_TABLE = "mturk-decisions-idempotency"
MTURK_SECRET = "mturk-decisions/mturk-requester-keys"
#: Obviously fake keys: the local demo caller signs API requests with these.
DEMO_PRINCIPAL = LocalPrincipal(
    access_key_id="LOCALDEMOCALLERKEY01",
    secret_access_key="local-demo-caller-secret-not-a-real-key",
    arn="arn:aws:iam::000000000000:user/demo-requester",
)
#: The requester's MTurk keys, as the simulator knows them and as they are put in the secret.
DEMO_MTURK_KEY = ("SIMREQUESTERKEY00001", "sim-requester-secret-not-a-real-key")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout:.0f} s") from None
            time.sleep(0.1)


def point_aws_at(moto_url: str) -> None:
    """Send this process's DynamoDB and Secrets Manager calls to moto; MTurk gets its own endpoint."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "AWS_ENDPOINT_URL_SQS": moto_url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
            "AWS_REGION": os.environ.get("AWS_REGION", REGION),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    )


# ---- the service as the CDK stack declares it ---------------------------------------------------------------
# tests/infra/test_offline_contract.py synthesizes the CDK stack and compares it with what `provision` creates and
# what the functions' execution environments get, resource by resource: a queue, an index, a TTL, a rule's pattern,
# a function's variable or trigger that differs fails it, named. Values that legitimately differ here are
# declared below (`LOCAL_OVERRIDES`, `LOCAL_ONLY_VARIABLES`), never a second literal left to drift.

#: What the CDK stack gives every function running the decision service (`ServiceContext.service_environment`,
#: `LambdaFactory`'s Powertools settings), with the values it gives...
SERVICE_SETTINGS: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "mturk-decisions",
    "POWERTOOLS_METRICS_NAMESPACE": "MTurkDecisions",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "SECRET_MAX_AGE_SECONDS": "300",
}
#: ... and the variables whose values are the stack's own: its resources (the keys `provision` answers them under)
#: and MTurk's endpoint (`LOCAL_OVERRIDES`).
SERVICE_RESOURCES = ("AUDIT_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "MTURK_SECRET_ID", "MTURK_ENDPOINT")
#: Template values the local stack replaces on purpose; the contract test compares every other literal value.
LOCAL_OVERRIDES: dict[str, str] = {
    "MTURK_ENDPOINT": "MTurk is the simulator (its URL), not the sandbox",
}
#: Variables the local stack adds to the functions' environments beyond the template's, and why. Lambda's own
#: (`_HANDLER`, `AWS_LAMBDA_*`: `local.runtime.child_environment`) and what the process inherits come on top.
LOCAL_ONLY_VARIABLES: dict[str, str] = {
    "MTURK_MAX_ATTEMPTS": "4 MTurk attempts, not 6: failing tests stay short (OfflineStack.lambda_env)",
    "LOCAL_CLOCK_URL": "the simulator's clock is the service's (local.lambda_env)",
    "LOCAL_CLOCK_FILE": "the simulator's clock, read from the file it is published to (local.lambda_env)",
    "LOCAL_LAMBDA_LOG": "where the demo's functions log, CloudWatch's stand-in (local.lambda_env)",
    "LOCAL_AWS_CALL_LOG": "a log of the functions' AWS calls (local.lambda_env)",
    "AWS_ENDPOINT_URL_DYNAMODB": "the AWS APIs are moto's (point_aws_at)",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "the AWS APIs are moto's (point_aws_at)",
    "AWS_ENDPOINT_URL_SQS": "the AWS APIs are moto's (point_aws_at)",
    "AWS_ENDPOINT_URL_EVENTBRIDGE": "the AWS APIs are moto's (point_aws_at)",
    "AWS_ENDPOINT_URL_S3": "the AWS APIs are moto's (point_aws_at)",
    "AWS_REGION": "Lambda sets it itself",
    "AWS_DEFAULT_REGION": "Lambda sets it itself",
    "AWS_ACCESS_KEY_ID": "Lambda sets the role's credentials itself",
    "AWS_SECRET_ACCESS_KEY": "Lambda sets the role's credentials itself",
}


@dataclass(frozen=True)
class LocalFunction:
    """One of the service's Lambda functions, as the CDK stack declares it: handler, name, timeout, and what it
    gives the function beyond every function's `SERVICE_SETTINGS` and `SERVICE_RESOURCES`: `resources` (keys of
    `provision`'s answer), `settings` (with the stack's default values, cdk.json's context) and `optional`: a
    setting the stack gives only when it is configured (unset by default), with the resources it brings."""

    handler: str
    name: str
    timeout_seconds: float
    resources: tuple[str, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict, hash=False)
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def import_handler(self) -> Callable[[dict, Any], Any]:
        import importlib

        module, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module), function)

    @property
    def environment_names(self) -> frozenset[str]:
        """The names of the variables the CDK stack gives this function by default."""
        return frozenset({*SERVICE_SETTINGS, *SERVICE_RESOURCES, *self.resources, *self.settings})

    def environment_names_with(self, env: Mapping[str, str]) -> frozenset[str]:
        """... and with the optional settings `env` configures."""
        configured = {name for setting, resources in self.optional.items() if env.get(setting)
                      for name in (setting, *resources)}
        return self.environment_names | configured


#: Every queue's redrive and retention, as in AWS (infra/constructs/queues.py).
MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: AWS guidance for SQS event sources, as in infra/constructs/queues.py: visibility timeout = 6 x the consumer's
#: function timeout. Not scaled down here: the local trigger gives a failed message back after 1 s itself.
VISIBILITY_TIMEOUT_FACTOR = 6

API_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.api:handler", "mturk-decisions-api", 29,
    resources=("BATCH_TABLE_NAME", "WORK_QUEUE_URL", "SCHEDULE_TABLE_NAME", "EVENT_BUS_NAME",
               "NOTIFICATIONS_QUEUE_URL", "UPLOAD_BUCKET_NAME"))
WORKER_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.batch_worker:handler", "mturk-decisions-batch-worker", 900,
    resources=("BATCH_TABLE_NAME", "WORK_QUEUE_URL", "EVENT_BUS_NAME"),
    settings={"MTURK_INITIAL_RATE": "5", "MTURK_MAX_RATE": "50", "WORK_QUEUE_MAX_RECEIVES": str(MAX_RECEIVE_COUNT)})
EVENTS_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.events:handler", "mturk-decisions-events", 180,
    resources=("EVENT_BUS_NAME", "EVENTS_DLQ_URL", "SCHEDULE_TABLE_NAME", "BATCH_TABLE_NAME", "WORK_QUEUE_URL"))
NOTIFICATIONS_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.notifications:handler", "mturk-decisions-notifications", 180,
    resources=("NOTIFICATIONS_DLQ_URL",),
    # cdk.json's websiteRejectionGrace: website rejections are provisional, a schedule each
    optional={"WEBSITE_REJECTION_GRACE": ("SCHEDULE_TABLE_NAME",)})
SWEEP_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.scheduler:handler", "mturk-decisions-reversal-sweep", 300,
    resources=("SCHEDULE_TABLE_NAME", "EVENT_BUS_NAME"))
RECONCILER_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.reconciler:handler", "mturk-decisions-reconciler", 300,
    resources=("BATCH_TABLE_NAME", "WORK_QUEUE_URL"), settings={"RECONCILE_AFTER_SECONDS": "900"})
UPLOAD_PARSER_FUNCTION = LocalFunction(
    "mturk_decisions.handlers.upload_parser:handler", "mturk-decisions-upload-parser", 900,
    resources=("BATCH_TABLE_NAME", "UPLOAD_BUCKET_NAME"),
    settings={"MTURK_INITIAL_RATE": "5", "MTURK_MAX_RATE": "50", "UPLOAD_QUEUE_MAX_RECEIVES": str(MAX_RECEIVE_COUNT)})
FUNCTIONS = {f.handler: f for f in (API_FUNCTION, WORKER_FUNCTION, EVENTS_FUNCTION, NOTIFICATIONS_FUNCTION,
                                    SWEEP_FUNCTION, RECONCILER_FUNCTION, UPLOAD_PARSER_FUNCTION)}


@dataclass(frozen=True)
class LocalQueue:
    """A queue and its DLQ for one consumer, as `QueueWithDeadLetters` makes them in AWS; `provision` answers
    their URLs under `url_key` and `dlq_key`."""

    name: str
    consumer: LocalFunction
    url_key: str
    dlq_key: str


QUEUES = (
    LocalQueue(WORK_QUEUE, WORKER_FUNCTION, "WORK_QUEUE_URL", "WORK_DLQ_URL"),
    LocalQueue(REVERSAL_REQUESTS_QUEUE, EVENTS_FUNCTION, "REVERSAL_REQUESTS_QUEUE_URL", "EVENTS_DLQ_URL"),
    LocalQueue(NOTIFICATIONS_QUEUE, NOTIFICATIONS_FUNCTION, "NOTIFICATIONS_QUEUE_URL", "NOTIFICATIONS_DLQ_URL"),
    LocalQueue(UPLOADS_QUEUE, UPLOAD_PARSER_FUNCTION, "UPLOADS_QUEUE_URL", "UPLOADS_DLQ_URL"),
)
#: The upload bucket's settings (infra/constructs/batch_uploads.py): uploads expire after 7 days; an object
#: created under `uploads/` is announced to the uploads queue (S3 event notification), which feeds the parser.
UPLOAD_EXPIRY_DAYS = 7
UPLOAD_PREFIX = "uploads/"
UPLOAD_EVENTS = ["s3:ObjectCreated:*"]
#: TTL attribute by table (PynamoDB's `create_table` sets one only for a `TTLAttribute`; `expires_at` is not one).
TABLE_TTLS = {"IDEMPOTENCY_TABLE_NAME": "expiration", "BATCH_TABLE_NAME": "expires_at"}
#: The rule of the service's bus sending Reversal Requested events of the allowed sources (cdk.json's
#: `eventSources`) to the reversal-requests queue; an event it cannot deliver goes to that queue's DLQ (the
#: target's DeadLetterConfig).
REVERSAL_REQUESTED_RULE = "reversal-requested"
REVERSAL_REQUESTED_PATTERN: dict[str, list[str]] = {"detail-type": ["Reversal Requested"],
                                                    "source": ["mturk-decisions.requester"]}

#: Every variable the local stack gives a function of the service (others get none of them), and the names
#: `provision` answers; `function_environment` gives each function its own of these only.
STACK_VARIABLES = frozenset({
    *(name for function in FUNCTIONS.values() for name in function.environment_names),
    *(name for function in FUNCTIONS.values() for setting, resources in function.optional.items()
      for name in (setting, *resources)),
    "WORK_DLQ_URL", "REVERSAL_REQUESTS_QUEUE_URL", "EVENT_BUS_NAME",
    *(key for queue in QUEUES for key in (queue.url_key, queue.dlq_key)),
})


def visibility_timeout_for(consumer: LocalFunction) -> str:
    """`VISIBILITY_TIMEOUT_FACTOR` x the consumer's timeout, as in AWS: a message is not delivered again while
    the invocation that received it may still run (several pollers receive at once)."""
    return str(int(VISIBILITY_TIMEOUT_FACTOR * consumer.timeout_seconds))


def provision(moto_url: str, mturk_key: tuple[str, str], suffix: str = "") -> dict[str, str]:
    """Create the service's resources on moto as the CDK stack creates them in AWS: the tables (keys and indexes
    from the code's own models, TTLs), each consumer's queue and DLQ (visibility timeout, retention, redrive),
    the bus and its Reversal Requested rule, the MTurk secret holding `mturk_key`. Answers their names and URLs
    under the variables that name them (`WORK_DLQ_URL`, `REVERSAL_REQUESTS_QUEUE_URL`: for tests and triggers).
    tests/infra/test_offline_contract.py checks all of it against the synthesized template."""
    import boto3

    names = {
        "AUDIT_TABLE_NAME": AUDIT_TABLE + suffix,
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE + suffix,
        "MTURK_SECRET_ID": MTURK_SECRET + suffix,
        "BATCH_TABLE_NAME": BATCH_TABLE + suffix,
        "SCHEDULE_TABLE_NAME": SCHEDULE_TABLE + suffix,
        "EVENT_BUS_NAME": EVENT_BUS + suffix,
    }
    _provision_tables(moto_url, names)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    _provision_queues(sqs, names, suffix)
    _provision_bus(moto_url, sqs, names, suffix)
    names["UPLOAD_BUCKET_NAME"] = provision_upload_bucket(moto_url, UPLOAD_BUCKET + suffix,
                                                          _queue_arn(sqs, names["UPLOADS_QUEUE_URL"]))
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_url)
    secrets.create_secret(
        Name=names["MTURK_SECRET_ID"],
        SecretString=json.dumps({"accessKeyId": mturk_key[0], "secretAccessKey": mturk_key[1]}),
    )
    return names


def _provision_tables(moto_url: str, names: dict[str, str]) -> None:
    """The tables, keys and indexes from the code's own models, Powertools' idempotency table, and the TTLs."""
    import boto3

    from mturk_decisions.adapters.audit_store import audit_model
    from mturk_decisions.adapters.batch_store import batch_model
    from mturk_decisions.adapters.schedule_store import schedule_model

    for model, key in ((audit_model, "AUDIT_TABLE_NAME"), (batch_model, "BATCH_TABLE_NAME"),
                       (schedule_model, "SCHEDULE_TABLE_NAME")):
        model(names[key], REGION, moto_url).create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_url)
    dynamodb.create_table(  # Powertools' DynamoDBPersistenceLayer defaults
        TableName=names["IDEMPOTENCY_TABLE_NAME"],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for key, attribute in TABLE_TTLS.items():
        dynamodb.update_time_to_live(TableName=names[key],
                                     TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})


def _provision_queues(sqs: Any, names: dict[str, str], suffix: str) -> None:
    """Each consumer's queue and its DLQ: visibility timeout, retention, redrive."""
    for queue in QUEUES:
        dlq_url = sqs.create_queue(QueueName=queue.name + suffix + "-dlq",
                                   Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})["QueueUrl"]
        names[queue.dlq_key] = dlq_url
        names[queue.url_key] = sqs.create_queue(QueueName=queue.name + suffix, Attributes={
            "VisibilityTimeout": visibility_timeout_for(queue.consumer),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": _queue_arn(sqs, dlq_url),
                                         "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        })["QueueUrl"]


def _provision_bus(moto_url: str, sqs: Any, names: dict[str, str], suffix: str) -> None:
    """The bus and its Reversal Requested rule, targeting the reversal-requests queue (its DLQ for failures)."""
    import boto3

    events = boto3.client("events", region_name=REGION, endpoint_url=moto_url)
    events.create_event_bus(Name=names["EVENT_BUS_NAME"])
    rule = REVERSAL_REQUESTED_RULE + suffix
    events.put_rule(Name=rule, EventBusName=names["EVENT_BUS_NAME"],
                    EventPattern=json.dumps(REVERSAL_REQUESTED_PATTERN))
    events.put_targets(Rule=rule, EventBusName=names["EVENT_BUS_NAME"], Targets=[{
        "Id": "reversal-requests-queue",
        "Arn": _queue_arn(sqs, names["REVERSAL_REQUESTS_QUEUE_URL"]),
        "DeadLetterConfig": {"Arn": _queue_arn(sqs, names["EVENTS_DLQ_URL"])},
    }])


def provision_upload_bucket(moto_url: str, bucket: str, queue_arn: str) -> str:
    """The upload bucket as CDK makes it: KMS encryption by default, public access blocked, uploads expiring
    after 7 days, and each object created under `uploads/` announced to the uploads queue."""
    import boto3

    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "expire-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
        "Expiration": {"Days": UPLOAD_EXPIRY_DAYS}}]})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": queue_arn, "Events": UPLOAD_EVENTS,
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}}}]})
    return bucket


def local_function(function: LocalFunction | str) -> LocalFunction:
    """One of the service's functions by its handler path, or any other `module:handler` (30 s timeout)."""
    if isinstance(function, LocalFunction):
        return function
    return FUNCTIONS.get(function) or LocalFunction(function, default_function_name(function), 30)


def function_environment(function: LocalFunction | str, env: dict[str, str]) -> dict[str, str]:
    """`function`'s environment on a stack whose variables are `env` (what `provision` answered, the endpoints,
    the process's own): as in AWS, of the stack's variables (`STACK_VARIABLES`) it gets its own only, with
    the stack's default values for its settings unless `env` gives others (the demo's pacing rate). Any other
    `module:handler` gets `env` as it is."""
    function = local_function(function)
    if function.handler not in FUNCTIONS:
        return dict(env)
    own = function.environment_names_with(env)
    return {**SERVICE_SETTINGS, **function.settings,
            **{name: value for name, value in env.items() if name not in STACK_VARIABLES or name in own}}


def lambda_environments(function: LocalFunction | str, env: dict[str, str], concurrency: int) -> ProcessEnvironments:
    """Process execution environments of one function (`LocalFunction` or a `module:handler` path), with its
    own environment out of the stack's `env` (`function_environment`)."""
    function = local_function(function)
    return ProcessEnvironments(function.handler, function_environment(function, env), concurrency=concurrency,
                               function_name=function.name, timeout_seconds=function.timeout_seconds)


@dataclass
class OfflineStack:
    """The service in this process: moto, the simulator, the gateway and the triggers in threads. For tests;
    use as a context manager.

    `concurrency=None`: the handlers run in this process, serialized, with the dependencies `wiring` holds
    (`stack.dependencies` unless a test installs others). An integer: each function runs in process
    execution environments (up to that many each), which build their own dependencies from the stack's
    environment with the simulator's clock, as Lambda would."""

    mturk_key: tuple[str, str] = field(default=DEMO_MTURK_KEY, repr=False)  # a failing test prints the stack
    principals: list[LocalPrincipal] = field(default_factory=lambda: [DEMO_PRINCIPAL])
    suffix: str = ""
    env: dict[str, str] = field(default_factory=dict)
    concurrency: int | None = None
    #: Variables of one function's process environments over `lambda_env()` (e.g. `LOCAL_AWS_CALL_LOG`;
    #: "" leaves an optional resource unconfigured), called when its environments are made.
    function_env: Callable[[LocalFunction], dict[str, str]] | None = field(default=None, repr=False)

    def start(self) -> OfflineStack:
        from local.moto_server import SerializedMotoServer
        from local.mturk_simulator import MTurkSimulator, SimulatorServer
        from mturk_decisions import wiring
        from mturk_decisions.config import Settings

        port = free_port()
        self.moto = SerializedMotoServer(ip_address="127.0.0.1", port=port)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        point_aws_at(self.moto_url)
        self.env = provision(self.moto_url, self.mturk_key, self.suffix)
        self.simulator = MTurkSimulator(sqs_endpoint_url=self.moto_url)
        self.simulator.add_requester(*self.mturk_key, balance="100.00")
        self.simulator_server = SimulatorServer(self.simulator).start()
        self._clock_dir = tempfile.TemporaryDirectory(prefix="mturk-decisions-clock-")
        self.clock_file = Path(self._clock_dir.name) / "clock"
        self.simulator.clock.publish_to(self.clock_file)
        self.env["MTURK_ENDPOINT"] = self.simulator_server.url
        self.settings = Settings.from_env(self.lambda_env())
        self.dependencies = wiring.build(self.settings, clock=self.simulator.clock.now)
        if self.concurrency is None:
            wiring.use(self.dependencies)
        self._environments: list[Any] = []
        self.api_environments = self.environments(API_FUNCTION)
        self.gateway = LocalApiGateway(self.api_environments, self.principals).start()
        self.worker_environments = self.environments(WORKER_FUNCTION)
        self.trigger = start_worker_trigger(self.env, self.worker_environments, self.concurrency or 1,
                                            batch_size=10 if self.concurrency is None else 1)
        self.event_environments = [self.environments(EVENTS_FUNCTION), self.environments(NOTIFICATIONS_FUNCTION)]
        events, notifications = self.event_environments
        self.event_triggers = start_event_triggers(self.env, events, notifications, concurrency=self.concurrency or 1)
        self.upload_environments = self.environments(UPLOAD_PARSER_FUNCTION)
        self.upload_trigger = start_upload_trigger(self.env, self.upload_environments, self.concurrency or 1)
        return self

    def lambda_env(self, function: LocalFunction | str | None = None) -> dict[str, str]:
        """`function`'s environment variables on this stack (`function_environment`; the simulator also serves
        its clock). Without a function, every function's together: the handlers running in this process share
        one set of dependencies, built from it."""
        url = self.simulator_server.url
        env = {**os.environ, **self.env, "MTURK_ENDPOINT": url, "MTURK_MAX_ATTEMPTS": "4", "LOCAL_CLOCK_URL": url,
               "LOCAL_CLOCK_FILE": str(self.clock_file)}
        if function is not None:
            return function_environment(function, env)
        return {name: value for each in FUNCTIONS.values() for name, value in function_environment(each, env).items()}

    def environments(self, function: LocalFunction | str, concurrency: int | None = None) -> Any:
        """Execution environments of one of the service's functions (or any `module:handler`) on this stack:
        in this process when neither this call nor the stack gives a concurrency, else processes; closed
        when the stack stops."""
        concurrency = concurrency or self.concurrency
        runtime: InProcessEnvironment | ProcessEnvironments
        if concurrency is None:
            function = local_function(function)
            runtime = InProcessEnvironment(function.import_handler(), function.name, function.timeout_seconds)
        else:
            extra = self.function_env(local_function(function)) if self.function_env else {}
            runtime = lambda_environments(function, {**self.lambda_env(), **extra}, concurrency)
        self._environments.append(runtime)
        return runtime

    def stop(self) -> None:
        from mturk_decisions import wiring

        if self.concurrency is None:  # the handlers of this process served this stack's dependencies
            wiring.use(None)
        triggers = [self.trigger, *self.event_triggers, self.upload_trigger]
        for trigger in triggers:
            trigger.stop(wait=False)  # their long polls end together
        for trigger in triggers:
            trigger.stop()
        self.gateway.stop()
        for runtime in self._environments:
            runtime.close()
        self.simulator_server.stop()
        self._clock_dir.cleanup()
        self.moto.stop()

    def __enter__(self) -> OfflineStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def start_worker_trigger(env: dict[str, str], runtime: Any = None, concurrency: int = 1, batch_size: int = 10):
    """The batch worker fed from the work queue, as Lambda's event source mapping would (by default its
    handler in this process; in AWS the mapping's batch size is 1: one chunk per invocation)."""
    import boto3

    from local.sqs_trigger import LocalSqsTrigger

    sqs = boto3.client("sqs", region_name=REGION)
    runtime = runtime or WORKER_FUNCTION.import_handler()
    return LocalSqsTrigger(sqs, env["WORK_QUEUE_URL"], _queue_arn(sqs, env["WORK_QUEUE_URL"]), runtime,
                           batch_size=batch_size, concurrency=concurrency, function_name=WORKER_FUNCTION.name).start()


def start_event_triggers(env: dict[str, str], events: Any = None, notifications: Any = None, concurrency: int = 1):
    """The consumers of Reversal Requested events and MTurk notifications, fed from their queues."""
    import boto3

    from local.sqs_trigger import LocalSqsTrigger

    sqs = boto3.client("sqs", region_name=REGION)
    triggers = []
    for url, runtime, function in ((env["REVERSAL_REQUESTS_QUEUE_URL"], events, EVENTS_FUNCTION),
                                   (env["NOTIFICATIONS_QUEUE_URL"], notifications, NOTIFICATIONS_FUNCTION)):
        triggers.append(LocalSqsTrigger(sqs, url, _queue_arn(sqs, url), runtime or function.import_handler(),
                                        concurrency=concurrency, function_name=function.name).start())
    return triggers


def start_upload_trigger(env: dict[str, str], runtime: Any = None, concurrency: int = 1):
    """The upload parser fed from the uploads queue (S3's notifications of the upload bucket), one message per
    invocation as its event source mapping (batch size 1)."""
    import boto3

    from local.sqs_trigger import LocalSqsTrigger

    sqs = boto3.client("sqs", region_name=REGION)
    url = env["UPLOADS_QUEUE_URL"]
    return LocalSqsTrigger(sqs, url, _queue_arn(sqs, url), runtime or UPLOAD_PARSER_FUNCTION.import_handler(),
                           batch_size=1, concurrency=concurrency, function_name=UPLOAD_PARSER_FUNCTION.name).start()


class LocalSchedule:
    """EventBridge's `rate(...)` schedule, locally: invoke a function every `every` seconds.

    As in AWS, a tick fires even while earlier runs still go on, up to the runtime's concurrency (a tick
    beyond it is skipped, as a throttled scheduled invocation would be)."""

    def __init__(self, runtime_or_handler: Any, every: float, name: str) -> None:
        self.runtime = as_runtime(runtime_or_handler, name)
        self._every, self._name = every, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._runs: set[threading.Thread] = set()
        self._runs_lock = threading.Lock()
        #: What the last run returned, or the exception it raised.
        self.last_result: Any = None
        self.skipped = 0

    def start(self) -> LocalSchedule:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            with self._runs_lock:
                if len(self._runs) >= getattr(self.runtime, "concurrency", 1):
                    self.skipped += 1
                    continue
                run = threading.Thread(target=self._invoke, name=f"{self._name}-run", daemon=True)
                self._runs.add(run)
            run.start()

    def _invoke(self) -> None:
        try:
            self.last_result = self.runtime.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
        except Exception as error:  # a failed run is retried at the next tick, as in AWS
            self.last_result = error
        finally:
            with self._runs_lock:
                self._runs.discard(threading.current_thread())

    def stop(self, wait: bool = True) -> None:
        """No more ticks; with `wait`, until the runs under way have ended."""
        self._stop.set()
        if not wait:
            return
        self._thread.join(timeout=10)
        with self._runs_lock:
            runs = list(self._runs)
        for run in runs:
            run.join(timeout=10)


class SimulatorAdmin:
    """A small client for the simulator's /_admin endpoint (seeding and knobs from another process)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = None if body is None else json.dumps(body, default=str).encode()
        request = urllib.request.Request(
            f"{self.url}/_admin{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def now(self) -> datetime:
        info = self.call("GET", "/clock")
        moment = datetime.fromisoformat(info["now"].replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_process(args: list[str], ready_url: str, log_path: Path) -> subprocess.Popen:
    """A backend (moto, the simulator) in its own session: Ctrl-C reaches the demo, which stops the
    functions while their backends still answer, then the backends."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        wait_for_http(ready_url)
    except RuntimeError:
        process.terminate()
        raise RuntimeError(f"{' '.join(args[:3])} did not start; see {log_path}") from None
    return process
