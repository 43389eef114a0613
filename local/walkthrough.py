"""The demo's walkthrough as a signed Python client: what a requester's script would do.

Run against a running `make demo`: `.venv/bin/python -m local.walkthrough`.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.stack import DEMO_PRINCIPAL, ROOT


def call(base_url: str, method: str, path: str, body: dict | None = None, sign: bool = True) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=base_url + path, data=data, headers={"Content-Type": "application/json"})
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


def walkthrough(base_url: str, ids: dict[str, str]) -> int:
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
    print(f"walkthrough: {len(steps) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


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
