"""The adapters and the tests' fakes implement the service's ports (service/ports.py).

mypy checks the assignments below (`make lint` runs it on this file and tests/fakes.py): an adapter or a fake
whose method drifts from its Protocol fails the type check. At run time the test checks each one names
every method of its Protocol.
"""
from __future__ import annotations

import inspect

import pytest

from mturk_decisions.adapters.audit_store import DynamoAuditStore
from mturk_decisions.adapters.batch_store import DynamoBatchStore
from mturk_decisions.adapters.mturk import Boto3MTurkGateway
from mturk_decisions.adapters.schedule_store import DynamoScheduleStore
from mturk_decisions.adapters.work_queue import SqsWorkQueue
from mturk_decisions.service import ports
from tests.fakes import FakeMTurk, InMemoryAuditStore, InMemoryScheduleStore


def _typed_against_the_ports(gateway: Boto3MTurkGateway, audit: DynamoAuditStore, batches: DynamoBatchStore,
                             schedules: DynamoScheduleStore, queue: SqsWorkQueue) -> None:
    """Never called: mypy checks that each adapter and fake is assignable to its Protocol."""
    _gateway: ports.MTurkGateway = gateway
    _audit: ports.AuditStore = audit
    _batches: ports.BatchStore = batches
    _schedules: ports.ScheduleStore = schedules
    _queue: ports.WorkQueue = queue
    _fake_mturk: ports.MTurkGateway = FakeMTurk()
    _fake_audit: ports.AuditStore = InMemoryAuditStore()
    _fake_schedules: ports.ScheduleStore = InMemoryScheduleStore()


@pytest.mark.parametrize(("implementation", "port"), [
    (Boto3MTurkGateway, ports.MTurkGateway), (FakeMTurk, ports.MTurkGateway),
    (DynamoAuditStore, ports.AuditStore), (InMemoryAuditStore, ports.AuditStore),
    (DynamoBatchStore, ports.BatchStore), (DynamoScheduleStore, ports.ScheduleStore),
    (InMemoryScheduleStore, ports.ScheduleStore), (SqsWorkQueue, ports.WorkQueue),
], ids=lambda value: value.__name__)
def test_each_adapter_and_fake_has_every_method_of_its_port(implementation, port):
    # Given the methods the port declares
    declared = {name for name, member in inspect.getmembers(port, inspect.isfunction) if not name.startswith("_")}
    # When / Then the implementation has each, with the same parameter names
    for name in declared:
        mine = inspect.signature(getattr(implementation, name))
        theirs = inspect.signature(getattr(port, name))
        assert list(mine.parameters) == list(theirs.parameters), f"{implementation.__name__}.{name}"
