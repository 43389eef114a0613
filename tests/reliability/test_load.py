"""Bounded load on the local gateway (loopback only): concurrent signed clients for a fixed time.

10 clients x 10 s in CI, 50 clients x 30 s with RELIABILITY_LONG=1. Each client loops over: seed an
assignment, reject it (or reverse a rejection), sometimes read it back, sometimes replay a request with
the same Idempotency-Key. MTurk (the simulator) is throttled, so some answers may be the intended 429.
Then: no answer other than 200 and 429; every 200 decision has its SUCCEEDED audit record; a replayed
key returned the first answer; nothing was applied twice and nothing is left PENDING.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, REGION
from tests.integration.conftest import SignedApi
from tests.reliability.harness import applied_writes, rng_for, scaled

CLIENTS = scaled(10, 50)
SECONDS = scaled(10, 30)
MAX_REQUESTS_PER_CLIENT = 2000  # a bound on top of the time limit


@pytest.fixture()
def audit(stack):
    from mturk_decisions.adapters.audit_store import DynamoAuditStore

    return DynamoAuditStore.for_table(stack.env["AUDIT_TABLE_NAME"], REGION, stack.moto_url)


def test_bounded_load_loses_nothing(stack, sim, audit):
    # Given a funded HIT and MTurk throttling below what the clients offer
    assert stack.gateway.url.startswith("http://127.0.0.1:")  # loopback only
    key = DEMO_MTURK_KEY[0]
    sim.set_balance(key, "100000.00")
    hit = sim.add_hit(key, reward="0.10", max_assignments=CLIENTS * MAX_REQUESTS_PER_CLIENT)
    seed_lock = threading.Lock()
    sim.set_throttle(8, burst=4)  # below what the clients offer: some decisions end in the intended 429
    sim.reset_call_log()
    decided: list[tuple[str, str, dict]] = []   # (action, assignment, answer) of every 200 decision
    throttled: list[tuple[str, str]] = []
    unexpected: list[str] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(number: int) -> None:
        rng = rng_for(f"load-{number}")
        api = SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() > deadline:
                return
            action = "reverse" if rng.random() < 0.25 else "reject"
            with seed_lock:
                assignment_id = sim.add_assignment(hit, status="Rejected" if action == "reverse" else "Submitted",
                                                   submitted_at=sim.clock.now() - timedelta(days=1))
            idempotency_key = str(uuid.uuid4())
            body = {"feedback": f"load client {number}", "reason": "load"} if action == "reject" else {}
            response = api.post(f"/assignments/{assignment_id}/{action}", body, headers={"Idempotency-Key": idempotency_key})
            replay = None
            if response.status_code == 200 and rng.random() < 0.2:
                replay = api.post(f"/assignments/{assignment_id}/{action}", body,
                                  headers={"Idempotency-Key": idempotency_key})
            read = api.get(f"/assignments/{assignment_id}") if rng.random() < 0.2 else None
            with lock:
                for answer in (response, replay, read):
                    if answer is not None:
                        statuses[answer.status_code] += 1
                        if answer.status_code not in (200, 429):
                            unexpected.append(f"{answer.request.method} {answer.url}: {answer.status_code} {answer.text[:200]}")
                if response.status_code == 200:
                    decided.append((action, assignment_id, response.json()))
                    if replay is not None and replay.status_code == 200 and replay.json() != response.json():
                        unexpected.append(f"replayed key answered differently for {assignment_id}")
                elif response.status_code == 429:
                    throttled.append((action, assignment_id))

    # When the clients decide at once for a bounded time
    threads = [threading.Thread(target=client, args=(n,), name=f"load-client-{n}", daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    sim.set_throttle(None)
    # Then
    assert not any(thread.is_alive() for thread in threads), "a load client did not stop"
    assert not unexpected, f"{len(unexpected)} unexpected answers:\n" + "\n".join(unexpected[:10])
    assert decided, f"no decision went through: {dict(statuses)}"
    lost = []
    for action, assignment_id, answer in decided:
        records = {r.decision_id: r.state.value for r in audit.history(assignment_id)}
        if records.get(answer["decision"]["decisionId"]) != "SUCCEEDED":
            lost.append(f"{action} {assignment_id}: answered 200 but the audit holds {records}")
        if len(applied_writes(sim, assignment_id, key)) != 1:
            lost.append(f"{action} {assignment_id}: {len(applied_writes(sim, assignment_id, key))} writes took effect")
        if "PENDING" in records.values():
            lost.append(f"{action} {assignment_id}: a record is left PENDING: {records}")
    for action, assignment_id in throttled:
        states = [r.state.value for r in audit.history(assignment_id)]
        if "SUCCEEDED" in states or "PENDING" in states:
            lost.append(f"{action} {assignment_id}: answered 429 but the audit holds {states}")
    assert not lost, f"{len(lost)} of {len(decided)} decisions:\n" + "\n".join(lost[:10])
    print(f"{CLIENTS} clients x {SECONDS} s: {dict(statuses)}; {len(decided)} decisions audited")
