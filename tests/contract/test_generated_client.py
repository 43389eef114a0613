"""A client generated from `openapi.json` by a well-known generator (openapi-python-client) calls the API.

The package is generated into the temp directory once per document (its SHA-256 names the directory), so
reruns import it at once. Its calls are SigV4-signed by an httpx auth hook (botocore's SigV4Auth, service
`execute-api`), as any AWS client signs them, and go through the offline stack's local gateway.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.stack import DEMO_PRINCIPAL

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"
PACKAGE = "mturk_decisions_client"
#: openapi-python-client reads text/csv bodies as files (`File`, sent as they are); no formatter is run.
CONFIG = f"""package_name_override: {PACKAGE}
project_name_override: mturk-decisions-client
post_hooks: []
content_type_overrides:
  text/csv: application/octet-stream
"""


class SigV4(httpx.Auth):
    """Signs each request for `execute-api` with botocore, as the AWS SDKs do."""

    requires_request_body = True

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        self.credentials, self.region = Credentials(access_key, secret_key), region

    def auth_flow(self, request: httpx.Request):
        headers = {"Content-Type": request.headers["Content-Type"]} if "Content-Type" in request.headers else {}
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


def generated_package() -> Path:
    """The directory holding the generated package for the committed document, generated if missing."""
    digest = hashlib.sha256(DOCUMENT.read_bytes() + CONFIG.encode()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / "mturk-decisions-openapi-client" / digest
    if (home / PACKAGE / "__init__.py").exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=home.parent))
    (work / "config.yml").write_text(CONFIG, encoding="utf-8")
    generator = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run([str(generator), "generate", "--path", str(DOCUMENT), "--output-path", str(work / PACKAGE),
                    "--meta", "none", "--config", str(work / "config.yml")],
                   check=True, capture_output=True, text=True, timeout=300)
    try:
        os.replace(work, home)  # atomic: a parallel run generating the same document keeps one of the two
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return home


@pytest.fixture(scope="module")
def client_package():
    home = str(generated_package())
    sys.path.insert(0, home)
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(home)


@pytest.fixture()
def client(client_package, stack):
    signed = SigV4(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
    with client_package.Client(base_url=stack.gateway.url, httpx_args={"auth": signed}) as client:
        yield client


def test_given_a_seeded_assignment_when_the_generated_client_reads_it_then_the_answer_is_typed(client, seed):
    # Given a submitted assignment in the offline stack's MTurk
    from mturk_decisions_client.api.default import get_assignment
    from mturk_decisions_client.models import AssignmentDetails

    assignment_id = seed("Submitted", reward="0.75")
    # When the generated client asks for it, signed with SigV4
    response = get_assignment.sync_detailed(assignment_id, client=client)
    # Then 200, parsed into the document's typed model
    assert response.status_code == 200, response.content
    details = response.parsed
    assert isinstance(details, AssignmentDetails)
    assert details.assignment.assignment_id == assignment_id and details.assignment.status == "Submitted"
    assert details.assignment.reward == "0.75" and details.assignment.reversible is False
    assert details.history == []


def test_given_an_unknown_assignment_when_the_generated_client_reads_it_then_a_typed_error(client):
    # Given
    from mturk_decisions_client.api.default import get_assignment
    from mturk_decisions_client.models import ErrorBody, ErrorCode

    # When
    response = get_assignment.sync_detailed("3NOSUCHASSIGNMENT000000000000001", client=client)
    # Then the shared error schema, its code one of the enum's
    assert response.status_code == 404
    assert isinstance(response.parsed, ErrorBody)
    assert response.parsed.code is ErrorCode.ASSIGNMENT_NOT_FOUND and response.parsed.request_id


def test_given_a_rejection_through_the_generated_client_then_the_decision_is_typed(client, seed):
    # Given
    from mturk_decisions_client.api.default import reject_assignment
    from mturk_decisions_client.models import DecisionAnswer, RejectBody

    assignment_id = seed("Submitted")
    # When
    answer = reject_assignment.sync(assignment_id, client=client, body=RejectBody(feedback="Labels missing."),
                                    idempotency_key="contract-client-1")
    # Then
    assert isinstance(answer, DecisionAnswer)
    assert answer.assignment.status == "Rejected" and answer.decision.feedback == "Labels missing."
