"""The whole service offline: moto (DynamoDB, Secrets Manager), the MTurk simulator, the local gateway.

Tests run everything in threads of one process; the demo runs moto and the simulator as processes.
Either way the same provisioning runs and the same Lambda handler answers.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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
        "VisibilityTimeout": "60",
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
            "VisibilityTimeout": "60",
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


@dataclass
class OfflineStack:
    """Everything in threads of this process: for tests. Use as a context manager."""

    mturk_key: tuple[str, str] = DEMO_MTURK_KEY
    principals: list[LocalPrincipal] = field(default_factory=lambda: [DEMO_PRINCIPAL])
    suffix: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> "OfflineStack":
        from moto.server import ThreadedMotoServer

        from local.mturk_simulator import MTurkSimulator, SimulatorServer
        from mturk_decisions import wiring
        from mturk_decisions.config import Settings
        from mturk_decisions.handlers.api import handler

        import socketserver

        # moto's werkzeug server writes headers and body separately; without this every call waits ~40 ms.
        socketserver.StreamRequestHandler.disable_nagle_algorithm = True
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        point_aws_at(self.moto_url)
        self.env = provision(self.moto_url, self.mturk_key, self.suffix)
        self.simulator = MTurkSimulator(sqs_endpoint_url=self.moto_url)
        self.simulator.add_requester(*self.mturk_key, balance="100.00")
        self.simulator_server = SimulatorServer(self.simulator).start()
        self.env["MTURK_ENDPOINT"] = self.simulator_server.url
        self.settings = Settings.from_env({**os.environ, **self.env, "MTURK_MAX_ATTEMPTS": "4"})
        self.dependencies = wiring.build(self.settings, clock=self.simulator.clock.now)
        wiring.use(self.dependencies)
        self.gateway = LocalApiGateway(handler, self.principals).start()
        self.trigger = start_worker_trigger(self.env)
        self.event_triggers = start_event_triggers(self.env)
        return self

    def stop(self) -> None:
        from mturk_decisions import wiring

        wiring.use(None)
        self.trigger.stop()
        for trigger in self.event_triggers:
            trigger.stop()
        self.gateway.stop()
        self.simulator_server.stop()
        self.moto.stop()

    def __enter__(self) -> "OfflineStack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_worker_trigger(env: dict[str, str]):
    """The batch worker fed from the work queue, as Lambda's event source mapping would."""
    import boto3

    from local.sqs_trigger import LocalSqsTrigger
    from mturk_decisions.handlers.batch_worker import handler as worker

    sqs = boto3.client("sqs", region_name=REGION)
    arn = sqs.get_queue_attributes(QueueUrl=env["WORK_QUEUE_URL"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return LocalSqsTrigger(sqs, env["WORK_QUEUE_URL"], arn, worker).start()


def start_event_triggers(env: dict[str, str]):
    """The consumers of Reversal Requested events and MTurk notifications, fed from their queues."""
    import boto3

    from local.sqs_trigger import LocalSqsTrigger
    from mturk_decisions.handlers.events import handler as events_handler
    from mturk_decisions.handlers.notifications import handler as notifications_handler

    sqs = boto3.client("sqs", region_name=REGION)
    triggers = []
    for url, handler in ((env["REVERSAL_REQUESTS_QUEUE_URL"], events_handler),
                         (env["NOTIFICATIONS_QUEUE_URL"], notifications_handler)):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        triggers.append(LocalSqsTrigger(sqs, url, arn, handler).start())
    return triggers


class LocalSchedule:
    """EventBridge's `rate(...)` schedule, locally: call a handler every `every` seconds in a thread."""

    def __init__(self, handler, every: float, name: str) -> None:
        import threading

        self._handler, self._every, self._name = handler, every, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.last_result = None

    def start(self) -> "LocalSchedule":
        self._thread.start()
        return self

    def _run(self) -> None:
        from local.gateway import _LambdaContext

        while not self._stop.wait(self._every):
            try:
                self.last_result = self._handler({"source": "aws.events", "detail-type": "Scheduled Event"},
                                                 _LambdaContext(self._name))
            except Exception as error:  # noqa: BLE001 - a failed run is retried at the next tick, as in AWS
                self.last_result = error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


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
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for_http(ready_url)
    except RuntimeError:
        process.terminate()
        raise RuntimeError(f"{' '.join(args[:3])} did not start; see {log_path}") from None
    return process


def remote_clock(admin: SimulatorAdmin) -> Callable[[], datetime]:
    """The service's clock in the demo: the simulator's, so advancing it moves both."""
    return admin.now
