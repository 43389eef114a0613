"""The whole service offline: moto (DynamoDB, Secrets Manager, SQS, EventBridge), the MTurk simulator,
the local gateway, SQS triggers and schedules.

Tests run moto, the simulator and the gateway in threads of one process; the demo runs moto and the
simulator as processes. The Lambda handlers run in this process (serialized, the tests' default) or in
process execution environments, several at once as in AWS (`local.runtime`). Either way the same
provisioning runs and the same handlers answer.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from local.gateway import LocalApiGateway, LocalPrincipal  # noqa: E402
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
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
            "AWS_REGION": os.environ.get("AWS_REGION", REGION),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    )


def visibility_timeout_for(consumer: "LocalFunction") -> str:
    """6 x the consumer's timeout, as in AWS (infra/constructs/queues.py): a message is not delivered again
    while the invocation that received it may still run (several pollers receive at once)."""
    return str(int(6 * consumer.timeout_seconds))


def provision(moto_url: str, mturk_key: tuple[str, str], suffix: str = "") -> dict[str, str]:
    """Create the audit and idempotency tables and the MTurk secret, as the CDK stack does in AWS."""
    import boto3

    from mturk_decisions.adapters.audit_store import audit_model
    from mturk_decisions.adapters.batch_store import batch_model

    names = {
        "AUDIT_TABLE_NAME": AUDIT_TABLE + suffix,
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE + suffix,
        "MTURK_SECRET_ID": MTURK_SECRET + suffix,
        "BATCH_TABLE_NAME": BATCH_TABLE + suffix,
    }
    audit_model(names["AUDIT_TABLE_NAME"], REGION, moto_url).create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    batch_model(names["BATCH_TABLE_NAME"], REGION, moto_url).create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    dlq_url = sqs.create_queue(QueueName=WORK_QUEUE + suffix + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=WORK_QUEUE + suffix, Attributes={
        "VisibilityTimeout": visibility_timeout_for(WORKER_FUNCTION),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
    })["QueueUrl"]
    names["WORK_QUEUE_URL"] = queue_url
    names["WORK_DLQ_URL"] = dlq_url

    from mturk_decisions.adapters.schedule_store import schedule_model

    names["SCHEDULE_TABLE_NAME"] = SCHEDULE_TABLE + suffix
    schedule_model(names["SCHEDULE_TABLE_NAME"], REGION, moto_url).create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    for env_name, queue in (("REVERSAL_REQUESTS", REVERSAL_REQUESTS_QUEUE), ("NOTIFICATIONS", NOTIFICATIONS_QUEUE)):
        dlq = sqs.create_queue(QueueName=queue + suffix + "-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        names[f"{env_name}_QUEUE_URL"] = sqs.create_queue(QueueName=queue + suffix, Attributes={
            "VisibilityTimeout": visibility_timeout_for(EVENTS_FUNCTION),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"}),
        })["QueueUrl"]
        names[f"{env_name}_DLQ_URL"] = dlq
    names["EVENTS_DLQ_URL"] = names.pop("REVERSAL_REQUESTS_DLQ_URL")
    events = boto3.client("events", region_name=REGION, endpoint_url=moto_url)
    names["EVENT_BUS_NAME"] = EVENT_BUS + suffix
    events.create_event_bus(Name=names["EVENT_BUS_NAME"])
    requests_arn = sqs.get_queue_attributes(QueueUrl=names["REVERSAL_REQUESTS_QUEUE_URL"],
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="reversal-requested" + suffix, EventBusName=names["EVENT_BUS_NAME"],
                    EventPattern=json.dumps({"detail-type": ["Reversal Requested"]}))
    events.put_targets(Rule="reversal-requested" + suffix, EventBusName=names["EVENT_BUS_NAME"],
                       Targets=[{"Id": "reversal-requests-queue", "Arn": requests_arn}])
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_url)
    dynamodb.create_table(
        TableName=names["IDEMPOTENCY_TABLE_NAME"],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=names["IDEMPOTENCY_TABLE_NAME"],
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_url)
    secrets.create_secret(
        Name=names["MTURK_SECRET_ID"],
        SecretString=json.dumps({"accessKeyId": mturk_key[0], "secretAccessKey": mturk_key[1]}),
    )
    return names


@dataclass(frozen=True)
class LocalFunction:
    """One of the service's Lambda functions, as the CDK stack declares it (handler, name, timeout)."""

    handler: str
    name: str
    timeout_seconds: float

    def import_handler(self) -> Callable[[dict, Any], Any]:
        import importlib

        module, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module), function)


API_FUNCTION = LocalFunction("mturk_decisions.handlers.api:handler", "mturk-decisions-api", 29)
WORKER_FUNCTION = LocalFunction("mturk_decisions.handlers.batch_worker:handler", "mturk-decisions-batch-worker", 900)
EVENTS_FUNCTION = LocalFunction("mturk_decisions.handlers.events:handler", "mturk-decisions-events", 180)
NOTIFICATIONS_FUNCTION = LocalFunction("mturk_decisions.handlers.notifications:handler",
                                       "mturk-decisions-notifications", 180)
SWEEP_FUNCTION = LocalFunction("mturk_decisions.handlers.scheduler:handler", "mturk-decisions-reversal-sweep", 300)
RECONCILER_FUNCTION = LocalFunction("mturk_decisions.handlers.reconciler:handler", "mturk-decisions-reconciler", 300)
FUNCTIONS = {f.handler: f for f in (API_FUNCTION, WORKER_FUNCTION, EVENTS_FUNCTION, NOTIFICATIONS_FUNCTION,
                                    SWEEP_FUNCTION, RECONCILER_FUNCTION)}


def local_function(function: LocalFunction | str) -> LocalFunction:
    """One of the service's functions by its handler path, or any other `module:handler` (30 s timeout)."""
    if isinstance(function, LocalFunction):
        return function
    return FUNCTIONS.get(function) or LocalFunction(function, default_function_name(function), 30)


def lambda_environments(function: LocalFunction | str, env: dict[str, str], concurrency: int) -> ProcessEnvironments:
    """Process execution environments of one function (`LocalFunction` or a `module:handler` path)."""
    function = local_function(function)
    return ProcessEnvironments(function.handler, env, concurrency=concurrency, function_name=function.name,
                               timeout_seconds=function.timeout_seconds)


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

    def start(self) -> "OfflineStack":
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
        self.event_triggers = start_event_triggers(self.env, *self.event_environments,
                                                   concurrency=self.concurrency or 1)
        return self

    def lambda_env(self) -> dict[str, str]:
        """A function's environment variables on this stack (the simulator also serves its clock)."""
        url = self.simulator_server.url
        return {**os.environ, **self.env, "MTURK_ENDPOINT": url, "MTURK_MAX_ATTEMPTS": "4", "LOCAL_CLOCK_URL": url}

    def environments(self, function: LocalFunction | str, concurrency: int | None = None) -> Any:
        """Execution environments of one of the service's functions (or any `module:handler`) on this stack:
        in this process when neither this call nor the stack gives a concurrency, else processes; closed
        when the stack stops."""
        concurrency = concurrency or self.concurrency
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
        triggers = [self.trigger, *self.event_triggers]
        for trigger in triggers:
            trigger.stop(wait=False)  # their long polls end together
        for trigger in triggers:
            trigger.stop()
        self.gateway.stop()
        for runtime in self._environments:
            runtime.close()
        self.simulator_server.stop()
        self.moto.stop()

    def __enter__(self) -> "OfflineStack":
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
        self.last_result = None
        self.skipped = 0

    def start(self) -> "LocalSchedule":
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
        except Exception as error:  # noqa: BLE001 - a failed run is retried at the next tick, as in AWS
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
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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
