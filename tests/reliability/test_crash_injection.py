"""Crash injection: kill the function at each step of the decision protocol, then reconcile.

Randomized trials (200 per path in CI, 1,000 with RELIABILITY_LONG=1) drive the real DecisionService and
the batch worker handler over the real adapters (PynamoDB audit and batch stores on moto server, the
boto3 MTurk gateway over the simulator in process), with MTurk faults before or after the write at
random, crash at a random step (or none), sometimes a retry by the caller, then run the Reconciler.
After every trial: 0 lost decisions, 0 audit records without a matching MTurk state, 0 double-applied
MTurk writes (from the simulator's call log).
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from local.gateway import _LambdaContext
from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.domain.model import Action, DecisionRequest, Source
from tests.reliability.harness import (
    FINDINGS,
    REQUIRED,
    RESULTING,
    STEPS,
    Crash,
    check_intent,
    make_reconciler,
    reconciler_class,
    rng_for,
    scaled,
    summarize,
)

TRIALS = scaled(200, 1000)
NO_RECONCILER = ("mturk_decisions.service.reconciler.Reconciler has not landed yet: records a crash leaves "
                 "PENDING cannot be settled, so the after-reconciliation invariants cannot hold")
ACTOR = "arn:aws:iam::000000000000:user/reliability"
#: MTurk faults of a trial: on writes before or after the write; on every call once F1 is fixed (a fault on the
#: read that confirms an ambiguous write is what F1 mishandles).
FAULTS = (None, ("before", 0.2, "writes"), ("after", 0.2, "writes")) + (
    () if "F1" in FINDINGS else (("before", 0.2, "all"), ("after", 0.2, "all")))


def _seed(world, rng, action: str, hit: str | None = None) -> str:
    hit = hit or world.sim.add_hit(world.key, reward="0.50", max_assignments=1)
    return world.sim.add_assignment(hit, status=REQUIRED[action],
                                    submitted_at=world.sim.clock.now() - timedelta(days=rng.uniform(0.1, 20)))


def _feedback(rng, action: str) -> str | None:
    if action == "reject":
        return rng.choice(["The answers do not match the instructions.", "Blank\tanswers\r\nthroughout"])
    return rng.choice([None, "Thank you, reversed after review."])


def _faults(world, rng) -> str:
    fault = rng.choice(FAULTS)
    if fault:
        world.sim.set_fault_rate(fault[1], when=fault[0], seed=rng.randrange(1 << 30), ops=fault[2])
        return f"{fault[0]}:{fault[1]}:{fault[2]}"
    world.sim.set_fault_rate(None)
    return "none"


def _reconcile(world) -> None:
    make_reconciler(world.gateway, world.audit, world.sim.clock.now).run()


def test_decision_service_crash_at_every_step(crash_world):
    # Given
    world = crash_world
    rng = rng_for("decision")
    have_reconciler = reconciler_class() is not None
    before, after, doubles, tally = [], [], [], Counter()
    # When each trial crashes at a random step under random faults, and the caller may retry
    for trial in range(TRIALS):
        action = rng.choice(["reject", "approve", "reverse"])
        step = rng.choice((*STEPS, None))
        assignment_id = _seed(world, rng, action)
        faults = _faults(world, rng)
        request = DecisionRequest(assignment_id=assignment_id, action=Action(action), feedback=_feedback(rng, action),
                                  reason=f"trial {trial}", actor=ACTOR, source=Source.API, request_id=f"trial-{trial}")
        world.crash.arm(step, assignment_id)
        try:
            world.service.decide(request)
            outcome = "ok"
        except Crash:
            outcome = "crash"
        except DecisionError as error:
            outcome = error.code
        world.crash.disarm()
        if outcome != "ok" and rng.random() < 0.5:  # the caller retries (a person, the CLI, a script)
            try:
                world.service.decide(request)
            except DecisionError:
                pass
        world.sim.set_fault_rate(None)
        tally[f"{step}/{outcome}"] += 1
        before.append(check_intent(world.sim, world.audit, assignment_id, action, world.key, reconciled=False))
        if have_reconciler:
            _reconcile(world)
            verdict = check_intent(world.sim, world.audit, assignment_id, action, world.key)
            after.append(verdict)
            if verdict.double_counted:
                doubles.append(f"{assignment_id} ({step}, faults {faults}): {verdict.double_counted}")
    # Then
    seed = f"RELIABILITY_SEED={rng.seed_value}"
    assert all(before), f"{seed}\n{summarize(before)}\n{dict(tally)}"
    assert sum(tally[f"{step}/crash"] for step in STEPS) > TRIALS // 3, f"too few crashes fired: {dict(tally)}"
    if not have_reconciler:
        pytest.xfail(NO_RECONCILER)
    assert all(after), f"{seed}\n{summarize(after)}\n{dict(tally)}"
    print(f"{TRIALS} trials, outcomes {dict(sorted(tally.items()))}; double-counted in the audit: {len(doubles)}")
    # A caller's retry after a crash that left a PENDING record applies the intent with a second record;
    # the reconciler then settles the first one from MTurk's state too: finding F2 (test_findings.py).
    if "F2" not in FINDINGS:
        assert not doubles, f"{seed}\n" + "\n".join(doubles[:10])


def _sqs_event(chunk, receive_count: int) -> dict:
    return {"Records": [{
        "messageId": f"m-{chunk.batch_id[:8]}-{chunk.lines[0]}", "receiptHandle": "r", "body": chunk.to_json(),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:mturk-decisions-work", "awsRegion": "us-east-1",
    }]}


#: The work queue's visibility timeout (6 x the worker's 15-minute timeout): how long SQS waits before it
#: delivers a failed chunk again. It is longer than a decision lease, so a crashed attempt's lease has expired.
REDELIVERY_DELAY = timedelta(minutes=90)
#: The worker's function timeout, as deployed: its time budget is judged against it.
WORKER_TIMEOUT_SECONDS = 900


def _deliver(chunk, max_deliveries: int, on_crash, clock=None) -> list[str]:
    """Deliver one chunk to the worker handler as SQS would: again while it crashes or reports failure,
    each redelivery a visibility timeout later (on the simulated clock, when given)."""
    from mturk_decisions.handlers.batch_worker import handler

    results = []
    for receive_count in range(1, max_deliveries + 1):
        if receive_count > 1 and clock is not None:
            clock.advance(seconds=REDELIVERY_DELAY.total_seconds())
        try:
            answer = handler(_sqs_event(chunk, receive_count),
                             _LambdaContext("mturk-decisions-batch-worker", WORKER_TIMEOUT_SECONDS)) or {}
            failed = bool(answer.get("batchItemFailures"))
            results.append("partial-failure" if failed else "ok")
        except Crash:
            results.append("crash")
            failed = True
            on_crash()
        except Exception as error:
            results.append(f"error:{type(error).__name__}")
            failed = True
        if not failed:
            break
    return results


def test_batch_worker_crash_at_every_step(crash_world, crash_deps):
    # Given
    from mturk_decisions.domain.batch import parse_item_list

    world = crash_world
    batches, store, queue = crash_deps
    rng = rng_for("batch")
    have_reconciler = reconciler_class() is not None
    before, after, doubles, tally, leftovers = [], [], [], Counter(), []
    trials = TRIALS
    done = 0
    # When each batch is delivered with a crash at a random step under random faults
    while done < trials:
        size = rng.randint(1, 4)
        hit = world.sim.add_hit(world.key, reward="0.50", max_assignments=size)
        actions = [rng.choice(["reject", "approve", "reverse"]) for _ in range(size)]
        ids = [_seed(world, rng, action, hit) for action in actions]
        items = [{"assignmentId": aid, "action": act, "hitId": hit, "reason": "batch trial",
                  **({"feedback": _feedback(rng, act)} if act == "reject" else {})} for aid, act in zip(ids, actions)]
        queue.chunks.clear()
        submission = batches.submit(parse_item_list(items), ACTOR, "json", None)
        step = rng.choice((*STEPS, None))
        world.crash.arm(step, rng.choice(ids))
        faults = _faults(world, rng)
        reconcile_early = have_reconciler and rng.random() < 0.5
        for chunk in list(queue.chunks):
            results = _deliver(chunk, 8, on_crash=(lambda: _reconcile(world)) if reconcile_early else (lambda: None),
                               clock=world.sim.clock)
            tally[f"{step}/{results[0]}"] += 1
        world.crash.disarm()
        world.sim.set_fault_rate(None)
        statuses = {s.item.assignment_id: s.status.value for s in batches.status(submission.batch_id).items}
        for aid, action in zip(ids, actions):
            before.append(check_intent(world.sim, world.audit, aid, action, world.key, reconciled=False))
        if have_reconciler:
            _reconcile(world)
        for aid, action in zip(ids, actions):
            applied = world.sim.get_assignment_state(aid).status == RESULTING[action]
            if statuses[aid] not in ("SUCCEEDED", "FAILED", "REFUSED") or (statuses[aid] == "SUCCEEDED") != applied:
                leftovers.append(f"{aid}: batch item {statuses[aid]} but MTurk applied={applied} ({step}, {faults})")
            if have_reconciler:
                verdict = check_intent(world.sim, world.audit, aid, action, world.key)
                after.append(verdict)
                if verdict.double_counted:
                    doubles.append(f"{aid} ({step}, faults {faults}): {verdict.double_counted}")
        done += size
    # Then
    seed = f"RELIABILITY_SEED={rng.seed_value}"
    assert all(before), f"{seed}\n{summarize(before)}\n{dict(tally)}"
    assert not leftovers, f"{seed}\n" + "\n".join(leftovers[:10])
    assert sum(v for k, v in tally.items() if k.endswith("/crash")) > 10, f"too few crashes fired: {dict(tally)}"
    if not have_reconciler:
        pytest.xfail(NO_RECONCILER)
    assert all(after), f"{seed}\n{summarize(after)}\n{dict(tally)}"
    assert not doubles, f"{seed}\n" + "\n".join(doubles[:10])
    print(f"{done} batch items, first deliveries {dict(sorted(tally.items()))}")
