"""GET /scheduled-reversals and `notifyWorker`, end to end against the offline stack (gateway, handler, moto,
the MTurk simulator): what the worker is told, what the audit keeps, and how the pending reversals list."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from local.stack import DEMO_MTURK_KEY

NOTICE = {"subject": "Your rejected work was approved", "message": "We reversed the rejection: QA rule 7 was wrong."}


def wait_for_batch(api, batch_id, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/batches/{batch_id}?limit=1").json()
        if body["status"] == "COMPLETED" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


@pytest.fixture()
def hit_with(sim):
    """One HIT of the demo requester with an assignment per status (worker ids AW<n>...)."""

    def _hit(*statuses, days_ago=2, prefix="AW"):
        hit = sim.add_hit(DEMO_MTURK_KEY[0], reward="0.10", max_assignments=max(len(statuses), 1))
        ids = [sim.add_assignment(hit, worker_id=f"{prefix}{n:05d}X", status=status,
                                  submitted_at=sim.clock.now() - timedelta(days=days_ago))
               for n, status in enumerate(statuses)]
        return hit, ids

    return _hit


class TestNotifyWorker:
    def test_given_a_reverse_with_notify_worker_then_the_worker_gets_it_and_the_audit_keeps_it(self, api, sim,
                                                                                            seed):
        # Given a recent rejection
        assignment_id = seed("Rejected", days_ago=2, worker_id="ANOTIFYREVERSE1")
        # When it is reversed with a message to the worker
        response = api.post(f"/assignments/{assignment_id}/reverse", {"reason": "QA 7", "notifyWorker": NOTICE})
        # Then the reversal succeeded and MTurk sent the message
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["decision"]["state"] == "SUCCEEDED"
        assert body["notification"] == {"status": "SENT", "failures": []}
        sent = sim.worker_messages("ANOTIFYREVERSE1")
        assert [(m.subject, m.message) for m in sent] == [(NOTICE["subject"], NOTICE["message"])]
        # And the assignment's history shows the message and MTurk's answer on the decision
        history = api.get(f"/assignments/{assignment_id}").json()["history"]
        assert history[0]["notification"]["subject"] == NOTICE["subject"]
        assert history[0]["notification"]["status"] == "SENT"

    def test_given_an_invalid_notice_then_400_and_nothing_is_decided_or_sent(self, api, sim, seed):
        # Given a rejection, and a subject longer than MTurk's 200 characters
        assignment_id = seed("Rejected", days_ago=2, worker_id="ANOTIFYINVALID1")
        sim.reset_call_log()
        # When it is reversed with that notice
        response = api.post(f"/assignments/{assignment_id}/reverse",
                            {"notifyWorker": {"subject": "x" * 201, "message": "Approved."}})
        # Then 400 INVALID_NOTIFICATION names the field, and MTurk was not called
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "INVALID_NOTIFICATION"
        assert response.json()["field"] == "notifyWorker.subject"
        assert sim.count_calls("ApproveAssignment") == 0 and sim.count_calls("NotifyWorkers") == 0
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_given_a_control_character_in_the_message_then_400_with_its_position(self, api, sim, seed):
        # Given a submitted assignment
        assignment_id = seed("Submitted")
        # When it is rejected with a message holding a bell character
        response = api.post(f"/assignments/{assignment_id}/reject",
                            {"feedback": "Incomplete.", "notifyWorker": {"subject": "About your work",
                                                                         "message": "Sorry\u0007"}})
        # Then 400, naming the rule and the position; the assignment is untouched
        body = response.json()
        assert response.status_code == 400 and body["code"] == "INVALID_NOTIFICATION"
        assert (body["field"], body["rule"], body["position"]) == ("notifyWorker.message", "FORBIDDEN_CHARACTER", 5)
        assert sim.get_assignment_state(assignment_id).status == "Submitted"

    def test_given_a_dry_run_then_nothing_is_sent(self, api, sim, seed):
        # Given a rejection
        assignment_id = seed("Rejected", days_ago=2)
        sim.reset_call_log()
        # When its reversal is planned with a notice
        response = api.post(f"/assignments/{assignment_id}/reverse?dryRun=true", {"notifyWorker": NOTICE})
        # Then the plan is answered and nothing was sent
        assert response.status_code == 200 and response.json()["dryRun"] is True
        assert sim.count_calls("NotifyWorkers") == 0

    def test_given_an_idempotent_replay_then_the_worker_is_told_once(self, api, sim, seed):
        # Given a reversal with a notice and an Idempotency-Key
        assignment_id = seed("Rejected", days_ago=2, worker_id="ANOTIFYREPLAY1")
        headers = {"Idempotency-Key": f"notify-replay-{assignment_id}"}
        first = api.post(f"/assignments/{assignment_id}/reverse", {"notifyWorker": NOTICE}, headers=headers)
        # When the same request is sent again
        again = api.post(f"/assignments/{assignment_id}/reverse", {"notifyWorker": NOTICE}, headers=headers)
        # Then the same answer, and one message
        assert first.status_code == again.status_code == 200
        assert again.json()["notification"] == first.json()["notification"]
        assert len(sim.worker_messages("ANOTIFYREPLAY1")) == 1

    def test_given_a_reject_with_notify_worker_then_the_worker_is_told_once_rejected(self, api, sim, seed):
        # Given a submitted assignment (MTurk notifies only workers whose work was approved or rejected)
        assignment_id = seed("Submitted", worker_id="ANOTIFYAPPROVE1")
        # When it is rejected with a notice: the notice goes out after the rejection, so the worker can be told
        response = api.post(f"/assignments/{assignment_id}/reject", {"feedback": "Incomplete.",
                                                                     "notifyWorker": NOTICE})
        # Then the rejection stands and the message was sent
        assert response.status_code == 200 and response.json()["notification"]["status"] == "SENT"
        assert sim.get_assignment_state(assignment_id).status == "Rejected"

    def test_given_notify_worker_with_at_then_400(self, api, sim, seed):
        # Given
        assignment_id = seed("Rejected", days_ago=2)
        at = (sim.clock.now() + timedelta(days=1)).isoformat()
        # When
        response = api.post(f"/assignments/{assignment_id}/reverse", {"at": at, "notifyWorker": NOTICE})
        # Then
        assert response.status_code == 400 and response.json()["field"] == "notifyWorker"

    def test_given_a_hit_of_150_rejections_then_two_notify_workers_calls(self, api, sim, hit_with):
        # Given a HIT with 150 rejected assignments, each of its own worker
        hit, ids = hit_with(*["Rejected"] * 150, prefix="AHITNOTE")
        sim.set_balance(DEMO_MTURK_KEY[0], "100.00")
        sim.reset_call_log()
        # When every rejection of the HIT is reversed with a notice
        response = api.post(f"/hits/{hit}/reversals", {"reason": "appeal", "notifyWorker": NOTICE})
        assert response.status_code == 202, response.text
        body = wait_for_batch(api, response.json()["batchId"])
        # Then every reversal succeeded, and the 150 workers were told in two calls (100 + 50)
        assert body["counts"]["succeeded"] == 150, body["counts"]
        calls = sim.calls("NotifyWorkers")
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            calls = sim.calls("NotifyWorkers")
        assert sorted(len(c.params["WorkerIds"]) for c in calls) == [50, 100]
        assert len({m.worker_id for m in sim.worker_messages() if m.worker_id.startswith("AHITNOTE")}) == 150
        # And each decision's audit record keeps the message
        history = api.get(f"/assignments/{ids[0]}").json()["history"]
        assert history[0]["notification"]["status"] == "SENT"


class TestScheduledReversals:
    def test_given_reversals_of_a_hit_then_they_are_listed_by_due_time_and_paginated(self, api, sim, hit_with):
        # Given three rejections of one HIT, scheduled in the order 3rd, 1st, 2nd
        hit, ids = hit_with("Rejected", "Rejected", "Rejected", prefix="ALISTED")
        now = sim.clock.now()
        for hours, assignment_id in ((3, ids[0]), (1, ids[1]), (2, ids[2])):
            at = (now + timedelta(hours=hours)).isoformat()
            assert api.post(f"/assignments/{assignment_id}/reverse", {"at": at}).status_code == 202
        # When the HIT's pending reversals are listed two at a time
        first = api.get(f"/scheduled-reversals?hitId={hit}&limit=2").json()
        second = api.get(f"/scheduled-reversals?hitId={hit}&limit=2&cursor={first['nextCursor']}").json()
        # Then earliest first, across the pages, with the HIT and worker of each
        listed = first["scheduledReversals"] + second["scheduledReversals"]
        assert [s["assignmentId"] for s in listed] == [ids[1], ids[2], ids[0]]
        assert second["nextCursor"] is None
        assert {(s["hitId"], s["kind"], s["state"]) for s in listed} == {(hit, "scheduled", "PENDING")}
        assert listed[0]["workerId"] == "ALISTED00001X"
        assert set(listed[0]) >= {"assignmentId", "hitId", "workerId", "kind", "state", "dueAt", "deadline",
                                  "createdAt", "actor", "reason", "attempts", "lastError"}

    def test_given_filters_then_only_matching_reversals_are_listed(self, api, sim, hit_with):
        # Given a scheduled reversal and a provisional rejection of one HIT, and one confirmed
        hit, ids = hit_with("Rejected", "Submitted", "Submitted", prefix="AFILTER")
        now = sim.clock.now()
        api.post(f"/assignments/{ids[0]}/reverse", {"at": (now + timedelta(days=2)).isoformat()})
        api.post(f"/assignments/{ids[1]}/reject", {"feedback": "Looks copied.", "provisionalFor": "PT1H"})
        api.post(f"/assignments/{ids[2]}/reject", {"feedback": "Looks copied.", "provisionalFor": "PT1H"})
        api.post(f"/assignments/{ids[2]}/confirm")
        # When they are listed by kind, by due time and by state
        provisional = api.get(f"/scheduled-reversals?hitId={hit}&kind=provisional").json()["scheduledReversals"]
        due_soon = api.get(f"/scheduled-reversals?hitId={hit}&dueBefore="
                           f"{(now + timedelta(days=1)).isoformat().replace('+00:00', 'Z')}").json()
        confirmed = api.get(f"/scheduled-reversals?hitId={hit}&state=CONFIRMED").json()["scheduledReversals"]
        # Then each filter holds
        assert [s["assignmentId"] for s in provisional] == [ids[1]]
        assert [s["assignmentId"] for s in due_soon["scheduledReversals"]] == [ids[1]]
        assert [s["assignmentId"] for s in confirmed] == [ids[2]]

    @pytest.mark.parametrize("query, field", [
        ("state=SOON", "state"), ("kind=later", "kind"), ("dueBefore=tomorrow", "dueBefore"), ("limit=0", "limit"),
        ("limit=101", "limit"), ("hitId=not%20an%20id", "hitId"), ("cursor=bm90LWEtY3Vyc29y", "cursor"),
    ])
    def test_given_a_bad_query_value_then_400_naming_it(self, api, query, field):
        # When the listing is asked with a bad value
        response = api.get(f"/scheduled-reversals?{query}")
        # Then 400 with a code, a message and the field, never a 500
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] in ("INVALID_REQUEST", "INVALID_CURSOR") and body["message"]
        assert body["field"] == field


class TestDecisionsInATimeRange:
    def test_given_decisions_today_then_the_range_lists_them_newest_first_across_pages(self, api, sim, seed):
        # Given three decisions made now
        ids = [seed("Submitted") for _ in range(3)]
        for assignment_id in ids:
            assert api.post(f"/assignments/{assignment_id}/approve").status_code == 200
        day = sim.clock.now().date().isoformat()
        # When every decision of today is listed two at a time, following nextCursor
        listed, cursor = [], None
        while True:
            query = f"since={day}&until={day}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            response = api.get(f"/decisions?{query}")
            assert response.status_code == 200, response.text
            listed += response.json()["decisions"]
            cursor = response.json()["nextCursor"]
            if not cursor:
                break
        # Then ours are there, newest first, each once
        ours = [d["assignmentId"] for d in listed if d["assignmentId"] in ids]
        assert ours == list(reversed(ids))
        keys = [(d["createdAt"], d["decisionId"]) for d in listed]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)

    def test_given_a_range_over_two_days_then_yesterdays_decisions_are_listed_after_todays(self, api, sim, seed):
        # Given a decision made "yesterday" (the simulator's clock is the service's)
        older = seed("Submitted", days_ago=3)
        sim.clock.advance(days=-1)
        assert api.post(f"/assignments/{older}/approve").status_code == 200
        sim.clock.reset()
        newer = seed("Submitted")
        api.post(f"/assignments/{newer}/approve")
        today = sim.clock.now().date()
        since = (today - timedelta(days=1)).isoformat()
        # When both days are listed, page after page
        listed, cursor = [], None
        while True:
            body = api.get(f"/decisions?since={since}&until={today.isoformat()}&limit=100"
                           + (f"&cursor={cursor}" if cursor else "")).json()
            listed += body["decisions"]
            cursor = body["nextCursor"]
            if not cursor:
                break
        # Then the newer one comes first
        ours = [d["assignmentId"] for d in listed if d["assignmentId"] in (older, newer)]
        assert ours[0] == newer and older in ours

    @pytest.mark.parametrize("query, field", [
        ("since=2026-11-01", "workerId|hitId"),
        ("until=2026-11-01", "workerId|hitId"),
        ("since=2026-10-01&until=2026-11-15", "since"),
        ("since=2026-11-02&until=2026-11-01", "since"),
        ("since=2026-11-01&until=2026-11-02&cursor=bm90LWEtY3Vyc29y", "cursor"),
    ])
    def test_given_an_incomplete_or_too_long_range_then_400_naming_the_field(self, api, query, field):
        # When
        response = api.get(f"/decisions?{query}")
        # Then
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field and response.json()["message"]
