"""Fixtures of the reliability harness.

`sim`, `api` and `seed` are the integration suite's fixtures, re-used as they are; `stack` is this
directory's own session stack with suffixed resource names (moto's backends are shared by every moto
server of a process, see tests/cli/conftest.py). The Lambda handlers answer with whichever dependencies
`wiring` holds, so `serving` installs this stack's for each test that uses it and restores the previous
ones afterwards: the suites can share a process in any order.

Sizes: CI by default (this directory stays within about three minutes); `RELIABILITY_LONG=1` runs the long
mode (1,000 crash trials, 50 clients x 30 s of load, more fuzzing). `RELIABILITY_SEED=n` replays a run.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import pytest

from local.stack import DEMO_MTURK_KEY, REGION, provision
from tests.integration.conftest import SignedApi, api, seed, sim  # noqa: F401  (fixtures re-used)
from tests.reliability.harness import CrashingAudit, CrashPlan, InProcessMTurkClient
from tests.stacks import serving_if_used, suite_stack


@pytest.fixture(scope="session")
def stack():
    """One offline stack for the reliability tests (moto server, simulator, SigV4 gateway, SQS trigger)."""
    with suite_stack("-reliability") as running:
        yield running


@pytest.fixture(autouse=True)
def serving(request):
    """The handlers serve with this directory's stack while a test of it runs."""
    with serving_if_used(request):
        yield


@dataclass
class CrashWorld:
    """Fresh tables on the stack's moto server, an in-process simulator, and the real adapters over them,
    with crash points on the audit writes and the MTurk writes."""

    sim: object
    key: str
    names: dict
    moto_url: str
    crash: CrashPlan
    client: InProcessMTurkClient
    audit: object          # the real DynamoAuditStore (for checks and the reconciler)
    crashing_audit: CrashingAudit
    gateway: object        # Boto3MTurkGateway over the in-process client, no sleeping between retries
    paced_gateway: object  # the same with an AdaptivePacer, as the batch worker has
    service: object        # DecisionService(gateway, crashing_audit)


@pytest.fixture(scope="module")
def crash_world(stack) -> CrashWorld:
    from local.mturk_simulator import MTurkSimulator
    from mturk_decisions.adapters.audit_store import DynamoAuditStore
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy
    from mturk_decisions.adapters.pacing import AdaptivePacer
    from mturk_decisions.service.decisions import DecisionService

    suffix = f"-crash-{uuid.uuid4().hex[:8]}"
    names = provision(stack.moto_url, DEMO_MTURK_KEY, suffix)
    crash_sim = MTurkSimulator()
    key = "CRASHREQUESTERKEY001"
    crash_sim.add_requester(key, "crash-requester-secret-not-real", balance="100000.00")
    crash = CrashPlan()
    client = InProcessMTurkClient(crash_sim, key, crash)
    retry = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0)
    gateway = Boto3MTurkGateway(lambda: client, retry=retry, sleep=lambda seconds: None)
    paced = Boto3MTurkGateway(lambda: client, retry=retry, sleep=lambda seconds: None,
                              pacer=AdaptivePacer(initial_rate=1000.0, max_rate=1e6, sleep=lambda seconds: None))
    audit = DynamoAuditStore.for_table(names["AUDIT_TABLE_NAME"], REGION, stack.moto_url)
    crashing = CrashingAudit(audit, crash)
    service = DecisionService(gateway, crashing, clock=crash_sim.clock.now)
    return CrashWorld(crash_sim, key, names, stack.moto_url, crash, client, audit, crashing, gateway, paced, service)


@pytest.fixture()
def crash_deps(stack, crash_world):
    """The stack's dependencies with the batch service rebuilt over the crash world, for the worker handler."""
    from mturk_decisions import wiring
    from mturk_decisions.adapters.batch_store import DynamoBatchStore
    from mturk_decisions.service.batches import BatchService
    from mturk_decisions.service.decisions import DecisionService

    world = crash_world
    queue = ListQueue()
    store = DynamoBatchStore.for_table(world.names["BATCH_TABLE_NAME"], REGION, world.moto_url)
    decisions = DecisionService(world.paced_gateway, world.crashing_audit, clock=world.sim.clock.now)
    batches = BatchService(world.paced_gateway, decisions, world.crashing_audit, store, queue, clock=world.sim.clock.now)
    from mturk_decisions.adapters.aws_clients import Lazy

    with wiring.installed(replace(stack.dependencies, batches=Lazy.of(batches))):
        yield batches, store, queue


class ListQueue:
    """The work queue as a list: the test delivers chunks to the worker itself, as SQS would."""

    def __init__(self) -> None:
        self.chunks: list = []

    def send(self, chunks) -> None:
        self.chunks.extend(chunks)
