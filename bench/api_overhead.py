"""API overhead: one reject through the signed local gateway vs the bare boto3 RejectAssignment call.

Both run in the same process against the same simulator (same added latency, no throttle), alternating
call by call so that drift of the machine hits both alike. The gateway path is the whole service: SigV4
signing by the client, HTTP to the local gateway, signature check, the API Lambda handler (validation,
GetAssignment, write-ahead PutItem to DynamoDB on moto server, RejectAssignment, finalize UpdateItem,
logs and metrics). The bare path is ``boto3.client("mturk").reject_assignment`` and nothing else.
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta


def run(stack, api, counter, samples: int, latency: float, warmup: int = 3) -> dict:
    import boto3

    from local.stack import DEMO_MTURK_KEY

    sim = stack.simulator
    key = DEMO_MTURK_KEY[0]
    sim.set_throttle(None)
    sim.set_latency(latency)
    hit = sim.add_hit(key, reward="0.50", max_assignments=2 * (samples + warmup))
    submitted = sim.clock.now() - timedelta(hours=1)
    fresh = [sim.add_assignment(hit, submitted_at=submitted) for _ in range(2 * (samples + warmup))]
    bare_client = boto3.session.Session().client(
        "mturk", region_name="us-east-1", endpoint_url=stack.simulator_server.url,
        aws_access_key_id=DEMO_MTURK_KEY[0], aws_secret_access_key=DEMO_MTURK_KEY[1])
    via_api, bare = [], []
    counter.reset()
    sim.reset_call_log()
    for index in range(samples + warmup):
        through_gateway, direct = fresh[2 * index], fresh[2 * index + 1]
        began = time.perf_counter()
        response = api.post(f"/assignments/{through_gateway}/reject",
                            {"feedback": "The answers do not match the instructions.", "reason": "bench"})
        api_seconds = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"reject through the gateway answered {response.status_code}: {response.text[:300]}")
        began = time.perf_counter()
        bare_client.reject_assignment(AssignmentId=direct, RequesterFeedback="The answers do not match the instructions.")
        bare_seconds = time.perf_counter() - began
        if index >= warmup:
            via_api.append(api_seconds)
            bare.append(bare_seconds)
    sim.set_latency(0)
    api_median, bare_median = statistics.median(via_api), statistics.median(bare)
    writes = counter.snapshot()
    total = samples + warmup
    gateway_calls = sim.count_calls(access_key_id=key) - total  # minus the bare path's own calls
    return {
        "samples": samples,
        "latency_seconds": latency,
        "api_median_ms": api_median * 1000,
        "bare_median_ms": bare_median * 1000,
        "ratio": api_median / bare_median,
        "mturk_calls_per_api_reject": gateway_calls / total,
        "dynamodb": writes,
        "dynamodb_calls_per_api_reject": sum(writes["calls"].values()) / total,
    }
