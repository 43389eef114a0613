"""One Lambda execution environment: `python -m local.lambda_env package.module:handler`.

Started by `local.runtime.ProcessEnvironments`. Like Lambda's runtime it imports the handler module once,
then serves one invocation at a time, each with a fresh context object; the module's state (the service's
dependencies, boto3 clients, the cached secret) stays warm between invocations. The parent talks to it in
length-prefixed JSON frames over stdin and the original stdout; what the function prints (Powertools'
JSON logs, EMF metrics) goes to `LOCAL_LAMBDA_LOG` (a file; `-` for nowhere), else to the parent's stderr.

With `LOCAL_CLOCK_FILE` (where the simulator publishes its clock, `Clock.publish_to`) or else `LOCAL_CLOCK_URL`
(the MTurk simulator's base URL) the service's dependencies are built with the simulator's clock before the
first invocation, so advancing the simulator's clock moves the service's too.

With `LOCAL_AWS_CALL_LOG` (a directory) every AWS API call the function makes, through any botocore client
(boto3's, Powertools', PynamoDB's own sessions), is appended as one JSON line to
`<dir>/<function name>.jsonl`: service, operation and the request parameters that name its resources
(`record_aws_calls`), never item attributes, message bodies or secret values. MTurk calls are not
recorded: they go to the simulator, authorized by the requester's keys, not by the function's role.
"""
from __future__ import annotations

import http.client
import importlib
import json
import os
import signal
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from local.runtime import LambdaContext

_HEADER = struct.Struct(">I")


class SimulatorClock:
    """The simulator's clock, read over one kept-alive HTTP connection (a clock read costs well under 1 ms)."""

    def __init__(self, base_url: str) -> None:
        split = urlsplit(base_url)
        self._host, self._port = split.hostname or "127.0.0.1", split.port or 80
        self._path = split.path.rstrip("/") + "/_admin/clock"
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None

    def __call__(self) -> datetime:
        with self._lock:
            try:
                info = self._get()
            except (OSError, http.client.HTTPException):  # the server closed the kept-alive connection
                self._connection = None
                info = self._get()
        moment = datetime.fromisoformat(info["now"].replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _get(self) -> dict:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
        self._connection.request("GET", self._path)
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {self._path} answered {response.status}")
        return json.loads(body)


#: Request parameters that name the resource a call acts on (their values are names, URLs or ARNs).
_RESOURCE_PARAMETERS = ("TableName", "IndexName", "QueueUrl", "QueueName", "SecretId", "EventBusName", "KeyId",
                        "LogGroupName", "TopicArn", "FunctionName", "ResourceArn", "StateMachineArn", "Bucket", "Key")
#: Services whose calls are not authorized by the function's role (MTurk: the requester's keys).
_UNRECORDED_SERVICES = frozenset({"mturk"})
_call_log_installed = False


def call_summary(service: str, operation: str, params: dict) -> dict:
    """What names the resources of one API call: never item attributes, message bodies, secret values."""
    named: dict[str, Any] = {name: params[name] for name in _RESOURCE_PARAMETERS if isinstance(params.get(name), str)}
    if isinstance(params.get("TransactItems"), list):  # TransactWriteItems / TransactGetItems: [[kind, table]]
        named["TransactItems"] = [[kind, (body or {}).get("TableName")]
                                  for item in params["TransactItems"] if isinstance(item, dict)
                                  for kind, body in item.items()]
    if isinstance(params.get("RequestItems"), dict):  # BatchWriteItem: {table: [request kinds]}; BatchGetItem
        named["RequestItems"] = {table: sorted({kind for request in requests for kind in request})
                                 if isinstance(requests, list) else ["Keys"]
                                 for table, requests in params["RequestItems"].items()}
    if isinstance(params.get("Entries"), list):
        if service == "events":  # PutEvents: the bus, source and detail type of each entry (IAM condition keys)
            named["Entries"] = [{key: entry[key] for key in ("EventBusName", "Source", "DetailType") if key in entry}
                                for entry in params["Entries"] if isinstance(entry, dict)]
        else:  # SendMessageBatch and the like: how many, not what
            named["EntryCount"] = len(params["Entries"])
    return {"service": service, "operation": operation, "params": named}


def record_aws_calls(directory: str, function_name: str) -> None:
    """Append one JSON line per AWS API call of this process to `<directory>/<function_name>.jsonl`.

    Every botocore client, whichever session creates it (PynamoDB makes its own with
    `botocore.session.get_session()`), gets two handlers: `provide-client-params` keeps the summary of the
    call's parameters as the caller gave them, `before-call` writes it once the request is built and about
    to be sent (one line per call, not per retry). Lines are written with one `write` on an O_APPEND file,
    so the environments of one function (separate processes) can share the file."""
    global _call_log_installed
    if _call_log_installed:
        return
    import botocore.session

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{function_name}.jsonl")
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def remember(params: dict, model: Any, context: dict, **_: Any) -> None:
        service = model.service_model.service_name
        if service not in _UNRECORDED_SERVICES:
            context["local_aws_call"] = call_summary(service, model.name, params or {})

    def write(model: Any, context: dict, **_: Any) -> None:
        summary = context.pop("local_aws_call", None)
        if summary is not None:
            line = {**summary, "region": context.get("client_region"), "pid": os.getpid(), "at": time.time()}
            os.write(log, (json.dumps(line, separators=(",", ":"), default=str) + "\n").encode())

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("provide-client-params", remember, unique_id="local-aws-call-log-params")
        client.meta.events.register("before-call", write, unique_id="local-aws-call-log-write")
        return client

    botocore.session.Session.create_client = create_client
    _call_log_installed = True


def take_protocol_stream() -> BinaryIO:
    """Move the real stdout aside for the protocol; point fd 1 (and, for a file, fd 2) at the log."""
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    destination = os.environ.get("LOCAL_LAMBDA_LOG")
    if destination:
        path = os.devnull if destination == "-" else destination
        log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    else:
        os.dup2(2, 1)
    return protocol


def load_handler(path: str) -> Callable[[dict, Any], Any]:
    """`package.module:function` (or Lambda's `package.module.function`)."""
    module_name, _, function = path.partition(":") if ":" in path else path.rpartition(".")
    return getattr(importlib.import_module(module_name), function)


def install_simulator_clock(base_url: str, published_to: str | None = None) -> None:
    """The service's dependencies, built as in AWS but with the simulator's clock: read from the file it is
    published to when there is one (a few microseconds), else over HTTP."""
    from local.mturk_simulator.clock import ClockFile
    from mturk_decisions import wiring
    from mturk_decisions.config import Settings

    clock = ClockFile(Path(published_to)) if published_to else SimulatorClock(base_url)
    wiring.use(wiring.build(Settings.from_env(), clock=clock))


def send(stream: BinaryIO, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":"), default=_json_default).encode()
    stream.write(_HEADER.pack(len(body)) + body)


def receive(stream: BinaryIO) -> dict | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None  # the parent closed our stdin (or died): the environment ends
    body = stream.read(_HEADER.unpack(header)[0])
    return json.loads(body)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # as Lambda's Python runtime serializes results
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_body(error: BaseException) -> dict:
    return {"errorType": type(error).__name__, "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__)}


def invoke(handler: Callable[[dict, Any], Any], request: dict, log_stream_name: str) -> dict:
    context = LambdaContext(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local-function"),
                            float(request.get("timeoutSeconds", 30)), request.get("requestId"),
                            int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")), log_stream_name)
    try:
        result = handler(request["event"], context)
        json.dumps(result, default=_json_default)
    except Exception as error:  # reported to the caller like Lambda's FunctionError
        print(f"[ERROR] {type(error).__name__}: {error}\n{''.join(traceback.format_tb(error.__traceback__))}",
              file=sys.stderr, flush=True)
        return {"error": error_body(error)}
    return {"result": result}


def main(argv: list[str]) -> int:
    protocol = take_protocol_stream()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its environments
    log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
    try:
        if os.environ.get("LOCAL_AWS_CALL_LOG"):
            record_aws_calls(os.environ["LOCAL_AWS_CALL_LOG"],
                             os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local-function"))
        handler = load_handler(argv[0])
        if os.environ.get("LOCAL_CLOCK_URL"):
            install_simulator_clock(os.environ["LOCAL_CLOCK_URL"], os.environ.get("LOCAL_CLOCK_FILE"))
    except Exception as error:  # Lambda's Runtime.ImportModuleError / init error
        traceback.print_exc()
        send(protocol, {"initError": error_body(error)})
        return 1
    send(protocol, {"ready": os.getpid()})
    requests = sys.stdin.buffer
    while (request := receive(requests)) is not None:
        send(protocol, invoke(handler, request, log_stream_name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
