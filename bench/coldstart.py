"""Cold start: how long importing each Lambda handler module takes in a fresh interpreter, next to boto3.

Each measurement is one new interpreter (``python -c``) that times its own ``import <module>`` with
``time.perf_counter`` (interpreter start-up is left out: it is the same for every module). Modules are
measured round-robin (boto3, handler 1, handler 2, ...) so that drift of a shared machine hits all alike;
the figure is the median of the runs. Bytecode is cached in a private ``PYTHONPYCACHEPREFIX`` that one
untimed warm-up run per module fills first, so every timed run imports compiled bytecode (what a
deployment package with ``__pycache__`` does; see README for the no-bytecode case).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pkgutil
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

from bench.env import LAMBDAS, ROOT

BASELINE = "boto3"
HANDLERS_PACKAGE = "mturk_decisions.handlers"
_TIMER = "import time; t = time.perf_counter(); import {module}; print(repr(time.perf_counter() - t))"
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


#: The API handler's real cold start also includes its first request: routes, models and wiring may be built
#: lazily then. This fresh interpreter imports the handler and serves one request that needs no network (a
#: reject whose body fails validation: 400), timing both together.
_FIRST_REQUEST = """
import json, time
t = time.perf_counter()
import mturk_decisions.handlers.api as module
class Context:
    function_name = "mturk-decisions-api"; function_version = "$LATEST"; memory_limit_in_mb = 512
    aws_request_id = "bench"; log_group_name = "/aws/lambda/bench"; log_stream_name = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:mturk-decisions-api"
    def get_remaining_time_in_millis(self): return 29000
identity = {"userArn": "arn:aws:iam::000000000000:user/bench", "caller": "bench", "user": "bench",
            "accountId": "000000000000", "accessKey": "BENCH", "sourceIp": "127.0.0.1", "userAgent": "bench"}
path = "/assignments/3BENCHCOLDSTART00000000000001/reject"
event = {"resource": "/{proxy+}", "path": path, "httpMethod": "POST",
         "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
         "queryStringParameters": None, "multiValueQueryStringParameters": None,
         "pathParameters": {"proxy": path[1:]}, "stageVariables": None, "body": json.dumps({"reason": "no feedback"}),
         "isBase64Encoded": False,
         "requestContext": {"accountId": "000000000000", "apiId": "bench", "httpMethod": "POST", "identity": identity,
                            "path": "/v1" + path, "protocol": "HTTP/1.1", "requestId": "bench-request",
                            "requestTimeEpoch": 0, "resourcePath": "/{proxy+}", "stage": "v1"}}
answer = module.handler(event, Context())
elapsed = time.perf_counter() - t
assert answer["statusCode"] == 400, answer
print("ELAPSED=" + repr(elapsed))
"""
FIRST_REQUEST_ENV = {
    "AUDIT_TABLE_NAME": "bench-audit", "IDEMPOTENCY_TABLE_NAME": "bench-idempotency",
    "MTURK_SECRET_ID": "bench/secret", "MTURK_ENDPOINT": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "mturk-decisions", "POWERTOOLS_METRICS_NAMESPACE": "MTurkDecisions",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as every function's environment (infra/constructs/functions.py)
    "AWS_LAMBDA_FUNCTION_NAME": "mturk-decisions-api",  # as Lambda sets it in every execution environment
}


def handler_modules() -> list[str]:
    """Every module of mturk_decisions/handlers present now (api, batch_worker, and any added later)."""
    folder = LAMBDAS / "mturk_decisions" / "handlers"
    return sorted(f"{HANDLERS_PACKAGE}.{info.name}" for info in pkgutil.iter_modules([str(folder)])
                  if not info.name.startswith("_"))


def _env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_ENDPOINT"))}
    env.update({"PYTHONPATH": str(LAMBDAS), "PYTHONPYCACHEPREFIX": pycache, "AWS_LAMBDA_FUNCTION_NAME": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    return env


def _run(module: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", _TIMER.format(module=module)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def import_seconds(module: str, env: dict[str, str]) -> float:
    done = _run(module, env)
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def first_request_seconds(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", _FIRST_REQUEST], env={**env, **FIRST_REQUEST_ENV}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    marked = [line for line in done.stdout.splitlines() if line.startswith("ELAPSED=")]
    if done.returncode != 0 or not marked:
        raise RuntimeError(f"the API handler's first request failed:\n{done.stderr[-2000:]}")
    return float(marked[-1].split("=", 1)[1])


def measure(runs: int = 15, modules: list[str] | None = None) -> dict:
    modules = modules or handler_modules()
    everything = [BASELINE, *modules]
    first_request = f"{HANDLERS_PACKAGE}.api" in modules
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = _env(pycache)
        for module in everything:  # warm-up: compile into the private bytecode cache, untimed
            import_seconds(module, env)
        if first_request:
            first_request_seconds(env)
        samples: dict[str, list[float]] = {module: [] for module in everything}
        first: list[float] = []
        for _ in range(runs):
            for module in everything:
                samples[module].append(import_seconds(module, env))
            if first_request:
                first.append(first_request_seconds(env))
        medians = {module: statistics.median(values) for module, values in samples.items()}
        ratios = {module: medians[module] / medians[BASELINE] for module in modules}
        worst = max(modules, key=lambda module: ratios[module])
        breakdown = importtime(worst, env)
        first_breakdown = importtime_first_request(env) if first_request else []
    result = {
        "runs": runs,
        "median_seconds": medians,
        "ratios": ratios,
        "worst": worst,
        "coldstart_ratio_max": ratios[worst],
        "importtime": breakdown,
        "importtime_api_first_request": first_breakdown,
    }
    if first:
        result["api_first_request_median_seconds"] = statistics.median(first)
        result["api_first_request_ratio"] = statistics.median(first) / medians[BASELINE]
    return result


def importtime(module: str, env: dict[str, str], top: int = 15) -> list[dict]:
    """``python -X importtime -c 'import module'``: the modules with the largest cumulative time."""
    return _importtime_rows(_run(module, env, "-X", "importtime"), top)


def importtime_first_request(env: dict[str, str], top: int = 15) -> list[dict]:
    """The same for the API handler's import plus its first request (what a cold API call really loads)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _FIRST_REQUEST], env={**env, **FIRST_REQUEST_ENV},
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return _importtime_rows(done, top)


def _importtime_rows(done: subprocess.CompletedProcess, top: int) -> list[dict]:
    rows = []
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append({"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative_us) / 1000,
                         "depth": len(indent) // 2})
    rows.sort(key=lambda row: row["cumulative_ms"], reverse=True)
    return rows[:top]


def write_importtime(path: Path, measured: dict) -> None:
    module, rows, medians = measured["worst"], measured["importtime"], measured["median_seconds"]
    lines = [
        f"# python -X importtime -c 'import {module}'  (the slowest handler; top {len(rows)} by cumulative time)",
        f"# median import of {module}: {medians[module] * 1000:.1f} ms; import boto3: {medians[BASELINE] * 1000:.1f} ms",
        *_table(rows),
    ]
    first = measured.get("importtime_api_first_request")
    if first:
        lines += [
            "",
            f"# The API handler's import plus its first request (a reject refused by validation, no network);"
            f" top {len(first)} by cumulative time",
            f"# median: {measured['api_first_request_median_seconds'] * 1000:.1f} ms"
            f" = {measured['api_first_request_ratio']:.2f} x import boto3",
            *_table(first),
        ]
    events = measured.get("first_events")
    if events:
        rows, medians = events["importtime_api_first_decision"], events["median_seconds"]
        lines += [
            "",
            f"# The API handler's import plus its first real reject (secret read, GetAssignment, write-ahead,"
            f" RejectAssignment, finalize) against the offline stack; top {len(rows)} by cumulative time",
            f"# median: {medians['api_first_decision'] * 1000:.1f} ms = {events['ratios']['api_first_decision']:.2f}"
            f" x the bare boto3 script ({medians[BARE] * 1000:.1f} ms); after a SnapStart restore"
            f" {medians['api_restored_decision'] * 1000:.1f} ms (MTurk latency {events['latency_seconds'] * 1000:g} ms)",
            *_table(rows),
        ]
    path.write_text("\n".join(lines) + "\n")


def _table(rows: list[dict]) -> list[str]:
    lines = [f"{'cumulative ms':>14} {'self ms':>9}  module (indent = import depth)"]
    for row in rows:
        lines.append(f"{row['cumulative_ms']:14.1f} {row['self_ms']:9.1f}  {'  ' * row['depth']}{row['module']}")
    return lines


# ---- first events against the offline stack (issue 13) ---------------------------------------------------------
#: The yardstick of every first-event figure: a requester's bare boto3 script in a fresh interpreter.
BARE = "bare boto3 script"
FRESH_FUNCTION = ROOT / "bench" / "fresh_function.py"
FEEDBACK = "The answers do not match the instructions."
IDENTITY = {"userArn": "arn:aws:iam::000000000000:user/bench", "caller": "bench", "user": "bench",
            "accountId": "000000000000", "accessKey": "BENCH", "sourceIp": "127.0.0.1", "userAgent": "bench"}
#: figure -> (local function, SnapStart hook name or None, how its event is made): the API's first real reject,
#: cold and restored, then each other handler's first event, cold.
FIRST_EVENTS = ("api_first_decision", "api_restored_decision", "batch_worker", "events", "notifications", "sweeper",
                "reconciler")


def compile_lambdas() -> None:
    """Bytecode next to the sources, as a deployment package holds it (`__pycache__`, ignored by git)."""
    import compileall

    compileall.compile_dir(str(LAMBDAS), quiet=1)


def fresh_env(function_env: dict[str, str]) -> dict[str, str]:
    """A measured interpreter's environment: the function's variables, bytecode read (and written) as usual."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "AWS_ENDPOINT", "LOCAL_")) and k not in STACK_NAMES}
    env.update(function_env)
    env.update({"PYTHONPATH": str(LAMBDAS), "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    return env


STACK_NAMES = frozenset({"AUDIT_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "MTURK_SECRET_ID", "MTURK_ENDPOINT"})


def run_fresh(mode: str, spec: dict, env: dict[str, str], *flags: str) -> tuple[dict, str]:
    """One fresh interpreter (`bench/fresh_function.py MODE`): its RESULT (seconds, answer) and its stderr."""
    done = subprocess.run([sys.executable, *flags, str(FRESH_FUNCTION), mode], input=json.dumps(spec), env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    marked = [line for line in done.stdout.splitlines() if line.startswith("RESULT=")]
    if done.returncode != 0 or not marked:
        raise RuntimeError(f"{mode} {spec.get('module', BARE)} failed:\n{done.stderr[-2000:]}")
    return json.loads(marked[-1].split("=", 1)[1]), done.stderr


class OfflineServices:
    """moto server + the MTurk simulator (its latency knob, as the bulk bench uses it), the service's resources
    provisioned with the requester's keys in the secret; the events of each function's first invocation."""

    def __init__(self, suffix: str = "-coldstart") -> None:
        self.suffix = suffix

    def __enter__(self) -> OfflineServices:
        import logging

        from local.moto_server import SerializedMotoServer
        from local.mturk_simulator import MTurkSimulator, SimulatorServer
        from local.stack import DEMO_MTURK_KEY, free_port, point_aws_at, provision

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
        port = free_port()
        self.moto = SerializedMotoServer(ip_address="127.0.0.1", port=port)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        point_aws_at(self.moto_url)  # this process makes the worker's batches through the API handler
        self.names = provision(self.moto_url, DEMO_MTURK_KEY, self.suffix)
        self.key = DEMO_MTURK_KEY
        self.sim = MTurkSimulator(sqs_endpoint_url=self.moto_url)
        self.sim.add_requester(*DEMO_MTURK_KEY, balance="100000.00")
        self.server = SimulatorServer(self.sim).start()
        self.hit_type = self.sim.add_hit_type(DEMO_MTURK_KEY[0])
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.moto.stop()

    def function_env(self, function) -> dict[str, str]:
        from local.stack import function_environment

        endpoints = {f"AWS_ENDPOINT_URL_{name}": self.moto_url
                     for name in ("DYNAMODB", "SECRETS_MANAGER", "SQS", "EVENTBRIDGE", "S3")}
        return function_environment(function, {**self.names, **endpoints, "MTURK_ENDPOINT": self.server.url,
                                               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})

    def assignment(self, status: str = "Submitted", hours_ago: float = 1) -> tuple[str, str]:
        """(HIT, assignment) of the requester, fresh."""
        from datetime import timedelta

        hit = self.sim.add_hit(self.key[0], reward="0.50", max_assignments=1, hit_type_id=self.hit_type)
        submitted = self.sim.clock.now() - timedelta(hours=hours_ago)
        return hit, self.sim.add_assignment(hit, status=status, submitted_at=submitted)

    # ---- each function's first event ------------------------------------------------------------------------
    def reject_event(self, assignment: str) -> dict:
        """API Gateway's proxy event of a signed `POST /assignments/{id}/reject`, as the gateway passes it."""
        path = f"/assignments/{assignment}/reject"
        return {"resource": "/{proxy+}", "path": path, "httpMethod": "POST",
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {"Content-Type": ["application/json"]},
                "queryStringParameters": None, "multiValueQueryStringParameters": None,
                "pathParameters": {"proxy": path[1:]}, "stageVariables": None,
                "body": json.dumps({"feedback": FEEDBACK, "reason": "bench"}), "isBase64Encoded": False,
                "requestContext": {"accountId": "000000000000", "apiId": "bench", "httpMethod": "POST",
                                   "identity": IDENTITY, "path": "/v1" + path, "protocol": "HTTP/1.1",
                                   "requestId": f"bench-{time.time_ns()}", "requestTimeEpoch": 0,
                                   "resourcePath": "/{proxy+}", "stage": "v1"}}

    def audit_records(self, assignment: str) -> list[dict]:
        """The audit table's items of `assignment` as DynamoDB holds them (records and lease): what an event wrote."""
        import boto3

        table = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=self.moto_url)
        return table.query(TableName=self.names["AUDIT_TABLE_NAME"], KeyConditionExpression="assignment_id = :a",
                           ExpressionAttributeValues={":a": {"S": assignment}})["Items"]

    def bare_spec(self) -> dict:
        _, assignment = self.assignment()
        return {"endpoint": self.server.url, "key_id": self.key[0], "secret_key": self.key[1],
                "assignment_id": assignment, "feedback": FEEDBACK}

    def spec(self, figure: str) -> tuple[dict, dict[str, str]]:
        """The spec of `figure`'s fresh interpreter (its module, SnapStart hook name, first event) and its env."""
        from local import stack

        function, hook, event = {
            "api_first_decision": lambda: (stack.API_FUNCTION, "api", self.reject_event(self.assignment()[1])),
            "api_restored_decision": lambda: (stack.API_FUNCTION, "api", self.reject_event(self.assignment()[1])),
            "batch_worker": lambda: (stack.WORKER_FUNCTION, "batch_worker", self.chunk_event()),
            "events": lambda: (stack.EVENTS_FUNCTION, "events", self.reversal_requested_event()),
            "notifications": lambda: (stack.NOTIFICATIONS_FUNCTION, "notifications", self.notification_event()),
            "sweeper": lambda: (stack.SWEEP_FUNCTION, None, SCHEDULED_EVENT),
            "reconciler": lambda: (stack.RECONCILER_FUNCTION, None, SCHEDULED_EVENT),
        }[figure]()
        module = function.handler.partition(":")[0]
        return ({"module": module, "snapstart": hook, "event": event, "function_name": function.name},
                {**fresh_env(self.function_env(function)), "AWS_LAMBDA_FUNCTION_NAME": function.name})

    def _record(self, body: str, receives: int = 1) -> dict:
        return {"Records": [{"messageId": f"bench-{time.time_ns()}", "receiptHandle": "bench", "body": body,
                             "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
                             "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                             "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench"}]}

    def chunk_event(self) -> dict:
        """A one-item chunk of a real batch: `POST /hits/{id}/reversals` served in this process, its message
        taken off the work queue."""
        import boto3

        from local.stack import API_FUNCTION

        hit, _ = self.assignment(status="Rejected", hours_ago=48)
        event = {**self.reject_event("X"), "path": f"/hits/{hit}/reversals", "body": "{}",
                 "pathParameters": {"proxy": f"hits/{hit}/reversals"}}
        with contextlib.redirect_stdout(io.StringIO()):  # its logs and metrics (the logger is made here)
            from mturk_decisions import wiring
            from mturk_decisions.config import Settings
            from mturk_decisions.handlers import api

            previous = wiring._current
            wiring.use(wiring.build(Settings.from_env(self.function_env(API_FUNCTION))))
            try:
                answer = api.handler(event, _BenchContext())
            finally:
                wiring.use(previous)
        if answer["statusCode"] != 202:
            raise RuntimeError(f"the bench's batch was refused: {answer}")
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=self.moto_url)
        url = self.names["WORK_QUEUE_URL"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=2)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return self._record(messages[0]["Body"])

    def reversal_requested_event(self) -> dict:
        """EventBridge's `Reversal Requested` event, as the rule delivers it to the events queue."""
        _, assignment = self.assignment(status="Rejected", hours_ago=48)
        body = {"version": "0", "id": f"bench-{time.time_ns()}", "detail-type": "Reversal Requested",
                "source": "mturk-decisions.requester", "account": "000000000000", "time": _now(),
                "region": "us-east-1", "resources": [], "detail": {"assignmentId": assignment, "requester": "bench"}}
        return self._record(json.dumps(body))

    def notification_event(self) -> dict:
        """MTurk's notification of a rejection made on the requester website."""
        hit, assignment = self.assignment(status="Rejected", hours_ago=48)
        document = {"Events": [{"EventType": "AssignmentRejected", "EventTimestamp": _now(), "HITId": hit,
                                "AssignmentId": assignment, "HITTypeId": self.hit_type}],
                    "EventDocId": f"bench-{time.time_ns()}", "SourceAccount": "000000000000",
                    "CustomerId": "A1BENCHCUSTOMER", "EventDocVersion": "2014-08-15"}
        return self._record(json.dumps(document))


SCHEDULED_EVENT = {"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
                   "resources": ["arn:aws:events:us-east-1:000000000000:rule/bench"], "detail": {}}


class _BenchContext:
    function_name, function_version, memory_limit_in_mb = "mturk-decisions-api", "$LATEST", 512
    aws_request_id, log_group_name, log_stream_name = "bench", "/aws/lambda/bench", "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:mturk-decisions-api"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def _now() -> str:
    from datetime import datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_events(runs: int = 15, latency: float = 0.150) -> dict:
    """Each function's first event in a fresh interpreter against the offline stack, next to the bare boto3
    script, interleaved run by run (bare, API cold, API restored, the other handlers; then the API's two at zero
    latency beside the bare script at zero latency): medians, and ratios to the bare script's median."""
    compile_lambdas()
    figures = [BARE, *FIRST_EVENTS]
    zero = [f"{name}_zero_latency" for name in (BARE, "api_first_decision", "api_restored_decision")]
    samples: dict[str, list[float]] = {name: [] for name in [*figures, *zero]}
    with OfflineServices() as services:
        for index in range(runs + 1):  # the first run warms the OS's file cache and the servers: not counted
            for name, seconds in _one_run(services, latency).items():
                if index:
                    samples[name].append(seconds)
        cold_spec, cold_env = services.spec("api_first_decision")
        breakdown = _importtime_rows(_fresh_importtime(cold_spec, cold_env), 20)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {name: medians[name] / medians[BARE] for name in FIRST_EVENTS}
    ratios.update({f"{name}_zero_latency": medians[f"{name}_zero_latency"] / medians[f"{BARE}_zero_latency"]
                   for name in ("api_first_decision", "api_restored_decision")})
    return {"runs": runs, "latency_seconds": latency, "median_seconds": medians, "ratios": ratios,
            "importtime_api_first_decision": breakdown}


def _one_run(services: OfflineServices, latency: float) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for suffix, knob in (("", latency), ("_zero_latency", 0.0)):
        services.sim.set_latency(knob)
        seconds[BARE + suffix] = run_fresh("bare", services.bare_spec(), fresh_env({}))[0]["seconds"]
        for name in (("api_first_decision", "api_restored_decision") if suffix else FIRST_EVENTS):
            spec, env = services.spec(name)
            result, _ = run_fresh("restored" if name == "api_restored_decision" else "cold", spec, env)
            _check(name, result["answer"])
            seconds[name + suffix] = result["seconds"]
    services.sim.set_latency(0)
    return seconds


def _check(name: str, answer) -> None:
    """Every measured event did its work: a 200 reject, no failed record, a scheduled run that ran."""
    if name.startswith("api"):
        ok = answer.get("statusCode") == 200 and '"SUCCEEDED"' in answer.get("body", "")
    elif name in ("sweeper", "reconciler"):
        ok = isinstance(answer, dict) and not answer.get("failed") and not answer.get("errors")
    else:
        ok = answer == {"batchItemFailures": []}
    if not ok:
        raise RuntimeError(f"{name}'s first event did not do its work: {str(answer)[:500]}")


def _fresh_importtime(spec: dict, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-X", "importtime", str(FRESH_FUNCTION), "cold"], input=json.dumps(spec),
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return done


def first_event_figures(measured: dict) -> dict[str, float]:
    """The figures of `first_events` for bench/results.json (goals in bench/run.py's GOALS)."""
    ratios, medians = measured["ratios"], measured["median_seconds"]
    figures = {
        "coldstart_first_decision_ratio": ratios["api_first_decision"],
        "restored_first_decision_ratio": ratios["api_restored_decision"],
        "coldstart_first_decision_ratio_zero_latency": ratios["api_first_decision_zero_latency"],
        "restored_first_decision_ratio_zero_latency": ratios["api_restored_decision_zero_latency"],
        "coldstart_bare_script_median_ms": medians[BARE] * 1000,
    }
    for name in ("batch_worker", "events", "notifications", "sweeper", "reconciler"):
        figures[f"coldstart_first_event_ratio.{name}"] = ratios[name]
    return figures
