"""Every writer path races on one assignment with 20 Lambda environments at once (issue #9).

After each scenario, from the simulator's call log and the audit (after the reconciler ran):
exactly one SUCCEEDED record per MTurk write that took effect, holding the feedback MTurk stored; every
other caller a clear 409 (or a FAILED record with MTurk's error); nothing PENDING; schedules consistent.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.parallel.conftest import PARALLEL, at_once
from tests.reliability.harness import WRITES, make_reconciler

REFUSALS = {"DECISION_IN_PROGRESS", "INVALID_ASSIGNMENT_STATE", "REQUEST_IN_PROGRESS", "SCHEDULE_NOT_PENDING"}


def applied_writes(sim, assignment_id):
    return [c for c in sim.calls() if c.operation in WRITES and c.applied and c.params.get("AssignmentId") == assignment_id]


def reconcile(pstack, audit):
    """The reconciler, with its clock past every lease (as it runs long after a crash)."""
    make_reconciler(pstack.dependencies.mturk, audit, pstack.simulator.clock.now).run()


def assert_truthful(pstack, sim, audit, assignment_id, expected_writes=1):
    """One SUCCEEDED record per applied MTurk write, each holding what MTurk stored; nothing PENDING."""
    reconcile(pstack, audit)
    writes = applied_writes(sim, assignment_id)
    records = audit.history(assignment_id)
    succeeded = [r for r in records if r.state.value == "SUCCEEDED"]
    assert len(writes) == expected_writes, [(w.operation, w.params) for w in writes]
    assert len(succeeded) == len(writes), [(r.action.value, r.state.value, r.source.value) for r in records]
    for record in succeeded:
        operation = "RejectAssignment" if record.action.value == "reject" else "ApproveAssignment"
        [write] = [w for w in writes if w.operation == operation]
        if record.feedback is not None:
            assert record.feedback == write.params.get("RequesterFeedback")
    assert not [r for r in records if r.state.value == "PENDING"]
    failed = [r for r in records if r.state.value == "FAILED"]
    assert all(r.error_code for r in failed)
    return succeeded, failed


def answers(responses):
    return [(r.status_code, r.json().get("code")) for r in responses]


def assert_one_winner(responses, decided):
    codes = answers(responses)
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, codes
    assert all(status == 409 and code in REFUSALS for status, code in codes if status != 200), codes
    assert winners[0].json()["decision"]["decisionId"] == decided[0].decision_id


@pytest.mark.parametrize("keys", ["distinct", "none", "shared"])
@pytest.mark.parametrize("action,status", [("reject", "Submitted"), ("reverse", "Rejected"), ("approve", "Submitted")])
def test_twenty_api_environments_decide_one_assignment(pstack, psim, papi, paudit, pseed, action, status, keys):
    # Given one assignment, and 20 warm API environments
    assignment_id = pseed(status)
    shared = str(uuid.uuid4())

    def call(index):
        key = {"distinct": str(uuid.uuid4()), "none": None, "shared": shared}[keys]
        body = {"feedback": f"feedback {index}"} if action == "reject" or index % 2 else {}
        if keys == "shared":
            body = {"feedback": "same feedback"} if action == "reject" else {}
        return papi.post(f"/assignments/{assignment_id}/{action}", body,
                         headers={"Idempotency-Key": key} if key else None)

    # When 20 callers decide at once
    responses = at_once(*[lambda i=i: call(i) for i in range(PARALLEL)])
    # Then MTurk applied one write and the audit holds one SUCCEEDED record with what MTurk stored
    succeeded, _ = assert_truthful(pstack, psim, paudit, assignment_id)
    if keys == "shared":  # one request, answered 20 times (or "in progress" while it ran)
        ok = [r for r in responses if r.status_code == 200]
        assert ok and {r.json()["decision"]["decisionId"] for r in ok} == {succeeded[0].decision_id}
        assert all(r.status_code == 200 or r.json()["code"] in REFUSALS for r in responses), answers(responses)
    else:
        assert_one_winner(responses, succeeded)


#: Rounds of the same-feedback race: its window (a caller whose balance read faulted takes the lease after
#: another's approval landed, and its own approval faults) opens in some rounds, not in every one.
SAME_FEEDBACK_ROUNDS = 3


def _everyone_sends(papi, path: str, body: dict) -> list:
    """The same request from every environment at once, each with its own Idempotency-Key."""
    return at_once(*[lambda: papi.post(path, body, headers={"Idempotency-Key": str(uuid.uuid4())})
                     for _ in range(PARALLEL)])


@pytest.mark.parametrize("action,status", [("approve", "Submitted"), ("reverse", "Rejected")])
def test_twenty_environments_send_the_same_feedback_while_mturk_faults(pstack, psim, papi, paudit, pseed, action,
                                                                       status):
    for round_ in range(SAME_FEEDBACK_ROUNDS):
        # Given one assignment, and MTurk failing half of approvals before applying them, and of balance
        # reads (a caller that read the assignment backs off and may take the lease after another's approval
        # landed; its own approval then faults, and its retry reads "wrong state" with its feedback shown)
        assignment_id = pseed(status)
        psim.set_fault_rate(0.5, when="before", seed=round_, ops=("ApproveAssignment", "GetAccountBalance"))
        # When 20 environments send the same decision with the same feedback at once
        try:
            responses = _everyone_sends(papi, f"/assignments/{assignment_id}/{action}", {"feedback": "Same"})
        finally:
            psim.set_fault_rate(None)
        # Then MTurk's one change is audited once: identical feedback does not let a second decision claim it
        writes = applied_writes(psim, assignment_id)
        succeeded, _ = assert_truthful(pstack, psim, paudit, assignment_id, expected_writes=len(writes))
        assert len(writes) <= 1
        ok = [r.json()["decision"]["decisionId"] for r in responses if r.status_code == 200]
        assert ok == [r.decision_id for r in succeeded], (round_, answers(responses))
        assert all(r.status_code in (200, 409, 502) for r in responses), (round_, answers(responses))


def test_through_the_gateway_port_twenty_signed_rejects_one_200_nineteen_409(pstack, psim, papi, paudit, pseed):
    # Given
    assignment_id = pseed("Submitted")
    # When
    responses = at_once(*[lambda i=i: papi.post(f"/assignments/{assignment_id}/reject", {"feedback": f"f{i}"},
                                                headers={"Idempotency-Key": str(uuid.uuid4())})
                          for i in range(PARALLEL)])
    # Then
    succeeded, failed = assert_truthful(pstack, psim, paudit, assignment_id)
    assert [r.status_code for r in responses].count(200) == 1
    assert [r.status_code for r in responses].count(409) == PARALLEL - 1
    assert len(succeeded) == 1
    assert pstack.api_environments.stats.running >= PARALLEL // 2


def _sqs_event(body: str, receive_count: int = 1, message_id: str | None = None) -> dict:
    return {"Records": [{
        "messageId": message_id or str(uuid.uuid4()), "receiptHandle": "r", "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "awsRegion": "us-east-1"}]}


def test_api_against_a_batch_item(pstack, psim, papi, paudit, pseed):
    # Given a stored batch that rejects the assignment, its chunk not yet delivered
    from mturk_decisions.domain.batch import parse_item_list

    assignment_id = pseed("Submitted")
    batches = pstack.dependencies.batches
    sent = []
    original = batches._queue.send
    batches._queue.send = sent.extend
    try:
        submission = batches.submit(parse_item_list([{"assignmentId": assignment_id, "action": "reject",
                                                      "feedback": "batch feedback"}]), "tester", "json")
    finally:
        batches._queue.send = original
    worker = pstack.environments("mturk_decisions.handlers.batch_worker:handler", concurrency=2)
    worker.warm(2)
    event = _sqs_event(sent[0].to_json())
    # When the worker (delivered twice at once) and 18 API callers act at once
    results = at_once(*[lambda: worker.invoke(event)] * 2,
                      *[lambda i=i: papi.post(f"/assignments/{assignment_id}/reject", {"feedback": f"api {i}"})
                        for i in range(PARALLEL - 2)])
    # Then one write, one SUCCEEDED record; the batch item says what happened to it
    succeeded, _ = assert_truthful(pstack, psim, paudit, assignment_id)
    deadline = time.monotonic() + 30
    while True:  # the item still QUEUED was left for a redelivery (another decision held the lease)
        items = batches.status(submission.batch_id).items
        if items[0].status.value != "QUEUED" or time.monotonic() > deadline:
            break
        worker.invoke(_sqs_event(sent[0].to_json(), receive_count=2))
    item = batches.status(submission.batch_id).items[0]
    assert item.status.value in ("SUCCEEDED", "REFUSED", "FAILED")
    assert (item.status.value == "SUCCEEDED") == (succeeded[0].source.value == "batch")
    api_ok = [r for r in results[2:] if r.status_code == 200]
    assert len(api_ok) == (0 if succeeded[0].source.value == "batch" else 1)


def _due_provisional(pstack, papi, psim, pseed):
    assignment_id = pseed("Submitted")
    response = papi.post(f"/assignments/{assignment_id}/reject", {"feedback": "provisional", "provisionalFor": "PT1H"})
    assert response.status_code == 200, response.text
    psim.clock.advance(hours=2)
    return assignment_id


def _sweeper(pstack, count=4):
    sweeper = pstack.environments("mturk_decisions.handlers.scheduler:handler", concurrency=count)
    sweeper.warm(count)
    return sweeper


def test_api_reverses_while_sweeps_run(pstack, psim, papi, paudit, pseed):
    # Given a provisional rejection now due
    assignment_id = _due_provisional(pstack, papi, psim, pseed)
    sweeper = _sweeper(pstack)
    # When 4 sweeps and 16 API reversals run at once
    results = at_once(*[lambda: sweeper.invoke({"source": "aws.events"})] * 4,
                      *[lambda i=i: papi.post(f"/assignments/{assignment_id}/reverse", {"reason": f"r{i}"})
                        for i in range(PARALLEL - 4)])
    # Then one reject and one reversal landed, each audited once
    assert_truthful(pstack, psim, paudit, assignment_id, expected_writes=2)
    assert all(not isinstance(r, Exception) for r in results)
    schedule = pstack.dependencies.scheduler.get(assignment_id)
    assert schedule.state in ("DONE", "PENDING")  # DONE, or left PENDING when the API won (the next sweep ends it)
    if schedule.state == "PENDING":
        sweeper.invoke({"source": "aws.events"})
        assert pstack.dependencies.scheduler.get(assignment_id).state == "DONE"


@pytest.mark.parametrize("requester", ["confirm", "cancel"])
def test_confirm_or_cancel_while_sweeps_run(pstack, psim, papi, paudit, pseed, requester):
    # Given a provisional rejection now due
    assignment_id = _due_provisional(pstack, papi, psim, pseed)
    sweeper = _sweeper(pstack)
    method, path = ("POST", "confirm") if requester == "confirm" else ("DELETE", "scheduled-reversal")
    # When 4 sweeps and 16 requesters act at once
    results = at_once(*[lambda: sweeper.invoke({"source": "aws.events"})] * 4,
                      *[lambda: papi.request(method, f"/assignments/{assignment_id}/{path}")] * (PARALLEL - 4))
    # Then exactly one outcome: the reversal ran (every requester 409) or the requester won (no reversal)
    responses = results[4:]
    schedule = pstack.dependencies.scheduler.get(assignment_id)
    reversed_ = psim.get_assignment_state(assignment_id).status == "Approved"
    ok = [r for r in responses if r.status_code == 200]
    assert all(r.status_code == 200 or r.json()["code"] in ("SCHEDULE_NOT_PENDING",) for r in responses), answers(responses)
    if reversed_:
        assert schedule.state == "DONE" and not ok
    else:
        assert schedule.state in ("CONFIRMED", "CANCELLED") and len(ok) == 1
    assert_truthful(pstack, psim, paudit, assignment_id, expected_writes=2 if reversed_ else 1)


def test_api_rejects_while_the_website_rejects(pstack, psim, papi, paudit, pseed):
    # Given a HIT type whose notifications reach the service, and one Submitted assignment
    from local.stack import DEMO_MTURK_KEY

    hit = psim.add_hit(DEMO_MTURK_KEY[0], reward="0.50", max_assignments=3)
    assignment_id = pseed("Submitted", hit_id=hit)
    hit_type = psim.get_hit_state(hit).hit_type_id
    response = papi.request("PUT", f"/hit-types/{hit_type}/notifications", {"active": True})
    assert response.status_code == 200, response.text
    # When the website rejects while 19 API callers reject
    results = at_once(lambda: psim.website_reject(assignment_id, "the website's feedback"),
                      *[lambda i=i: papi.post(f"/assignments/{assignment_id}/reject", {"feedback": f"api {i}"})
                        for i in range(PARALLEL - 1)])
    # Then one rejection landed; once the notification is consumed, the audit holds it once, with its feedback
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(r.state.value == "SUCCEEDED" for r in paudit.history(assignment_id)) and \
                not [r for r in paudit.history(assignment_id) if r.state.value == "PENDING"]:
            break
        time.sleep(0.2)
    time.sleep(1.5)  # a notification of the service's own rejection is consumed as "own"
    stored = psim.get_assignment_state(assignment_id).feedback
    records = [r for r in paudit.history(assignment_id) if r.state.value == "SUCCEEDED"]
    reconcile(pstack, paudit)
    assert len(records) == 1 and records[0].feedback == stored, [(r.source.value, r.feedback) for r in records]
    website_won = not isinstance(results[0], Exception)
    assert (records[0].source.value == "mturk-notification") == website_won
    assert [r.status_code for r in results[1:]].count(200) == (0 if website_won else 1)


def test_two_events_consumers_on_one_event(pstack, psim, paudit, pseed):
    # Given one Reversal Requested event, delivered twice to two consumers at once (SQS may)
    assignment_id = pseed("Rejected")
    consumers = pstack.environments("mturk_decisions.handlers.events:handler", concurrency=2)
    consumers.warm(2)
    body = json.dumps({"id": str(uuid.uuid4()), "detail-type": "Reversal Requested", "source": "mturk-decisions.requester",
                       "detail": {"assignmentId": assignment_id, "reason": "bad QA rule", "requester": "qa-bot"}})
    event = _sqs_event(body, message_id="same-message")
    # When
    results = at_once(lambda: consumers.invoke(event), lambda: consumers.invoke(event))
    # Then one reversal, audited once; a consumer that lost the race left the message for a redelivery
    # (DECISION_IN_PROGRESS: every record failed), and the redelivery finds the work done
    assert_truthful(pstack, psim, paudit, assignment_id)
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(lost) <= 1 and all("DECISION_IN_PROGRESS" in str(r) or "in progress" in str(r) for r in lost), results
    assert consumers.invoke(event) == {"batchItemFailures": []}
    assert_truthful(pstack, psim, paudit, assignment_id)
