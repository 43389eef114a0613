"""The offline stack with process execution environments: the gateway serves signed requests in parallel,
the functions build their own dependencies with the simulator's clock, a failed function is a 502."""
from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from local.gateway import LocalApiGateway
from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, SWEEP_FUNCTION, LocalSchedule, OfflineStack
from tests.integration.conftest import SignedApi
from tests.local.conftest import wait_until


@pytest.fixture(scope="module")
def stack():
    """A stack of its own (moto's backends are shared in a process: suffixed names), leaving the process's
    AWS endpoints as they were for the suites that run after it."""
    saved = dict(os.environ)
    try:
        with OfflineStack(suffix=f"-local-{uuid.uuid4().hex[:6]}", concurrency=4) as running:
            yield running
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture()
def api(stack) -> SignedApi:
    return SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


def seed(stack, count: int, status: str = "Submitted", days_ago: float = 1.0) -> list[str]:
    sim = stack.simulator
    hit = sim.add_hit(DEMO_MTURK_KEY[0], reward="0.50", max_assignments=count)
    return [sim.add_assignment(hit, status=status, submitted_at=sim.clock.now() - timedelta(days=days_ago))
            for _ in range(count)]


def test_given_eight_assignments_when_eight_signed_requests_arrive_at_once_then_several_environments_answer(
        stack, api):
    # Given
    assignment_ids = seed(stack, 8)
    # When
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda assignment_id: api.get(f"/assignments/{assignment_id}"), assignment_ids))
    # Then
    assert [answer.status_code for answer in answers] == [200] * 8
    assert [answer.json()["assignment"]["assignmentId"] for answer in answers] == assignment_ids
    assert 1 < stack.api_environments.stats.started <= 4


def test_given_a_submitted_assignment_when_rejected_through_a_process_environment_then_mturk_and_the_audit_agree(
        stack, api):
    # Given
    [assignment_id] = seed(stack, 1)
    # When
    rejected = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "The labels do not match the signs."})
    # Then
    assert rejected.status_code == 200, rejected.text
    assert stack.simulator.get_assignment_state(assignment_id).status == "Rejected"
    history = api.get(f"/assignments/{assignment_id}").json()["history"]
    assert [(entry["action"], entry["state"]) for entry in history] == [("reject", "SUCCEEDED")]


def test_given_a_29_day_old_rejection_when_the_simulators_clock_moves_two_days_then_the_functions_see_it_closed(
        stack, api):
    # Given
    [assignment_id] = seed(stack, 1, status="Rejected", days_ago=29)
    assert api.get(f"/assignments/{assignment_id}").json()["assignment"]["reversible"] is True
    # When
    stack.simulator.clock.advance(days=2)
    try:
        answer = api.get(f"/assignments/{assignment_id}").json()
    finally:
        stack.simulator.clock.reset()
    # Then
    assert answer["assignment"]["reversible"] is False


def test_given_the_stack_when_warming_api_environments_then_each_one_answers_direct_invocations(stack):
    # Given
    runtime = stack.api_environments
    # When
    runtime.warm(4)
    answer = runtime.invoke({"httpMethod": "GET", "path": "/nowhere", "headers": {}, "requestContext": {}})
    # Then
    assert runtime.stats.running == 4
    assert answer["statusCode"] in (403, 404)


def test_given_the_sweep_function_when_scheduled_every_tenth_of_a_second_then_runs_overlap_in_two_environments(
        stack):
    # Given the reversal sweep in two process environments, fed by a fast schedule
    sweep = stack.environments(SWEEP_FUNCTION, concurrency=2)
    schedule = LocalSchedule(sweep, every=0.1, name="reversal-sweep").start()
    # When a tick comes while a run is still going
    try:
        wait_until(lambda: sweep.stats.started == 2 and sweep.stats.invocations >= 3, timeout=20)
    finally:
        schedule.stop()
    # Then both environments ran, and each run reported its sweep
    assert isinstance(schedule.last_result, dict) and "reversed" in schedule.last_result


def test_given_a_function_that_fails_when_the_gateway_invokes_it_then_the_caller_gets_api_gateways_502(
        environments):
    # Given
    gateway = LocalApiGateway(environments("fail"), [DEMO_PRINCIPAL]).start()
    api = SignedApi(gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
    # When
    try:
        answer = api.get("/assignments/X")
    finally:
        gateway.stop()
    # Then
    assert answer.status_code == 502
    assert answer.json() == {"code": "BAD_GATEWAY", "message": "Internal server error"}
