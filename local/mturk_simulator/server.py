"""HTTP front end: the MTurk JSON 1.1 protocol over ``http.server``, SigV4-authenticated.

Admin routes under ``/_admin/`` are handled by ``admin.py`` without authentication.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.sigv4 import Caller, SigV4Error, verify_sigv4

from . import admin, errors
from .calllog import CallRecord
from .errors import ApiError
from .faults import WRITE_OPERATIONS
from .simulator import MTurkSimulator
from .validation import service_model

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
SIGNING_NAME = "mturk-requester"
_CLAIMED_KEY = re.compile(r"Credential=([^/,\s]+)/")


def _json_bytes(payload: Any) -> bytes:
    """UTF-8 JSON. A stored string holding an unpaired surrogate (seeded through the Python API, say) goes out
    as its JSON escape ``\\ud800``, which decodes back to the same string, instead of failing the answer."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait 40 ms between them
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "MTurkSimulator/1.0"

    def do_POST(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _route(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if path == "/_admin" or path.startswith("/_admin/"):
            status, payload = admin.handle(self.server.simulator, self.command, path, query, body)
            try:
                answer = _json_bytes(payload)
            except (TypeError, ValueError):
                log.exception("cannot encode the admin answer for %s", path)
                status, answer = 500, _json_bytes({"error": "the simulator could not encode its answer"})
            self._send(status, answer, "application/json", {})
        else:
            self._api(path, query, body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _api(self, path: str, query: str, body: bytes) -> None:
        sim = self.server.simulator
        request_id = str(uuid.uuid4())
        sim_time = sim.clock.now()
        target = self.headers.get("X-Amz-Target")
        operation = _operation_for(target)
        claimed = _CLAIMED_KEY.search(self.headers.get("Authorization") or "")
        access_key_id = claimed.group(1) if claimed else None
        params: dict[str, Any] = {}
        error: ApiError | None = None
        invoked = False
        try:
            access_key_id = self._authenticate(path, query, body).access_key_id
            if operation is None:
                raise errors.unknown_operation(target)
            params = _parse_params(body)
            result = sim.invoke(operation, access_key_id, params)
            invoked = True
            answer = _json_bytes(result)
        except ApiError as api_error:
            error = api_error
        except Exception:  # a simulator bug answers as AWS would, instead of dropping the connection
            log.exception("simulator failure on %s", operation)
            error = ApiError(500, "InternalFailure", "Internal failure")
            error.applied = invoked and operation in WRITE_OPERATIONS  # the answer failed, not the change
        if error is None:
            status, outcome, applied, message = 200, "ok", operation in WRITE_OPERATIONS, None
        else:
            answer, status, outcome, applied = _json_bytes(error.body()), error.status, error.code, error.applied
            message = error.message
        sim.record_call(CallRecord(operation=operation, access_key_id=access_key_id, params=params, outcome=outcome,
                                   http_status=status, sim_time=sim_time, request_id=request_id, applied=applied,
                                   error_message=message))
        self._send(status, answer, CONTENT_TYPE, {"x-amzn-RequestId": request_id})

    def _authenticate(self, path: str, query: str, body: bytes) -> Caller:
        try:
            caller = verify_sigv4(self.command, path, query, self.headers, body, self.server.simulator.secret_for)
        except SigV4Error as error:
            raise ApiError(error.status, error.code, error.message) from None
        if caller.service != SIGNING_NAME:
            raise ApiError(400, "InvalidSignatureException", f"Credential should be scoped to correct service: '{SIGNING_NAME}'. ")
        if self.server.region is not None and caller.region != self.server.region:
            raise ApiError(400, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
        return caller

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _operation_for(target: str | None) -> str | None:
    prefix, _, operation = (target or "").partition(".")
    if prefix != service_model().metadata["targetPrefix"] or operation not in service_model().operation_names:
        return None
    return operation


def _parse_params(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # also an integer beyond Python's 4,300 digits
        raise errors.serialization_error(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise errors.serialization_error("Request body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(params, dict):
        raise errors.serialization_error("Start of structure or map found where not expected: the request body must be a JSON object.")
    return params


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _Server(ThreadingHTTPServer):
    #: Many Lambda environments call MTurk at once; http.server's default backlog of 5 would reset them.
    request_queue_size = 128
    """Tracks open connections so that stopping also ends keep-alive connections clients hold."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: MTurkSimulator, region: str | None):
        super().__init__(address, _Handler)
        self.simulator = simulator
        self.region = region
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorServer:
    """Serves a simulator over HTTP from a daemon thread.

    ``region`` is the only region credentials may be scoped to (MTurk lives in us-east-1);
    None accepts any.
    """

    def __init__(self, sim: MTurkSimulator | None = None, host: str = "127.0.0.1", port: int = 0,
                 region: str | None = "us-east-1") -> None:
        self.sim = sim or MTurkSimulator()
        self._host, self._port, self._region = host, port, region
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.socket.getsockname()[:2]  # the bound address (`server_address`), as str
        return f"http://{host}:{port}"

    def start(self) -> SimulatorServer:
        if self._server is not None:
            return self
        service_model()  # load once before serving, so the first request is not slow
        self._server = _Server((self._host, self._port), self.sim, self._region)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mturk-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
