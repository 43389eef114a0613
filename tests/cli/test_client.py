"""The API client against a tiny stub HTTP server that verifies SigV4 like the local gateway does."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials

from local.sigv4 import SigV4Error, verify_sigv4
from mturk_decisions_cli.client import ApiClient
from mturk_decisions_cli.errors import ConfigError, TransportError
from tests.cli.conftest import FAKE_KEY


class StubApi:
    """Answers from a script, records what it received, and checks each request's signature."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[tuple[int, object, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self): stub.serve(self)
            def do_POST(self): stub.serve(self)

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prod"

    def answer(self, status: int, body: object, headers: dict | None = None) -> StubApi:
        self.answers.append((status, body, headers or {}))
        return self

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        split = urlsplit(request.path)
        try:
            caller = verify_sigv4(request.command, split.path, split.query, request.headers, body,
                                  lambda key: FAKE_KEY[1] if key == FAKE_KEY[0] else None)
            signed = (caller.service, caller.region)
        except SigV4Error as error:
            signed = ("invalid", error.message)
        self.received.append({"method": request.command, "path": split.path, "query": parse_qs(split.query),
                              "raw_query": split.query, "headers": dict(request.headers.items()), "body": body,
                              "signed": signed})
        status, answer, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        request.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stub():
    server = StubApi()
    yield server
    server.close()


def client_for(stub: StubApi, retries: int = 2, credentials=None) -> tuple[ApiClient, list[float]]:
    sleeps: list[float] = []
    client = ApiClient(stub.url + "/", credentials or Credentials(*FAKE_KEY), "eu-west-1", timeout=5, retries=retries,
                       sleep=sleeps.append)
    return client, sleeps


def test_requests_are_sigv4_signed_for_execute_api_in_the_region(stub):
    # Given an API; When the client posts JSON with a query
    stub.answer(200, {"ok": True})
    client, _ = client_for(stub)
    response = client.request("POST", "/assignments/A1/reject", json={"feedback": "no"}, query={"dryRun": "true"})
    # Then the signature verifies, for execute-api in the client's region, and the body is the JSON
    assert response.status == 200 and response.body == {"ok": True}
    [seen] = stub.received
    assert seen["signed"] == ("execute-api", "eu-west-1")
    assert seen["path"] == "/prod/assignments/A1/reject" and seen["query"] == {"dryRun": ["true"]}
    assert json.loads(seen["body"]) == {"feedback": "no"}
    assert seen["headers"]["Content-Type"] == "application/json"


def test_query_values_with_plus_slash_and_equals_survive_signing(stub):
    # Given a cursor as an API would hand it out (base64 with + / =)
    stub.answer(200, {"decisions": []})
    client, _ = client_for(stub)
    cursor = "eyJhIjogMX0+/x==&y"
    client.request("GET", "/decisions", query={"workerId": "A1", "cursor": cursor, "since": None})
    # Then it arrives intact, signed, and a None value is left out
    [seen] = stub.received
    assert seen["signed"][0] == "execute-api"
    assert seen["query"] == {"workerId": ["A1"], "cursor": [cursor]}


def test_temporary_credentials_send_the_session_token(stub):
    # Given
    stub.answer(200, {})
    client, _ = client_for(stub, credentials=Credentials(*FAKE_KEY, token="fake-session-token"))
    # When
    client.request("GET", "/decisions", query={"workerId": "A1"})
    # Then
    assert stub.received[0]["headers"]["X-Amz-Security-Token"] == "fake-session-token"


def test_csv_bodies_are_sent_as_is_with_their_content_type(stub):
    # Given
    stub.answer(202, {"batchId": "b"})
    client, _ = client_for(stub)
    data = '\ufeff"HITId","AssignmentId"\r\n"H","A"\r\n'.encode()
    # When
    client.request("POST", "/batches", data=data, content_type="text/csv")
    # Then
    [seen] = stub.received
    assert seen["body"] == data and seen["headers"]["Content-Type"] == "text/csv"
    assert seen["signed"][0] == "execute-api"


def test_get_is_retried_on_503_then_succeeds_and_each_attempt_is_signed_again(stub):
    # Given
    stub.answer(503, {"code": "AUDIT_UNAVAILABLE", "message": "later"}).answer(200, {"assignment": {}})
    client, sleeps = client_for(stub)
    # When
    response = client.request("GET", "/assignments/A1")
    # Then
    assert response.status == 200 and len(stub.received) == 2 and len(sleeps) == 1
    assert all(seen["signed"][0] == "execute-api" for seen in stub.received)


def test_a_write_with_idempotency_key_is_retried_with_the_same_key_after_a_429(stub):
    # Given
    stub.answer(429, {"code": "MTURK_THROTTLED", "message": "slow down", "retryAfterSeconds": 3},
                {"Retry-After": "3"}).answer(200, {"decision": {}})
    client, sleeps = client_for(stub)
    # When
    client.request("POST", "/assignments/A1/reject", json={"feedback": "x"}, headers={"Idempotency-Key": "k-1"})
    # Then
    assert [seen["headers"]["Idempotency-Key"] for seen in stub.received] == ["k-1", "k-1"]
    assert sleeps == [3.0]


def test_a_batch_submission_is_never_retried(stub):
    # Given the API fails once
    stub.answer(503, {"code": "AUDIT_UNAVAILABLE", "message": "later"}).answer(202, {"batchId": "b"})
    client, _ = client_for(stub)
    # When a batch (a write without Idempotency-Key) is posted
    response = client.request("POST", "/batches", data=b"x", content_type="text/csv")
    # Then the error is returned as is, after one request
    assert response.status == 503 and len(stub.received) == 1


def test_mturk_fault_is_not_retried_and_retries_stop_after_the_limit(stub):
    # Given
    stub.answer(502, {"code": "MTURK_FAULT", "message": "MTurk kept failing"})
    client, _ = client_for(stub)
    # When / Then an MTurk fault is not retried
    assert client.request("GET", "/assignments/A1").status == 502 and len(stub.received) == 1
    # And a 500 is retried up to the limit
    stub.answers[:] = [(500, {"message": "Internal server error"}, {})]
    stub.received.clear()
    assert client.request("GET", "/assignments/A1").status == 500 and len(stub.received) == 3


def test_a_non_json_error_body_becomes_a_message(stub):
    # Given
    stub.answer(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    client, _ = client_for(stub, retries=0)
    # When
    response = client.request("GET", "/assignments/A1")
    # Then
    assert response.status == 502 and "Bad Gateway" in response.body["message"]
    assert response.error().code == "HTTP_502"


def test_api_gateway_errors_without_code_get_one_from_the_error_type(stub):
    # Given
    stub.answer(403, {"message": "The security token included in the request is invalid."},
                {"x-amzn-ErrorType": "UnrecognizedClientException:http://internal.amazon.com/coral/"})
    client, _ = client_for(stub, retries=0)
    # When
    error = client.request("GET", "/assignments/A1").error()
    # Then
    assert error.code == "ACCESS_DENIED" and error.exit_code == 4


def test_unreachable_api_is_a_transport_error_after_retries():
    # Given
    sleeps: list[float] = []
    client = ApiClient("http://127.0.0.1:9/v1", Credentials(*FAKE_KEY), "us-east-1", timeout=2, retries=1,
                       sleep=sleeps.append)
    # When / Then
    with pytest.raises(TransportError) as raised:
        client.request("GET", "/assignments/A1")
    assert raised.value.message == "Could not connect to http://127.0.0.1:9/v1 (connection refused)."
    assert raised.value.exit_code == 6 and len(sleeps) == 1


def test_credentials_that_cannot_be_used_are_a_config_error(stub):
    # Given
    from botocore.exceptions import TokenRetrievalError

    class Expired:
        def get_frozen_credentials(self):
            raise TokenRetrievalError(provider="sso", error_msg="The SSO session has expired")

    stub.answer(200, {})
    client, _ = client_for(stub, credentials=Expired())
    # When / Then
    with pytest.raises(ConfigError) as raised:
        client.request("GET", "/assignments/A1")
    assert "SSO session has expired" in raised.value.message and raised.value.exit_code == 6
