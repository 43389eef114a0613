"""One Lambda execution environment: `python -m local.lambda_env package.module:handler`.

Started by `local.runtime.ProcessEnvironments`. Like Lambda's runtime it imports the handler module once,
then serves one invocation at a time, each with a fresh context object; the module's state (the service's
dependencies, boto3 clients, the cached secret) stays warm between invocations. The parent talks to it in
length-prefixed JSON frames over stdin and the original stdout; what the function prints (Powertools'
JSON logs, EMF metrics) goes to `LOCAL_LAMBDA_LOG` (a file; `-` for nowhere), else to the parent's stderr.

With `LOCAL_CLOCK_URL` (the MTurk simulator's base URL) the service's dependencies are built with the
simulator's clock before the first invocation, so advancing the simulator's clock moves the service's too.
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
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, BinaryIO, Callable
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
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def _get(self) -> dict:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
        self._connection.request("GET", self._path)
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {self._path} answered {response.status}")
        return json.loads(body)


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


def install_simulator_clock(base_url: str) -> None:
    """The service's dependencies, built as in AWS but with the simulator's clock."""
    from mturk_decisions import wiring
    from mturk_decisions.config import Settings

    wiring.use(wiring.build(Settings.from_env(), clock=SimulatorClock(base_url)))


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
    except Exception as error:  # noqa: BLE001 - reported to the caller like Lambda's FunctionError
        print(f"[ERROR] {type(error).__name__}: {error}\n{''.join(traceback.format_tb(error.__traceback__))}",
              file=sys.stderr, flush=True)
        return {"error": error_body(error)}
    return {"result": result}


def main(argv: list[str]) -> int:
    protocol = take_protocol_stream()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its environments
    log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
    try:
        handler = load_handler(argv[0])
        if os.environ.get("LOCAL_CLOCK_URL"):
            install_simulator_clock(os.environ["LOCAL_CLOCK_URL"])
    except Exception as error:  # noqa: BLE001 - Lambda's Runtime.ImportModuleError / init error
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
