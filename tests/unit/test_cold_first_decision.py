"""A cold API environment's first decision, in a fresh interpreter as Lambda runs it, against moto and the MTurk
simulator (`bench.coldstart.OfflineServices`): its assignment is read ahead while the routes are built, once; a
request the validation refuses writes nothing; the cyclic collector waits until the first invocation ends, in a
Lambda environment only."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.coldstart import OfflineServices
from bench.env import ROOT
from local.stack import DEMO_MTURK_KEY

#: Serves the event on stdin through the API handler, noting for each MTurk call its operation, its thread and
#: whether the collector ran meanwhile; prints the answer, the calls and the collector's state after.
_SERVE = r"""
import gc, json, sys
event = json.loads(sys.stdin.read())
import mturk_decisions.handlers.api as api
from mturk_decisions.adapters import mturk
calls, invoke = [], mturk.Boto3MTurkGateway._invoke
def noting(self, operation, params):
    import threading
    calls.append([operation, threading.current_thread().name, gc.isenabled()])
    return invoke(self, operation, params)
mturk.Boto3MTurkGateway._invoke = noting
from bench.fresh_function import Context
answer = api.handler(event, Context("mturk-decisions-api"))
print(json.dumps({"answer": answer, "calls": calls, "collecting_after": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


@pytest.fixture(scope="module")
def offline():
    with OfflineServices(suffix="-cold-decision-test") as services:
        yield services


def _environment(offline: OfflineServices, in_lambda: bool = True) -> dict[str, str]:
    _, env = offline.spec("api_first_decision")
    env = {**env, "PYTHONPATH": f"{env['PYTHONPATH']}:{ROOT}"}
    if not in_lambda:
        env.pop("AWS_LAMBDA_FUNCTION_NAME")
    return env


def _serve(offline: OfflineServices, event: dict, in_lambda: bool = True) -> dict:
    done = subprocess.run([sys.executable, "-c", _SERVE], input=json.dumps(event), env=_environment(offline, in_lambda),
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return _served(done.returncode, done.stdout, done.stderr)


def _served(returncode: int, stdout: str, stderr: str) -> dict:
    assert returncode == 0, stderr[-3000:].replace(DEMO_MTURK_KEY[1], "<secret>")
    return json.loads(stdout.strip().splitlines()[-1])


def _mturk_calls(offline: OfflineServices, assignment: str) -> list[str]:
    return [call.operation for call in offline.sim.calls() if call.params.get("AssignmentId") == assignment]


def test_given_a_cold_environment_when_its_first_reject_is_served_then_the_assignment_was_read_ahead_once(offline):
    # Given a fresh API environment and a submitted assignment
    _, assignment = offline.assignment()
    # When it serves a reject of it
    served = _serve(offline, offline.reject_event(assignment))
    # Then the reject succeeded; MTurk was asked once for the assignment, in the background, then once to reject it
    body = json.loads(served["answer"]["body"])
    assert served["answer"]["statusCode"] == 200 and body["assignment"]["status"] == "Rejected"
    assert '"SUCCEEDED"' in served["answer"]["body"] and len(offline.audit_records(assignment)) >= 1
    assert _mturk_calls(offline, assignment) == ["GetAssignment", "RejectAssignment"]
    assert [(operation, thread) for operation, thread, _ in served["calls"]] == [
        ("GetAssignment", "mturk-read-ahead"), ("RejectAssignment", "MainThread")]
    # And the collector waited while the first invocation ran, and collects again after it, the cold start frozen
    assert [collecting for _, _, collecting in served["calls"]] == [False, False]
    assert served["collecting_after"] and served["frozen"] > 0


def test_given_a_cold_environment_when_a_likely_reject_is_refused_by_validation_then_nothing_is_written(offline):
    # Given a fresh API environment, and a reject that looks like a decision but names a field the API does not take
    _, assignment = offline.assignment()
    event = offline.reject_event(assignment)
    event["body"] = json.dumps({"feedback": "The answers do not match.", "colour": "red"})
    # When it serves the request
    served = _serve(offline, event)
    # Then it is refused 400 as any environment refuses it; MTurk was at most read, never written, and no decision
    # was recorded
    assert served["answer"]["statusCode"] == 400
    assert json.loads(served["answer"]["body"])["code"] == "INVALID_REQUEST"
    assert _mturk_calls(offline, assignment) in (["GetAssignment"], [])
    assert offline.sim.get_assignment_state(assignment).status == "Submitted"
    assert offline.audit_records(assignment) == []


def test_given_a_process_that_is_not_a_lambda_environment_when_it_serves_a_reject_then_the_collector_runs(offline):
    # Given a fresh interpreter without Lambda's AWS_LAMBDA_FUNCTION_NAME (a test, the CLI, a script)
    _, assignment = offline.assignment()
    # When it serves a reject
    served = _serve(offline, offline.reject_event(assignment), in_lambda=False)
    # Then the collector was never paused
    assert served["answer"]["statusCode"] == 200
    assert all(collecting for _, _, collecting in served["calls"]) and served["collecting_after"]


COLD_ENVIRONMENTS = 6


def test_given_cold_environments_when_they_reject_one_assignment_at_once_then_one_write_and_one_success(offline):
    # Given one submitted assignment, MTurk answering in 150 ms, and six cold API environments (separate processes,
    # their routes not built: each reads the assignment ahead)
    _, assignment = offline.assignment()
    offline.sim.set_latency(0.15)
    env = _environment(offline)
    try:
        # When all six reject it at once, each with its own feedback
        processes = []
        for index in range(COLD_ENVIRONMENTS):
            event = offline.reject_event(assignment)
            event["body"] = json.dumps({"feedback": f"The answers do not match ({index})."})
            process = subprocess.Popen([sys.executable, "-c", _SERVE], env=env, cwd=ROOT, text=True,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            processes.append((process, json.dumps(event)))
        outputs = [(process, *process.communicate(body, timeout=120)) for process, body in processes]
        served = [_served(process.returncode, stdout, stderr) for process, stdout, stderr in outputs]
    finally:
        offline.sim.set_latency(0)
    # Then each environment read the assignment ahead, MTurk applied one rejection, one caller was told it
    # succeeded and the others 409, and the audit holds one SUCCEEDED record, with the feedback MTurk stored
    assert all(environment["calls"][0][:2] == ["GetAssignment", "mturk-read-ahead"] for environment in served)
    answers = [environment["answer"] for environment in served]
    writes = [call for call in offline.sim.calls("RejectAssignment", outcome="ok")
              if call.params.get("AssignmentId") == assignment]
    assert len(writes) == 1
    assert sorted(answer["statusCode"] for answer in answers) == [200] + [409] * (COLD_ENVIRONMENTS - 1)
    records = [record for record in offline.audit_records(assignment) if "state" in record]
    succeeded = [record for record in records if record["state"]["S"] == "SUCCEEDED"]
    assert len(succeeded) == 1
    assert succeeded[0]["feedback"]["S"] == offline.sim.get_assignment_state(assignment).feedback
