"""`mturk-decisions docs` in headless Chromium: the page lists every route of the API, "Try it out" goes
through the local signing proxy and answers 200, and a page of another origin cannot use the proxy."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from local.stack import DEMO_PRINCIPAL
from tests.docs_ui.conftest import ARTIFACTS
from tests.waiting import wait_until

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
#: Playwright's waits, in milliseconds: generous deadlines, never fixed sleeps.
UI_TIMEOUT_MS = 20_000


def _routes(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, operations in document["paths"].items()
            for method in operations if method in HTTP_METHODS}


def _listed_routes(page) -> set[tuple[str, str]]:
    pairs = page.eval_on_selector_all(".opblock", """blocks => blocks.map(block => [
        block.querySelector('.opblock-summary-method').textContent.trim(),
        block.querySelector('.opblock-summary-path').getAttribute('data-path')])""")
    return {(method.upper(), path) for method, path in pairs}


def _open_docs(page, docs) -> dict:
    """Open the address the command printed; answer the document the page shows, once every route is drawn."""
    page.goto(docs.url)
    document = page.evaluate("fetch('/openapi.json').then(answer => answer.json())")
    page.wait_for_function("count => document.querySelectorAll('.opblock').length === count",
                           arg=len(_routes(document)), timeout=UI_TIMEOUT_MS)
    return document


def test_given_docs_running_when_the_page_opens_then_it_lists_every_route_of_the_api(docs, page, api, served):
    # Given `mturk-decisions docs` running against the gateway, and the API's own document (signed)
    live = api.get("/swagger?format=json").json()
    # When the printed address is opened in the browser
    document = _open_docs(page, docs)
    # Then the page lists every route of the document, which has every route of the API,
    # and the document's only server is the local proxy
    assert _listed_routes(page) == _routes(document)
    assert _routes(live) <= _routes(document)
    assert document["servers"][0]["url"] == f"{docs.origin}/api"
    # And the address bar no longer carries the secret
    assert "token=" not in page.url


def _try_get_assignment(page, assignment_id: str):
    """Expand GET /assignments/{assignmentId}, "Try it out", fill the id, "Execute"; answer the operation block."""
    block = page.locator(".opblock.opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/assignments/{assignmentId}"]'))
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    block.locator('tr[data-param-name="assignmentId"] input').fill(assignment_id)
    block.locator("button.execute").click()
    return block


def test_given_a_seeded_assignment_when_try_it_out_then_200_through_the_signing_proxy(docs, page, seed, served):
    # Given a seeded assignment and the docs open in the browser
    assignment_id = seed(status="Submitted")
    _open_docs(page, docs)
    # When "Try it out" runs GET /assignments/{assignmentId}
    with page.expect_response(lambda answer: "/api/assignments/" in answer.url) as answered:
        block = _try_get_assignment(page, assignment_id)
    # Then the browser called the proxy, which signed the call: the API answered 200 with the assignment
    response = answered.value
    assert response.status == 200 and response.url == f"{docs.origin}/api/assignments/{assignment_id}"
    shown = block.locator(".live-responses-table tbody .response")
    expect(shown.locator(".response-col_status")).to_contain_text("200", timeout=UI_TIMEOUT_MS)
    expect(shown.locator(".response-col_description")).to_contain_text(assignment_id, timeout=UI_TIMEOUT_MS)
    # And the page never saw the keys; the command never logged the secret key
    assert "Authorization" not in response.request.headers and "authorization" not in response.request.headers
    assert DEMO_PRINCIPAL.secret_access_key not in page.content() + docs.stderr()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "docs_try_it_out.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


class _AttackerPage(BaseHTTPRequestHandler):
    """A page of another origin (another port of 127.0.0.1) that tries to approve an assignment through the proxy."""

    target = ""

    def do_GET(self):
        body = (f"<!doctype html><script>fetch({self.target!r}, {{method: 'POST', mode: 'no-cors', "
                "credentials: 'include', body: '{}'}).finally(() => document.title = 'sent');</script>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return


@pytest.fixture()
def attacker_page():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_given_the_docs_open_when_another_local_page_posts_to_the_proxy_then_403(docs, page, seed, served,
                                                                                  attacker_page, api):
    # Given the docs open in the browser (it holds the session cookie) and a Submitted assignment
    assignment_id = seed(status="Submitted")
    _open_docs(page, docs)
    target = f"{docs.origin}/api/assignments/{assignment_id}/approve"
    _AttackerPage.target = target
    # When a page of another port of 127.0.0.1 (same site: the cookie goes along) posts to the proxy
    other = page.context.new_page()
    other.goto(f"http://127.0.0.1:{attacker_page.server_address[1]}/")
    other.wait_for_function("document.title === 'sent'", timeout=UI_TIMEOUT_MS)
    # Then the proxy refused it for its Origin, and the assignment is still Submitted
    wait_until(lambda: f"refused POST /api/assignments/{assignment_id}/approve: FORBIDDEN_ORIGIN" in docs.stderr(),
               "the proxy's refusal in its log")
    assert api.get(f"/assignments/{assignment_id}").json()["assignment"]["status"] == "Submitted"
