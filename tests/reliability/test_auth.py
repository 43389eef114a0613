"""IAM auth at the gateway: every route answers 403 to an unsigned or wrongly signed request, and the
Lambda handler never runs for it (no MTurk call, no audit record)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local.stack import DEMO_PRINCIPAL
from tests.reliability.harness import SigV4RequestsAuth, openapi_document

_ID = "3RELIABILITYAUTH0000000000001"
_BATCH = "0" * 32


def routes() -> list[tuple[str, str]]:
    """Every (method, path) of the exported OpenAPI document, path parameters filled in."""
    document = openapi_document()
    found = []
    for template, methods in document["paths"].items():
        path = re.sub(r"\{batchId\}", _BATCH, template)
        path = re.sub(r"\{[^}]+\}", _ID, path)
        found += [(method.upper(), path) for method in methods]
    return sorted(found) + [("GET", "/no/such/route"), ("DELETE", "/decisions")]


def _key(principal=DEMO_PRINCIPAL) -> str:
    return principal.access_key_id


SIGNERS = {
    "unsigned": None,
    "wrong-secret": SigV4RequestsAuth(_key(), "not-the-secret-at-all-xxxxxxxxxxxxxxxxxx"),
    "unknown-key": SigV4RequestsAuth("LOCALUNKNOWNCALLER01", DEMO_PRINCIPAL.secret_access_key),
    "other-service": SigV4RequestsAuth(_key(), DEMO_PRINCIPAL.secret_access_key, service="s3"),
    # A deploy mistake the gateway must not hide: a client configured for another region than the API's.
    "other-region": SigV4RequestsAuth(_key(), DEMO_PRINCIPAL.secret_access_key, region="eu-west-1"),
    "stale-date": SigV4RequestsAuth(_key(), DEMO_PRINCIPAL.secret_access_key,
                                    when=datetime.now(UTC) - timedelta(minutes=20)),
}


@pytest.mark.parametrize("signer", sorted(SIGNERS))
def test_every_route_refuses_unsigned_and_wrongly_signed_requests(stack, sim, signer):
    # Given
    sim.reset_call_log()
    refused = []
    # When
    for method, path in routes():
        body = b'{"feedback": "x"}' if method in ("POST", "PUT") else b""
        response = requests.request(method, stack.gateway.url + path, data=body, timeout=10,
                                    headers={"Content-Type": "application/json"}, auth=SIGNERS[signer])
        ok = response.status_code == 403 and response.json().get("code") in ("MISSING_AUTHENTICATION_TOKEN",
                                                                              "ACCESS_DENIED", "INVALID_SIGNATURE")
        if not ok:
            refused.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    # Then
    assert not refused, "\n".join(refused)
    assert sim.count_calls() == 0, "the handler ran for a request the gateway should have refused"


def test_a_signature_for_another_region_is_refused_in_api_gateways_words(stack):
    # When
    response = requests.get(stack.gateway.url + "/decisions?workerId=A1", timeout=10, auth=SIGNERS["other-region"])
    # Then
    assert response.status_code == 403
    assert response.json()["message"].startswith("Credential should be scoped to a valid region, not 'eu-west-1'")


def test_a_body_changed_after_signing_is_refused(stack, sim, seed):
    # Given
    assignment_id = seed("Submitted")
    signed = requests.Request("POST", f"{stack.gateway.url}/assignments/{assignment_id}/reject",
                              data=b'{"feedback": "fine"}', headers={"Content-Type": "application/json"},
                              auth=SigV4RequestsAuth(_key(), DEMO_PRINCIPAL.secret_access_key)).prepare()
    signed.body = b'{"feedback": "evil"}'
    # When
    response = requests.Session().send(signed, timeout=10)
    # Then
    assert response.status_code == 403
    assert sim.get_assignment_state(assignment_id).status == "Submitted"


def test_a_correctly_signed_request_passes(stack, seed):
    # Given
    assignment_id = seed("Submitted")
    # When
    response = requests.get(f"{stack.gateway.url}/assignments/{assignment_id}", timeout=10,
                            auth=SigV4RequestsAuth(_key(), DEMO_PRINCIPAL.secret_access_key))
    # Then
    assert response.status_code == 200, response.text
