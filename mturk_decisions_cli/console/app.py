"""The console's pages and forms behind the local signing proxy: routing, form parsing, API calls.

`Console(client, api_url)` is the proxy's `LocalApp`: it answers each checked request with a page rendered
here. Every API call goes through the CLI's `ApiClient` (SigV4 with the requester's credentials); an API
error is shown as its `code` and `message` on the page, never as a stack trace.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from mturk_decisions_cli.client import ApiClient
from mturk_decisions_cli.console import markup
from mturk_decisions_cli.errors import ApiError, CliError
from mturk_decisions_cli.local_proxy import LocalRequest, Page

HTML = "text/html; charset=utf-8"
STATIC = {"/static/console.css": ("console.css", "text/css; charset=utf-8"),
          "/static/console.js": ("console.js", "text/javascript; charset=utf-8")}
#: A CSV sent through the console goes in one POST /batches (API Gateway's Lambda proxy takes 6 MB).
MAX_CSV_BYTES = 5 * 1024 * 1024
#: Plans kept for "Apply" (the CSV itself, until applied); the oldest go first.
MAX_KEPT_PLANS = 20


class BadForm(Exception):
    """A form this console cannot read: shown to the requester, never a 500."""


@dataclass
class Form:
    """The query string and the form body of one request (text fields and uploaded files)."""

    values: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[-1] if found else default

    def all(self, name: str) -> list[str]:
        return list(self.values.get(name, []))

    def idempotency_key(self) -> str:
        """The key the confirmation form carried (a repeated submit is the same decision), else a new one."""
        try:
            return str(uuid.UUID(self.get("key")))
        except ValueError:
            return str(uuid.uuid4())


@dataclass
class KeptPlan:
    csv: bytes
    reason: str | None
    filename: str


Handler = Callable[["Console", Form], Page]


class Console:
    """Serves the pages; remembers the batches started here and the CSVs waiting for "Apply"."""

    def __init__(self, client: ApiClient, api_url: str, *, now: Callable[[], datetime] | None = None) -> None:
        from mturk_decisions_cli.console import routes

        self.client = client
        self.api_url = api_url
        self.now = now or (lambda: datetime.now(UTC))
        self.routes: Mapping[tuple[str, str], Handler] = routes.ROUTES
        self.started_batches: dict[str, str] = {}  # batchId -> what it came from, in the order started
        self.plans: dict[str, KeptPlan] = {}
        self._lock = threading.Lock()
        self._static = {path: Page(resources.files(__package__).joinpath("static", name).read_bytes(), kind)
                        for path, (name, kind) in STATIC.items()}

    def __call__(self, request: LocalRequest) -> Page | None:
        if request.path in self._static and request.method in ("GET", "HEAD"):
            return self._static[request.path]
        method = "GET" if request.method == "HEAD" else request.method
        handler = self.routes.get((method, request.path))
        if handler is None:
            if any(path == request.path for _, path in self.routes):
                return self.page("Not allowed", markup.notice(f"{markup.e(request.method)} is not used here.", "bad"),
                                 status=405)
            return None
        try:
            form = parse_form(request)
        except BadForm as error:
            return self.page("This form could not be read", markup.notice(markup.e(str(error)), "bad"), status=400)
        return handler(self, form)

    # -- API -------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The API's JSON answer; raises CliError (ApiError, TransportError, ConfigError) otherwise."""
        return self.client.request(method, path, **kwargs).raise_for_error().body

    def attempt(self, method: str, path: str, **kwargs: Any) -> tuple[Any, CliError | None]:
        try:
            return self.api(method, path, **kwargs), None
        except CliError as error:
            return None, error

    # -- answers ---------------------------------------------------------------------------------------------
    def page(self, title: str, body: str, *, current: str = "", status: int = 200) -> Page:
        return Page(markup.layout(title, body, current=current, api_url=self.api_url).encode(), HTML, status)

    @staticmethod
    def redirect(path: str, **query: Any) -> Page:
        pairs = {k: v for k, v in query.items() if v not in (None, "")}
        location = path + ("?" + urlencode(pairs) if pairs else "")
        return Page(b"", "text/plain; charset=utf-8", 303, {"Location": location})

    def remember_batch(self, batch_id: str, source: str) -> None:
        with self._lock:
            self.started_batches[batch_id] = source

    def keep_plan(self, plan: KeptPlan) -> str:
        with self._lock:
            while len(self.plans) >= MAX_KEPT_PLANS:
                self.plans.pop(next(iter(self.plans)))
            plan_id = uuid.uuid4().hex
            self.plans[plan_id] = plan
            return plan_id


def error_of(error: CliError) -> str:
    return markup.api_error(error)


def is_route_missing(error: CliError) -> bool:
    """The API has no such route (an API older than the console): 404/403 from the gateway or the router."""
    return isinstance(error, ApiError) and error.status in (403, 404) and error.code in (
        "NOT_FOUND", "MISSING_AUTHENTICATION_TOKEN")


def parse_form(request: LocalRequest) -> Form:
    form = Form(values=parse_qs(request.query, keep_blank_values=True))
    if request.method != "POST" or not request.body:
        return form
    kind = request.content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        text = request.body.decode("utf-8", errors="replace")
        for name, values in parse_qs(text, keep_blank_values=True).items():
            form.values.setdefault(name, []).extend(values)
    elif kind == "multipart/form-data":
        _read_multipart(request, form)
    else:
        raise BadForm(f"This console reads HTML forms only, not {kind or 'a body without a Content-Type'}.")
    return form


def _read_multipart(request: LocalRequest, form: Form) -> None:
    head = f"Content-Type: {request.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        raise BadForm("The upload could not be read (not a multipart form).")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files[str(name)] = (str(filename), payload)
        else:
            form.values.setdefault(str(name), []).append(payload.decode("utf-8", errors="replace"))
