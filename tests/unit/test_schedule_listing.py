"""Automatic reversals carry their HIT and worker from creation, and list by due time (GET /scheduled-reversals)."""
from __future__ import annotations

from datetime import timedelta

from mturk_decisions.domain.model import Action, DecisionRequest
from mturk_decisions.domain.schedule import ScheduledReversal, ScheduleQuery
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.schedules import ReversalScheduler
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, InMemoryScheduleStore, assignment


def make(*views):
    mturk, store = FakeMTurk(*views), InMemoryScheduleStore()
    return ReversalScheduler(DecisionService(mturk, InMemoryAuditStore(), clock=lambda: NOW), store,
                             clock=lambda: NOW), store


def test_given_each_way_a_schedule_is_made_then_it_holds_the_hit_and_worker():
    # Given a submitted and two rejected assignments of one HIT
    scheduler, store = make(assignment("A1", worker_id="AW1", hit_id="HITX"),
                            assignment("A2", status="Rejected", worker_id="AW2", hit_id="HITX"),
                            assignment("A3", status="Rejected", worker_id="AW3", hit_id="HITX"))
    # When a provisional rejection, a scheduled reversal and a funds retry are made
    scheduler.reject_provisionally(DecisionRequest("A1", Action.REJECT, feedback="copied"), timedelta(hours=1))
    scheduler.schedule_reversal(DecisionRequest("A2", Action.REVERSE), NOW + timedelta(days=1))
    scheduler.retry_for_funds(assignment("A3", status="Rejected", worker_id="AW3", hit_id="HITX"),
                              DecisionRequest("A3", Action.REVERSE))
    # Then each holds its HIT and worker, and says so in its JSON
    assert {(s.assignment_id, s.hit_id, s.worker_id) for s in store.items.values()} == {
        ("A1", "HITX", "AW1"), ("A2", "HITX", "AW2"), ("A3", "HITX", "AW3")}
    assert store.items["A1"].to_json()["workerId"] == "AW1"


def test_given_an_item_stored_before_hit_and_worker_then_its_listing_says_null():
    # Given a schedule stored without them (as before they were stored)
    old = ScheduledReversal("A9", "scheduled", NOW, NOW + timedelta(days=3))
    # When it is listed
    listed = old.listing_json()
    # Then every listed field is there, HIT and worker null
    assert listed["hitId"] is None and listed["workerId"] is None and listed["lastError"] is None
    assert listed["attempts"] == 0 and listed["state"] == "PENDING"


def test_given_schedules_then_the_scheduler_lists_them_by_due_time_through_the_store():
    scheduler, store = make()
    for name, hours, state in (("B", 3, "PENDING"), ("A", 1, "RUNNING"), ("C", 2, "DONE")):
        store.items[name] = ScheduledReversal(name, "scheduled", NOW + timedelta(hours=hours), NOW + timedelta(days=9),
                                              state=state, hit_id="HITX")
    # When the pending ones are listed, then the DONE ones
    pending = scheduler.listing(ScheduleQuery())
    done = scheduler.listing(ScheduleQuery(states=("DONE",)))
    # Then PENDING and RUNNING, earliest first; and DONE alone
    assert [s.assignment_id for s in pending.schedules] == ["A", "B"]
    assert [s.assignment_id for s in done.schedules] == ["C"]
