"""SigV4 verification: ``local.sigv4.verify_sigv4`` directly, and the simulator's auth answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.sigv4 import Caller, SigV4Error, verify_sigv4
from tests.simulator.sim_helpers import KEY, SECRET, TARGET_PREFIX, error_of, make_client, signed_request

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
SECRETS = {"SIMKEYGATEWAY": "gateway-secret"}
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def _sign(method="POST", path="/", query="", body=b'{"a": 1}', headers=None, key="SIMKEYGATEWAY",
          secret="gateway-secret", service="execute-api", region="eu-west-1", signer=SigV4Auth):
    """Sign as a client would; return what a server receives: (method, path, query, headers, body)."""
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {"Content-Type": "application/json"})
    signer(Credentials(key, secret), service, region).add_auth(request)
    received = dict(request.headers)
    received["Host"] = HOST
    return method, path, query, received, body


def _verify(received, now=None, secrets=SECRETS):
    method, path, query, headers, body = received
    return verify_sigv4(method, path, query, headers, body, secrets.get, now=now)


def _error(received, **kwargs) -> SigV4Error:
    with pytest.raises(SigV4Error) as exc:
        _verify(received, **kwargs)
    return exc.value


# ----- verify_sigv4 -----

def test_valid_signature_returns_the_caller():
    # When / Then
    assert _verify(_sign()) == Caller(access_key_id="SIMKEYGATEWAY", region="eu-west-1", service="execute-api")


def test_path_and_query_that_need_encoding():
    # Given a path with spaces, slashes, '+' and non-ASCII in a segment, and an unsorted query with
    # repeated keys, all percent-encoded on the wire as a client sends them
    path = "/prod/assignments/" + quote("3ABC x+y/é", safe="") + "/reject"
    query = "b=" + quote("two words&more", safe="") + "&a=2&a=1&empty="
    # When verified with the raw path and query
    caller = _verify(_sign(path=path, query=query))
    # Then the canonicalisation matches botocore's signing
    assert caller.access_key_id == "SIMKEYGATEWAY"


def test_a_signed_get_without_body_is_valid():
    # When / Then
    assert _verify(_sign(method="GET", path="/prod/decisions", query="status=Rejected", body=b""))


def test_tampered_path_query_body_or_header_fails():
    # Given a signed request
    method, path, query, headers, body = _sign(path="/prod/a", query="x=1")
    # When / Then each tampered part fails the signature
    for received in [
        (method, "/prod/b", query, headers, body),
        (method, path, "x=2", headers, body),
        (method, path, query, headers, b'{"a": 2}'),
        (method, path, query, headers | {"Content-Type": "text/plain"}, body),
        ("PUT", path, query, headers, body),
    ]:
        error = _error(received)
        assert (error.status, error.code, error.message) == (400, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_wrong_secret_fails():
    # When
    error = _error(_sign(secret="not-the-secret"))
    # Then
    assert (error.status, error.code, error.message) == (400, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_an_unknown_access_key_is_unrecognized():
    # When
    error = _error(_sign(key="SIMKEYUNKNOWN"))
    # Then
    assert (error.status, error.code, error.message) == (
        400, "UnrecognizedClientException", "The security token included in the request is invalid.")


def test_missing_authorization_is_403_missing_token():
    # Given
    method, path, query, headers, body = _sign()
    headers.pop("Authorization")
    # When
    error = _error((method, path, query, headers, body))
    # Then
    assert (error.status, error.code, error.message) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")


@pytest.mark.parametrize("authorization", [
    "Basic dXNlcjpwYXNz",
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
    "AWS4-HMAC-SHA256 Credential=SIMKEYGATEWAY/20260115/eu-west-1, SignedHeaders=host;x-amz-date, Signature=abc",
])
def test_malformed_authorization_is_an_incomplete_signature(authorization):
    # Given
    method, path, query, headers, body = _sign()
    # When
    error = _error((method, path, query, headers | {"Authorization": authorization}, body))
    # Then
    assert (error.status, error.code) == (400, "IncompleteSignatureException")


def test_host_must_be_signed():
    # Given
    method, path, query, headers, body = _sign()
    headers["Authorization"] = headers["Authorization"].replace("SignedHeaders=content-type;host;x-amz-date",
                                                                "SignedHeaders=content-type;x-amz-date")
    # When / Then
    assert _error((method, path, query, headers, body)).code == "IncompleteSignatureException"


def test_missing_x_amz_date_is_an_incomplete_signature():
    # Given
    method, path, query, headers, body = _sign()
    headers.pop("X-Amz-Date")
    # When / Then
    assert _error((method, path, query, headers, body)).code == "IncompleteSignatureException"


@pytest.mark.parametrize("offset, outcome", [
    (timedelta(minutes=14, seconds=59), None),
    (timedelta(minutes=-14, seconds=-59), None),
    (timedelta(minutes=15, seconds=1), "Signature expired"),
    (timedelta(minutes=-15, seconds=-1), "Signature not yet current"),
])
def test_clock_skew_limit_is_15_minutes(offset, outcome):
    # Given a request signed now, verified at a wall-clock time `offset` later
    received = _sign()
    signed_at = datetime.strptime(received[3]["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # When / Then
    if outcome is None:
        assert _verify(received, now=signed_at + offset)
    else:
        error = _error(received, now=signed_at + offset)
        assert (error.status, error.code) == (400, "InvalidSignatureException")
        assert error.message.startswith(outcome)


def test_credential_scope_date_must_match_x_amz_date():
    # Given
    method, path, query, headers, body = _sign()
    amz_date = headers["X-Amz-Date"]
    other_day = (datetime.strptime(amz_date[:8], "%Y%m%d") - timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{amz_date[:8]}/", f"/{other_day}/")
    # When
    error = _error((method, path, query, headers, body))
    # Then
    assert error.code == "InvalidSignatureException" and error.message.startswith("Date in Credential scope does not match")


def test_headers_a_non_botocore_client_signed_are_honoured():
    # Given a client that also signs User-Agent (botocore never does)
    class SignsEverything(SigV4Auth):
        def headers_to_sign(self, request):
            selected = super().headers_to_sign(request)
            selected["user-agent"] = request.headers["User-Agent"]
            return selected

    received = _sign(headers={"User-Agent": "custom-client/1.0", "Content-Type": "application/json"}, signer=SignsEverything)
    assert "user-agent" in received[3]["Authorization"]
    # Then the server checks exactly the listed headers
    assert _verify(received)
    method, path, query, headers, body = received
    assert _error((method, path, query, headers | {"User-Agent": "other/2.0"}, body)).code == "InvalidSignatureException"


def test_signed_payload_hash_must_match_body():
    # Given
    body = b'{"a": 1}'
    received = _sign(body=body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    # When / Then
    assert _verify(received)
    # And another body fails
    method, path, query, headers, _ = received
    assert _error((method, path, query, headers, b'{"a": 2}')).code == "InvalidSignatureException"


# ----- the simulator's answers -----

def test_boto3_with_wrong_secret_is_refused(server):
    # Given
    client = make_client(server, secret="wrong-secret")
    # When / Then
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.get_account_balance()
    assert error_of(exc) == ("InvalidSignatureException", SIGNATURE_MISMATCH)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_boto3_with_unknown_key_is_refused(server):
    # Given
    client = make_client(server, key="SIMKEYNOBODY")
    # When / Then
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.get_account_balance()
    assert error_of(exc) == ("UnrecognizedClientException", "The security token included in the request is invalid.")


def test_unsigned_request_is_refused_with_403(server):
    # When
    response = requests.post(server.url + "/", data=b"{}", timeout=10, headers={
        "X-Amz-Target": f"{TARGET_PREFIX}.GetAccountBalance", "Content-Type": "application/x-amz-json-1.1"})
    # Then
    assert response.status_code == 403
    assert response.json() == {"__type": "MissingAuthenticationTokenException", "Message": "Missing Authentication Token"}
    assert response.headers["x-amzn-RequestId"]


def test_boto3_with_a_clock_20_minutes_behind_is_refused(server, monkeypatch):
    # Given a client whose clock is 20 minutes slow
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: datetime.now(UTC) - timedelta(minutes=20))
    client = make_client(server)
    # When it calls
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.get_account_balance()
    # Then the signature has expired
    code, message = error_of(exc)
    assert code == "InvalidSignatureException" and message.startswith("Signature expired")


def test_credentials_scoped_to_another_region_or_service_are_refused(server):
    # Given
    client = make_client(server, region="eu-west-1")
    # When / Then
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.get_account_balance()
    assert error_of(exc) == ("InvalidSignatureException", "Credential should be scoped to a valid region. ")
    # And so are credentials scoped to another service
    headers = {"X-Amz-Target": f"{TARGET_PREFIX}.GetAccountBalance", "Content-Type": "application/x-amz-json-1.1"}
    response = signed_request(server.url + "/", b"{}", headers, service="mturk")
    assert response.status_code == 400 and response.json()["__type"] == "InvalidSignatureException"


def test_requests_with_encoded_path_and_query_reach_the_simulator(server):
    # Given a request to an encoded path and query, signed by botocore and sent by `requests`
    url = server.url + "/odd%20path/" + quote("é+x", safe="") + "?b=" + quote("1 2", safe="") + "&a=%2F"
    headers = {"X-Amz-Target": f"{TARGET_PREFIX}.GetAccountBalance", "Content-Type": "application/x-amz-json-1.1"}
    # Then the signature checks out
    response = signed_request(url, b"{}", headers, key=KEY, secret=SECRET)
    assert response.status_code == 200, response.text
