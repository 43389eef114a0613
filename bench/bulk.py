"""Bulk throughput: reversals through the real bulk path, next to a naive sequential boto3 loop.

Bulk path: ``POST /hits/{hitId}/reversals`` (SigV4-signed, local API gateway → API Lambda handler)
→ the batch is stored and queued on SQS (moto server) → the local SQS trigger → the batch worker
handler → MTurk (the simulator, throttled at R req/s with burst R, plus a fixed latency).

Naive loop: one boto3 MTurk client with botocore's default retries, for each item
``GetAssignment`` then ``ApproveAssignment(OverrideRejection=True)``, one after the other, against the
same simulator with the same throttle and latency, under its own requester key (its own token bucket).

Figures come from the simulator's call log (every request it answered, throttled ones included):
useful writes/s = (successful ApproveAssignment - 1) / (time of the last one - time of the first one),
as a fraction of R.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass
from datetime import timedelta

NAIVE_KEY = ("BENCHNAIVEREQUESTER1", "bench-naive-secret-not-a-real-key")
FUNDS = "100000.00"


@dataclass
class Workload:
    hits: int
    per_hit: int
    rate: float
    latency: float

    @property
    def total(self) -> int:
        return self.hits * self.per_hit


def seed_rejected(sim, key: str, hits: int, per_hit: int, reward: str = "0.50") -> list[tuple[str, list[str]]]:
    """HITs of one requester, each with ``per_hit`` assignments Rejected two days ago."""
    seeded = []
    submitted = sim.clock.now() - timedelta(days=2)
    for _ in range(hits):
        hit = sim.add_hit(key, reward=reward, max_assignments=per_hit)
        ids = [sim.add_assignment(hit, status="Rejected", submitted_at=submitted) for _ in range(per_hit)]
        seeded.append((hit, ids))
    return seeded


def write_rate(calls, rate: float) -> tuple[float, float, int]:
    """(useful writes/s, the same as a fraction of R, successful writes) from call records."""
    ok = sorted(call.sim_time for call in calls if call.operation == "ApproveAssignment" and call.outcome == "ok")
    if len(ok) < 2:
        return 0.0, 0.0, len(ok)
    span = (ok[-1] - ok[0]).total_seconds()
    per_second = (len(ok) - 1) / span if span > 0 else float("inf")
    return per_second, per_second / rate, len(ok)


def write_gaps(calls, top: int = 5) -> dict:
    """Where the writes paused: the longest gaps between consecutive successful writes, and the time lost in
    gaps over 0.25 s (ramp-up, chunk changes, backoff after throttles)."""
    ok = sorted(call.sim_time for call in calls if call.operation == "ApproveAssignment" and call.outcome == "ok")
    gaps = sorted(((b - a).total_seconds() for a, b in itertools.pairwise(ok)), reverse=True)
    return {"longest_seconds": [round(gap, 3) for gap in gaps[:top]],
            "seconds_in_gaps_over_250ms": round(sum(gap for gap in gaps if gap > 0.25), 3)}


def _outcomes(calls) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in calls:
        label = f"{call.operation}:{call.outcome}"
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def reset_shared_pacer(stack) -> None:
    """Each workload starts from the pacer's defaults (a requester's real limit does not change between
    batches; the bench's does, and the pacer would otherwise start from the previous workload's ceiling)."""
    from local.stack import REGION
    from mturk_decisions.adapters.shared_pacer import PACER_KEY, pacer_model

    model = pacer_model(stack.env["BATCH_TABLE_NAME"], REGION, stack.moto_url)
    with contextlib.suppress(model.DoesNotExist):
        model.get(*PACER_KEY).delete()


def run_bulk(stack, api, counter, workload: Workload, timeout: float = 900.0) -> dict:
    """Submit one reversal batch per HIT through the signed gateway and wait for every item to finish."""
    from local.stack import DEMO_MTURK_KEY

    reset_shared_pacer(stack)
    sim = stack.simulator
    key = DEMO_MTURK_KEY[0]
    sim.set_balance(key, FUNDS)
    seeded = seed_rejected(sim, key, workload.hits, workload.per_hit)
    sim.set_throttle(workload.rate, burst=workload.rate)
    sim.set_latency(workload.latency)
    sim.reset_call_log()
    counter.reset()
    started = time.monotonic()
    batches = []
    for hit, _ in seeded:
        response = api.post(f"/hits/{hit}/reversals", {"reason": "bench: bulk reversal"})
        if response.status_code != 202:
            raise RuntimeError(f"POST /hits/{hit}/reversals answered {response.status_code}: {response.text[:500]}")
        batches.append(response.json()["batchId"])
    submitted = time.monotonic()
    # Wait on the simulator (in process, no load on the service), then confirm through the API.
    deadline = started + timeout
    while sim.count_calls("ApproveAssignment", outcome="ok", access_key_id=key) < workload.total:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    final = {}
    for batch_id in batches:
        while True:
            body = api.get(f"/batches/{batch_id}?limit=1").json()
            if body.get("status") == "COMPLETED" or time.monotonic() > deadline:
                final[batch_id] = body
                break
            time.sleep(0.5)
    finished = time.monotonic()
    calls = sim.calls(access_key_id=key)
    writes = counter.snapshot()
    sim.set_throttle(None)
    sim.set_latency(0)
    per_second, fraction, ok = write_rate(calls, workload.rate)
    counts = {"succeeded": 0, "failed": 0, "refused": 0, "skipped": 0, "queued": 0}
    for body in final.values():
        for name, value in (body.get("counts") or {}).items():
            counts[name] = counts.get(name, 0) + value
    throttled = sum(1 for call in calls if call.outcome == "ThrottlingException")
    return {
        "rate": workload.rate,
        "latency_seconds": workload.latency,
        "decisions": workload.total,
        "succeeded": counts["succeeded"],
        "batch_counts": counts,
        "useful_writes_per_second": per_second,
        "fraction_of_rate": fraction,
        "successful_writes": ok,
        "mturk_calls": len(calls),
        "mturk_throttled": throttled,
        "mturk_calls_per_decision": len(calls) / workload.total,
        "mturk_calls_by_outcome": _outcomes(calls),
        "write_gaps": write_gaps(calls),
        "dynamodb_write_items": sum(writes["writeItems"].values()),
        "dynamodb_writes_per_decision": sum(writes["writeItems"].values()) / workload.total,
        "dynamodb": writes,
        "submit_seconds": submitted - started,
        "wall_seconds": finished - started,
    }


def run_naive(stack, workload: Workload) -> dict:
    """GetAssignment + ApproveAssignment(OverrideRejection) per item, sequentially, default botocore retries."""
    import boto3
    from botocore.exceptions import ClientError

    sim = stack.simulator
    if NAIVE_KEY[0] not in {r["accessKeyId"] for r in sim.snapshot()["requesters"]}:
        sim.add_requester(*NAIVE_KEY, balance=FUNDS)
    sim.set_balance(NAIVE_KEY[0], FUNDS)
    seeded = seed_rejected(sim, NAIVE_KEY[0], workload.hits, workload.per_hit)
    client = boto3.session.Session().client(
        "mturk", region_name="us-east-1", endpoint_url=stack.simulator_server.url,
        aws_access_key_id=NAIVE_KEY[0], aws_secret_access_key=NAIVE_KEY[1])
    sim.set_throttle(workload.rate, burst=workload.rate)
    sim.set_latency(workload.latency)
    sim.reset_call_log()
    started = time.monotonic()
    failures = 0
    for _, ids in seeded:
        for assignment_id in ids:
            try:
                client.get_assignment(AssignmentId=assignment_id)
                client.approve_assignment(AssignmentId=assignment_id, OverrideRejection=True)
            except ClientError:
                failures += 1
    finished = time.monotonic()
    calls = sim.calls(access_key_id=NAIVE_KEY[0])
    sim.set_throttle(None)
    sim.set_latency(0)
    per_second, fraction, ok = write_rate(calls, workload.rate)
    return {
        "decisions": workload.total,
        "succeeded": ok,
        "failed": failures,
        "useful_writes_per_second": per_second,
        "fraction_of_rate": fraction,
        "mturk_calls": len(calls),
        "mturk_throttled": sum(1 for call in calls if call.outcome == "ThrottlingException"),
        "mturk_calls_per_decision": len(calls) / workload.total,
        "mturk_calls_by_outcome": _outcomes(calls),
        "wall_seconds": finished - started,
    }

