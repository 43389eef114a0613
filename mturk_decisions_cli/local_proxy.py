"""A signing proxy on the requester's own machine: pages for a local browser, and `/api/...` calls signed here.

The API takes only SigV4-signed requests, which a browser cannot make. This server listens on 127.0.0.1, serves
the pages it is given (Swagger UI for `mturk-decisions docs`: a `PageResolver`; the console's pages and forms for
`mturk-decisions console`: a `LocalApp`, which gets every method and the body), and forwards every request under
`/api/` to the real API, signed with the requester's own AWS credentials: the keys stay in this process, never in
the browser.

A proxy that signs whatever reaches it would let any page the browser visits act as the requester. So it
answers only requests that pass all of these, and refuses everything else with 403 `{"code", "message"}`:

- Host is `127.0.0.1:PORT` or `localhost:PORT`: a DNS-rebinding page (evil.example resolving to 127.0.0.1)
  reaches the port under its own name, and is refused.
- Origin, when the browser sends one, is this very origin (`http://` + that Host), and `Sec-Fetch-Site`,
  when sent, is `same-origin` or `none`: another site's fetch or form, and a page on another port of
  127.0.0.1 (same *site*, so SameSite alone would not stop it), are refused.
- The run's secret: the address the command opens carries `?token=SECRET` (a fresh random value per run);
  that request gets a 303 to the same page without the token and a cookie holding a value derived from it
  (HMAC), `HttpOnly; SameSite=Strict; Path=/`, named after the port. Every other request needs that cookie.
  A page elsewhere knows neither the secret nor the cookie, cannot read the cookie, and its requests do
  not carry it (Strict).

Forwarded requests keep only their method, path, query, body and a few headers (Accept, Content-Type,
Idempotency-Key): never the browser's cookies or Origin. Answers come back as they are, less hop-by-hop
headers and any Set-Cookie.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from mturk_decisions_cli import __version__

SERVICE = "execute-api"
API_PREFIX = "/api"
TOKEN_PARAMETER = "token"
COOKIE_PREFIX = "mturk_decisions_local_"
#: API Gateway's own request limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Request headers of the browser that reach the API; all others (Cookie, Origin, Referer...) stay here.
FORWARDED_REQUEST_HEADERS = ("accept", "content-type", "idempotency-key")
_DROPPED_RESPONSE_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length",
                             "set-cookie", "proxy-authenticate", "trailer", "upgrade", "date", "server"}
_ALLOWED_FETCH_SITES = {"same-origin", "none"}
#: On every answer: no caching, no referrer, no framing, no sniffing, nothing loaded from elsewhere.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


@dataclass(frozen=True)
class Page:
    """What a page resolver answers for a path: status, content type, body."""

    body: bytes
    content_type: str
    status: int = 200
    #: Further response headers (e.g. Location, Content-Disposition); the security headers always win.
    headers: Mapping[str, str] = field(default_factory=dict)


#: (path, host) -> a Page, or None for 404. `host` is the checked Host header (`127.0.0.1:PORT`).
PageResolver = Callable[[str, str], "Page | None"]


@dataclass(frozen=True)
class LocalRequest:
    """A request that passed every check and is not under /api/: what a `LocalApp` answers."""

    method: str
    path: str
    query: str
    host: str
    content_type: str
    body: bytes


#: A checked request -> a Page, or None for 404. Used instead of the PageResolver when given.
LocalApp = Callable[[LocalRequest], "Page | None"]


@dataclass(frozen=True)
class Upstream:
    """The real API: its base URL with the stage, the credentials to sign with, the region to sign for."""

    base_url: str
    credentials: Any
    region: str
    timeout: float = 30.0


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LocalSigningProxy:
    """`with LocalSigningProxy(upstream, pages) as proxy:` serves on 127.0.0.1:`proxy.port` in a thread;
    `serve_forever()` serves in the caller's thread instead. `proxy.entry_url()` is the address to open."""

    def __init__(self, upstream: Upstream, pages: PageResolver, *, port: int = 0, token: str | None = None,
                 log: Callable[[str], None] | None = None, session: requests.Session | None = None,
                 app: LocalApp | None = None, max_page_body: int = MAX_BODY_BYTES,
                 security_headers: Mapping[str, str] | None = None) -> None:
        self.upstream = upstream
        #: SECURITY_HEADERS, with the caller's changes (the console's forms need `Referrer-Policy: same-origin`:
        #: under `no-referrer` a browser sends `Origin: null` with a form's POST, which is refused).
        self.security_headers = {**SECURITY_HEADERS, **(security_headers or {})}
        self.pages = pages
        self.app = app
        self.max_page_body = max_page_body
        self.token = token or secrets.token_urlsafe(32)
        self.log = log or (lambda _line: None)
        self.session = session or requests.Session()
        self.session.trust_env = False  # no proxy from the environment sees the signed request
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None: proxy._serve(self)
            def do_HEAD(self) -> None: proxy._serve(self)
            def do_POST(self) -> None: proxy._serve(self)
            def do_PUT(self) -> None: proxy._serve(self)
            def do_PATCH(self) -> None: proxy._serve(self)
            def do_DELETE(self) -> None: proxy._serve(self)
            def do_OPTIONS(self) -> None: proxy._serve(self)

            def log_message(self, *args: Any) -> None:  # the proxy logs its own lines, without query strings
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.cookie_name = f"{COOKIE_PREFIX}{self.port}"
        self._cookie_value = hmac.new(self.token.encode(), b"mturk-decisions local session", hashlib.sha256).hexdigest()
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def entry_url(self, path: str = "/") -> str:
        """The address to open: it carries the run's secret, which the first answer turns into the cookie."""
        return f"{self.origin}{path}?{TOKEN_PARAMETER}={self.token}"

    def start(self) -> LocalSigningProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-signing-proxy", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalSigningProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- one request ----------------------------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        try:
            host = self._check_host(request)
            self._check_origin(request, host)
            redirect = self._authenticate(request, split.path, split.query)
            if redirect is not None:
                status, headers, body = redirect
            elif split.path == API_PREFIX or split.path.startswith(API_PREFIX + "/"):
                status, headers, body = self._forward(request, split.path[len(API_PREFIX):], split.query)
                self.log(f"{request.command} {split.path} -> {status}")
            elif self.app is not None:
                status, headers, body = self._app_page(request, split.path, split.query, host)
            else:
                status, headers, body = self._page(split.path, host)
        except Refused as refusal:
            status, headers, body = _error(refusal.status, refusal.code, refusal.message)
            headers["Connection"] = "close"  # a refused request's body is never read: it must not be taken
            request.close_connection = True  # for the next request on this connection
            self.log(f"refused {request.command} {split.path}: {refusal.code}")
        self._send(request, status, headers, body)

    def _check_host(self, request: BaseHTTPRequestHandler) -> str:
        host = (request.headers.get("Host") or "").strip().lower()
        if host not in self.allowed_hosts:
            raise Refused(403, "FORBIDDEN_HOST", f"This local server answers only to 127.0.0.1:{self.port} or "
                                                 f"localhost:{self.port}, not to the Host this request named.")
        return host

    def _check_origin(self, request: BaseHTTPRequestHandler, host: str) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and origin.strip().lower() != f"http://{host}":
            raise Refused(403, "FORBIDDEN_ORIGIN", "Requests from another origin are refused: only the pages of "
                                                   "this local server may use it.")
        site = (request.headers.get("Sec-Fetch-Site") or "").strip().lower()
        if site and site not in _ALLOWED_FETCH_SITES:
            raise Refused(403, "FORBIDDEN_ORIGIN", f"A {site} request is refused: only the pages of this local "
                                                   "server may use it.")

    def _authenticate(self, request: BaseHTTPRequestHandler, path: str,
                      query: str) -> tuple[int, dict[str, str], bytes] | None:
        """None when the request carries the session cookie; a 303 setting it when it carries the secret."""
        given = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == TOKEN_PARAMETER]
        if given and request.command in ("GET", "HEAD"):
            if not hmac.compare_digest(given[-1].encode(), self.token.encode()):
                raise Refused(403, "FORBIDDEN_TOKEN", "This address does not carry this run's secret: open the "
                                                      "address the command printed.")
            rest = [(n, v) for n, v in parse_qsl(query, keep_blank_values=True) if n != TOKEN_PARAMETER]
            location = path + ("?" + urlencode(rest) if rest else "")
            cookie = f"{self.cookie_name}={self._cookie_value}; HttpOnly; SameSite=Strict; Path=/"
            return 303, {"Location": location, "Set-Cookie": cookie}, b""
        if not hmac.compare_digest(self._session_cookie(request).encode(), self._cookie_value.encode()):
            raise Refused(403, "FORBIDDEN", "This local server answers only the browser it was opened in: open the "
                                            "address the command printed (it carries this run's secret).")
        return None

    def _session_cookie(self, request: BaseHTTPRequestHandler) -> str:
        jar: SimpleCookie = SimpleCookie()
        for header in request.headers.get_all("Cookie") or []:
            try:
                jar.load(header)
            except CookieError:
                continue
        morsel = jar.get(self.cookie_name)
        return morsel.value if morsel is not None else ""

    def _page(self, path: str, host: str) -> tuple[int, dict[str, str], bytes]:
        page = self.pages(path, host)
        if page is None:
            return _error(404, "NOT_FOUND", f"Nothing at {path} here; the API is under {API_PREFIX}/.")
        return page.status, {"Content-Type": page.content_type}, page.body

    def _app_page(self, request: BaseHTTPRequestHandler, path: str, query: str,
                  host: str) -> tuple[int, dict[str, str], bytes]:
        body = _read_body(request, self.max_page_body, f"This local server takes at most "
                                                       f"{self.max_page_body // 1_048_576} MB in one request.")
        local = LocalRequest(request.command, path, query, host, request.headers.get("Content-Type") or "", body)
        assert self.app is not None
        try:
            page = self.app(local)
        except Exception as error:  # a bug of a page must not leak a stack trace to the browser
            self.log(f"{request.command} {path}: {type(error).__name__}")
            return _error(500, "CONSOLE_ERROR", "This page failed on the local server; the terminal has the "
                                                "error's type. Nothing more was sent.")
        if page is None:
            return _error(404, "NOT_FOUND", f"Nothing at {path} here.")
        return page.status, {"Content-Type": page.content_type, **page.headers}, page.body

    def _forward(self, request: BaseHTTPRequestHandler, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        body = _read_body(request, MAX_BODY_BYTES, "The request body is larger than the API's 10 MB limit.")
        url = self.upstream.base_url.rstrip("/") + _canonical_path(path) + _canonical_query(query)
        headers = {"User-Agent": f"mturk-decisions-cli/{__version__} (local proxy)"}
        headers.update({name: value for name in FORWARDED_REQUEST_HEADERS
                        if (value := request.headers.get(name)) is not None})
        signed = AWSRequest(method=request.command, url=url, data=body, headers=headers)
        try:
            SigV4Auth(_frozen(self.upstream.credentials), SERVICE, self.upstream.region).add_auth(signed)
        except BotoCoreError as error:  # e.g. an SSO session that expired while the server ran
            raise Refused(502, "CREDENTIALS_UNAVAILABLE", f"Could not use your AWS credentials: {error}. Refresh "
                                                          "them (e.g. `aws sso login`) and try again.") from None
        try:
            answer = self.session.request(request.command, url, data=body or None, headers=dict(signed.headers.items()),
                                          timeout=self.upstream.timeout, allow_redirects=False)
        except requests.exceptions.Timeout:
            raise Refused(504, "UPSTREAM_TIMEOUT", f"The API did not answer within {self.upstream.timeout:g} s.") from None
        except requests.exceptions.RequestException:
            raise Refused(502, "UPSTREAM_UNREACHABLE", f"Could not reach the API at {self.upstream.base_url}.") from None
        kept = {name: value for name, value in answer.headers.items() if name.lower() not in _DROPPED_RESPONSE_HEADERS}
        return answer.status_code, kept, answer.content

    def _send(self, request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for name, value in {**headers, **self.security_headers}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)


def started(make: Callable[[int], LocalSigningProxy], port: int) -> LocalSigningProxy:
    """`make(port)`, or a usage error that says what to do when the port cannot be served."""
    from mturk_decisions_cli.errors import ConfigError

    try:
        return make(port)
    except OSError as error:
        raise ConfigError(f"Cannot serve on 127.0.0.1:{port}: {error.strerror or error}.",
                          hint="Choose another --port, or leave it out for a free one.") from None


def serve_until_stopped(proxy: LocalSigningProxy, *, json_mode: bool, facts: Mapping[str, Any], banner: str,
                        open_browser: bool) -> None:
    """Print the run's address (as JSON with `facts` in --json mode) and `banner`, open the browser unless told
    not to, and serve until Ctrl-C (`mturk-decisions docs` and `console`)."""
    import webbrowser

    import click

    url = proxy.entry_url()
    click.echo(json.dumps({"url": url, "port": proxy.port, **facts}) if json_mode else url)
    click.echo(banner, err=True)
    if open_browser and not webbrowser.open(url):
        click.echo("No browser could be opened: open the address above yourself.", err=True)
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        proxy.stop()


def _read_body(request: BaseHTTPRequestHandler, limit: int, too_large: str) -> bytes:
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise Refused(400, "BAD_REQUEST", "Content-Length is not a number.") from None
    if length < 0:
        raise Refused(400, "BAD_REQUEST", "Content-Length is negative.")
    if length > limit:
        raise Refused(413, "PAYLOAD_TOO_LARGE", too_large)
    return request.rfile.read(length) if length else b""


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"code": code, "message": message}).encode()


def _canonical_path(path: str) -> str:
    """Each segment percent-encoded as the CLI encodes ids, so that what is signed is what is sent."""
    return "/" + "/".join(quote(unquote(segment), safe="") for segment in path.lstrip("/").split("/")) if path else ""


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "?" + urlencode(pairs, quote_via=quote, safe="") if pairs else ""


def _frozen(credentials: Any) -> Credentials:
    """One consistent key/secret/token triple (refreshable credentials refresh here when due)."""
    if hasattr(credentials, "get_frozen_credentials"):
        frozen = credentials.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    return credentials
