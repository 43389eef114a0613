"""A local stand-in for API Gateway (REST, Lambda proxy, IAM auth).

It verifies SigV4 for `execute-api` against a table of local access keys (403 otherwise, like IAM auth),
turns each request into the REST proxy event API Gateway would send, and invokes the same Lambda handler
through execution environments (`local.runtime`): several process environments answer requests in parallel
as in AWS, or one environment in this process serializes them. A failed or crashed invocation is a 502.

Every error it answers itself is JSON `{"code", "message"}`, as the deployed API Gateway's are: a method it
has no route for is 403 MISSING_AUTHENTICATION_TOKEN (API Gateway's answer), and what http.server refuses
before a request is read (a request line or headers too long, bad syntax) is named after its HTTP status.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.runtime import LambdaContext, as_runtime
from local.sigv4 import SigV4Error, verify_sigv4

MAX_BODY_BYTES = 10 * 1024 * 1024
#: The Lambda context class lived here; kept importable under its old name.
_LambdaContext = LambdaContext


@dataclass(frozen=True)
class LocalPrincipal:
    """An IAM principal the local gateway knows, with the key it signs with."""

    access_key_id: str
    secret_access_key: str
    arn: str
    account_id: str = "000000000000"


class LocalApiGateway:
    """`runtime_or_handler`: execution environments (anything with `invoke(event)`, e.g. `ProcessEnvironments`)
    or a plain handler callable, run in an `InProcessEnvironment`. The HTTP server is threaded: up to the
    environments' concurrency requests run at once."""

    def __init__(
        self,
        runtime_or_handler: Any,
        principals: list[LocalPrincipal],
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "v1",
        region: str = "us-east-1",
        function_name: str = "mturk-decisions-api",
        request_log: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        #: Called after each answer with (method, path with query, status, milliseconds); errors are ignored.
        self.request_log = request_log
        self.runtime = as_runtime(runtime_or_handler, function_name)
        self.principals = {p.access_key_id: p for p in principals}
        self.stage = stage
        self.region = region
        self.function_name = function_name
        gateway = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait 40 ms between them

            def do_GET(self): gateway._serve(self)
            def do_HEAD(self): gateway._serve(self)
            def do_OPTIONS(self): gateway._serve(self)
            def do_TRACE(self): gateway._serve(self)
            def do_POST(self): gateway._serve(self)
            def do_PUT(self): gateway._serve(self)
            def do_DELETE(self): gateway._serve(self)
            def do_PATCH(self): gateway._serve(self)

            def log_message(self, *args):  # quiet: the handler logs structured JSON itself
                return

            def send_error(self, code, message=None, explain=None):
                """http.server's own refusals (an unknown method, a request line or headers too long, bad
                syntax) in JSON, as API Gateway answers them, instead of its HTML page."""
                gateway._refuse(self, code)

        self._server = _Server((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]  # the bound address (`server_address`), as str
        return f"http://{host}:{port}/{self.stage}"

    def start(self) -> LocalApiGateway:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalApiGateway:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        try:
            status, headers, body = self._respond(request)
        except Exception:  # InvocationError, EnvironmentCrashed, a malformed proxy result
            # API Gateway's answer when the Lambda integration fails.
            status, headers, body = _error(502, "BAD_GATEWAY", "Internal server error")
        headers.setdefault("Content-Type", "application/json")
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
        if self.request_log is not None:
            with contextlib.suppress(Exception):  # a log line never breaks an answer
                self.request_log(request.command, request.path, status, (time.monotonic() - started) * 1000)

    def _refuse(self, request: BaseHTTPRequestHandler, status: int) -> None:
        if status == HTTPStatus.NOT_IMPLEMENTED:  # a method API Gateway has no route for
            status, _headers, body = _error(403, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        else:
            phrase = HTTPStatus(status)
            status, _headers, body = _error(status, phrase.name, f"{phrase.phrase}: {phrase.description}.")
        request.close_connection = True
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Connection", "close")
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def _respond(self, request: BaseHTTPRequestHandler) -> tuple[int, dict, bytes]:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return _error(413, "PAYLOAD_TOO_LARGE", "The request body is larger than API Gateway's 10 MB limit.")
        body = request.rfile.read(length) if length else b""
        split = urlsplit(request.path)
        prefix = f"/{self.stage}"
        if split.path != prefix and not split.path.startswith(prefix + "/"):
            return _error(403, "MISSING_AUTHENTICATION_TOKEN", f"Missing Authentication Token (the API is under {prefix}/).")
        headers = dict(request.headers.items())
        try:
            caller = verify_sigv4(request.command, split.path, split.query, request.headers, body, self._secret_for)
        except SigV4Error as denied:
            code = "MISSING_AUTHENTICATION_TOKEN" if denied.status == 403 else "ACCESS_DENIED"
            return _error(403, code, denied.message)
        if caller.region != self.region:  # API Gateway's own words for a signature scoped to another region
            return _error(403, "INVALID_SIGNATURE", f"Credential should be scoped to a valid region, not "
                                                    f"'{caller.region}'. ")
        if caller.service != "execute-api":
            return _error(403, "ACCESS_DENIED", f"Credential should be scoped to correct service: 'execute-api', not '{caller.service}'.")
        principal = self.principals[caller.access_key_id]
        event = self._event(request.command, split.path[len(prefix):] or "/", split.query, headers, body, principal)
        result = self.runtime.invoke(event)
        out_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        out_body = result.get("body") or ""
        return int(result.get("statusCode", 502)), out_headers, out_body.encode()

    def _secret_for(self, access_key_id: str) -> str | None:
        principal = self.principals.get(access_key_id)
        return principal.secret_access_key if principal else None

    def _event(self, method: str, path: str, query: str, headers: dict, body: bytes, principal: LocalPrincipal) -> dict:
        pairs = parse_qsl(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in pairs:
            multi_query.setdefault(name, []).append(value)
        now = datetime.now(UTC)
        request_id = str(uuid.uuid4())
        path = unquote(path)
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "accountId": principal.account_id,
                "apiId": "local",
                "domainName": headers.get("Host", "localhost"),
                "httpMethod": method,
                "identity": {
                    "accessKey": principal.access_key_id,
                    "accountId": principal.account_id,
                    "caller": principal.arn.split("/")[-1],
                    "user": principal.arn.split("/")[-1],
                    "userArn": principal.arn,
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("User-Agent", ""),
                },
                "path": f"/{self.stage}{path}",
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "resourcePath": "/{proxy+}",
                "stage": self.stage,
            },
            "body": body.decode("utf-8", errors="replace") if body else None,
            "isBase64Encoded": False,
        }


class _Server(ThreadingHTTPServer):
    #: API Gateway accepts bursts of connections; http.server's default backlog of 5 would reset them.
    request_queue_size = 128


def _error(status: int, code: str, message: str) -> tuple[int, dict, bytes]:
    return status, {}, json.dumps({"code": code, "message": message}).encode()
