"""The demo's walkthrough as a signed Python client: what a requester's script would do.

Run against a running `make demo`: `make walkthrough` (`.venv/bin/python -m local.walkthrough [--api-port N]`).
It seeds and uses assignments of its own (the simulator's scenario `walkthrough`), never the demo's, and never
moves the simulator's clock: the provisional rejection it checks is due a few seconds after it is made. The
money its reversals cost is given back at the end. So the demo's printed examples work before and after it,
and it checks that too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, ROOT, SimulatorAdmin

SCENARIO = "walkthrough"
BULK_ROWS = 120
#: The demo's own seeded assignments (ids.json keys): the walkthrough must leave them as they are.
DEMO_ASSIGNMENTS = ("submitted", "submitted_2", "submitted_3", "rejected_recent", "rejected_recent_2",
                    "rejected_40_days", "rejected_disposed")


def call(base_url: str, method: str, path: str, body: dict | None = None, sign: bool = True,
         raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    request = AWSRequest(method=method, url=base_url + path, data=data, headers={"Content-Type": content_type})
    if sign:
        credentials = Credentials(DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
        SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=data or None, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def report(ok: bool, line: str, detail: Any = None) -> int:
    """Print one check; answers 1 when it failed."""
    print(f"{'OK ' if ok else 'BAD'} {line}")
    if detail is not None:
        print(f"    {detail if isinstance(detail, str) else json.dumps(detail)[:400]}")
    return 0 if ok else 1


# ---- the walkthrough's own assignments --------------------------------------------------------------------
def seed_own(admin: SimulatorAdmin, hit_type: str) -> dict[str, Any]:
    """Fresh HITs and assignments for this run only (workers named WALK...), the batch HIT of `hit_type`."""
    from local.demo import bulk_assignments

    def assignment(key: str, hit_key: str, status: str, days_ago: float) -> dict[str, Any]:
        return {"key": key, "hit": hit_key, "status": status, "submittedDaysAgo": days_ago,
                "workerId": "A9WALK" + key.upper().replace("_", "")}

    return admin.call("POST", f"/scenarios/{SCENARIO}", {
        "accessKeyId": DEMO_MTURK_KEY[0],
        "hits": [{"key": "hit_batch", "title": "Walkthrough: label street signs", "maxAssignments": 5,
                  "hitTypeId": hit_type},
                 {"key": "hit_old", "title": "Walkthrough: receipts (last month)", "reward": "1.00"},
                 {"key": "hit_disposed", "title": "Walkthrough: tweets (disposed)", "status": "Disposed"},
                 {"key": "hit_bulk", "title": "Walkthrough: product photos (bulk)", "reward": "0.10",
                  "maxAssignments": BULK_ROWS}],
        "assignments": [assignment("submitted", "hit_batch", "Submitted", 0.2),
                        assignment("rejected_recent", "hit_batch", "Rejected", 2),
                        assignment("website", "hit_batch", "Submitted", 0.3),
                        assignment("provisional", "hit_batch", "Submitted", 0.4),
                        assignment("rejected_40_days", "hit_old", "Rejected", 40),
                        assignment("rejected_disposed", "hit_disposed", "Rejected", 5),
                        *bulk_assignments("hit_bulk", BULK_ROWS, "WALKWORKER")],
    })


def demo_snapshot(admin: SimulatorAdmin, ids: dict[str, Any]) -> dict[str, Any]:
    """What the walkthrough must leave as it is: the demo's assignments, the balance, the clock's offset."""
    statuses = {key: admin.call("GET", f"/assignments/{ids[key]}")["AssignmentStatus"]
                for key in DEMO_ASSIGNMENTS if key in ids}
    balance = admin.call("GET", f"/requesters/{DEMO_MTURK_KEY[0]}/balance")["balance"]
    offset = (admin.now() - datetime.now(UTC)).total_seconds()
    return {"statuses": statuses, "balance": balance, "offset": offset}


# ---- the checks -------------------------------------------------------------------------------------------
def single_steps(base_url: str, own: dict[str, str], hit_type: str) -> int:
    steps: list[tuple[str, str, str, dict[str, Any] | None, bool, int]] = [
        ("switch MTurk notifications on for the HIT type", "PUT", f"/hit-types/{hit_type}/notifications",
         {"active": True}, True, 200),
        ("reject a Submitted assignment", "POST", f"/assignments/{own['submitted']}/reject",
         {"feedback": "The labels do not match the signs.", "reason": "QA rule 7"}, True, 200),
        ("reverse a recent rejection", "POST", f"/assignments/{own['rejected_recent']}/reverse",
         {"reason": "bad QA rule"}, True, 200),
        ("reverse the 40-day-old rejection: refused with the deadline", "POST",
         f"/assignments/{own['rejected_40_days']}/reverse", {}, True, 409),
        ("reverse on a disposed HIT: refused", "POST", f"/assignments/{own['rejected_disposed']}/reverse", {}, True,
         409),
        ("an unsigned request: 403", "POST", f"/assignments/{own['submitted']}/reject", {"feedback": "x"}, False, 403),
        ("the assignment with its audit history", "GET", f"/assignments/{own['rejected_recent']}", None, True, 200),
    ]
    failures = 0
    for title, method, path, body, sign, expected in steps:
        status, answer = call(base_url, method, path, body, sign)
        failures += report(status == expected, f"{status} {title}", f"{method} {path}\n    {json.dumps(answer)[:400]}")
    history = call(base_url, "GET", f"/assignments/{own['rejected_recent']}")[1].get("history", [])
    reversed_ = bool(history) and history[0]["action"] == "reverse" and history[0]["state"] == "SUCCEEDED"
    return failures + report(reversed_, "the audit history shows the reversal")


def wait_for(base_url: str, assignment_id: str, done, timeout: float) -> tuple[bool, dict]:
    deadline = time.monotonic() + timeout
    while True:
        body = call(base_url, "GET", f"/assignments/{assignment_id}")[1]
        if done(body) or time.monotonic() > deadline:
            return done(body), body
        time.sleep(0.5)


def website(base_url: str, own: dict[str, str], admin: SimulatorAdmin, timeout: float = 30) -> int:
    """A rejection made on the requester website reaches the audit through MTurk's notification."""
    admin.call("POST", "/website/reject", {"assignmentId": own["website"], "feedback": "Rejected on the website."})
    ok, body = wait_for(base_url, own["website"], lambda b: any(
        h.get("source") == "mturk-notification" for h in b.get("history", [])), timeout)
    history = [(h["action"], h["source"]) for h in body.get("history", [])]
    return report(ok, f"a rejection made on the requester website is in the audit: {history}")


def bulk(base_url: str, csv_bytes: bytes, timeout: float = 180) -> int:
    """Upload a batch-results CSV and follow the batch until every row is accounted for."""
    status, answer = call(base_url, "POST", "/batches?reason=QA%20rule%2012%20was%20wrong", raw=csv_bytes,
                          content_type="text/csv")
    if status != 202:
        return report(False, f"{status} bulk upload", answer)
    batch_id, rows = answer["batchId"], answer["total"]
    deadline = time.monotonic() + timeout
    while True:
        body = call(base_url, "GET", f"/batches/{batch_id}?limit=1")[1]
        if body.get("status") == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    counts = body.get("counts", {})
    accounted = sum(v for k, v in counts.items() if k != "queued")
    ok = body.get("status") == "COMPLETED" and accounted == rows and counts.get("failed", 0) == 0
    return report(ok, f"bulk CSV of {rows} rows: {counts}")


def provisional(base_url: str, own: dict[str, str], timeout: float = 30) -> int:
    """A provisional rejection left unconfirmed is reversed by the sweep once its grace period (3 s) ends:
    no clock is moved."""
    status, answer = call(base_url, "POST", f"/assignments/{own['provisional']}/reject",
                          {"feedback": "Looks copied.", "provisionalFor": "PT3S"})
    if status != 200:
        return report(False, f"{status} provisional rejection", answer)
    ok, body = wait_for(base_url, own["provisional"],
                        lambda b: b.get("assignment", {}).get("status") == "Approved", timeout)
    history = [(h["action"], h["source"]) for h in body.get("history", [])]
    return report(ok, f"a provisional rejection (PT3S) is reversed automatically when it is due: {history}")


def untouched(admin: SimulatorAdmin, ids: dict[str, Any], before: dict[str, Any]) -> int:
    """The demo's assignments and the clock as they were; the money the walkthrough spent given back."""
    after = demo_snapshot(admin, ids)
    admin.call("POST", f"/requesters/{DEMO_MTURK_KEY[0]}/balance", {"balance": before["balance"]})
    failures = report(after["statuses"] == before["statuses"],
                      "the demo's own assignments are as they were: its printed examples still work",
                      None if after["statuses"] == before["statuses"] else after["statuses"])
    moved = abs(after["offset"] - before["offset"])
    return failures + report(moved < 2, f"the simulator's clock was not moved (offset changed by {moved:.1f} s); "
                                        f"balance back to ${before['balance']}")


def walkthrough(base_url: str, ids: dict[str, Any], admin: SimulatorAdmin | None = None) -> int:
    from local.demo import write_batch_results
    from local.mturk_simulator.model import new_id

    admin = admin or SimulatorAdmin(ids["simulator_url"])
    before = demo_snapshot(admin, ids)
    hit_type = new_id()
    seeded = seed_own(admin, hit_type)
    own = seeded["ids"]
    with tempfile.TemporaryDirectory() as folder:
        csv_path = write_batch_results(Path(folder) / "walkthrough-results.csv", seeded, "hit_bulk",
                                       "Walkthrough: product photos (bulk)", "0.10")
        csv_bytes = Path(csv_path).read_bytes()
    results = [single_steps(base_url, own, hit_type), website(base_url, own, admin),
               bulk(base_url, csv_bytes), provisional(base_url, own), untouched(admin, ids, before)]
    failures, checks = sum(results), 8 + 1 + 1 + 1 + 2
    print(f"walkthrough: {checks - failures} passed, {failures} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make walkthrough", description=__doc__)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("DEMO_API_PORT", "8787")),
                        help="the running demo's API port (its folder .demo/<port>/)")
    args = parser.parse_args(argv)
    folder = ROOT / ".demo" / str(args.api_port)
    try:
        ids = json.loads((folder / "ids.json").read_text())
        (folder / "state.json").stat()
    except FileNotFoundError:
        print(f"No demo is running on port {args.api_port}: start it with `make demo` first "
              f"(another port: DEMO_API_PORT=... make walkthrough).", file=sys.stderr)
        return 2
    return walkthrough(ids["api_url"], ids)


if __name__ == "__main__":
    sys.exit(main())
