"""Execution environments for one Lambda function, locally.

`ProcessEnvironments` runs each execution environment as its own OS process (`python -m local.lambda_env`),
started on demand up to the function's concurrency and reused while warm, as Lambda does: invocations of
one function run truly in parallel, each environment imports the handler once and serves one invocation
at a time. `InProcessEnvironment` is the old single environment in this process (tests that install
dependencies into `wiring` here need it). Both answer `invoke(event)` with the handler's result, or raise
`InvocationError` (the handler raised: Lambda's FunctionError) or `EnvironmentCrashed` (the process died).

Protocol between parent and child: length-prefixed JSON frames (4 bytes, big endian) over the child's
stdin and (its original) stdout. Child → parent first `{"ready": pid}` or `{"initError": {...}}`; then for
each `{"requestId", "timeoutSeconds", "event"}` one `{"result": ...}` or `{"error": {...}}`.
"""
from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Importing the handler (and building the service's dependencies) may take a while on a busy machine.
INIT_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 2.0
_HEADER = struct.Struct(">I")


class InvocationError(Exception):
    """The handler raised (or timed out): what Lambda reports as a FunctionError."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class EnvironmentCrashed(Exception):
    """The execution environment's process died during the invocation (killed, `os._exit`)."""


class LambdaContext:
    """The context object Lambda passes to a handler."""

    def __init__(self, function_name: str, timeout_seconds: float = 29.0, aws_request_id: str | None = None,
                 memory_limit_in_mb: int = 512, log_stream_name: str = "local") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Runtime(Protocol):
    """What the local gateway, SQS trigger and schedule invoke through."""

    concurrency: int

    def invoke(self, event: dict) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EnvironmentStats:
    started: int = 0      # environments started (cold starts), crashed ones included
    invocations: int = 0  # invocations that reached an environment
    crashed: int = 0      # environments that died or timed out during an invocation
    running: int = 0      # environments alive now (idle or busy)


def as_runtime(runtime_or_handler: Any, function_name: str) -> Any:
    """An environments object as it is; a plain handler callable wrapped in an `InProcessEnvironment`."""
    if hasattr(runtime_or_handler, "invoke"):
        return runtime_or_handler
    return InProcessEnvironment(runtime_or_handler, function_name=function_name)


class InProcessEnvironment:
    """One execution environment in this process: invocations are serialized by a lock, as one Lambda
    environment serves one invocation at a time (Powertools' resolver holds per-request state)."""

    concurrency = 1

    def __init__(self, handler: Callable[[dict, Any], Any], function_name: str = "local-function",
                 timeout_seconds: float = 29.0) -> None:
        self.handler = handler
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._invocations = 0

    def invoke(self, event: dict) -> Any:
        with self._lock:
            self._invocations += 1
            try:
                return self.handler(event, LambdaContext(self.function_name, self.timeout_seconds))
            except Exception as error:  # reported like Lambda's FunctionError
                raise InvocationError(type(error).__name__, str(error)) from error

    def warm(self, count: int = 1) -> int:
        return 0

    @property
    def stats(self) -> EnvironmentStats:
        return EnvironmentStats(started=1, invocations=self._invocations, running=1)

    def close(self) -> None:
        return None


# -- the parent's side of one environment -------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    """`size` bytes from `fd`, or None at end of file; TimeoutError past `deadline` (monotonic)."""
    chunks, remaining = [], size
    while remaining:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float) -> dict | None:
    header = _read_exact(fd, _HEADER.size, deadline)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0], deadline)
    return None if body is None else json.loads(body)


def _frame(message: dict) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


class _Environment:
    """One child process serving one invocation at a time."""

    def __init__(self, process: subprocess.Popen) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("an environment's process talks through its stdin and stdout: start it with pipes")
        self.process = process
        self._requests, self._replies = process.stdin, process.stdout
        self.pid = process.pid
        self.healthy = True

    def wait_ready(self, timeout: float) -> None:
        try:
            message = _read_frame(self._replies.fileno(), time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            raise EnvironmentCrashed(f"environment {self.pid} did not initialize within {timeout:.0f} s") from None
        if message is None or "ready" not in message:
            self.stop()
            if message and "initError" in message:
                error = message["initError"]
                raise InvocationError(error.get("errorType", "Runtime.Unknown"), error.get("errorMessage", ""))
            raise EnvironmentCrashed(f"environment {self.pid} exited during init (code {self.process.poll()})")

    def invoke(self, event: dict, timeout: float) -> Any:
        request = {"requestId": str(uuid.uuid4()), "timeoutSeconds": timeout, "event": event}
        try:
            _write_all(self._requests.fileno(), _frame(request))
            reply = _read_frame(self._replies.fileno(), time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            raise InvocationError("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds") from None
        except OSError:  # broken pipe: the process is gone
            reply = None
        if reply is None:
            self.stop()
            raise EnvironmentCrashed(f"environment {self.pid} exited during the invocation "
                                     f"(code {self.process.poll()})")
        if "error" in reply:
            raise InvocationError(reply["error"].get("errorType", "Unhandled"), reply["error"].get("errorMessage", ""))
        return reply.get("result")

    def stop(self) -> None:
        self.healthy = False
        _stop_processes([self.process], close_pipes=True)


def _stop_processes(processes: list[subprocess.Popen], close_pipes: bool = False) -> None:
    """Terminate, then kill what is still running after the grace period; reap all.

    Pipes are closed only by the thread that uses them (another may be reading: its fd must not be reused)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout) if close_pipes else ():
            if pipe is not None:
                pipe.close()


def _stop_all(processes: set[subprocess.Popen]) -> None:
    """At exit (or when the environments are garbage collected without close()): no orphans."""
    _stop_processes(list(processes.copy()))


def child_environment(env: dict[str, str], handler: str, function_name: str) -> dict[str, str]:
    """The variables of an execution environment: the function's, Lambda's own, and an import path."""
    paths = [str(ROOT), str(ROOT / "lambdas"), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
        "PYTHONUNBUFFERED": "1",  # log lines reach the log as they are written, as in CloudWatch
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
    }


def default_function_name(handler: str) -> str:
    module = handler.split(":")[0] if ":" in handler else handler.rsplit(".", 1)[0]
    return module.rsplit(".", 1)[-1].replace("_", "-")


class ProcessEnvironments:
    """The execution environments of one Lambda function, each a separate process.

    An invocation takes an idle (warm) environment, or starts one when all are busy and fewer than
    `concurrency` exist; beyond that it waits for one to be free, as reserved concurrency would.
    Thread-safe: the local gateway and triggers invoke from many threads at once.
    """

    def __init__(self, handler: str, env: dict[str, str], concurrency: int = 10, function_name: str | None = None,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.handler = handler
        self.function_name = function_name or default_function_name(handler)
        self.concurrency = concurrency
        self.timeout_seconds = timeout_seconds
        self._env = child_environment(env, handler, self.function_name)
        self._changed = threading.Condition()
        self._idle: list[_Environment] = []
        self._reserved = 0  # environments alive or starting
        self._closed = False
        self._counts = {"started": 0, "invocations": 0, "crashed": 0}
        self._processes: set[subprocess.Popen] = set()
        self._finalizer = weakref.finalize(self, _stop_all, self._processes)

    def invoke(self, event: dict) -> Any:
        """The handler's JSON result; `InvocationError` if it raised, `EnvironmentCrashed` if its process died."""
        environment = self._acquire()
        with self._changed:
            self._counts["invocations"] += 1
        try:
            return environment.invoke(event, self.timeout_seconds)
        finally:
            self._release(environment)

    def warm(self, count: int) -> int:
        """Make sure `count` environments (at most `concurrency`) are running and have imported the
        handler, starting them together; answers how many were started now."""
        with self._changed:
            self._check_open()
            extra = max(0, min(count, self.concurrency) - self._reserved)
            self._reserved += extra
        started: list[_Environment] = []
        try:
            for _ in range(extra):
                started.append(self._spawn())
            for environment in started:
                environment.wait_ready(INIT_TIMEOUT_SECONDS)
        except BaseException:
            for environment in started:
                self._forget(environment)
            with self._changed:
                self._reserved -= extra
                self._changed.notify_all()
            raise
        with self._changed:
            self._idle.extend(started)
            self._changed.notify_all()
        return extra

    @property
    def stats(self) -> EnvironmentStats:
        with self._changed:
            running = sum(1 for process in self._processes if process.poll() is None)
            return EnvironmentStats(running=running, **self._counts)

    @property
    def pids(self) -> list[int]:
        """The process ids of the environments alive now."""
        with self._changed:
            return sorted(process.pid for process in self._processes if process.poll() is None)

    def close(self) -> None:
        """Stop every environment: terminate, then kill after 2 s. Invocations still running fail."""
        with self._changed:
            self._closed = True
            self._idle.clear()
            processes = list(self._processes)
            self._changed.notify_all()
        self._finalizer.detach()
        _stop_processes(processes)

    def __enter__(self) -> ProcessEnvironments:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the environments of {self.function_name} are closed")

    def _acquire(self) -> _Environment:
        with self._changed:
            while True:
                self._check_open()
                if self._idle:
                    return self._idle.pop()
                if self._reserved < self.concurrency:
                    self._reserved += 1
                    break
                self._changed.wait()
        environment = None
        try:
            environment = self._spawn()
            environment.wait_ready(INIT_TIMEOUT_SECONDS)
            return environment
        except BaseException:
            if environment is not None:
                self._forget(environment)
            with self._changed:
                self._reserved -= 1
                self._changed.notify()
            raise

    def _release(self, environment: _Environment) -> None:
        alive = environment.healthy and environment.process.poll() is None
        if not alive:
            self._forget(environment)
        with self._changed:
            if alive and not self._closed:
                self._idle.append(environment)
            else:
                self._reserved -= 1
            if not alive and not self._closed:
                self._counts["crashed"] += 1
            self._changed.notify()

    def _spawn(self) -> _Environment:
        process = subprocess.Popen([sys.executable, "-m", "local.lambda_env", self.handler], env=self._env,
                                   cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        with self._changed:
            closed = self._closed
            if not closed:
                self._processes.add(process)
                self._counts["started"] += 1
        if closed:  # close() ran while this one was starting: it must not outlive the others
            _stop_processes([process])
            self._check_open()
        return _Environment(process)

    def _forget(self, environment: _Environment) -> None:
        environment.stop()
        with self._changed:
            self._processes.discard(environment.process)
