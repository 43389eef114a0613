"""A cold environment's first decision: the checks need MTurk only; the audit store and its client are made
while the first MTurk request waits for its answer."""
from __future__ import annotations

import threading
import time

from mturk_decisions import wiring
from mturk_decisions.adapters.aws_clients import Lazy
from mturk_decisions.config import Settings
from tests.unit.test_read_ahead import CountingMTurk

ENV = {"AUDIT_TABLE_NAME": "cold-audit", "IDEMPOTENCY_TABLE_NAME": "cold-idempotency", "MTURK_SECRET_ID": "cold/secret",
       "AWS_REGION": "us-east-1", "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:9"}


def test_given_a_cold_decision_service_when_its_first_mturk_call_waits_then_the_audit_store_is_made_meanwhile():
    # Given the decision service of a cold environment, its MTurk client slow to answer
    client = CountingMTurk(latency=0.3)  # a real call from Lambda takes 100-250 ms
    deps = wiring.build(Settings.from_env(ENV), mturk_client_provider=lambda: client)
    service = deps.service
    audit = service.audit
    made_before = type(audit) is Lazy and audit.made
    # When its first MTurk request goes out (the assignment is read for the checks)
    reading = threading.Thread(target=lambda: deps.mturk.get_assignment("A" * 30))
    reading.start()
    time.sleep(0.15)
    made_while_waiting = audit.made
    reading.join()
    # Then the audit store was not made with the service, and was made while MTurk had not answered yet
    assert not made_before
    assert made_while_waiting
