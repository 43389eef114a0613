"""The last check of the reliability run: a broad scenario at DEBUG, then every captured byte is scanned.

Everything the service can be made to do runs with every logger at DEBUG (botocore's wire logs included):
decisions of each kind, dry runs, refusals, idempotent replays, batches from JSON and from the website's
CSV run through SQS and the worker, a HIT reversal, MTurk faults (502), throttling (429), unsigned calls,
and bad secrets (wrong keys, not JSON, missing fields, no secret). Then the MTurk secret's value, the
caller's signing secret and the bad secrets' values must appear nowhere: not in a log record (message,
arguments, exception text), not on stdout/stderr (file-descriptor level, the threads' output included),
not in a response body or header.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import time
import traceback
from dataclasses import replace

import boto3
import pytest

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, REGION
from mturk_decisions import wiring

BAD_SECRET = "reliability-wrong-secret-value-0123456789"
SECRETS = (DEMO_MTURK_KEY[1], DEMO_PRINCIPAL.secret_access_key, BAD_SECRET)


class _Everything(logging.Handler):
    """Keeps every record of every logger, with its fully rendered text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        parts = [text, repr(record.args), repr(getattr(record, "__dict__", {}))]
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        self.texts.append("\n".join(parts))


@pytest.fixture()
def everything_at_debug():
    handler = _Everything()
    root = logging.getLogger()
    names = ("botocore", "boto3", "urllib3", "pynamodb", "aws_lambda_powertools", "mturk-decisions",
             "mturk_decisions", "local", "werkzeug", "moto")
    previous = {name: logging.getLogger(name).level for name in names}
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    powertools = [logger for name, logger in logging.Logger.manager.loggerDict.items()
                  if isinstance(logger, logging.Logger) and name.startswith("mturk-decisions")]
    for logger in powertools:
        logger.addHandler(handler)
    yield handler
    for logger in powertools:
        logger.removeHandler(handler)
    root.removeHandler(handler)
    root.setLevel(root_level)
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)


def _wait(api, batch_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/batches/{batch_id}?limit=1000").json()
        if body.get("status") == "COMPLETED" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def _csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["HITId", "AssignmentId", "WorkerId", "Answer.text", "Approve", "Reject"])
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


def _broad_scenario(stack, api, sim, seed) -> list:
    answers = []
    post = lambda path, body=None, **kw: answers.append(api.post(path, body, **kw)) or answers[-1]
    get = lambda path, **kw: answers.append(api.get(path, **kw)) or answers[-1]
    # decisions, dry runs, refusals, idempotent replays, reads
    submitted, rejected, old = seed("Submitted"), seed("Rejected", days_ago=2), seed("Rejected", days_ago=45)
    post(f"/assignments/{seed('Submitted')}/reject?dryRun=true", {"feedback": "dry"})
    post(f"/assignments/{submitted}/reject", {"feedback": "Not done.", "reason": "scan"}, headers={"Idempotency-Key": "scan-1"})
    post(f"/assignments/{submitted}/reject", {"feedback": "Not done.", "reason": "scan"}, headers={"Idempotency-Key": "scan-1"})
    post(f"/assignments/{submitted}/reject", {"feedback": "Other.", "reason": "scan"}, headers={"Idempotency-Key": "scan-1"})
    post(f"/assignments/{rejected}/reverse", {})
    post(f"/assignments/{old}/reverse", {})
    post(f"/assignments/{seed('Submitted')}/approve", {"feedback": "Thanks"})
    post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "bad\x0bchar"})
    post("/assignments/3NOSUCHASSIGNMENT000000000001/reject", {"feedback": "x"})
    get(f"/assignments/{rejected}")
    worker = sim.get_assignment_state(rejected).worker_id
    get(f"/decisions?workerId={worker}")
    get("/decisions?workerId=A1&cursor=garbage")
    # bulk: JSON, the website CSV, a HIT reversal, all through SQS and the worker
    hit = sim.add_hit(DEMO_MTURK_KEY[0], reward="0.20", max_assignments=4)
    ids = [sim.add_assignment(hit, status=status) for status in ("Submitted", "Rejected", "Rejected", "Submitted")]
    batch = post("/batches", {"items": [{"assignmentId": ids[0], "action": "reject", "feedback": "Blank", "hitId": hit}]})
    csv_batch = post("/batches", raw=_csv([[hit, ids[3], "W", "multi\nline", "x", ""]]), headers={"Content-Type": "text/csv"})
    reversal = post(f"/hits/{hit}/reversals", {"reason": "scan"})
    for submitted_batch in (batch, csv_batch, reversal):
        if submitted_batch.status_code == 202:
            answers.append(api.get(f"/batches/{submitted_batch.json()['batchId']}"))
            _wait(api, submitted_batch.json()["batchId"])
    post("/batches", raw=b"AssignmentId,Approve,Reject\nbad id,yes,\n", headers={"Content-Type": "text/csv"})
    # MTurk trouble: faults, throttling
    sim.set_fault_rate(1.0)
    post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "no"})
    sim.set_fault_rate(None)
    sim.set_throttle(0.2, burst=1)
    for _ in range(3):
        post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "no"})
    sim.set_throttle(None)
    # unsigned and wrongly signed
    answers.append(api.get(f"/assignments/{submitted}", sign=False))
    # bad secrets: wrong keys, not JSON, missing field, no secret at all
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=stack.moto_url)
    for index, value in enumerate([
        json.dumps({"accessKeyId": "SIMUNKNOWNKEY0000001", "secretAccessKey": BAD_SECRET}),
        f"not json: {BAD_SECRET}",
        json.dumps({"accessKeyId": "ONLYKEY", "secret": BAD_SECRET}),
        None,
    ]):
        name = f"mturk-decisions/reliability-scan-{index}-{time.monotonic_ns()}"
        if value is not None:
            secrets.create_secret(Name=name, SecretString=value)
        wiring.use(wiring.build(replace(stack.settings, mturk_secret_id=name), clock=stack.simulator.clock.now))
        try:
            post(f"/assignments/{seed('Submitted')}/reject", {"feedback": "no"})
            get(f"/assignments/{seed('Submitted')}")
        finally:
            wiring.use(stack.dependencies)
    return answers


def test_no_secret_in_any_log_line_output_or_response(stack, api, sim, seed, everything_at_debug, capfd):
    # Given every logger at DEBUG
    # When a broad scenario runs
    answers = _broad_scenario(stack, api, sim, seed)
    # Then
    out, err = capfd.readouterr()
    assert any("botocore" in text for text in everything_at_debug.texts[:5000]) or everything_at_debug.texts, \
        "nothing was logged: the scan would prove nothing"
    assert len(answers) >= 25 and {a.status_code for a in answers} >= {200, 202, 400, 403, 409, 502}, \
        sorted({a.status_code for a in answers})
    leaks = []
    for secret in SECRETS:
        for index, text in enumerate(everything_at_debug.texts):
            if secret in text:
                leaks.append(f"log record {index}: ...{text[max(0, text.index(secret) - 120):][:240]}")
        for name, stream in (("stdout", out), ("stderr", err)):
            if secret in stream:
                leaks.append(f"{name}: ...{stream[max(0, stream.index(secret) - 120):][:240]}")
        for answer in answers:
            if secret in answer.text or secret in json.dumps(dict(answer.headers)):
                leaks.append(f"response {answer.status_code} {answer.url}: {answer.text[:200]}")
    assert not leaks, f"{len(leaks)} leak(s):\n" + "\n".join(leaks[:10])
    print(f"scanned {len(everything_at_debug.texts)} log records, {len(out) + len(err)} bytes of output, "
          f"{len(answers)} responses: no secret")
