"""The local signing proxy (`mturk_decisions_cli.local_proxy`): it opens only to this run's secret, from its own
origin, under its own host names, and signs what it forwards with the requester's key."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from botocore.credentials import Credentials

from local.stack import DEMO_PRINCIPAL
from mturk_decisions_cli.local_proxy import LocalSigningProxy, Page, Upstream

PAGE = Page(b"<!doctype html><title>local page</title>", "text/html; charset=utf-8")
DEMO_KEY = Credentials(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


def _pages(path: str, host: str) -> Page | None:
    return PAGE if path == "/" else None


@pytest.fixture()
def proxy(served):
    """A proxy in front of this suite's gateway, signing with the demo principal's key."""
    with LocalSigningProxy(Upstream(served.gateway.url, DEMO_KEY, "us-east-1"), _pages) as running:
        yield running


def _signed_in(proxy: LocalSigningProxy) -> requests.Session:
    """A client that opened the proxy's address, as the browser does: it now holds the session cookie."""
    session = requests.Session()
    answer = session.get(proxy.entry_url())
    assert answer.status_code == 200 and answer.history[0].status_code == 303
    return session


def _refusal(answer: requests.Response, code: str) -> None:
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["code"] == code and body["message"]
    assert DEMO_PRINCIPAL.secret_access_key not in answer.text


def test_given_no_secret_when_a_page_or_the_api_is_asked_then_403(proxy):
    # Given a client that never opened the proxy's address
    # When it asks for the page and for an API call
    page = requests.get(proxy.origin + "/")
    call = requests.get(proxy.origin + "/api/decisions", params={"workerId": "A1DEMOWORKERALICE"})
    # Then both are refused, with a JSON error
    _refusal(page, "FORBIDDEN")
    _refusal(call, "FORBIDDEN")


def test_given_a_wrong_secret_in_the_address_when_opened_then_403_and_no_cookie(proxy):
    # Given an address with another secret
    # When it is opened
    answer = requests.get(proxy.origin + "/?token=not-this-runs-secret", allow_redirects=False)
    # Then it is refused and no session cookie is set
    _refusal(answer, "FORBIDDEN_TOKEN")
    assert "Set-Cookie" not in answer.headers


def test_given_the_secret_when_opened_then_a_strict_httponly_cookie_and_a_clean_address(proxy):
    # Given the address the command prints
    # When it is opened
    answer = requests.get(proxy.entry_url(), allow_redirects=False)
    # Then the answer drops the secret from the address and sets the session cookie, HttpOnly and SameSite=Strict
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{proxy.cookie_name}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert proxy.token not in cookie
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_given_the_session_cookie_when_another_origin_sends_it_then_403(proxy):
    # Given a client holding the session cookie
    session = _signed_in(proxy)
    # When a request carries a foreign Origin, a page of another local port, or a cross-site fetch marker
    foreign = session.post(proxy.origin + "/api/batches", data=b"x", headers={"Origin": "https://evil.example"})
    other_port = session.get(proxy.origin + "/api/decisions", headers={"Origin": "http://127.0.0.1:1"})
    cross_site = session.get(proxy.origin + "/", headers={"Sec-Fetch-Site": "cross-site"})
    # Then each is refused
    for answer in (foreign, other_port, cross_site):
        _refusal(answer, "FORBIDDEN_ORIGIN")


def test_given_the_session_cookie_when_the_host_is_not_this_server_then_403(proxy):
    # Given a client holding the session cookie
    session = _signed_in(proxy)
    # When the Host header names another host (DNS rebinding) or another port
    rebound = session.get(proxy.origin + "/", headers={"Host": f"evil.example:{proxy.port}"})
    other_port = session.get(proxy.origin + "/", headers={"Host": f"127.0.0.1:{proxy.port + 1}"})
    # Then both are refused
    _refusal(rebound, "FORBIDDEN_HOST")
    _refusal(other_port, "FORBIDDEN_HOST")


def test_given_the_session_cookie_when_same_origin_then_the_signed_call_reaches_the_gateway(proxy, seed):
    # Given a seeded assignment and a client holding the session cookie
    assignment_id = seed(status="Submitted")
    session = _signed_in(proxy)
    # When it reads the assignment and the page, from the proxy's own origin, under both host names
    call = session.get(f"{proxy.origin}/api/assignments/{assignment_id}", headers={"Origin": proxy.origin})
    page = session.get(proxy.origin + "/")
    localhost = requests.Session()
    localhost.get(proxy.entry_url().replace("127.0.0.1", "localhost"))
    # Then the gateway verified the signature and the API answered; the page is served
    assert call.status_code == 200, call.text
    assert call.json()["assignment"]["assignmentId"] == assignment_id
    assert page.status_code == 200 and page.content == PAGE.body
    assert localhost.get(f"http://localhost:{proxy.port}/").status_code == 200


def test_given_a_key_the_gateway_does_not_know_when_called_then_the_gateways_403_comes_back(served):
    # Given a proxy signing with a key the gateway does not know
    unknown = Credentials("LOCALUNKNOWNKEY00001", "not-a-known-secret")
    with LocalSigningProxy(Upstream(served.gateway.url, unknown, "us-east-1"), _pages) as proxy:
        session = _signed_in(proxy)
        # When the browser's call goes through it
        answer = session.get(proxy.origin + "/api/decisions", params={"workerId": "A1DEMOWORKERALICE"})
    # Then the gateway, not the proxy, refuses it: the proxy's own checks passed and it signed the call
    assert answer.status_code == 403
    assert answer.json().get("code") not in ("FORBIDDEN", "FORBIDDEN_ORIGIN", "FORBIDDEN_HOST")


class _Echo(BaseHTTPRequestHandler):
    """An upstream that answers with what it received."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = {"path": self.path, "headers": dict(self.headers.items()), "body": body.decode()}
        answer = json.dumps(seen).encode()
        self.send_response(201)
        for name, value in (("Content-Type", "application/json"), ("Set-Cookie", "upstream=1"),
                            ("Retry-After", "3"), ("Content-Length", str(len(answer)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        return


@pytest.fixture()
def echo_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_given_a_browser_request_when_forwarded_then_signed_without_the_browsers_cookie_or_origin(echo_upstream):
    # Given a proxy in front of an upstream that echoes what it receives
    with LocalSigningProxy(Upstream(echo_upstream, DEMO_KEY, "eu-west-1"), _pages) as proxy:
        session = _signed_in(proxy)
        # When the browser posts with its cookie, Origin, an Idempotency-Key and a query to encode
        answer = session.post(proxy.origin + "/api/assignments/3ABC/reject?dryRun=true&note=a%20b+c",
                              data=b'{"feedback":"x"}', headers={"Origin": proxy.origin, "Idempotency-Key": "k-1",
                                                                 "Content-Type": "application/json"})
    # Then the upstream got a SigV4 signature for execute-api in the region, and none of the browser's cookies
    seen = answer.json()
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert seen["path"] == "/v1/assignments/3ABC/reject?dryRun=true&note=a%20b%20c"
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DEMO_PRINCIPAL.access_key_id}/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["authorization"]
    assert headers["idempotency-key"] == "k-1" and seen["body"] == '{"feedback":"x"}'
    assert "cookie" not in headers and "origin" not in headers
    # And the answer comes back as it is, less the upstream's cookie
    assert answer.status_code == 201 and answer.headers["Retry-After"] == "3"
    assert "upstream" not in answer.headers.get("Set-Cookie", "")
    assert DEMO_PRINCIPAL.secret_access_key not in answer.text


def test_given_an_unreachable_api_when_called_then_502_in_json(served):
    # Given a proxy in front of a port nothing listens on
    with LocalSigningProxy(Upstream("http://127.0.0.1:1/v1", DEMO_KEY, "us-east-1", timeout=2), _pages) as proxy:
        session = _signed_in(proxy)
        # When the browser calls the API through it
        answer = session.get(proxy.origin + "/api/decisions")
    # Then a JSON 502 says so
    assert answer.status_code == 502 and answer.json()["code"] == "UPSTREAM_UNREACHABLE"
