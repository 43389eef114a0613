"""The console's server answers only the browser that opened the printed address, from its own origin and under
its own host names (the checks of `local_proxy`, shared with `mturk-decisions docs`); and no input a browser
can send makes it fail with a 500."""
from __future__ import annotations

import pytest
import requests

from local.stack import DEMO_PRINCIPAL


def _signed_in(console) -> requests.Session:
    """A client that opened the printed address, as the browser does: it now holds the run's cookie."""
    session = requests.Session()
    answer = session.get(console.url)
    assert answer.status_code == 200 and answer.history and answer.history[0].status_code == 303
    return session


def _refused(answer: requests.Response, code: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == code
    assert DEMO_PRINCIPAL.secret_access_key not in answer.text


def _reject_form(assignment_id: str) -> dict[str, str]:
    return {"id": assignment_id, "action": "reject", "feedback": "Not done.",
            "key": "2b0c6a4e-9d47-4d3f-8d8f-3a5b3a0d9c11"}


def test_given_no_secret_when_pages_or_forms_are_asked_then_403_and_nothing_is_sent(console, seed, sim, served):
    # Given a Submitted assignment and a client that never opened the printed address
    assignment_id = seed(status="Submitted")
    # When it asks for a page, the API, and posts a decision
    page = requests.get(console.origin + "/")
    call = requests.get(console.origin + f"/api/assignments/{assignment_id}")
    decide = requests.post(console.origin + "/assignment/decide", data=_reject_form(assignment_id))
    wrong = requests.get(console.origin + "/?token=not-this-runs-secret", allow_redirects=False)
    # Then each is refused with a JSON 403, and MTurk was not called
    for answer in (page, call, decide):
        _refused(answer, "FORBIDDEN")
    _refused(wrong, "FORBIDDEN_TOKEN")
    assert "set-cookie" not in {name.lower() for name in wrong.headers}
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


def test_given_the_cookie_when_a_foreign_origin_posts_a_decision_then_403_and_nothing_is_sent(
        console, seed, sim, served):
    # Given a client holding the run's cookie, and a Submitted assignment
    session = _signed_in(console)
    assignment_id = seed(status="Submitted")
    # When another site's page posts the decision form (its Origin), or a cross-site fetch names no Origin
    foreign = session.post(console.origin + "/assignment/decide", data=_reject_form(assignment_id),
                           headers={"Origin": "https://evil.example"})
    other_port = session.post(console.origin + "/assignment/decide", data=_reject_form(assignment_id),
                              headers={"Origin": "http://127.0.0.1:1"})
    cross_site = session.post(console.origin + "/assignment/decide", data=_reject_form(assignment_id),
                              headers={"Sec-Fetch-Site": "cross-site"})
    # Then all are refused and the assignment is untouched
    for answer in (foreign, other_port, cross_site):
        _refused(answer, "FORBIDDEN_ORIGIN")
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


def test_given_the_cookie_when_a_foreign_host_is_named_then_403(console, served):
    # Given a client holding the run's cookie
    session = _signed_in(console)
    port = console.origin.rsplit(":", 1)[1]
    # When a request names another host (a DNS-rebinding page reaching 127.0.0.1 under its own name)
    answer = session.get(console.origin + "/", headers={"Host": f"evil.example:{port}"})
    # Then it is refused
    _refused(answer, "FORBIDDEN_HOST")


def test_given_the_console_when_a_page_is_served_then_it_carries_the_security_headers(console, served):
    # Given a client holding the run's cookie
    session = _signed_in(console)
    # When it opens the Overview
    answer = session.get(console.origin + "/")
    # Then the page may load nothing from elsewhere, cannot be framed, and sends its Origin only to itself
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "https://" not in answer.text.replace(console.origin, "")  # nothing from a CDN


@pytest.mark.parametrize("method, path, body, content_type", [
    ("POST", "/assignment/plan", b"\xff\xfe garbage", "application/x-www-form-urlencoded"),
    ("POST", "/assignment/plan", b"id=&action=explode", "application/x-www-form-urlencoded"),
    ("POST", "/assignment/plan", b"id=" + b"A" * 5000 + b"&action=reject&feedback=x", "application/x-www-form-urlencoded"),
    ("POST", "/assignment/decide", b"id=..%2F..%2Fbatches&action=approve&key=not-a-uuid", "application/x-www-form-urlencoded"),
    ("POST", "/assignment/cancel-reversal", b"id=%00&back=https://evil.example/", "application/x-www-form-urlencoded"),
    ("POST", "/batches/plan", b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
    ("POST", "/batches/plan", b"{}", "application/json"),
    ("POST", "/batches/apply", b"plan=unknown", "application/x-www-form-urlencoded"),
    ("POST", "/rejections/plan", b"", "application/x-www-form-urlencoded"),
    ("GET", "/batches/view?id=..%2F..%2Fswagger", b"", ""),
    ("GET", "/assignment?id=%E2%80%AE%00", b"", ""),
    ("GET", "/reversals?state=NOPE&dueBefore=yesterday&cursor=%%%", b"", ""),
    ("GET", "/audit?workerId=A1&since=not-a-date", b"", ""),
    ("GET", "/audit.csv", b"", ""),
    ("PUT", "/assignment/plan", b"", ""),
])
def test_given_odd_input_when_sent_to_the_console_then_it_answers_without_a_server_error(
        console, served, method, path, body, content_type):
    # Given a client holding the run's cookie
    session = _signed_in(console)
    headers = {"Content-Type": content_type} if content_type else {}
    # When it sends input no form of the console would send
    answer = session.request(method, console.origin + path, data=body, headers=headers, allow_redirects=False)
    # Then the console answers it (a page, a refusal or a redirect to itself), never a 500 or a stack trace
    assert answer.status_code < 500, answer.text[:500]
    assert "Traceback" not in answer.text
    location = answer.headers.get("Location", "")
    assert not location or location.startswith("/")


def test_given_an_unreachable_api_when_pages_open_then_they_say_so_without_a_server_error(tmp_path):
    # Given the console started against an API address nothing listens on
    from tests.console.conftest import start_console
    from tests.docs_ui.conftest import requester_env

    running = start_console(requester_env("http://127.0.0.1:9/v1", tmp_path), tmp_path)
    try:
        session = _signed_in(running)
        # When the Overview and an assignment are opened
        overview = session.get(running.origin + "/")
        assignment = session.get(running.origin + "/assignment", params={"id": "3ABCDEFGHIJKLMNOPQRSTUVWXYZ012"})
    finally:
        running.stop()
    # Then each page is drawn, saying the API could not be reached (NETWORK) and what to check
    for answer in (overview, assignment):
        assert answer.status_code == 200
        assert "NETWORK" in answer.text and "connection refused" in answer.text
        assert "Traceback" not in answer.text
