"""The parallel-environments suite: 20 Lambda execution environments (separate processes, each with its own
wiring, clients and caches) act on one assignment at once against one moto and one simulator, like 20
environments of a function in AWS. The stack is this directory's own (suffixed resource names)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, REGION, OfflineStack
from tests.integration.conftest import SignedApi

PARALLEL = 20


@pytest.fixture(scope="session")
def pstack():
    with OfflineStack(suffix="-parallel", concurrency=PARALLEL) as running:
        running.api_environments.warm(PARALLEL)
        yield running


@pytest.fixture()
def psim(pstack):
    sim = pstack.simulator
    sim.set_balance(DEMO_MTURK_KEY[0], "100.00")
    sim.set_fault_rate(None)
    sim.set_throttle(None)
    sim.reset_call_log()
    return sim


@pytest.fixture()
def papi(pstack):
    return SignedApi(pstack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


@pytest.fixture()
def paudit(pstack):
    from mturk_decisions.adapters.audit_store import DynamoAuditStore

    return DynamoAuditStore.for_table(pstack.env["AUDIT_TABLE_NAME"], REGION, pstack.moto_url)


@pytest.fixture()
def pseed(psim):
    def _seed(status="Submitted", days_ago=2.0, hit_id=None, reward="0.50") -> str:
        hit = hit_id or psim.add_hit(DEMO_MTURK_KEY[0], reward=reward, max_assignments=3)
        return psim.add_assignment(hit, status=status, submitted_at=psim.clock.now() - timedelta(days=days_ago))
    return _seed


def at_once(*actions: Callable[[], Any]) -> list[Any]:
    """Start every action at the same moment (a barrier), each in its own thread; their results (or the
    exception each raised), in order."""
    barrier, results = threading.Barrier(len(actions)), [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = actions[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
