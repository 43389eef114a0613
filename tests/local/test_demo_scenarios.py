"""The simulator's named scenarios (`/_admin/scenarios/<name>`): what `make demo` seeds, and what a reset or the
walkthrough seeds again without a restart."""
from __future__ import annotations

import json

from local.demo import bulk_assignments, demo_scenario, write_batch_results
from local.mturk_simulator import admin
from local.mturk_simulator.simulator import MTurkSimulator

KEY = ("SIMREQUESTERKEY00001", "sim-requester-secret-not-a-real-key")
HIT_TYPES = {key: f"3HITTYPE{key.upper()}".ljust(30, "0")[:30] for key in ("hit_batch", "hit_old", "hit_disposed",
                                                                            "hit_bulk")}


def _call(sim, method: str, path: str, body: dict | None = None, query: str = "") -> tuple[int, dict]:
    return admin.handle(sim, method, f"/_admin{path}", query, json.dumps(body).encode() if body else b"")


def _simulator() -> MTurkSimulator:
    sim = MTurkSimulator()
    sim.add_requester(*KEY, balance="10.00")
    return sim


def test_given_the_demo_scenario_when_seeded_then_every_named_assignment_is_as_the_examples_need():
    # Given a simulator with the demo's requester; When the demo's scenario is seeded (20 bulk rows)
    sim = _simulator()
    status, seeded = _call(sim, "POST", "/scenarios/demo", demo_scenario(HIT_TYPES, bulk_rows=20))
    # Then the named assignments have their statuses, the disposed HIT is disposed, the balance is $250
    assert status == 200 and seeded["generation"] == 1
    ids = seeded["ids"]
    statuses = {key: sim.get_assignment_state(ids[key]).status for key in
                ("submitted", "submitted_2", "submitted_3", "rejected_recent", "rejected_40_days", "rejected_disposed")}
    assert statuses == {"submitted": "Submitted", "submitted_2": "Submitted", "submitted_3": "Submitted",
                        "rejected_recent": "Rejected", "rejected_40_days": "Rejected", "rejected_disposed": "Rejected"}
    assert sim.get_hit_state(ids["hit_disposed"]).status == "Disposed"
    assert sim.get_hit_state(ids["hit_batch"]).hit_type_id == HIT_TYPES["hit_batch"]
    assert str(sim.balance(KEY[0])) == "250.00"
    assert len([a for a in seeded["assignments"] if a["hitId"] == ids["hit_bulk"]]) == 20


def test_given_a_seeded_scenario_when_reseeded_then_new_ids_the_same_hit_types_and_the_old_ones_kept():
    # Given the demo's scenario seeded, and money spent since
    sim = _simulator()
    first = _call(sim, "POST", "/scenarios/demo", demo_scenario(HIT_TYPES, bulk_rows=3))[1]
    sim.set_balance(KEY[0], "1.00")
    # When it is seeded again
    status, second = _call(sim, "POST", "/scenarios/demo/reseed")
    # Then fresh assignments with new ids, the same HIT types, the balance back; the first seed's still exist
    assert status == 200 and second["generation"] == 2
    assert set(second["ids"].values()).isdisjoint(first["ids"].values())
    assert sim.get_hit_state(second["ids"]["hit_batch"]).hit_type_id == HIT_TYPES["hit_batch"]
    assert str(sim.balance(KEY[0])) == "250.00"
    assert sim.get_assignment_state(first["ids"]["submitted"]).status == "Submitted"
    # And its summary answers the generation only
    assert _call(sim, "GET", "/scenarios/demo", query="summary=true") == (200, {"scenario": "demo", "generation": 2})


def test_given_a_bad_scenario_then_400_and_nothing_created():
    # Given a scenario whose assignment names a HIT it does not have; When it is seeded
    sim = _simulator()
    status, answer = _call(sim, "POST", "/scenarios/bad", {"accessKeyId": KEY[0], "hits": [{"key": "h"}],
                                                           "assignments": [{"hit": "unknown"}]})
    # Then 400 naming the problem, and no HIT was created; an unknown scenario cannot be reseeded
    assert status == 400 and "must name one of the scenario's HITs" in answer["error"]
    assert sim.snapshot()["requesters"][0]["hits"] == []
    assert _call(sim, "POST", "/scenarios/nothing/reseed")[0] == 404


def test_given_the_bulk_rows_then_the_csv_is_the_websites_export_with_reversals_rejections_and_blanks(tmp_path):
    # Given a seeded bulk HIT of 10 rows
    sim = _simulator()
    spec = {"accessKeyId": KEY[0], "hits": [{"key": "bulk", "maxAssignments": 10}],
            "assignments": bulk_assignments("bulk", 10, "TESTWORKER")}
    seeded = _call(sim, "POST", "/scenarios/bulk", spec)[1]
    # When its batch-results CSV is written
    path = write_batch_results(tmp_path / "results.csv", seeded, "bulk", "Bulk", "0.10")
    rows = (tmp_path / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    # Then a header and one row per assignment, with an x in Approve for rejected ones, a Reject text for some
    assert path.endswith("results.csv") and len(rows) == 11 and rows[0].startswith('"HITId"')
    assert any(row.endswith('"x",""') for row in rows) and any("does not match the photo" in row for row in rows)
