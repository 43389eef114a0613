"""The /_admin/ JSON endpoint: seeding and knobs over HTTP, as a demo or another process uses them."""

from __future__ import annotations

from tests.simulator.sim_helpers import KEY, T0, admin, make_client


def test_seed_through_admin_then_use_boto3(sim, server):
    # Given a requester, HIT and assignment created through the admin endpoint
    created = admin(server, "POST", "/requesters", {"accessKeyId": "SIMKEYADMIN", "secretAccessKey": "admin-secret",
                                                    "balance": "20.00", "name": "Admin-made"})
    assert (created.status_code, created.json()) == (201, {"accessKeyId": "SIMKEYADMIN"})
    hit_id = admin(server, "POST", "/hits", {"accessKeyId": "SIMKEYADMIN", "reward": "1.00", "maxAssignments": 2,
                                             "createdAt": "2026-01-10T08:00:00Z", "hitTypeId": "3ADMINTYPE"}).json()["hitId"]
    assignment_id = admin(server, "POST", "/assignments", {"hitId": hit_id, "workerId": "A1ADMINWORKER",
                                                           "submittedAt": "2026-01-14T08:00:00"}).json()["assignmentId"]
    # When the new requester approves it with boto3
    client = make_client(server, key="SIMKEYADMIN", secret="admin-secret")
    client.approve_assignment(AssignmentId=assignment_id)
    # Then admin reads show the result
    assignment = admin(server, "GET", f"/assignments/{assignment_id}").json()
    assert (assignment["AssignmentStatus"], assignment["WorkerId"]) == ("Approved", "A1ADMINWORKER")
    assert admin(server, "GET", "/requesters/SIMKEYADMIN/balance").json() == {"balance": "18.80"}
    hit = admin(server, "GET", f"/hits/{hit_id}").json()
    assert (hit["HITTypeId"], len(hit["Assignments"])) == ("3ADMINTYPE", 1)


def test_set_balance_and_hit_status(sim, server):
    # Given
    hit_id = sim.add_hit(KEY)
    # When / Then
    assert admin(server, "POST", f"/requesters/{KEY}/balance", {"balance": "1.23"}).json() == {"balance": "1.23"}
    assert admin(server, "POST", f"/hits/{hit_id}/status", {"status": "Disposed"}).status_code == 200
    assert sim.get_hit_state(hit_id).status == "Disposed"
    assert str(sim.balance(KEY)) == "1.23"


def test_clock_routes(sim, server):
    # When / Then
    assert admin(server, "GET", "/clock").json() == {"now": T0.isoformat(), "epochMs": int(T0.timestamp() * 1000), "frozen": True}
    assert admin(server, "POST", "/clock", {"advanceDays": 31}).json()["now"] == "2026-02-15T12:00:00+00:00"
    assert admin(server, "POST", "/clock", {"advanceSeconds": 30}).json()["now"] == "2026-02-15T12:00:30+00:00"
    assert admin(server, "POST", "/clock", {"set": "2027-01-01T00:00:00Z"}).json()["now"] == "2027-01-01T00:00:00+00:00"
    assert admin(server, "POST", "/clock", {"resume": True}).json()["frozen"] is False
    assert admin(server, "POST", "/clock", {"freeze": True}).json()["frozen"] is True
    assert admin(server, "POST", "/clock", {}).status_code == 400


def test_knob_routes(sim, server):
    # When / Then
    assert admin(server, "POST", "/throttle", {"ratePerSecond": 5, "burst": 10}).json() == {"ratePerSecond": 5, "burst": 10}
    assert admin(server, "GET", "/throttle").json() == {"ratePerSecond": 5, "burst": 10}
    assert admin(server, "POST", "/throttle", {"ratePerSecond": None}).json() == {"ratePerSecond": None, "burst": None}
    faults = admin(server, "POST", "/faults", {"rate": 0.25, "when": "after", "seed": 3, "ops": ["ApproveAssignment"]}).json()
    assert faults == {"rate": 0.25, "when": "after", "seed": 3, "ops": ["ApproveAssignment"]}
    assert admin(server, "GET", "/faults").json() == faults
    assert admin(server, "POST", "/faults", {"rate": 2}).status_code == 400
    assert admin(server, "POST", "/latency", {"seconds": 0.05}).json() == {"seconds": 0.05}
    assert sim.latency == 0.05
    assert admin(server, "GET", "/latency").json() == {"seconds": 0.05}


def test_calls_route_lists_filters_and_clears(sim, server, mturk):
    # Given
    mturk.get_account_balance()
    with_error = make_client(server, key="SIMKEYNOBODY")
    try:
        with_error.get_account_balance()
    except with_error.exceptions.ClientError:
        pass
    # When
    everything = admin(server, "GET", "/calls").json()
    # Then
    assert everything["count"] == 2
    assert everything["calls"][0]["operation"] == "GetAccountBalance"
    assert everything["calls"][0]["sim_time"] == T0.isoformat()
    # And the calls can be filtered and cleared
    refused = admin(server, "GET", "/calls?outcome=UnrecognizedClientException").json()
    assert refused["count"] == 1 and refused["calls"][0]["access_key_id"] == "SIMKEYNOBODY"
    assert admin(server, "GET", f"/calls?accessKeyId={KEY}&operation=GetAccountBalance").json()["count"] == 1
    assert admin(server, "DELETE", "/calls").status_code == 200
    assert admin(server, "GET", "/calls").json()["count"] == 0


def test_state_and_reset(sim, server):
    # Given
    hit_id = sim.add_hit(KEY)
    sim.add_assignment(hit_id)
    # When
    state = admin(server, "GET", "/state").json()
    # Then
    (requester,) = state["requesters"]
    assert (requester["accessKeyId"], requester["balance"]) == (KEY, "100.00")
    assert requester["hits"][0]["HITId"] == hit_id and len(requester["hits"][0]["Assignments"]) == 1
    assert state["clock"]["frozen"] is True and state["faults"]["rate"] == 0.0
    # And a reset forgets everything
    assert admin(server, "POST", "/reset").status_code == 200
    assert admin(server, "GET", "/state").json()["requesters"] == []


def test_admin_errors_are_json(sim, server):
    # When / Then
    assert admin(server, "GET", "/nowhere").status_code == 404
    assert admin(server, "DELETE", "/state").status_code == 405
    assert admin(server, "POST", "/hits", {"accessKeyId": "SIMKEYNOBODY"}).status_code == 404
    assert admin(server, "POST", "/requesters", {"accessKeyId": KEY}).json() == {"error": "missing secretAccessKey"}
    assert admin(server, "POST", "/requesters", {"accessKeyId": KEY, "secretAccessKey": "x"}).status_code == 400
    bad = admin(server, "POST", "/hits", {"accessKeyId": KEY, "status": "Sideways"})
    assert bad.status_code == 400 and "status must be one of" in bad.json()["error"]
    assert admin(server, "POST", "/assignments", {"hitId": "3NOPE"}).status_code == 404
    assert admin(server, "GET", "/assignments/3NOPE").status_code == 404
    assert admin(server, "POST", "/clock", {"set": "yesterday"}).status_code == 400
