"""The local signing proxy's `LocalApp` hook, which the console uses: every method and the body reach the app
after the proxy's checks; a failing page answers a JSON 500 without a stack trace; a body over the limit, 413."""
from __future__ import annotations

import requests
from botocore.credentials import Credentials

from mturk_decisions_cli.local_proxy import LocalRequest, LocalSigningProxy, Page, Upstream

UPSTREAM = Upstream("http://127.0.0.1:9/v1", Credentials("AKIDEXAMPLE", "not-a-secret"), "us-east-1")


def _app(request: LocalRequest) -> Page | None:
    if request.path == "/boom":
        raise RuntimeError("secret detail of a bug")
    if request.path == "/echo":
        return Page(f"{request.method} {request.query} {request.body.decode()}".encode(), "text/plain",
                    headers={"X-Seen": "yes"})
    return None


def _signed_in(proxy: LocalSigningProxy) -> requests.Session:
    session = requests.Session()
    assert session.get(proxy.entry_url("/echo")).status_code == 200
    return session


def test_given_a_local_app_when_a_form_is_posted_then_it_gets_the_method_query_and_body():
    # Given a proxy serving an app, and a client that opened its address
    with LocalSigningProxy(UPSTREAM, lambda _p, _h: None, app=_app) as proxy:
        session = _signed_in(proxy)
        # When a form is posted from the proxy's own origin
        answer = session.post(proxy.origin + "/echo?x=1", data={"a": "b"}, headers={"Origin": proxy.origin})
        missing = session.get(proxy.origin + "/nowhere")
    # Then the app saw all of it, its headers are kept and the security headers still win
    assert answer.status_code == 200 and answer.text == "POST x=1 a=b"
    assert answer.headers["X-Seen"] == "yes" and answer.headers["X-Frame-Options"] == "DENY"
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


def test_given_a_page_that_fails_when_asked_then_a_json_500_without_the_error_text():
    # Given a proxy whose app fails on /boom, with a log
    lines: list[str] = []
    with LocalSigningProxy(UPSTREAM, lambda _p, _h: None, app=_app, log=lines.append) as proxy:
        session = _signed_in(proxy)
        # When /boom is asked
        answer = session.get(proxy.origin + "/boom")
    # Then the answer is a JSON error that says nothing of the bug; the terminal has its type only
    assert answer.status_code == 500 and answer.json()["code"] == "CONSOLE_ERROR"
    assert "secret detail" not in answer.text and "Traceback" not in answer.text
    assert any("RuntimeError" in line for line in lines) and not any("secret detail" in line for line in lines)


def test_given_a_body_over_the_limit_when_posted_then_413_before_the_app_reads_it():
    # Given a proxy that takes at most 1 KB in a page's request
    with LocalSigningProxy(UPSTREAM, lambda _p, _h: None, app=_app, max_page_body=1024) as proxy:
        session = _signed_in(proxy)
        # When 2 KB are posted
        answer = session.post(proxy.origin + "/echo", data=b"x" * 2048, headers={"Origin": proxy.origin})
    # Then the proxy refuses it
    assert answer.status_code == 413 and answer.json()["code"] == "PAYLOAD_TOO_LARGE"
