"""Fuzzing the API from its own OpenAPI document (schemathesis), through the SigV4-checking local gateway.

Every operation of the exported document gets generated requests, valid and invalid (schemathesis'
positive and negative modes), each signed like a real client's. Whatever comes in: no 5xx, and every 4xx
is a JSON error with a `code`. The example count per operation is bounded (CI) and larger in long mode.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis belongs in requirements-dev.txt")

from local.stack import DEMO_PRINCIPAL  # noqa: E402
from tests.reliability.harness import FINDINGS, SigV4RequestsAuth, finding, openapi_document, scaled  # noqa: E402

EXAMPLES = scaled(25, 200)
OPENAPI = openapi_document()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=EXAMPLES)
GATEWAY_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}  # what local/gateway.py serves
SIGNED = SigV4RequestsAuth(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


def _media_type(case) -> str | None:
    """The Content-Type the case will send: a header it sets wins over its body's media type."""
    headers = {name.lower(): value for name, value in (case.headers or {}).items()}
    media_type = headers.get("content-type") or getattr(case, "media_type", None)
    return str(media_type).split(";")[0].strip().lower() if media_type else None


def _problem(response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:500]}"
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.text[:300]!r}"
        if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
            return f"{response.status_code} JSON error without a code: {response.text[:300]}"
    return None


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_4xx_is_a_json_error_with_a_code(case, stack, sim):
    if case.method.upper() not in GATEWAY_METHODS:
        # schemathesis' negative mode also sends methods such as TRACE: local/gateway.py has no handler for
        # them and http.server answers 501 itself (API Gateway answers 403). A gap of the local rig, not of
        # the service: reported to the lead; the service never sees these requests.
        return
    if "F3" in FINDINGS and _media_type(case) not in (None, "application/json"):
        return  # finding F3 (test_findings.py) until its fix lands
    response = case.call(base_url=stack.gateway.url, auth=SIGNED, timeout=30)
    problem = _problem(response)
    sent = response.request.headers.get("Content-Type")
    assert problem is None, (f"{case.method} {case.formatted_path} {case.query or ''} Content-Type={sent!r} "
                             f"body={case.body!r}: {problem}")


def test_the_served_openapi_document_is_the_one_fuzzed(api):
    response = api.get("/swagger?format=json")
    assert response.status_code == 200, response.text
    served = response.json()
    assert set(served["paths"]) == set(OPENAPI["paths"])
    for path, methods in OPENAPI["paths"].items():
        assert set(served["paths"][path]) == set(methods), path


@pytest.mark.parametrize("raw,content_type", [
    pytest.param(b"{", "application/json", id="truncated-json"),
    pytest.param(b'{"feedback": "ok"}', "text/plain", id="text-plain", marks=finding("F3")),
    pytest.param(b"<feedback>ok</feedback>", "application/xml", id="xml", marks=finding("F3")),
    pytest.param(b"--x--", "multipart/form-data", id="multipart-no-boundary", marks=finding("F3")),
    pytest.param(b"[]", "application/json", id="json-array"),
    pytest.param(b"null", "application/json", id="json-null"),
    pytest.param(b'{"feedback": 12}', "application/json", id="feedback-number"),
    pytest.param(b'{"feedback": "ok", "extra": 1}', "application/json", id="unknown-field"),
    pytest.param(b"\xff\xfe\x00garbage", "application/json", id="not-utf8"),
    pytest.param(b'{"feedback": "' + b"x" * 5000 + b'"}', "application/json", id="feedback-5000-chars"),
    pytest.param(b"feedback=ok", "application/x-www-form-urlencoded", id="form-urlencoded"),
])
def test_hostile_bodies_on_every_write_route_are_4xx_json(api, seed, raw, content_type):
    assignment_id = seed("Submitted")
    for path in (f"/assignments/{assignment_id}/reject", f"/assignments/{assignment_id}/reverse",
                 f"/assignments/{assignment_id}/approve", "/batches", "/hits/3NOSUCHHIT000000000000000000001/reversals"):
        response = api.request("POST", path, raw=raw, headers={"Content-Type": content_type})
        assert _problem(response) is None and response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
