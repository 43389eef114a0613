"""One fresh interpreter serving one event, timed by itself: what a cold (or a restored) Lambda environment does.

``python bench/fresh_function.py MODE`` with a JSON spec on stdin, run by ``bench.coldstart`` (and the SnapStart
tests) with ``PYTHONPATH=lambdas`` and the function's environment. It prints one line ``RESULT=<json>``:
``seconds`` (what was timed) and ``answer`` (what the handler returned).

- ``cold``: import the handler module and handle the event, timed together (a cold start's work after the
  interpreter is up: Lambda's runtime is already running when it imports the handler);
- ``restored``: import the handler module, run SnapStart's before-snapshot hook, then its after-restore hook
  (what a restored environment has run before its first event), and time the event alone;
- ``bare``: the yardstick, a requester's own script: ``import boto3``, an MTurk client made with the keys,
  ``GetAssignment`` then ``RejectAssignment``, timed together.

Nothing but the standard library is imported before the timer starts; the spec is read first.
"""
from __future__ import annotations

import importlib
import json
import sys
import time


class Context:
    """The context object Lambda passes (no import of the local stack: it would be timed)."""

    function_version, memory_limit_in_mb, log_stream_name = "$LATEST", 512, "bench"

    def __init__(self, name: str) -> None:
        self.function_name, self.aws_request_id = name, f"bench-{time.time_ns()}"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self.log_group_name = f"/aws/lambda/{name}"
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def handle(spec: dict, restored: bool) -> tuple[float, object]:
    began = time.perf_counter()
    module = importlib.import_module(spec["module"])
    if restored:
        from mturk_decisions import snapstart

        snapstart.before_snapshot(spec["snapstart"])
        snapstart.after_restore()
        began = time.perf_counter()
    answer = module.handler(spec["event"], Context(spec["function_name"]))
    return time.perf_counter() - began, answer


def bare(spec: dict) -> tuple[float, object]:
    began = time.perf_counter()
    import boto3

    client = boto3.client("mturk", region_name="us-east-1", endpoint_url=spec["endpoint"],
                          aws_access_key_id=spec["key_id"], aws_secret_access_key=spec["secret_key"])
    status = client.get_assignment(AssignmentId=spec["assignment_id"])["Assignment"]["AssignmentStatus"]
    client.reject_assignment(AssignmentId=spec["assignment_id"], RequesterFeedback=spec["feedback"])
    return time.perf_counter() - began, {"previousStatus": status}


def main(mode: str) -> None:
    spec = json.loads(sys.stdin.read())
    seconds, answer = bare(spec) if mode == "bare" else handle(spec, restored=mode == "restored")
    sys.stdout.write("RESULT=" + json.dumps({"seconds": seconds, "answer": answer}, default=str) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
