"""The API answers as its OpenAPI document says (schemathesis), through the SigV4-checking local gateway.

Every operation of the document gets generated requests, valid and invalid (schemathesis' positive and
negative modes), each signed like a real client's, and every answer must pass every check: not a server
error, a documented status code, a documented content type, a body matching the documented schema, and the
documented headers. A stateful run follows the document's links (POST /batches -> GET /batches/{batchId},
a decision -> GET /assignments/{assignmentId}, ...). Zero failures. The example counts are bounded for CI
(`EXAMPLES` per operation, `STATEFUL_EXAMPLES` scenarios) and larger in long mode.
"""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, Phase, settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis belongs in requirements-dev.txt")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.stack import DEMO_PRINCIPAL  # noqa: E402
from tests.reliability.harness import SigV4RequestsAuth, openapi_document, scaled  # noqa: E402

EXAMPLES = scaled(25, 200)
STATEFUL_EXAMPLES = scaled(15, 100)
OPENAPI = openapi_document()  # schemathesis works on its own copy: the committed document stays as read
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
schema = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI))
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=EXAMPLES)
SIGNED = SigV4RequestsAuth(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


@schemathesis.serializer("text/csv")
def _csv(_context, value) -> bytes:
    """The batch-results CSV upload: the generated text as UTF-8."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_given_generated_requests_then_every_answer_is_the_documented_one(case, stack, sim):
    # Given a generated request (valid or not), signed like a real client's
    # When it is sent through the gateway
    # Then every check passes (schemathesis raises with each failure, the request and the answer)
    case.call_and_validate(base_url=stack.gateway.url, auth=SIGNED, timeout=30, checks=CHECKS)


def test_given_the_documents_links_then_chained_calls_answer_as_documented(stack, sim):
    # Given scenarios that follow the document's links, each response feeding the next request
    base_url = stack.gateway.url

    class Scenarios(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": base_url, "auth": SIGNED, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    # When / Then they run: every answer of every step passes every check
    Scenarios.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, deadline=None,
                                    suppress_health_check=list(HealthCheck)))


def test_given_the_served_document_then_it_is_the_one_fuzzed(api):
    # When
    response = api.get("/swagger?format=json")
    # Then
    assert response.status_code == 200, response.text
    assert response.json() == OPENAPI


@pytest.mark.parametrize("raw,content_type", [
    pytest.param(b"{", "application/json", id="truncated-json"),
    pytest.param(b'{"feedback": "ok"}', "text/plain", id="text-plain"),
    pytest.param(b"<feedback>ok</feedback>", "application/xml", id="xml"),
    pytest.param(b"--x--", "multipart/form-data", id="multipart-no-boundary"),
    pytest.param(b"--x\r\n\r\nok\r\n--x--\r\n", "multipart/form-data; boundary=x", id="multipart"),
    pytest.param(b"[]", "application/json", id="json-array"),
    pytest.param(b"null", "application/json", id="json-null"),
    pytest.param(b'{"feedback": 12}', "application/json", id="feedback-number"),
    pytest.param(b'{"feedback": "ok", "extra": 1}', "application/json", id="unknown-field"),
    pytest.param(b"\xff\xfe\x00garbage", "application/json", id="not-utf8"),
    pytest.param(b'{"feedback": "' + b"x" * 5000 + b'"}', "application/json", id="feedback-5000-chars"),
    pytest.param(b"feedback=ok", "application/x-www-form-urlencoded", id="form-urlencoded"),
])
def test_given_hostile_bodies_on_every_write_route_then_documented_answers_never_5xx(api, seed, raw, content_type):
    # Given a submitted assignment, and every route that reads a body
    assignment_id = seed("Submitted")
    codes = set(OPENAPI["components"]["schemas"]["ErrorCode"]["enum"])
    paths = [f"/assignments/{assignment_id}/{action}" for action in ("reject", "reverse", "approve")]
    for path in paths + ["/batches", "/hits/3NOSUCHHIT000000000000000000001/reversals"]:
        # When the body is sent (JSON `null` is no body: an approval without feedback)
        response = api.request("POST", path, raw=raw, headers={"Content-Type": content_type})
        # Then a documented status, never a 5xx; an error is JSON with a documented code
        assert response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
        assert str(response.status_code) in OPENAPI["paths"][_template(path)]["post"]["responses"], path
        if response.status_code >= 400:
            assert response.json()["code"] in codes, f"{path}: {response.text[:300]}"


def _template(path: str) -> str:
    parts = path.split("/")
    if parts[1] == "assignments":
        return f"/assignments/{{assignmentId}}/{parts[3]}"
    return "/hits/{hitId}/reversals" if parts[1] == "hits" else path
