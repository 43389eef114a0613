"""A small SigV4-signing client for the mturk-decisions API (IAM auth, service `execute-api`).

Every request is signed with `botocore.auth.SigV4Auth` on an `AWSRequest` and sent with `requests`,
so it works the same against a deployed stack and against the local gateway of `make demo`.

Retries: GETs and writes that carry an `Idempotency-Key` are retried (a few times, with backoff) on
network errors, timeouts, 429, 409 REQUEST_IN_PROGRESS and 5xx other than MTurk's own faults; a write
without a key (POST /batches) is never retried, because the API cannot recognise a repeat.
"""
from __future__ import annotations

import json as jsonlib
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from mturk_decisions_cli import __version__
from mturk_decisions_cli.errors import ApiError, ConfigError, TransportError

SERVICE = "execute-api"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: 5xx codes that will not get better by retrying right away (the API already retried MTurk).
_NOT_RETRIED_CODES = {"MTURK_FAULT", "MTURK_CREDENTIALS_INVALID", "INTERNAL_ERROR"}
#: Longest Retry-After the client waits for by itself; longer ones are reported.
MAX_RETRY_AFTER_SECONDS = 10


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def error(self, hint: str | None = None) -> ApiError:
        return ApiError(self.status, self.body, dict(self.headers), hint=hint)

    def raise_for_error(self) -> ApiResponse:
        if not self.ok:
            raise self.error()
        return self


class Requester(Protocol):
    """What the commands need of a client: `ApiClient`, or a test's fake API (given to `App(client_factory=...)`)."""

    def request(self, method: str, path: str, json: Any = None, data: bytes | str | None = None,
                content_type: str | None = None, query: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, retry: bool | None = None) -> ApiResponse: ...


def quote_segment(value: str) -> str:
    """One path segment (an id), percent-encoded."""
    return quote(str(value), safe="")


class ApiClient:
    """`request()` returns an `ApiResponse` for every HTTP answer and raises `TransportError` when there is none."""

    def __init__(
        self,
        base_url: str,
        credentials: Any,
        region: str,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.region = region
        self.timeout = timeout
        self.retries = max(0, retries)
        self.session = session or requests.Session()
        self.sleep = sleep

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        pairs = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        if pairs:
            # Encode everything but the unreserved characters, so what is signed is exactly what is sent
            # (a `+` in a cursor must not become a space).
            url += "?" + urlencode(pairs, quote_via=quote, safe="")
        return url

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        data: bytes | str | None = None,
        content_type: str | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
    ) -> ApiResponse:
        method = method.upper()
        body: bytes = b""
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            content_type = content_type or "application/json"
        elif data is not None:
            body = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        all_headers = {"Accept": "application/json", "User-Agent": f"mturk-decisions-cli/{__version__}"}
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        if retry is None:
            retry = method in ("GET", "HEAD") or any(k.lower() == IDEMPOTENCY_HEADER.lower() for k in all_headers)
        url = self.url(path, query)
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(1, attempts + 1):
            try:
                response = self._send(method, url, body, all_headers)
            except TransportError:
                if attempt >= attempts:
                    raise
                self.sleep(_backoff(attempt))
                continue
            wait = self._retry_wait(response) if attempt < attempts else None
            if wait is None:
                return response
            self.sleep(wait if wait > 0 else _backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> ApiResponse:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        try:
            SigV4Auth(_frozen(self.credentials), SERVICE, self.region).add_auth(request)
        except BotoCoreError as error:  # e.g. an expired SSO token that cannot be refreshed
            raise ConfigError(f"Could not use your AWS credentials: {error}",
                              hint="Refresh them (e.g. `aws sso login --profile NAME`) and run again.") from None
        try:
            answer = self.session.request(method, url, data=body or None, headers=dict(request.headers.items()),
                                          timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            raise TransportError(f"Could not connect to {self.base_url} (no answer within {self.timeout:g} s).",
                                 hint=network_hint(self.base_url)) from None
        except requests.exceptions.ReadTimeout:
            raise TransportError(
                f"The API did not answer within {self.timeout:g} s ({method} {_path_of(url)}).",
                hint="The request may still have been processed. Raise --timeout or retry; "
                     "single decisions are safe to repeat with the same --idempotency-key.") from None
        except requests.exceptions.SSLError as error:
            raise TransportError(f"Could not connect to {self.base_url} (TLS: {connection_reason(error)}).",
                                 hint=network_hint(self.base_url)) from None
        except requests.exceptions.ConnectionError as error:
            raise TransportError(f"Could not connect to {self.base_url} ({connection_reason(error)}).",
                                 hint=network_hint(self.base_url)) from None
        except requests.exceptions.RequestException as error:
            raise TransportError(f"Request to {self.base_url} failed ({connection_reason(error)}).",
                                 hint=network_hint(self.base_url)) from None
        return ApiResponse(answer.status_code, _parse(answer), dict(answer.headers))

    def _retry_wait(self, response: ApiResponse) -> float | None:
        """Seconds to wait before a retry (0: default backoff), or None: do not retry this answer."""
        status, code = response.status, response.code
        if status == 429:
            after = response.error().retry_after
            if after is None:
                return 0
            return float(after) if after <= MAX_RETRY_AFTER_SECONDS else None
        if status == 409 and code == "REQUEST_IN_PROGRESS":
            return 0
        if status >= 500 and code not in _NOT_RETRIED_CODES:
            return 0
        return None


def network_hint(base_url: str) -> str:
    """What to do when the API cannot be reached: a local URL is `make demo`'s, any other a deployed stack's."""
    host = (urlsplit(base_url).hostname or "").lower()
    where = "Check --api-url / MTURK_DECISIONS_API_URL (or the config file)."
    if host in ("127.0.0.1", "localhost", "::1"):
        return f"Is `make demo` running (it prints its API URL)? {where}"
    return (f"{where} It is the stack's ApiUrl output, e.g. https://ID.execute-api.REGION.amazonaws.com/v1; "
            "check your network and that the stack is deployed.")


#: The few words that say why a connection failed, by the innermost error's type (first match wins).
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (socket.gaierror, "the host name does not resolve"),
    (ConnectionResetError, "the connection was reset"),
    (TimeoutError, "timed out"),
)


def connection_reason(error: BaseException) -> str:
    """Why a request got no answer, in a few words, from the innermost cause (urllib3 wraps it in its own
    errors, whose text repeats the pool and is cut short by requests)."""
    causes: list[BaseException] = []
    seen: BaseException | None = error
    while isinstance(seen, BaseException) and seen not in causes:
        causes.append(seen)
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            inner = seen.__cause__ or seen.__context__
        if inner is None and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        seen = inner
    for cause in reversed(causes):
        for kind, reason in _REASONS:
            if isinstance(cause, kind):
                return reason
        if type(cause).__name__ == "NameResolutionError":
            return "the host name does not resolve"
    innermost = causes[-1]
    return getattr(innermost, "strerror", None) or str(innermost) or type(innermost).__name__


def _frozen(credentials: Any) -> Credentials:
    """A consistent key/secret/token triple (refreshable credentials refresh here, once per request)."""
    if hasattr(credentials, "get_frozen_credentials"):
        frozen = credentials.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    return credentials


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2)


def _parse(answer: requests.Response) -> Any:
    if not answer.content:
        return {}
    try:
        return answer.json()
    except ValueError:
        text = answer.text.strip()
        return {"message": text[:500] or f"HTTP {answer.status_code}"}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path
