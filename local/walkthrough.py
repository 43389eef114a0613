"""The demo's walkthrough as a signed Python client: what a requester's script would do.

Run against a running `make demo`: `.venv/bin/python -m local.walkthrough`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
import time
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.stack import DEMO_PRINCIPAL, ROOT, SimulatorAdmin


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


def walkthrough(base_url: str, ids: dict[str, str], admin=None) -> int:
    steps = [
        ("reject a Submitted assignment", "POST", f"/assignments/{ids['submitted']}/reject",
         {"feedback": "The labels do not match the signs.", "reason": "QA rule 7"}, True, 200),
        ("reverse a recent rejection", "POST", f"/assignments/{ids['rejected_recent']}/reverse",
         {"reason": "bad QA rule"}, True, 200),
        ("reverse the 40-day-old rejection: refused with the deadline", "POST",
         f"/assignments/{ids['rejected_40_days']}/reverse", {}, True, 409),
        ("reverse on a disposed HIT: refused", "POST", f"/assignments/{ids['rejected_disposed']}/reverse", {}, True, 409),
        ("an unsigned request: 403", "POST", f"/assignments/{ids['submitted_2']}/reject", {"feedback": "x"}, False, 403),
        ("the assignment with its audit history", "GET", f"/assignments/{ids['rejected_recent']}", None, True, 200),
    ]
    failures = 0
    for title, method, path, body, sign, expected in steps:
        status, answer = call(base_url, method, path, body, sign)
        ok = status == expected
        failures += not ok
        print(f"{'OK ' if ok else 'BAD'} {status} {title}\n    {method} {path}\n    {json.dumps(answer)[:400]}")
    history = call(base_url, "GET", f"/assignments/{ids['rejected_recent']}")[1].get("history", [])
    if not history or history[0]["action"] != "reverse" or history[0]["state"] != "SUCCEEDED":
        failures += 1
        print("BAD the audit history does not show the reversal")
    failures += bulk(base_url, ids)
    failures += provisional(base_url, ids, admin or SimulatorAdmin(ids["simulator_url"]))
    print(f"walkthrough: {len(steps) + 3 - failures} passed, {failures} failed")
    return 1 if failures else 0


def bulk(base_url: str, ids: dict[str, str], timeout: float = 180) -> int:
    """Upload the seeded batch-results CSV and follow the batch until every row is accounted for."""
    csv_bytes = Path(ids["batch_results_csv"]).read_bytes()
    status, answer = call(base_url, "POST", "/batches?reason=QA%20rule%2012%20was%20wrong", raw=csv_bytes,
                          content_type="text/csv")
    if status != 202:
        print(f"BAD {status} bulk upload\n    {json.dumps(answer)[:400]}")
        return 1
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
    print(f"{'OK ' if ok else 'BAD'} bulk CSV of {rows} rows: {counts}")
    return 0 if ok else 1


def provisional(base_url: str, ids: dict[str, str], admin, timeout: float = 30) -> int:
    """A provisional rejection left unconfirmed is reversed by the sweep once its grace period ends."""
    assignment_id = ids["submitted_2"]
    status, answer = call(base_url, "POST", f"/assignments/{assignment_id}/reject",
                          {"feedback": "Looks copied.", "provisionalFor": "PT1H"})
    if status != 200:
        print(f"BAD {status} provisional rejection\n    {json.dumps(answer)[:400]}")
        return 1
    admin.call("POST", "/clock", {"advanceSeconds": 3700})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = call(base_url, "GET", f"/assignments/{assignment_id}")[1]
        if body.get("assignment", {}).get("status") == "Approved":
            history = [(h["action"], h["source"]) for h in body["history"]]
            print(f"OK  provisional rejection reversed automatically after the grace period: {history}")
            return 0
        time.sleep(0.5)
    print(f"BAD provisional rejection was not reversed: {json.dumps(body)[:400]}")
    return 1


def main() -> int:
    state = ROOT / ".demo"
    try:
        base_url = (state / "api_url").read_text().strip()
        ids = json.loads((state / "ids.json").read_text())
    except FileNotFoundError:
        print("No running demo found: start it with `make demo` first.", file=sys.stderr)
        return 2
    return walkthrough(base_url, ids)


if __name__ == "__main__":
    sys.exit(main())
