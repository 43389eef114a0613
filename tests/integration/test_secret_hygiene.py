"""The MTurk secret never appears in a log line, an error or a response."""
from __future__ import annotations

import json
import logging
from dataclasses import replace

import boto3
import pytest

from local.stack import DEMO_MTURK_KEY, REGION
from mturk_decisions import wiring

SECRET_VALUE = DEMO_MTURK_KEY[1]


@pytest.fixture()
def all_logs(caplog):
    """Everything at DEBUG, botocore's wire logs included."""
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", "mturk-decisions"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture()
def with_secret(stack):
    """Run the service against another secret value (wrong, malformed or missing)."""
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=stack.moto_url)
    created = []

    def _use(secret_string: str | None):
        name = f"mturk-decisions/test-{len(created)}-{id(created)}"
        if secret_string is not None:
            client.create_secret(Name=name, SecretString=secret_string)
        created.append(name)
        wiring.use(wiring.build(replace(stack.settings, mturk_secret_id=name), clock=stack.simulator.clock.now))

    yield _use
    wiring.use(stack.dependencies)


def test_given_every_kind_of_call_when_logs_are_captured_at_debug_then_secret_absent(api, sim, seed, all_logs, capfd):
    # Given / When: successes, refusals and MTurk trouble, with DEBUG logging everywhere
    answers = [
        api.post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "no"}),
        api.post(f"/assignments/{seed('Rejected', days_ago=2)}/reverse", {}),
        api.post(f"/assignments/{seed('Rejected', days_ago=45)}/reverse", {}),
        api.get(f"/assignments/{seed('Submitted')}"),
    ]
    sim.set_fault_rate(1.0)
    answers.append(api.post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "no"}))
    out, err = capfd.readouterr()
    # Then
    assert any(r.name.startswith("botocore") for r in all_logs.records), "botocore debug logs were not captured"
    assert SECRET_VALUE not in out + err
    assert SECRET_VALUE not in all_logs.text
    for answer in answers:
        assert SECRET_VALUE not in answer.text


@pytest.mark.parametrize(
    "secret_string",
    [json.dumps({"accessKeyId": "SIMUNKNOWNKEY0000001", "secretAccessKey": "wrong-secret-value-xyz"}),
     "not json at all: wrong-secret-value-xyz",
     json.dumps({"accessKeyId": "ONLYKEY", "secret": "wrong-secret-value-xyz"}),
     None],
    ids=["unknown-key", "not-json", "missing-field", "no-secret"],
)
def test_given_bad_secret_then_502_explains_without_echoing_it(api, seed, with_secret, all_logs, capfd, secret_string):
    # Given
    assignment_id = seed("Submitted")
    with_secret(secret_string)
    # When
    response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "no"})
    # Then
    assert response.status_code == 502
    assert response.json()["code"] == "MTURK_CREDENTIALS_INVALID"
    assert "secret" in response.json()["message"].lower()
    out, err = capfd.readouterr()
    for text in (response.text, out, err, all_logs.text):
        assert "wrong-secret-value-xyz" not in text
