"""GET /scheduled-reversals and `notifyWorker`, produced for real, are the answers the document describes
(schemathesis' checks, as in test_documented_successes)."""
from __future__ import annotations

from datetime import timedelta

import pytest

pytest.importorskip("schemathesis")

from tests.contract.test_documented_successes import call  # noqa: F401  (the fixture)

NOTICE = {"subject": "Your rejected work was approved", "message": "We reversed the rejection."}


def test_given_automatic_reversals_then_their_listing_is_documented(call, seed, sim):  # noqa: F811
    # Given a scheduled reversal and a confirmed provisional rejection
    scheduled, provisional = seed("Rejected", days_ago=2), seed("Submitted")
    at = (sim.clock.now() + timedelta(days=2)).isoformat()
    call("reverseAssignment", 202, path_parameters={"assignmentId": scheduled}, body={"at": at},
         media_type="application/json")
    call("rejectAssignment", 200, path_parameters={"assignmentId": provisional},
         body={"feedback": "Looks copied", "provisionalFor": "PT48H"}, media_type="application/json")
    call("confirmProvisionalRejection", 200, path_parameters={"assignmentId": provisional})
    # When they are listed: the pending ones one at a time, the confirmed ones, and with a bad value
    pending = call("listScheduledReversals", 200, query={"limit": 1})
    confirmed = call("listScheduledReversals", 200, query={"state": "CONFIRMED", "kind": "provisional"})
    refused = call("listScheduledReversals", 400, query={"dueBefore": "soon"})
    # Then
    assert len(pending["scheduledReversals"]) == 1
    assert provisional in [s["assignmentId"] for s in confirmed["scheduledReversals"]]
    assert refused["code"] == "INVALID_REQUEST" and refused["field"] == "dueBefore"


def test_given_notify_worker_then_the_decision_and_its_notification_are_documented(call, seed):  # noqa: F811
    # Given a rejection and a submitted assignment
    rejected, submitted = seed("Rejected", days_ago=2), seed("Submitted")
    # When one is reversed and the other rejected, each with a message to the worker, and one is invalid
    reversed_ = call("reverseAssignment", 200, path_parameters={"assignmentId": rejected},
                     body={"notifyWorker": NOTICE}, media_type="application/json")
    invalid = call("rejectAssignment", 400, path_parameters={"assignmentId": submitted},
                   body={"feedback": "No", "notifyWorker": {"subject": "", "message": "x"}},
                   media_type="application/json")
    details = call("getAssignment", 200, path_parameters={"assignmentId": rejected})
    # Then
    assert reversed_["notification"]["status"] == "SENT"
    assert invalid["code"] == "INVALID_NOTIFICATION"
    assert details["history"][0]["notification"]["subject"] == NOTICE["subject"]


def test_given_decisions_then_a_time_range_listing_is_documented(call, seed, sim):  # noqa: F811
    # Given a decision today
    call("approveAssignment", 200, path_parameters={"assignmentId": seed("Submitted")})
    day = sim.clock.now().date().isoformat()
    # When every decision of the day is listed, and a range with only `since`
    listed = call("listDecisions", 200, query={"since": day, "until": day, "limit": 1})
    refused = call("listDecisions", 400, query={"since": day})
    # Then
    assert len(listed["decisions"]) == 1
    assert refused["code"] == "INVALID_REQUEST" and refused["field"] == "workerId|hitId"
