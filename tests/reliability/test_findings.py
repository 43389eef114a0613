"""Deterministic reproductions of what the randomized harness found in the Lambda code.

Each test is marked with its finding (harness.FINDINGS) while the fix is pending in lambdas/ (xfail, not
strict): when the fix lands the test passes (XPASS); then delete the entry from FINDINGS, so that the test
guards against regressions and the randomized trials widen to cover it (test_crash_injection.py).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from mturk_decisions.domain.errors import DecisionError, DecisionInProgress
from mturk_decisions.domain.model import Action, DecisionRequest, Source
from tests.reliability.harness import Crash, check_intent, finding, make_reconciler


def _assignment(world, status: str) -> str:
    hit = world.sim.add_hit(world.key, reward="0.50", max_assignments=1)
    return world.sim.add_assignment(hit, status=status, submitted_at=world.sim.clock.now() - timedelta(days=2))


class _ReadsFailAfterTheWrite:
    """MTurk applies the write but its answer is lost (ServiceFault after the write); every read after it fails."""

    def __init__(self, world) -> None:
        self.world, self.written = world, False
        self._original = world.client._call

    def __call__(self, operation: str, params: dict) -> dict:
        if operation == "GetAssignment" and self.written:
            raise ClientError({"Error": {"Code": "ServiceFault", "Message": "We encountered an unexpected error."},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)
        if operation in ("ApproveAssignment", "RejectAssignment") and not self.written:
            self.written = True
            self.world.sim.set_fault_rate(1.0, when="after", ops=[operation])
            try:
                return self._original(operation, params)
            finally:
                self.world.sim.set_fault_rate(None)
        return self._original(operation, params)


@finding("F1")
def test_an_applied_write_whose_answer_was_lost_is_never_audited_failed(crash_world, monkeypatch):
    # Given
    world = crash_world
    assignment_id = _assignment(world, "Rejected")
    monkeypatch.setattr(world.client, "_call", _ReadsFailAfterTheWrite(world))
    request = DecisionRequest(assignment_id=assignment_id, action=Action.REVERSE, actor="finding-F1", source=Source.API)
    # When / Then
    with pytest.raises(DecisionError):
        world.service.decide(request)
    # And the reconciler settles it as applied
    monkeypatch.undo()
    make_reconciler(world.gateway, world.audit, world.sim.clock.now).run()
    assert world.sim.get_assignment_state(assignment_id).status == "Approved"  # MTurk applied it
    verdict = check_intent(world.sim, world.audit, assignment_id, "reverse", world.key)
    assert verdict, verdict.problems


@finding("F2")
def test_a_retry_after_a_crash_is_audited_once(crash_world):
    # Given
    world = crash_world
    assignment_id = _assignment(world, "Submitted")
    request = DecisionRequest(assignment_id=assignment_id, action=Action.REJECT, feedback="Incomplete.",
                              actor="finding-F2", source=Source.API)
    world.crash.arm("after_write_ahead", assignment_id)
    # When / Then
    with pytest.raises(Crash):
        world.service.decide(request)     # killed after the PENDING record, before MTurk
    with pytest.raises(DecisionInProgress):
        world.service.decide(request)     # an immediate retry: the crashed decision's lease still holds
    # And once the lease expires, the retry applies it and the audit holds it once
    world.sim.clock.advance(minutes=17)   # the lease expires (longer than any function timeout)
    world.service.decide(request)         # the retry settles the crashed record by evidence, then applies
    make_reconciler(world.gateway, world.audit, world.sim.clock.now).run()
    verdict = check_intent(world.sim, world.audit, assignment_id, "reject", world.key)
    assert verdict, verdict.problems
    assert verdict.double_counted is None, verdict.double_counted
