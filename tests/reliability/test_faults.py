"""MTurk faults (ServiceFault on 20% of writes, before or after the write) with throttling on, end to end.

A client that retries at the API level when an attempt answers 502 or 429 (with the same Idempotency-Key)
gets every decision done, and MTurk sees each write take effect exactly once (simulator call log); the
audit holds exactly one SUCCEEDED record per decision and nothing PENDING.
"""
from __future__ import annotations

import time
import uuid

import pytest

from local.stack import DEMO_MTURK_KEY, REGION
from tests.reliability.harness import RESULTING, applied_writes, rng_for, scaled

DECISIONS = scaled(30, 150)
MAX_ATTEMPTS = 12


def decide_until_done(api, action: str, assignment_id: str, body: dict) -> tuple[int, list[int]]:
    """POST the decision, retrying 502/429/409-in-progress like a careful client; the final status and all."""
    key = str(uuid.uuid4())
    statuses = []
    for _ in range(MAX_ATTEMPTS):
        response = api.post(f"/assignments/{assignment_id}/{action}", body, headers={"Idempotency-Key": key})
        statuses.append(response.status_code)
        code = response.json().get("code") if response.status_code >= 400 else None
        if response.status_code in (502, 429) or code == "REQUEST_IN_PROGRESS":
            time.sleep(min(float(response.headers.get("Retry-After") or 0.1), 0.5))
            continue
        return response.status_code, statuses
    return statuses[-1], statuses


@pytest.fixture()
def audit(stack):
    from mturk_decisions.adapters.audit_store import DynamoAuditStore

    return DynamoAuditStore.for_table(stack.env["AUDIT_TABLE_NAME"], REGION, stack.moto_url)


@pytest.mark.parametrize("when", ["before", "after"])
def test_every_decision_completes_and_each_write_happens_once(api, sim, seed, audit, when):
    # Given
    rng = rng_for(f"faults-{when}")
    intents = []
    for index in range(DECISIONS):
        action = ("reject", "reverse", "approve")[index % 3]
        status = "Rejected" if action == "reverse" else "Submitted"
        intents.append((action, seed(status, days_ago=2)))
    sim.set_fault_rate(0.2, when=when, seed=rng.randrange(1 << 30))
    sim.set_throttle(12, burst=4)
    sim.reset_call_log()
    # When each decision is retried until done
    answers = {}
    for action, assignment_id in intents:
        body = {"feedback": "Does not follow the instructions.", "reason": "faults"} if action == "reject" else {}
        answers[assignment_id] = decide_until_done(api, action, assignment_id, body)
    sim.set_fault_rate(None)
    sim.set_throttle(None)
    # Then
    problems = []
    for action, assignment_id in intents:
        final, statuses = answers[assignment_id]
        state = sim.get_assignment_state(assignment_id).status
        writes = applied_writes(sim, assignment_id, DEMO_MTURK_KEY[0])
        records = [r.state.value for r in audit.history(assignment_id)]
        if final != 200:
            problems.append(f"{action} {assignment_id}: never completed, answers {statuses}")
        if state != RESULTING[action]:
            problems.append(f"{action} {assignment_id}: MTurk shows {state}")
        if len(writes) != 1:
            problems.append(f"{action} {assignment_id}: {len(writes)} writes took effect")
        if records.count("SUCCEEDED") != 1 or "PENDING" in records:
            problems.append(f"{action} {assignment_id}: audit {records} after answers {statuses}")
    calls = sim.calls(access_key_id=DEMO_MTURK_KEY[0])
    faults = sum(1 for call in calls if call.outcome == "ServiceFault")
    throttles = sum(1 for call in calls if call.outcome == "ThrottlingException")
    assert not problems, "\n".join(problems[:15]) + f"\n(RELIABILITY_SEED={rng.seed_value})"
    assert faults > 0, "no fault was injected: the test proved nothing"
    print(f"{DECISIONS} decisions with {faults} ServiceFaults ({when}) and {throttles} throttled calls")
